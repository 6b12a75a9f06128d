//! The replicated register's protocol details under targeted faults: duplicated and late
//! client writes are logged once, replies never cross a client's incarnations, and a quiet
//! register goes quiescent. (`ack-after-one-replica` is caught on the bundled scenario, whose
//! replicas are unequally far: `tests/register.rs` at the workspace root.)

mod support;

use models::register::{Bug, RegisterParams, Replication};
use sim::fault::{Direction, Fault, ScheduledFault, When};
use sim::invariant::Status;
use sim::{NodeId, RunResult, Stop};
use std::time::Duration;
use support::sweep::{self, Links, CALM};

const SETTLE: Duration = Duration::from_secs(10);

fn status(o: &RunResult, name: &str) -> Status {
    o.verdicts
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no verdict {name}"))
        .status
}

fn assert_all_hold(o: &RunResult, what: &str) {
    let f = sweep::findings(o);
    assert!(f.is_empty(), "{what}, seed {}: {f:?}", o.seed);
}

#[test]
fn duplicated_client_writes_are_logged_once() {
    // A third of the messages are duplicated, and a copy may arrive up to 300 ms after the
    // original: a late copy of a write would roll the register back past newer acknowledged
    // writes if the leader logged it again.
    let links = || Links {
        local: "uniform(1ms, 300ms)",
        dup: 0.3,
        ..CALM
    };
    let p = RegisterParams {
        write_ratio: 0.7,
        ..RegisterParams::default()
    };
    for seed in 1..=10 {
        let o = sweep::register_with(p.clone(), 3, seed, links(), false, vec![], SETTLE);
        assert_all_hold(&o, "late duplicates");
    }
}

#[test]
fn a_reply_to_an_earlier_incarnation_completes_nothing() {
    // client1 (node 3) crashes right after sending its first write and restarts 1 ms later;
    // as that write reaches the leader, client1 is cut off from it for 5 s: the new
    // incarnation's first write never arrives, but the old one's `WriteOk`, for the same
    // operation number, does. Matched by number alone it would record a write that was
    // never made as acknowledged.
    let (leader, client) = (NodeId(0), NodeId(3));
    let faults = vec![
        ScheduledFault {
            when: When::Message {
                node: leader,
                direction: Direction::Receives,
                kind: "Write".into(),
                count: 1,
            },
            fault: Fault::PartitionOneWay {
                from: vec![client],
                to: vec![leader],
                heal_after_ns: Some(5_000_000_000),
            },
        },
        ScheduledFault {
            when: When::Message {
                node: client,
                direction: Direction::Sends,
                kind: "Write".into(),
                count: 1,
            },
            fault: Fault::Crash {
                node: client,
                restart_after_ns: Some(1_000_000),
            },
        },
    ];
    let p = RegisterParams {
        write_ratio: 1.0,
        think_time: "1ms".parse().unwrap(),
        ..RegisterParams::default()
    };
    for seed in 1..=5 {
        let o = sweep::register_with(p.clone(), 1, seed, CALM, false, faults.clone(), SETTLE);
        assert!(o.unfired.faults.is_empty(), "the triggers fired");
        assert_all_hold(&o, "reply across incarnations");
    }
}

#[test]
fn acked_on_every_replica_does_not_apply_to_async_replication() {
    let p = RegisterParams {
        replication: Replication::Async,
        bug: Bug::AckAfterOneReplica,
        ..RegisterParams::default()
    };
    let o = sweep::register_with(p, 3, 1, CALM, false, vec![], SETTLE);
    assert_eq!(status(&o, "acked_on_every_replica"), Status::Holds);
}

#[test]
fn a_long_settle_goes_quiescent_and_ends_with_verdicts() {
    // A day of settling: a leader that kept its retransmit timer running would spend the
    // run's whole event budget on it and end `unknown`.
    let links = Links {
        loss: 0.05,
        dup: 0.05,
        ..CALM
    };
    let day = Duration::from_secs(24 * 3600);
    let o = sweep::register_with(RegisterParams::default(), 3, 7, links, true, vec![], day);
    assert_eq!(o.stop, Stop::Quiescent, "{:?}", o.stats);
    assert_all_hold(&o, "long settle");
}
