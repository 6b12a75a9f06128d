//! The kernel's semantics on a toy model: crashes, restarts from the synced log, message
//! triggers that crash mid-handler, one-way partitions, the event limit, local clocks.

use sim::clock::Clock;
use sim::fault::{Direction, Fault, FaultSchedule, Nemesis, ScheduledFault, When};
use sim::history::History;
use sim::invariant::{Status, Verdict};
use sim::metrics::Metrics;
use sim::net::{InFlight, LinkParams, Network, Order, ToRestarted};
use sim::{Ctx, Message, Model, Node, NodeId, Sim, SimConfig, Stop, TimerId, World};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

#[derive(Clone, Debug, Hash)]
struct Ping(u32);

impl Message for Ping {
    const KINDS: &'static [&'static str] = &["Ping"];

    fn kind(&self) -> &'static str {
        "Ping"
    }
}

/// What the nodes did, in order, for the test to read.
type Log = Rc<RefCell<Vec<String>>>;

/// Node 0 sends `Ping(0..burst)` to node 1 at start and every 100 ms (local time); it logs
/// "a" synced and "b" unsynced at its first start. Node 1 logs what it receives.
struct Toy {
    log: Log,
    burst: u32,
    /// Node 0 durably logs "sent" after each burst.
    log_sends: bool,
}

struct ToyNode {
    log: Log,
    burst: u32,
    log_sends: bool,
    recovered: Vec<&'static str>,
}

impl Node for ToyNode {
    type Msg = Ping;
    type Record = &'static str;
    type Timer = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let me = ctx.id().0;
        self.log.borrow_mut().push(format!(
            "start {me} recovered {:?} clock {}",
            self.recovered,
            ctx.local_clock()
        ));
        if me == 0 {
            if self.recovered.is_empty() {
                ctx.disk().append_synced("a");
                ctx.disk().append("b");
            }
            self.tick(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Ping) {
        self.log
            .borrow_mut()
            .push(format!("{} got {} from {}", ctx.id().0, msg.0, from.0));
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: TimerId, _tag: ()) {
        self.tick(ctx);
    }
}

impl ToyNode {
    fn tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        for i in 0..self.burst {
            ctx.send(NodeId(1), Ping(i));
        }
        if self.log_sends {
            ctx.disk().append_synced("sent");
        }
        ctx.set_timer(Duration::from_millis(100), ());
    }
}

impl Model for Toy {
    type Node = ToyNode;

    fn build(&mut self, _id: NodeId, disk: &[&'static str]) -> ToyNode {
        ToyNode {
            log: Rc::clone(&self.log),
            burst: self.burst,
            log_sends: self.log_sends,
            recovered: disk.to_vec(),
        }
    }

    fn finish(&mut self, _w: &World<'_, ToyNode>, _h: &History, _m: &mut Metrics) -> Vec<Verdict> {
        Vec::new()
    }
}

fn config(faults: Vec<ScheduledFault>, duration_ms: u64) -> SimConfig {
    let link = LinkParams {
        latency: "10ms".parse().unwrap(),
        loss: 0.0,
        duplicate: 0.0,
    };
    SimConfig {
        seed: 1,
        node_names: vec!["a".into(), "b".into()],
        network: Network::new(vec![0, 0], 1, vec![link], Order::Unordered, InFlight::Drop),
        clocks: vec![Clock::new(0, 0), Clock::new(5_000_000, 0)],
        schedule: FaultSchedule { faults },
        nemesis: Nemesis::default(),
        duration: Duration::from_millis(duration_ms),
        settle: Duration::ZERO,
        max_events: 1_000_000,
    }
}

fn run(faults: Vec<ScheduledFault>, duration_ms: u64, burst: u32) -> (Vec<String>, sim::RunResult) {
    run_with(config(faults, duration_ms), burst, false)
}

fn run_with(config: SimConfig, burst: u32, log_sends: bool) -> (Vec<String>, sim::RunResult) {
    let log = Log::default();
    let out = Sim::new(
        config,
        Toy {
            log: Rc::clone(&log),
            burst,
            log_sends,
        },
        None,
    )
    .run()
    .unwrap();
    let lines = log.borrow().clone();
    (lines, out)
}

fn at(ms: u64, fault: Fault) -> ScheduledFault {
    ScheduledFault {
        when: When::At(ms * 1_000_000),
        fault,
    }
}

#[test]
fn nodes_read_their_own_clock() {
    let (log, _) = run(vec![], 1, 1);
    assert_eq!(log[1], "start 1 recovered [] clock 5000000", "{log:?}");
}

#[test]
fn restart_rebuilds_from_the_synced_log_only() {
    let (log, out) = run(
        vec![at(
            50,
            Fault::Crash {
                node: NodeId(0),
                restart_after_ns: Some(20_000_000),
            },
        )],
        200,
        1,
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("start 0 recovered [\"a\"]")),
        "{log:?}"
    );
    assert_eq!(out.stats.unsynced_records_lost, 1);
    assert_eq!((out.stats.crashes, out.stats.restarts), (1, 1));
}

