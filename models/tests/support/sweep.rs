//! The heavy-fault sweep of every correct model, shared by the `fault_sweep` benchmark
//! (thousands of seeds) and the `fault_sweep` test (a small slice of them, for CI).
//!
//! Each seed runs a model under 5% loss and 5% duplication on every link, random crashes
//! every ~2 s of any node (clients included), partitions, clock jumps, and two
//! message-triggered crashes drawn for the seed (a random node crashing right after it sends,
//! or right before it handles, its n-th message of a random kind); on odd seeds, messages in
//! flight to a crashed node are delivered if it is back when they arrive. A correct model must keep
//! every invariant: a `violated` or `unknown` verdict is a finding, either in the model or in
//! the check.

#![allow(dead_code)] // each includer uses part of it

use models::order_pipeline::PipelineParams;
use models::payments::PaymentParams;
use models::quorum::QuorumParams;
use models::replication::{self, ReplicationParams};
use models::saga::SagaParams;
use models::two_phase_commit::{Locking, TwoPcParams};
use models::versioning::{Policy, VersionedParams};
use models::{NodeInfo, Params};
use sim::clock::Clock;
use sim::fault::{Direction, Fault, FaultSchedule, Nemesis, ScheduledFault, When};
use sim::invariant::Status;
use sim::net::{InFlight, LinkParams, Network, Order, ToRestarted};
use sim::rng::Rng;
use sim::{NodeId, RunResult, Sim, SimConfig};
use std::time::Duration;

/// The correct models the sweep covers, in the configurations whose invariants must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Sync replication with failover, CP under partition, reads from the primary.
    ReplicationSync,
    /// Semisync (one replica of two: a majority), the same otherwise.
    ReplicationSemisync,
    TwoPcNoWait,
    TwoPcWait,
    Saga,
    /// The leaderless store with R = W = 2 of N = 3 (strict quorums: reads must be fresh).
    Quorum,
    /// Two service instances sharing the ledger, in front of the processor.
    Payments,
    /// The versioned store under each policy (vector clocks with the application merge).
    /// Last-writer-wins loses concurrent updates by design: its `no_silent_loss` verdict is
    /// the measurement, not a finding (see [`case_findings`]).
    VersionedLwwWall,
    VersionedLwwHlc,
    VersionedVectorClocks,
    /// The order pipeline with an outbox and the reconciliation on.
    OrderPipeline,
}

pub const CASES: [Case; 11] = [
    Case::ReplicationSync,
    Case::ReplicationSemisync,
    Case::TwoPcNoWait,
    Case::TwoPcWait,
    Case::Saga,
    Case::Quorum,
    Case::Payments,
    Case::VersionedLwwWall,
    Case::VersionedLwwHlc,
    Case::VersionedVectorClocks,
    Case::OrderPipeline,
];

impl Case {
    pub fn name(self) -> &'static str {
        match self {
            Case::ReplicationSync => "replication sync, refuse",
            Case::ReplicationSemisync => "replication semisync 1 of 2, refuse",
            Case::TwoPcNoWait => "two_phase_commit no-wait",
            Case::TwoPcWait => "two_phase_commit wait",
            Case::Saga => "saga",
            Case::Quorum => "quorum r=2 w=2 n=3",
            Case::Payments => "payments",
            Case::VersionedLwwWall => "versioned_store lww-wall",
            Case::VersionedLwwHlc => "versioned_store lww-hlc",
            Case::VersionedVectorClocks => "versioned_store vector-clocks",
            Case::OrderPipeline => "order_pipeline outbox, reconciliation",
        }
    }

    /// The versioned store's policy, for its cases.
    pub fn policy(self) -> Option<Policy> {
        match self {
            Case::VersionedLwwWall => Some(Policy::LwwWall),
            Case::VersionedLwwHlc => Some(Policy::LwwHlc),
            Case::VersionedVectorClocks => Some(Policy::VectorClocks),
            _ => None,
        }
    }

    fn messages(self) -> &'static [&'static str] {
        match self {
            Case::ReplicationSync | Case::ReplicationSemisync => ReplicationParams::SPEC.messages,
            Case::TwoPcNoWait | Case::TwoPcWait => TwoPcParams::SPEC.messages,
            Case::Saga => SagaParams::SPEC.messages,
            Case::Quorum => QuorumParams::SPEC.messages,
            Case::Payments => PaymentParams::SPEC.messages,
            Case::VersionedLwwWall | Case::VersionedLwwHlc | Case::VersionedVectorClocks => {
                VersionedParams::SPEC.messages
            }
            Case::OrderPipeline => PipelineParams::SPEC.messages,
        }
    }
}

