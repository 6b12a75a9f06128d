//! The generic client on a toy counter service built from parts: the two timeout policies
//! (retry the same request id; give up to `info` and retire the process), request ids from
//! client, incarnation and sequence number, the history and latencies it records.

use sim::client::{
    Client, ClientConfig, ClientTimer, Completion, HistoryOp, OnTimeout, RequestId, Workload,
};
use sim::clock::Clock;
use sim::fault::{Fault, FaultSchedule, Nemesis, ScheduledFault, When};
use sim::history::{EventType, History, OpFn, Value};
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::net::{InFlight, LinkParams, Network, Order};
use sim::rng::Rng;
use sim::{Ctx, Message, Model, NodeId, Part, Sim, SimConfig, TimerId, World};
use std::rc::Rc;
use std::time::Duration;

#[derive(Clone, Debug, Hash)]
enum Msg {
    Add { id: RequestId, attempt: u32 },
    Added { id: RequestId, total: i64 },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &["Add", "Added"];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Add { .. } => "Add",
            Msg::Added { .. } => "Added",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Timer {
    Client(ClientTimer),
}

sim::client_timer!(Timer::Client);

/// The server ignores every first attempt of a request whose sequence number is even.
struct Setup {
    policy: OnTimeout,
}

struct Server {
    total: i64,
    /// Requests already applied: a retried id is answered, never applied twice.
    applied: Vec<RequestId>,
}

sim::node_of_parts! {
    struct ToyNode(Setup) {
        msg: Msg, timer: Timer, record: (),
        role: Role { Server(Server), Client(Client<Adds>) }
    }
}

impl Part<ToyNode, Setup> for Server {
    fn on_start(&mut self, _: &mut Ctx<'_, ToyNode>, _: &Setup) {}
    fn on_message(&mut self, ctx: &mut Ctx<'_, ToyNode>, _: &Setup, from: NodeId, msg: Msg) {
        if let Msg::Add { id, attempt } = msg {
            if attempt == 0 && id.seq % 2 == 0 {
                return;
            }
            if !self.applied.contains(&id) {
                self.applied.push(id);
                self.total += 1;
            }
            ctx.send(
                from,
                Msg::Added {
                    id,
                    total: self.total,
                },
            );
        }
    }
    fn on_timer(&mut self, _: &mut Ctx<'_, ToyNode>, _: &Setup, _: TimerId, _: Timer) {}
}

struct Adds;

impl Workload for Adds {
    type Node = ToyNode;
    /// The operation's draw, recorded in the history so tests can compare sequences.
    type Op = i64;
    type Reply = i64;

    fn next(&mut self, rng: &mut Rng, _: RequestId) -> i64 {
        rng.below(1_000_000) as i64 // a draw per operation, as real workloads make
    }
    fn target(&self, _: &i64, _: u32) -> NodeId {
        NodeId(0)
    }
    fn request(&self, id: RequestId, _: &i64, attempt: u32) -> Msg {
        Msg::Add { id, attempt }
    }
    fn reply(&self, msg: Msg) -> Option<(RequestId, i64)> {
        match msg {
            Msg::Added { id, total } => Some((id, total)),
            Msg::Add { .. } => None,
        }
    }
    fn metric(&self, _: &i64) -> &'static str {
        "add_latency_ms"
    }
    fn history(&self, draw: &i64) -> Option<HistoryOp> {
        Some(HistoryOp {
            f: OpFn::new("add").unwrap(),
            key: None,
            value: Value::Int(*draw),
        })
    }
    fn completed(&mut self, _: &mut Ctx<'_, ToyNode>, _: &i64, total: i64) -> Completion {
        Completion::Ok(Value::Int(total))
    }
}

struct Toy {
    setup: Rc<Setup>,
    think_time: &'static str,
}

impl Model for Toy {
    type Node = ToyNode;

    fn build(&mut self, id: NodeId, _: &[()]) -> ToyNode {
        let role = if id == NodeId(0) {
            Role::Server(Server {
                total: 0,
                applied: Vec::new(),
            })
        } else {
            let config = ClientConfig {
                think_time: self.think_time.parse().unwrap(),
                timeout: Duration::from_millis(100),
                on_timeout: self.setup.policy,
            };
            Role::Client(Client::new(Adds, config, id.0 - 1, 1))
        };
        ToyNode {
            setup: Rc::clone(&self.setup),
            role,
        }
    }