#[test]
fn a_message_to_an_earlier_life_arrives_only_under_to_restarted_deliver() {
    // Node 1 is down from 5 ms to 8 ms: the ping sent at 0 ms arrives at 10 ms, after the
    // restart. Dropped by default (the connection died with the node); delivered, and
    // counted, once a fault at 0 ms switches the network to `deliver`.
    let crash = at(
        5,
        Fault::Crash {
            node: NodeId(1),
            restart_after_ns: Some(3_000_000),
        },
    );
    let got = |log: &[String]| log.iter().filter(|l| l.starts_with("1 got")).count();
    let (log, out) = run(vec![crash.clone()], 50, 1);
    assert_eq!(
        (got(&log), out.stats.dropped_receiver_down),
        (0, 1),
        "{log:?}"
    );
    assert_eq!(out.stats.delivered_to_restarted, 0);
    let deliver = at(0, Fault::ToRestarted(ToRestarted::Deliver));
    let (log, out) = run(vec![deliver, crash], 50, 1);
    assert_eq!(
        (got(&log), out.stats.dropped_receiver_down),
        (1, 0),
        "{log:?}"
    );
    assert_eq!(out.stats.delivered_to_restarted, 1);
}

#[test]
fn a_crash_drops_timers_and_messages_addressed_to_the_node() {
    // Node 1 is down from 5 ms to 150 ms: the pings sent at 0 ms (arriving at 10 ms) and at
    // 100 ms are lost; the ones sent at 200 ms arrive.
    let faults = vec![at(
        5,
        Fault::Crash {
            node: NodeId(1),
            restart_after_ns: Some(145_000_000),
        },
    )];
    let (log, out) = run(faults, 250, 1);
    let got: Vec<&String> = log.iter().filter(|l| l.starts_with("1 got")).collect();
    assert_eq!(got.len(), 1, "{log:?}");
    assert_eq!(out.stats.dropped_receiver_down, 2);
    // Node 0's crash: its 100 ms timer never fires, so no pings after the crash.
    let (log, _) = run(
        vec![at(
            50,
            Fault::Crash {
                node: NodeId(0),
                restart_after_ns: None,
            },
        )],
        300,
        1,
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("1 got")).count(),
        1,
        "{log:?}"
    );
}

#[test]
fn a_send_trigger_crashes_the_sender_mid_broadcast() {
    let trigger = ScheduledFault {
        when: When::Message {
            node: NodeId(0),
            direction: Direction::Sends,
            kind: "Ping".into(),
            count: 2,
        },
        fault: Fault::Crash {
            node: NodeId(0),
            restart_after_ns: None,
        },
    };
    let (log, out) = run(vec![trigger], 300, 5);
    let got: Vec<&String> = log.iter().filter(|l| l.starts_with("1 got")).collect();
    // Pings 0 and 1 were sent; the crash right after the 2nd send discards 2, 3 and 4.
    assert_eq!(got, ["1 got 0 from 0", "1 got 1 from 0"], "{log:?}");
    assert_eq!(out.stats.messages_sent, 2);
}

#[test]
fn a_receive_trigger_crashes_before_the_message_is_handled() {
    let trigger = ScheduledFault {
        when: When::Message {
            node: NodeId(1),
            direction: Direction::Receives,
            kind: "Ping".into(),
            count: 2,
        },
        fault: Fault::Crash {
            node: NodeId(1),
            restart_after_ns: None,
        },
    };
    let (log, _) = run(vec![trigger], 300, 3);
    let got: Vec<&String> = log.iter().filter(|l| l.starts_with("1 got")).collect();
    assert_eq!(got, ["1 got 0 from 0"], "{log:?}");
}

