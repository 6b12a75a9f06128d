//! Properties of the kernel over random networks and random fault schedules (proptest):
//! every message is accounted for, the same seed replays the same run, and a FIFO link never
//! reorders.

use proptest::prelude::*;
use sim::clock::Clock;
use sim::dist::Dist;
use sim::fault::{Fault, FaultSchedule, Nemesis, ScheduledFault, When};
use sim::history::History;
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::net::{InFlight, LinkParams, Network, Order};
use sim::{Ctx, Message, Model, Node, NodeId, Sim, SimConfig, TimerId, World};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// A numbered message: `seq` counts the sender's messages to that receiver.
#[derive(Clone, Debug, Hash)]
struct Gossip {
    seq: u64,
}

impl Message for Gossip {
    const KINDS: &'static [&'static str] = &["Gossip"];

    fn kind(&self) -> &'static str {
        "Gossip"
    }
}

/// Out-of-order deliveries seen on any link: (from, to, seq, previous seq).
type Reorders = Rc<RefCell<Vec<(u32, u32, u64, u64)>>>;

/// Every node starts a few messages; each new delivery is passed on to a random peer, and a
/// timer starts a new one every 200 ms, so traffic survives loss and crashes.
struct Gossiper {
    nodes: u32,
    /// Per link `from * nodes + to`, the last number sent; shared so that it survives the
    /// sender's crashes (a restarted sender must not start again at 1).
    sent: Rc<RefCell<Vec<u64>>>,
    reorders: Reorders,
    last_seen: Vec<u64>,
}

impl Gossiper {
    fn pass_on(&mut self, ctx: &mut Ctx<'_, Self>) {
        let me = ctx.id().0;
        let mut to = ctx.rng().below(u64::from(self.nodes - 1)) as u32;
        if to >= me {
            to += 1;
        }
        let seq = {
            let mut sent = self.sent.borrow_mut();
            let slot = &mut sent[(me * self.nodes + to) as usize];
            *slot += 1;
            *slot
        };
        ctx.send(NodeId(to), Gossip { seq });
    }
}

impl Node for Gossiper {
    type Msg = Gossip;
    type Record = ();
    type Timer = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        for _ in 0..3 {
            self.pass_on(ctx);
        }
        ctx.set_timer(Duration::from_millis(200), ());
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Gossip) {
        let last = &mut self.last_seen[from.index()];
        if msg.seq < *last {
            self.reorders
                .borrow_mut()
                .push((from.0, ctx.id().0, msg.seq, *last));
        }
        // Only news is passed on: duplicates would otherwise multiply the traffic.
        if msg.seq > *last {
            *last = msg.seq;
            self.pass_on(ctx);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: TimerId, _tag: ()) {
        self.pass_on(ctx);
        ctx.set_timer(Duration::from_millis(200), ());
    }
}

struct GossipModel {
    nodes: u32,
    sent: Rc<RefCell<Vec<u64>>>,
    reorders: Reorders,
}

impl Model for GossipModel {
    type Node = Gossiper;

    fn build(&mut self, _id: NodeId, _disk: &[()]) -> Gossiper {
        let n = self.nodes as usize;
        Gossiper {
            nodes: self.nodes,
            sent: Rc::clone(&self.sent),
            reorders: Rc::clone(&self.reorders),
            last_seen: vec![0; n],
        }
    }

    fn finish(&mut self, _w: &World<'_, Gossiper>, _h: &History, _m: &mut Metrics) -> Vec<Verdict> {
        Vec::new()
    }
}

/// One random fault at a random time.
fn fault(nodes: u32) -> impl Strategy<Value = ScheduledFault> {
    let node = (0..nodes).prop_map(NodeId);
    let at = 0u64..2_000_000_000;
    let what = prop_oneof![
        (node.clone(), proptest::option::of(1u64..500_000_000)).prop_map(|(node, r)| {
            Fault::Crash {
                node,
                restart_after_ns: r,
            }
        }),
        node.clone().prop_map(|node| Fault::Restart { node }),
        (
            node.clone(),
            node.clone(),
            proptest::option::of(1u64..800_000_000)
        )
            .prop_map(|(a, b, h)| Fault::Partition {
                groups: vec![vec![a], vec![b]],
                heal_after_ns: h
            }),
        (node.clone(), node.clone()).prop_map(|(a, b)| Fault::PartitionOneWay {
            from: vec![a],
            to: vec![b],
            heal_after_ns: None
        }),
        Just(Fault::Heal),
        (node.clone(), -50_000_000i64..50_000_000)
            .prop_map(|(node, by_ns)| Fault::ClockJump { node, by_ns }),
        (node, -1000i64..1000).prop_map(|(node, ppm)| Fault::ClockDrift { node, ppm }),
        (0.0f64..0.5).prop_map(|p| Fault::Loss { p }),
        (0.0f64..0.5).prop_map(|p| Fault::Duplicate { p }),
    ];
    (at, what).prop_map(|(t, fault)| ScheduledFault {
        when: When::At(t),
        fault,
    })
}