    fn finish(&mut self, _: &World<'_, ToyNode>, _: &History, _: &mut Metrics) -> Vec<Verdict> {
        Vec::new()
    }
}

fn run(policy: OnTimeout, faults: Vec<ScheduledFault>) -> sim::RunResult {
    run_thinking(policy, faults, "10ms")
}

fn run_thinking(
    policy: OnTimeout,
    faults: Vec<ScheduledFault>,
    think_time: &'static str,
) -> sim::RunResult {
    let link = LinkParams {
        latency: "5ms".parse().unwrap(),
        loss: 0.0,
        duplicate: 0.0,
    };
    let config = SimConfig {
        seed: 3,
        node_names: vec!["server".into(), "client".into()],
        network: Network::new(vec![0, 0], 1, vec![link], Order::Unordered, InFlight::Drop),
        clocks: vec![Clock::new(0, 0), Clock::new(0, 0)],
        schedule: FaultSchedule { faults },
        nemesis: Nemesis::default(),
        duration: Duration::from_millis(1000),
        settle: Duration::from_millis(500),
        max_events: 1_000_000,
    };
    let toy = Toy {
        setup: Rc::new(Setup { policy }),
        think_time,
    };
    Sim::new(config, toy, None).run().unwrap()
}

fn events(h: &History) -> Vec<(u64, EventType)> {
    h.events.iter().map(|e| (e.process, e.kind)).collect()
}

#[test]
fn retry_resends_the_same_id_until_answered() {
    let o = run(OnTimeout::Retry, Vec::new());
    let e = events(&o.history);
    // One process, strictly alternating invoke / ok: no operation is ever abandoned.
    assert!(e.len() > 10);
    for pair in e.chunks(2) {
        assert_eq!(pair[0], (0, EventType::Invoke));
        if let Some(done) = pair.get(1) {
            assert_eq!(*done, (0, EventType::Ok));
        }
    }
    // Every operation applied once: the totals read back count up by one.
    let totals: Vec<_> = o
        .history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok)
        .map(|e| e.value.clone())
        .collect();
    let expected: Vec<_> = (1..=totals.len() as i64).map(Value::Int).collect();
    assert_eq!(totals, expected);
    // Even operations waited out one timeout, odd ones one round trip.
    let lat = &o.metrics.to_json()["add_latency_ms"];
    assert!(lat["max"].as_f64().unwrap() >= 100.0, "{lat}");
    assert_eq!(
        lat["count"].as_u64().unwrap() as usize,
        totals.len(),
        "{lat}"
    );
}

#[test]
fn giving_up_records_info_and_retires_the_process() {
    let o = run(OnTimeout::GiveUp, Vec::new());
    let e = events(&o.history);
    // Operation 0 times out: info on process 0; operation 1 runs as process 1 and succeeds;
    // operation 2 times out on process 1; operation 3 runs as process 2...
    assert_eq!(
        &e[..6],
        &[
            (0, EventType::Invoke),
            (0, EventType::Info),
            (1, EventType::Invoke),
            (1, EventType::Ok),
            (1, EventType::Invoke),
            (1, EventType::Info),
        ]
    );
    assert!(o.history.events[1].error.as_deref() == Some("timed-out"));
}

#[test]
fn a_restarted_client_takes_fresh_ids_and_processes() {
    let crash = ScheduledFault {
        when: When::At(300_000_000),
        fault: Fault::Crash {
            node: NodeId(1),
            restart_after_ns: Some(100_000_000),
        },
    };
    let o = run(OnTimeout::Retry, vec![crash]);
    let processes: Vec<u64> = o.history.events.iter().map(|e| e.process).collect();
    // The first life is process 0, the second 1 × clients × 10^6.
    assert_eq!(processes[0], 0);
    assert_eq!(*processes.last().unwrap(), 1_000_000);
    // Ids are fresh in the second life, so the server applied every completed operation once
    // (an operation cut by the crash may be applied without being acknowledged).
    let oks = o
        .history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok)
        .count() as i64;
    let Value::Int(last) = o
        .history
        .events
        .iter()
        .rev()
        .find(|e| e.kind == EventType::Ok)
        .unwrap()
        .value
    else {
        panic!("totals are ints")
    };
    assert!(last == oks || last == oks + 1, "{last} vs {oks}");
}

/// Common random numbers: a crash (during a think time or a request) never shifts the
/// operations the client draws afterwards. A crash throws away the think time drawn before it
/// and the restart draws another; think times have their own stream, so the operations'
/// stream sees one draw per operation whatever happens.
#[test]
fn a_crash_never_shifts_the_operations_drawn() {
    let drawn = |o: &sim::RunResult| -> Vec<i64> {
        o.history
            .events
            .iter()
            .filter(|e| e.kind == EventType::Invoke)
            .map(|e| match e.value {
                Value::Int(v) => v,
                _ => panic!("draws are ints"),
            })
            .collect()
    };
    let calm = drawn(&run_thinking(
        OnTimeout::Retry,
        vec![],
        "uniform(20ms, 60ms)",
    ));
    assert!(calm.len() > 8, "{calm:?}");
    // Crash times across think times and requests (5 ms links, 20–60 ms thinking).
    for at_ms in (200..400).step_by(7) {
        let crash = ScheduledFault {
            when: When::At(at_ms * 1_000_000),
            fault: Fault::Crash {
                node: NodeId(1),
                restart_after_ns: Some(50_000_000),
            },
        };
        let crashed = drawn(&run_thinking(
            OnTimeout::Retry,
            vec![crash],
            "uniform(20ms, 60ms)",
        ));
        assert!(crashed.len() > 5, "crash at {at_ms} ms: {crashed:?}");
        assert_eq!(
            crashed[..],
            calm[..crashed.len()],
            "crash at {at_ms} ms shifted the operations"
        );
    }
}