#[test]
fn a_one_way_partition_cuts_one_direction() {
    let cut = at(
        0,
        Fault::PartitionOneWay {
            from: vec![NodeId(0)],
            to: vec![NodeId(1)],
            heal_after_ns: Some(150_000_000),
        },
    );
    let (log, out) = run(vec![cut], 250, 1);
    // Sends at 0 and 100 ms are cut; the one at 200 ms (after the heal at 150 ms) arrives.
    assert_eq!(
        log.iter().filter(|l| l.starts_with("1 got")).count(),
        1,
        "{log:?}"
    );
    assert_eq!(out.stats.dropped_partition, 2);
}

#[test]
fn the_event_limit_ends_the_run_as_unknown() {
    let mut c = config(vec![], 10_000);
    c.max_events = 50;
    let out = Sim::new(
        c,
        Toy {
            log: Log::default(),
            burst: 3,
            log_sends: false,
        },
        None,
    )
    .run()
    .unwrap();
    assert_eq!(out.stop, Stop::EventLimit);
    let v = out
        .verdicts
        .iter()
        .find(|v| v.name == "run_completed")
        .expect("a liveness verdict");
    assert_eq!(v.status, Status::Unknown);
    assert!(v.detail.contains("event limit"), "{}", v.detail);
}

#[test]
fn a_watch_sees_the_run_without_changing_it_and_may_stop_it() {
    let toy = || Toy {
        log: Log::default(),
        burst: 3,
        log_sends: false,
    };
    let plain = Sim::new(config(vec![], 10_000_000), toy(), None)
        .run()
        .unwrap();
    assert!(
        plain.stats.events > 3 * sim::WATCH_EVERY,
        "{} events: too few to watch",
        plain.stats.events
    );
    let calls = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&calls);
    let watched = Sim::new(config(vec![], 10_000_000), toy(), None)
        .watch(Box::new(move |p| {
            seen.borrow_mut().push((p.events, p.now, p.end));
            None
        }))
        .run()
        .unwrap();
    assert_eq!(watched.trace_hash, plain.trace_hash);
    assert_eq!(watched.stop, plain.stop);
    let calls = calls.borrow();
    assert_eq!(
        calls.len() as u64,
        (plain.stats.events - 1) / sim::WATCH_EVERY
    );
    assert!(calls.iter().all(|&(e, now, end)| e % sim::WATCH_EVERY == 0
        && now <= end
        && end == sim::Time(10_000_000 * 1_000_000)));

    let mut n = 0;
    let stopped = Sim::new(config(vec![], 10_000_000), toy(), None)
        .watch(Box::new(move |_| {
            n += 1;
            (n == 2).then(|| "the wall-clock limit was reached".to_string())
        }))
        .run()
        .unwrap();
    assert_eq!(stopped.stop, Stop::Interrupted);
    assert_eq!(stopped.stats.events, 2 * sim::WATCH_EVERY);
    let v = stopped
        .verdicts
        .iter()
        .find(|v| v.name == "run_completed")
        .expect("a verdict says why the run stopped");
    assert_eq!(v.status, Status::Unknown);
    assert!(v.detail.contains("wall-clock limit"), "{}", v.detail);
}

#[test]
fn same_seed_same_hash_other_seed_other_hash() {
    let nemesis = Nemesis {
        crash_every: Some("exponential(300ms)".parse().unwrap()),
        ..Nemesis::default()
    };
    let hash = |seed: u64| {
        let mut c = config(vec![], 3_000);
        c.seed = seed;
        c.nemesis = nemesis.clone();
        c.network = Network::new(
            vec![0, 0],
            1,
            vec![LinkParams {
                latency: "uniform(1ms, 20ms)".parse().unwrap(),
                loss: 0.1,
                duplicate: 0.1,
            }],
            Order::Unordered,
            InFlight::Drop,
        );
        Sim::new(
            c,
            Toy {
                log: Log::default(),
                burst: 2,
                log_sends: false,
            },
            None,
        )
        .run()
        .unwrap()
        .trace_hash
    };
    assert_eq!(hash(3), hash(3));
    assert_ne!(hash(3), hash(4));
}

fn crash_on_send(count: u32, restart_after_ns: Option<u64>) -> ScheduledFault {
    ScheduledFault {
        when: When::Message {
            node: NodeId(0),
            direction: Direction::Sends,
            kind: "Ping".into(),
            count,
        },
        fault: Fault::Crash {
            node: NodeId(0),
            restart_after_ns,
        },
    }
}