#[derive(Clone, Debug)]
struct Setup {
    nodes: u32,
    latency: Dist,
    loss: f64,
    duplicate: f64,
    order: Order,
    in_flight: InFlight,
    faults: Vec<ScheduledFault>,
    seed: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (2u32..6).prop_flat_map(|nodes| {
        (
            (1u64..5_000_000, 0u64..30_000_000)
                .prop_map(|(lo, extra)| Dist::Uniform { lo, hi: lo + extra }),
            0.0f64..0.3,
            0.0f64..0.3,
            prop_oneof![Just(Order::Fifo), Just(Order::Unordered)],
            prop_oneof![Just(InFlight::Drop), Just(InFlight::Deliver)],
            proptest::collection::vec(fault(nodes), 0..8),
            any::<u64>(),
        )
            .prop_map(
                move |(latency, loss, duplicate, order, in_flight, faults, seed)| Setup {
                    nodes,
                    latency,
                    loss,
                    duplicate,
                    order,
                    in_flight,
                    faults,
                    seed,
                },
            )
    })
}

fn run(s: &Setup) -> (sim::RunResult, Vec<(u32, u32, u64, u64)>) {
    let link = LinkParams {
        latency: s.latency.clone(),
        loss: s.loss,
        duplicate: s.duplicate,
    };
    let n = s.nodes as usize;
    let config = SimConfig {
        seed: s.seed,
        node_names: (0..n).map(|i| format!("n{i}")).collect(),
        network: Network::new(vec![0; n], 1, vec![link], s.order, s.in_flight),
        clocks: vec![Clock::new(0, 0); n],
        schedule: FaultSchedule {
            faults: s.faults.clone(),
        },
        nemesis: Nemesis::default(),
        duration: Duration::from_secs(2),
        settle: Duration::from_millis(500),
        max_events: 2_000_000,
    };
    let reorders = Rc::new(RefCell::new(Vec::new()));
    let sent = Rc::new(RefCell::new(vec![0; n * n]));
    let out = Sim::new(
        config,
        GossipModel {
            nodes: s.nodes,
            sent,
            reorders: Rc::clone(&reorders),
        },
        None,
    )
    .run()
    .unwrap();
    let seen = reorders.borrow().clone();
    (out, seen)
}

proptest! {
    // A fixed seed: the same cases on every machine, every run (after the regressions file's).
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0xC0_5113),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_message_is_delivered_dropped_or_in_flight(s in setup()) {
        let (out, _) = run(&s);
        let st = &out.stats;
        prop_assert_eq!(
            st.messages_sent + st.messages_duplicated,
            st.messages_delivered + st.dropped_loss + st.dropped_partition + st.dropped_receiver_down + st.messages_in_flight,
            "{:?}", st
        );
    }

    #[test]
    fn the_same_seed_replays_the_same_run(s in setup()) {
        let (a, _) = run(&s);
        let (b, _) = run(&s);
        prop_assert_eq!(a.trace_hash, b.trace_hash);
        prop_assert_eq!(a.stats, b.stats);
    }

    #[test]
    fn fifo_links_never_reorder(s in setup()) {
        // Duplicates are copies, not new sends: they may legitimately repeat an older number.
        let s = Setup { order: Order::Fifo, duplicate: 0.0, faults: s.faults.into_iter().filter(|f| !matches!(f.fault, Fault::Duplicate { .. })).collect(), ..s };
        let (_, reorders) = run(&s);
        prop_assert!(reorders.is_empty(), "{:?}", reorders);
    }
}

/// The FIFO property is not vacuous: without FIFO, the same traffic does reorder.
#[test]
fn without_fifo_links_do_reorder() {
    let s = Setup {
        nodes: 3,
        latency: Dist::Uniform {
            lo: 1_000_000,
            hi: 40_000_000,
        },
        loss: 0.0,
        duplicate: 0.0,
        order: Order::Unordered,
        in_flight: InFlight::Drop,
        faults: Vec::new(),
        seed: 1,
    };
    let (out, reorders) = run(&s);
    assert!(out.stats.messages_delivered > 100, "{:?}", out.stats);
    assert!(!reorders.is_empty());
    let (_, fifo) = run(&Setup {
        order: Order::Fifo,
        ..s
    });
    assert!(fifo.is_empty(), "{fifo:?}");
}
