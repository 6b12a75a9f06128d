//! `consim bench pingpong`: the kernel's throughput on the ping-pong workload (see
//! `models::pingpong`), in deliveries per second of wall time, with peak memory.
//!
//! Wall-clock time is read here, outside the simulation, to measure it; nothing inside the
//! run can see it.

use models::pingpong::PingPong;
use serde::Serialize;
use sim::clock::Clock;
use sim::dist::Dist;
use sim::fault::{FaultSchedule, Nemesis};
use sim::net::{InFlight, LinkParams, Network, Order};
use sim::{Sim, SimConfig, Stop};
use std::time::{Duration, Instant};

/// One benchmark run's figures.
#[derive(Debug, Serialize)]
pub struct PingPongResult {
    pub nodes: u32,
    /// Deliveries made: those asked for, unless simulated time ran out first (a latency of
    /// days: see `stop`).
    pub deliveries: u64,
    pub stop: &'static str,
    pub latency: String,
    pub wall_s: f64,
    pub deliveries_per_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub trace_hash: String,
}

/// Runs ping-pong on `nodes` nodes in one region until `deliveries` messages have arrived.
pub fn pingpong(
    nodes: u32,
    deliveries: u64,
    latency: Dist,
    messages_per_node: u32,
) -> PingPongResult {
    let link = LinkParams {
        latency: latency.clone(),
        loss: 0.0,
        duplicate: 0.0,
    };
    let config = SimConfig {
        seed: 1,
        node_names: (0..nodes).map(|i| format!("n{i}")).collect(),
        network: Network::new(
            vec![0; nodes as usize],
            1,
            vec![link],
            Order::Unordered,
            InFlight::Drop,
        ),
        clocks: vec![Clock::new(0, 0); nodes as usize],
        schedule: FaultSchedule::default(),
        nemesis: Nemesis::default(),
        // As long as simulated time allows (146 years), so the event limit ends the run even
        // with a latency of days; a longer one (a heavy tail) ends it by time instead.
        duration: Duration::from_nanos(u64::MAX / 4),
        settle: Duration::ZERO,
        // No faults and no timers: the run's events are the N starts and the deliveries.
        max_events: deliveries.saturating_add(u64::from(nodes)),
    };
    let sim = Sim::new(config, PingPong::new(nodes, messages_per_node), None);
    let started = Instant::now();
    let out = sim.run().expect("no trace file, so no I/O error");
    let wall = started.elapsed().as_secs_f64();
    let delivered = out.stats.messages_delivered;
    PingPongResult {
        nodes,
        deliveries: delivered,
        stop: match out.stop {
            Stop::EventLimit => "deliveries_done",
            _ => "time_up",
        },
        latency: latency.to_string(),
        wall_s: wall,
        deliveries_per_s: delivered as f64 / wall.max(1e-9),
        peak_rss_mib: peak_rss_mib(),
        trace_hash: format!("{:016x}", out.trace_hash),
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