#[test]
fn a_node_crashed_mid_handler_writes_nothing_afterwards() {
    // Node 0 crashes right after its first Ping; the "sent" record it would have synced after
    // the burst must not survive, although the handler ran on and synced it.
    let (log, _) = run_with(
        config(vec![crash_on_send(1, Some(10_000_000))], 50),
        2,
        true,
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("start 0 recovered [\"a\"]")),
        "{log:?}"
    );
}

#[test]
fn overlapping_partitions_heal_separately() {
    let cut = |from_ms: u64, heal_ms: u64| {
        at(
            from_ms,
            Fault::PartitionOneWay {
                from: vec![NodeId(0)],
                to: vec![NodeId(1)],
                heal_after_ns: Some(heal_ms * 1_000_000),
            },
        )
    };
    // Cut from 0 to 150 ms and from 50 to 250 ms: the pings at 0, 100 and 200 ms are all lost;
    // the one at 300 ms arrives.
    let (log, out) = run(vec![cut(0, 150), cut(50, 200)], 350, 1);
    assert_eq!(out.stats.dropped_partition, 3);
    assert_eq!(
        log.iter().filter(|l| l.starts_with("1 got")).count(),
        1,
        "{log:?}"
    );
}

#[test]
fn crashing_a_down_node_does_not_cut_its_downtime_short() {
    // Down for good at 5 ms; a second crash at 20 ms with a restart must not bring it back.
    let faults = vec![
        at(
            5,
            Fault::Crash {
                node: NodeId(1),
                restart_after_ns: None,
            },
        ),
        at(
            20,
            Fault::Crash {
                node: NodeId(1),
                restart_after_ns: Some(1_000_000),
            },
        ),
    ];
    let (_, out) = run(faults, 300, 1);
    assert_eq!((out.stats.crashes, out.stats.restarts), (1, 0));
}

#[test]
fn a_message_lost_to_a_receive_trigger_counts_as_dropped() {
    let trigger = ScheduledFault {
        when: When::Message {
            node: NodeId(1),
            direction: Direction::Receives,
            kind: "Ping".into(),
            count: 1,
        },
        fault: Fault::Crash {
            node: NodeId(1),
            restart_after_ns: None,
        },
    };
    let (_, out) = run(vec![trigger], 50, 1);
    assert_eq!(
        (
            out.stats.messages_delivered,
            out.stats.dropped_receiver_down
        ),
        (0, 1)
    );
}

#[test]
fn settling_undoes_loss_faults_and_unfired_triggers_are_reported() {
    let mut c = config(
        vec![at(0, Fault::Loss { p: 1.0 }), crash_on_send(1000, None)],
        250,
    );
    c.settle = Duration::from_millis(250);
    let (log, out) = run_with(c, 1, false);
    // The ping sent at start goes out before the loss fault (same instant, earlier event);
    // then everything is lost until the settle phase at 250 ms; the pings at 300 and 400 ms
    // arrive.
    assert_eq!(
        log.iter().filter(|l| l.starts_with("1 got")).count(),
        3,
        "{log:?}"
    );
    assert_eq!(out.unfired.faults.len(), 1, "the 1000th Ping never happens");
}

#[test]
fn a_full_heal_cancels_the_pending_end_of_an_earlier_partition() {
    let cut = |ms: u64, heal_after_ms: Option<u64>| {
        at(
            ms,
            Fault::PartitionOneWay {
                from: vec![NodeId(0)],
                to: vec![NodeId(1)],
                heal_after_ns: heal_after_ms.map(|h| h * 1_000_000),
            },
        )
    };
    // Cut at 100 ms (to end at 500 ms), healed by hand at 200 ms, cut for good at 300 ms: the
    // first cut's end at 500 ms must not end the second. Pings leave every 100 ms; only those
    // of 0 and 200 ms arrive.
    let faults = vec![cut(100, Some(400)), at(200, Fault::Heal), cut(300, None)];
    let (log, out) = run(faults, 1000, 1);
    assert_eq!(
        log.iter().filter(|l| l.starts_with("1 got")).count(),
        2,
        "{log:?}"
    );
    assert_eq!(
        out.episodes.last().map(|e| e.to),
        Some(sim::Time(1_000_000_000))
    );
}
