//! consim's kernel: a deterministic, single-threaded discrete-event simulator of nodes,
//! networks, clocks and disks under faults. It knows no protocol: models plug in through
//! [`Node`] and [`Model`].
//!
//! Determinism rules (a violation is a bug): all randomness comes from the seed through named
//! [`rng::Rng`] streams; no wall clock, no threads, no hash-order iteration inside a run; the
//! event queue breaks time ties by insertion order. Same inputs, same `trace_hash`.

pub mod client; // the generic client, its workload and timeout policies
pub mod clock; // per-node clocks: offset, drift, jumps
pub mod disk; // append-only log with a synced prefix
pub mod dist; // latency and interval distributions written as text
pub mod fault; // fault schedules, message triggers, random nemesis
pub mod invariant; // online invariants, ending in the shared verdict type
pub mod metrics; // HDR histograms, counters and fractions by label
pub mod net; // links, loss, duplication, reordering, FIFO, partitions
pub mod node; // Node, Model, Ctx, World: how models plug in
pub mod parts; // nodes built from parts (client, server, coordinator) without a dispatcher
pub mod rng; // seeded named random streams
pub mod sim; // the event loop
pub mod time; // integer-nanosecond time and duration parsing
pub mod trace; // running trace hash and optional JSON Lines trace

// Histories and their checkers live in the `check` crate; these paths stay for the kernel's
// clients and models, which record histories and judge them at the end of a run.
pub use check::{history, linearizability};
pub use client::{Client, ClientTimer, RequestId, Workload};
pub use node::{Ctx, Message, Model, Node, Observed, Stopwatch, TimerId, World};
pub use parts::Part;
pub use sim::{
    Episode, EpisodeKind, Progress, RunResult, Sim, SimConfig, Stats, Stop, Watch, WATCH_EVERY,
};
pub use time::Time;

/// A node's index in its simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