/// (name, region, role) of each node.
type Nodes = Vec<(String, u32, &'static str)>;

fn replication_nodes(clients: usize) -> Nodes {
    let mut n: Nodes = vec![
        ("primary".into(), 0, "primary"),
        ("replica1".into(), 1, "replica"),
        ("replica2".into(), 2, "replica"),
    ];
    n.extend((1..=clients).map(|i| (format!("client{i}"), 0, "client")));
    n
}

fn quorum_nodes(replicas: usize, clients: usize) -> Nodes {
    let mut n: Nodes = (1..=replicas)
        .map(|i| (format!("replica{i}"), 0, "replica"))
        .collect();
    n.extend((1..=clients).map(|i| (format!("client{i}"), 0, "client")));
    n
}

fn bank_nodes() -> Nodes {
    vec![
        ("coordinator".into(), 0, "coordinator"),
        ("db1".into(), 0, "participant"),
        ("db2".into(), 1, "participant"),
        ("client1".into(), 0, "client"),
        ("client2".into(), 0, "client"),
    ]
}

/// The sweep's faults: loss, duplication and the nemesis on every node.
pub fn heavy_nemesis() -> Nemesis {
    Nemesis {
        crash_every: Some("exponential(2s)".parse().unwrap()),
        restart_after: Some("uniform(100ms, 2s)".parse().unwrap()),
        partition_every: Some("exponential(5s)".parse().unwrap()),
        heal_after: Some("uniform(100ms, 3s)".parse().unwrap()),
        clock_jump_every: Some("exponential(5s)".parse().unwrap()),
        ..Nemesis::default()
    }
}

/// A network of `regions` regions, `local` inside each, `wan` between any two.
fn network(nodes: &Nodes, regions: u32, local: &str, wan: &str, loss: f64, dup: f64) -> Network {
    let link = |latency: &str| LinkParams {
        latency: latency.parse().unwrap(),
        loss,
        duplicate: dup,
    };
    let mut links = Vec::new();
    for a in 0..regions {
        for b in 0..regions {
            links.push(link(if a == b { local } else { wan }));
        }
    }
    Network::new(
        nodes.iter().map(|n| n.1).collect(),
        regions as usize,
        links,
        Order::Unordered,
        InFlight::Drop,
    )
}

/// Two crashes triggered by messages, drawn for `seed` outside the run.
fn triggered_crashes(seed: u64, nodes: usize, kinds: &[&str]) -> Vec<ScheduledFault> {
    let mut rng = Rng::stream(seed, "sweep/triggers");
    (0..2)
        .map(|_| {
            let node = NodeId(rng.below(nodes as u64) as u32);
            let direction = if rng.chance(0.5) {
                Direction::Sends
            } else {
                Direction::Receives
            };
            let kind = kinds[rng.below(kinds.len() as u64) as usize].to_string();
            let count = 1 + rng.below(40) as u32;
            let restart_after_ns = Some(100_000_000 + rng.below(1_900_000_000));
            ScheduledFault {
                when: When::Message {
                    node,
                    direction,
                    kind,
                    count,
                },
                fault: Fault::Crash {
                    node,
                    restart_after_ns,
                },
            }
        })
        .collect()
}

/// The faults a run gets, beyond the network's own loss and duplication.
pub enum Faults {
    None,
    /// The sweep's: the heavy nemesis, two message-triggered crashes, and on odd seeds
    /// messages in flight to a crashed node delivered once it is back.
    Heavy,
    /// Exactly these (a property test's schedule).
    Scheduled(Vec<ScheduledFault>),
}

impl Faults {
    fn heavy_if(on: bool) -> Faults {
        if on {
            Faults::Heavy
        } else {
            Faults::None
        }
    }
}

fn config(
    seed: u64,
    nodes: &Nodes,
    network: Network,
    faults: &Faults,
    kinds: &[&str],
) -> SimConfig {
    let (schedule, nemesis) = match faults {
        Faults::None => (Vec::new(), Nemesis::default()),
        Faults::Heavy => {
            let mut faults = triggered_crashes(seed, nodes.len(), kinds);
            // Odd seeds deliver what was in flight to a crashed node once it is back.
            if seed % 2 == 1 {
                faults.push(ScheduledFault {
                    when: When::At(0),
                    fault: Fault::ToRestarted(ToRestarted::Deliver),
                });
            }
            (faults, heavy_nemesis())
        }
        Faults::Scheduled(faults) => (faults.clone(), Nemesis::default()),
    };
    SimConfig {
        seed,
        node_names: nodes.iter().map(|n| n.0.clone()).collect(),
        network,
        clocks: nodes.iter().map(|_| Clock::new(0, 0)).collect(),
        schedule: FaultSchedule { faults: schedule },
        nemesis,
        duration: Duration::from_secs(60),
        settle: Duration::from_secs(10),
        max_events: 5_000_000,
    }
}

fn infos(nodes: &Nodes) -> Vec<NodeInfo> {
    nodes
        .iter()
        .map(|(name, region, role)| NodeInfo {
            name: name.clone(),
            region: format!("r{region}"),
            role: role.to_string(),
        })
        .collect()
}

fn run_model<P: Params>(params: P, nodes: &Nodes, config: SimConfig) -> RunResult {
    let model = params.build(&infos(nodes)).expect("valid parameters");
    Sim::new(config, model, None).run().expect("no trace file")
}

/// Runs `case` on `seed` under the sweep's faults, with the closures adjusting the
/// parameters of a case of their model (`bug`, say).
pub fn run_with(
    case: Case,
    seed: u64,
    replication: impl FnOnce(&mut ReplicationParams),
    two_pc: impl FnOnce(&mut TwoPcParams),
    saga: impl FnOnce(&mut SagaParams),
) -> RunResult {
    run_case(case, seed, &Faults::Heavy, replication, two_pc, saga)
}

/// The number of nodes of `case`'s system, for schedules that name them by index.
pub fn node_count(case: Case) -> usize {
    match case {
        Case::ReplicationSync | Case::ReplicationSemisync => replication_nodes(3).len(),
        Case::Quorum => quorum_nodes(3, 4).len(),
        Case::Payments => payment_nodes().len(),
        Case::VersionedLwwWall | Case::VersionedLwwHlc | Case::VersionedVectorClocks => {
            versioned_nodes().len()
        }
        Case::OrderPipeline => pipeline_nodes(true).len(),
        Case::TwoPcNoWait | Case::TwoPcWait | Case::Saga => bank_nodes().len(),
    }
}

/// Runs the correct model of `case` on `seed` under `faults`.
pub fn run_under(case: Case, seed: u64, faults: &Faults) -> RunResult {
    run_case(case, seed, faults, |_| {}, |_| {}, |_| {})
}

/// Runs `case` on `seed` under `faults`, with the closures adjusting the parameters of a case
/// of their model.
pub fn run_case(
    case: Case,
    seed: u64,
    faults: &Faults,
    replication: impl FnOnce(&mut ReplicationParams),
    two_pc: impl FnOnce(&mut TwoPcParams),
    saga: impl FnOnce(&mut SagaParams),
) -> RunResult {
    let kinds = case.messages();
    match case {
        Case::ReplicationSync | Case::ReplicationSemisync => {
            let nodes = replication_nodes(3);
            let net = network(
                &nodes,
                3,
                "uniform(200us, 1ms)",
                "lognormal(40ms, 0.2)",
                0.05,
                0.05,
            );
            let mut p = ReplicationParams {
                mode: if case == Case::ReplicationSync {
                    replication::Mode::Sync
                } else {
                    replication::Mode::Semisync
                },
                ..ReplicationParams::default()
            };
            replication(&mut p);
            run_model(p, &nodes, config(seed, &nodes, net, faults, kinds))
        }
        Case::Quorum => {
            let p = QuorumParams {
                r: 2,
                w: 2,
                ..QuorumParams::default()
            };
            quorum_under(p, seed, 0.05, 0.05, faults)
        }
        Case::Payments => payments_under(PaymentParams::default(), seed, faults),
        Case::VersionedLwwWall | Case::VersionedLwwHlc | Case::VersionedVectorClocks => {
            let p = VersionedParams {
                policy: case.policy().expect("a versioned case"),
                ..VersionedParams::default()
            };
            let nodes = versioned_nodes();
            let net = network(&nodes, 3, VERSIONED.local, VERSIONED.wan, 0.05, 0.05);
            run_model(p, &nodes, config(seed, &nodes, net, faults, kinds))
        }
        Case::OrderPipeline => pipeline_under(
            PipelineParams {
                reconciliation: true,
                ..PipelineParams::default()
            },
            seed,
            faults,
        ),
        Case::TwoPcNoWait | Case::TwoPcWait | Case::Saga => {
            let nodes = bank_nodes();
            let net = network(
                &nodes,
                2,
                "uniform(200us, 1ms)",
                "lognormal(45ms, 0.1)",
                0.05,
                0.05,
            );
            let config = config(seed, &nodes, net, faults, kinds);
            if case == Case::Saga {
                let mut p = SagaParams::default();
                saga(&mut p);
                run_model(p, &nodes, config)
            } else {
                let mut p = TwoPcParams {
                    locking: if case == Case::TwoPcWait {
                        Locking::Wait
                    } else {
                        Locking::NoWait
                    },
                    ..TwoPcParams::default()
                };
                two_pc(&mut p);
                run_model(p, &nodes, config)
            }
        }
    }
}

/// Runs the correct model of `case` on `seed` under the sweep's faults.
pub fn run(case: Case, seed: u64) -> RunResult {
    run_with(case, seed, |_| {}, |_| {}, |_| {})
}

/// The findings of one run: every verdict that is not `holds`, as text.
pub fn findings(o: &RunResult) -> Vec<(Status, String)> {
    o.verdicts
        .iter()
        .filter(|v| v.status != Status::Holds)
        .map(|v| (v.status, format!("{} {}: {}", v.name, v.status, v.detail)))
        .collect()
}

/// How the links of [`replication_with`] behave.
/// The findings of one run of `case`: [`findings`], except the last-writer-wins policies'
/// `no_silent_loss`, which they violate by design whenever devices write concurrently.
pub fn case_findings(case: Case, o: &RunResult) -> Vec<(Status, String)> {
    let lww = matches!(case, Case::VersionedLwwWall | Case::VersionedLwwHlc);
    findings(o)
        .into_iter()
        .filter(|(_, text)| !(lww && text.starts_with("no_silent_loss ")))
        .collect()
}

/// The versioned store's three replicas (regions 0, 1, 2) and its devices: a phone and a
/// laptop in region 0, the web in region 1, and `extra` more devices spread over the regions.
pub fn versioned_nodes_with(extra: usize) -> Nodes {
    let mut n: Nodes = vec![
        ("replica0".into(), 0, "replica"),
        ("replica1".into(), 1, "replica"),
        ("replica2".into(), 2, "replica"),
        ("phone".into(), 0, "client"),
        ("laptop".into(), 0, "client"),
        ("web".into(), 1, "client"),
    ];
    n.extend((0..extra).map(|i| (format!("device{i}"), (i % 3) as u32, "client")));
    n
}

fn versioned_nodes() -> Nodes {
    versioned_nodes_with(0)
}

/// The versioned store's links: close inside a region, 40 ms between regions.
pub const VERSIONED: Links = Links {
    local: "uniform(200us, 2ms)",
    wan: "lognormal(40ms, 0.1)",
    loss: 0.0,
    dup: 0.0,
};

/// The versioned store with `params` on `nodes` (see [`versioned_nodes_with`]), `links`, the
/// clock of replica 0 running `skew` ahead, the nemesis if `nemesis`, `scripted` faults, and
/// `settle` after 60 s.
#[allow(clippy::too_many_arguments)] // one knob per axis the versioning tests turn
pub fn versioned_with(
    params: VersionedParams,
    nodes: &Nodes,
    seed: u64,
    links: Links,
    skew: Duration,
    nemesis: bool,
    scripted: Vec<ScheduledFault>,
    settle: Duration,
) -> RunResult {
    let net = network(nodes, 3, links.local, links.wan, links.loss, links.dup);
    let faults = Faults::heavy_if(nemesis);
    let mut config = config(seed, nodes, net, &faults, VersionedParams::SPEC.messages);
    if !nemesis {
        config.schedule.faults.clear();
    }
    config.clocks[0] = Clock::new(skew.as_nanos() as i64, 0);
    config.schedule.faults.extend(scripted);
    config.settle = settle;
    run_model(params, nodes, config)
}

/// How the links of [`register_with`] behave.
pub struct Links {
    /// Latency inside a region (the clients sit beside the primary) and between regions.
    pub local: &'static str,
    pub wan: &'static str,
    pub loss: f64,
    pub dup: f64,
}

/// The sweep's links, without loss or duplication.
pub const CALM: Links = Links {
    local: "uniform(200us, 1ms)",
    wan: "lognormal(40ms, 0.2)",
    loss: 0.0,
    dup: 0.0,
};

/// The sweep's replicated store (a primary, two replicas in two other regions, `clients`
/// clients beside the primary) with `params`, `links`, the nemesis if `nemesis`, and
/// `scripted` faults; `settle` after 60 s.
pub fn replication_with(
    params: ReplicationParams,
    clients: usize,
    seed: u64,
    links: Links,
    nemesis: bool,
    scripted: Vec<ScheduledFault>,
    settle: Duration,
) -> RunResult {
    let nodes = replication_nodes(clients);
    let net = network(&nodes, 3, links.local, links.wan, links.loss, links.dup);
    let faults = Faults::heavy_if(nemesis);
    let mut config = config(seed, &nodes, net, &faults, ReplicationParams::SPEC.messages);
    config.schedule.faults.extend(scripted);
    config.settle = settle;
    run_model(params, &nodes, config)
}

/// The replicated store with `clients` clients and no faults, for the scaling benchmark.
pub fn replication_clients(clients: usize, seed: u64) -> RunResult {
    let nodes = replication_nodes(clients);
    let net = network(
        &nodes,
        3,
        "uniform(200us, 1ms)",
        "lognormal(40ms, 0.2)",
        0.0,
        0.0,
    );
    let p = ReplicationParams::default();
    let mut config = config(seed, &nodes, net, &Faults::None, &[]);
    config.max_events = 100_000_000;
    run_model(p, &nodes, config)
}

/// The leaderless store with `params`: three replicas and four clients in one region, every
/// leg `exponential(10ms)` (PBS's synthetic WARS legs), `loss` and `dup` on every link, the
/// sweep's nemesis and triggered crashes if `faults`; 60 s, then 10 s to settle.
pub fn quorum_with(
    params: QuorumParams,
    seed: u64,
    loss: f64,
    dup: f64,
    faults: bool,
) -> RunResult {
    quorum_under(params, seed, loss, dup, &Faults::heavy_if(faults))
}

fn quorum_under(
    params: QuorumParams,
    seed: u64,
    loss: f64,
    dup: f64,
    faults: &Faults,
) -> RunResult {
    let nodes = quorum_nodes(3, 4);
    let net = network(
        &nodes,
        1,
        "exponential(10ms)",
        "exponential(10ms)",
        loss,
        dup,
    );
    let config = config(seed, &nodes, net, faults, QuorumParams::SPEC.messages);
    run_model(params, &nodes, config)
}

/// The payment system with `params`: two checkouts in one region, two service instances and
/// the database in a second, the processor in a third, under the sweep's faults.
pub fn payments_with(params: PaymentParams, seed: u64) -> RunResult {
    payments_under(params, seed, &Faults::Heavy)
}

fn payment_nodes() -> Nodes {
    vec![
        ("checkout1".into(), 0, "client"),
        ("checkout2".into(), 0, "client"),
        ("service1".into(), 1, "service"),
        ("service2".into(), 1, "service"),
        ("database".into(), 1, "database"),
        ("processor".into(), 2, "processor"),
    ]
}

fn payments_under(params: PaymentParams, seed: u64, faults: &Faults) -> RunResult {
    let nodes = payment_nodes();
    let net = network(
        &nodes,
        3,
        "uniform(200us, 1ms)",
        "lognormal(40ms, 0.2)",
        0.05,
        0.05,
    );
    let config = config(seed, &nodes, net, faults, PaymentParams::SPEC.messages);
    run_model(params, &nodes, config)
}

/// The order pipeline with `params`: two clients in one region, the orders service, the
/// broker, the three consumers and (with `reconciliation`) the reconciler in a second, under
/// the sweep's faults.
pub fn pipeline_with(params: PipelineParams, seed: u64) -> RunResult {
    pipeline_under(params, seed, &Faults::Heavy)
}

fn pipeline_nodes(reconciliation: bool) -> Nodes {
    let mut nodes: Nodes = vec![
        ("shop1".into(), 0, "client"),
        ("shop2".into(), 0, "client"),
        ("orders".into(), 1, "orders"),
        ("broker".into(), 1, "broker"),
        ("inventory".into(), 1, "inventory"),
        ("notification".into(), 1, "notification"),
        ("billing".into(), 1, "billing"),
    ];
    if reconciliation {
        nodes.push(("reconciler".into(), 1, "reconciler"));
    }
    nodes
}

fn pipeline_under(params: PipelineParams, seed: u64, faults: &Faults) -> RunResult {
    let nodes = pipeline_nodes(params.reconciliation);
    let net = network(
        &nodes,
        2,
        "uniform(200us, 1ms)",
        "lognormal(40ms, 0.2)",
        0.05,
        0.05,
    );
    let config = config(seed, &nodes, net, faults, PipelineParams::SPEC.messages);
    run_model(params, &nodes, config)
}
