//! Versioning and conflict resolution: a multi-leader store of user profiles, where devices
//! (a phone, a laptop, the web) read and then write their nearest replica, and replicas
//! exchange updates asynchronously. Three `policy` values decide which version wins:
//!
//! - `lww-wall`: last writer wins by the accepting replica's own wall clock (skewed,
//!   drifting, jumping: the kernel's per-node clocks), ties broken by (timestamp, node id,
//!   the replica's write counter). The whole record carries one stamp — the story's "last
//!   updated timestamp column" — so a write replaces every field at once (whole-record LWW,
//!   not per-field). A replica whose clock runs ahead makes its writes win over later writes
//!   made elsewhere, even writes that read them first.
//! - `lww-hlc`: the same record, stamped by a hybrid logical clock (Kulkarni et al.,
//!   "Logical physical clocks", OPODIS 2014). A device's write carries the stamp it read,
//!   and replicas fold every stamp they receive into their clock, so a write's stamp exceeds
//!   the stamps of everything it causally follows: skew can no longer make an older write
//!   win over a causally later one. Concurrent writes still overwrite each other.
//! - `vector-clocks`: every write gets a dot and every profile a vector clock (Dynamo,
//!   DeCandia et al., SOSP 2007; per-field dotted version vectors, Preguiça et al., 2010);
//!   concurrent writes of one field are detected and kept as siblings, then either resolved
//!   by the application merge at the replica (`merge = "app"`: field by field, union for the
//!   address set, the greatest dot for a name or email written concurrently — a decision
//!   taken knowing both values, counted in `merges` and `merge_discarded`), or returned to
//!   the devices as siblings (`merge = "siblings"`) until a device's next write of that field,
//!   having read them all, replaces them. The application merge is the view a replica shows
//!   its devices, computed from the stored profile, which keeps the siblings until a device's
//!   write (made having read the view and its clock) replaces them: resolving the stored
//!   profile itself would not commute with the join, and replicas could each keep a different
//!   one of two concurrent values and then, merging, lose both.
//!
//! Replicas push every local write to the others and run anti-entropy (a digest to a random
//! peer every `anti_entropy_every`; on a mismatch the two exchange their states), which
//! repairs lost pushes, partitions and restarts. Every state change is synced to the
//! replica's disk before it is acknowledged or sent.
//!
//! Devices (`role = "client"`) alternate a read and a write, the write built on the state
//! read (read-modify-write), so an update causally follows what its device saw. A device
//! reads its home replica (the first replica in its region, else the replicas in turn), or
//! with probability `roam` a random replica (the device travelled), and writes where it read.
//!
//! Invariants and metrics (`checks.rs` has the precise definitions): `convergence` (every
//! replica holds the same profile after settling; `converge_ms` from the start of the settle
//! phase, which heals every partition, to the moment all replicas are equal),
//! `no_silent_loss` (every acknowledged update is in the final profile or was replaced by an
//! update that had seen it; `lost_updates_causal` and `lost_updates_concurrent` split the
//! others), `siblings_concurrent` (siblings are never causally ordered: the vector clocks
//! capture causality). Known bugs: `no-tiebreak` (LWW compares timestamps without the node
//! id, so replicas holding different records with equal timestamps never converge),
//! `no-clock-merge` (a replica does not merge a received vector clock into its own, so its
//! next writes look concurrent with values they overwrote).

mod checks;
pub mod clocks;
mod device;
pub mod merge;
mod replica;

pub use checks::{classify, Event, Ledger, Losses, Past, Stored, Update};
pub use device::{update_id, DeviceWorkload, Op};
pub use replica::Replica;

use crate::{check_roles, nodes_with_role, ModelSpec, NodeInfo, ParamError, Params};
use merge::{Causal, Record, State};
use serde::{Deserialize, Serialize};
use sim::client::{Client, ClientConfig, ClientTimer, OnTimeout, RequestId};
use sim::dist::Dist;
use sim::history::History;
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::{Message, NodeId, Observed, Time, World};
use std::rc::Rc;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VersionedParams {
    pub kind: String,
    pub bug: Bug,
    /// Which version wins: `lww-wall`, `lww-hlc` or `vector-clocks`.
    pub policy: Policy,
    /// Vector clocks only: who merges concurrent values (`app`: the replica, field by field;
    /// `siblings`: the device's next write, having read them all).
    pub merge: MergeMode,
    /// A device's pause before each read and each write.
    pub think_time: Dist,
    /// Fraction of writes that add an address (the others set the name or the email, half
    /// each).
    pub address_ratio: f64,
    /// The most saved addresses a profile holds: a device that read a full address book
    /// edits its name or email instead. Bounds the profile, hence every message and disk
    /// record, whatever the run's length.
    pub max_addresses: u32,
    /// Probability that a device reads (and then writes) a random replica instead of its
    /// home one.
    pub roam: f64,
    /// How long a device waits for a reply before recording the operation as `info`.
    #[serde(with = "crate::serde_duration")]
    pub client_timeout: Duration,
    /// How often each replica sends its digest to a random peer.
    #[serde(with = "crate::serde_duration")]
    pub anti_entropy_every: Duration,
    /// The granularity of timestamps (a clock reading is truncated to it): "1ms", or "1s" as
    /// in a SQL `DATETIME` column.
    #[serde(with = "crate::serde_duration")]
    pub timestamp_resolution: Duration,
}

impl Default for VersionedParams {
    fn default() -> Self {
        VersionedParams {
            kind: "versioned_store".into(),
            bug: Bug::None,
            policy: Policy::LwwWall,
            merge: MergeMode::App,
            think_time: Dist::Exponential { mean: 100_000_000 },
            address_ratio: 0.2,
            max_addresses: 8,
            roam: 0.1,
            client_timeout: Duration::from_secs(1),
            anti_entropy_every: Duration::from_secs(1),
            timestamp_resolution: Duration::from_millis(1),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    LwwWall,
    LwwHlc,
    VectorClocks,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeMode {
    App,
    Siblings,
}

crate::bugs! {
    /// Known-bug variants.
    pub enum Bug {
        /// LWW compares timestamps only: two replicas holding different records with equal
        /// timestamps each keep their own, and never converge (`convergence` breaks).
        NoTiebreak = "no-tiebreak",
        /// Vector clocks are not merged on receive: a replica's later writes do not cover the
        /// values it received, which stay beside them as false siblings
        /// (`siblings_concurrent` breaks).
        NoClockMerge = "no-clock-merge",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// A device reads the profile.
    Read {
        req: RequestId,
    },
    ReadOk {
        req: RequestId,
        state: State,
    },
    /// A device writes `edit` on top of the `base` it read.
    Write {
        req: RequestId,
        edit: merge::Edit,
        base: State,
    },
    WriteOk {
        req: RequestId,
    },
    /// A replica's state after a local write, to every other replica.
    Push {
        state: State,
    },
    /// Anti-entropy: the sender's state digest.
    Digest {
        digest: u64,
    },
    /// Anti-entropy: a whole state; `reply` asks for the receiver's if it differs.
    Sync {
        state: State,
        reply: bool,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "Read", "ReadOk", "Write", "WriteOk", "Push", "Digest", "Sync",
    ];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Read { .. } => "Read",
            Msg::ReadOk { .. } => "ReadOk",
            Msg::Write { .. } => "Write",
            Msg::WriteOk { .. } => "WriteOk",
            Msg::Push { .. } => "Push",
            Msg::Digest { .. } => "Digest",
            Msg::Sync { .. } => "Sync",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    Client(ClientTimer),
    AntiEntropy,
}

sim::client_timer!(Timer::Client);

/// What every node of a run shares.
pub struct Setup {
    pub params: VersionedParams,
    pub replicas: Vec<NodeId>,
    pub devices: Vec<NodeId>,
    /// Per device, the ordinal of its home replica.
    pub home: Vec<usize>,
    /// Per node, its replica ordinal if it is a replica.
    pub replica_ordinal: Vec<Option<u32>>,
}

impl Setup {
    /// The empty profile under this run's policy.
    pub fn initial(&self) -> State {
        match self.params.policy {
            Policy::LwwWall | Policy::LwwHlc => State::Lww(Rc::new(Record::empty())),
            Policy::VectorClocks => State::Causal(Rc::new(Causal::new(self.replicas.len()))),
        }
    }
}

sim::node_of_parts! {
    /// A node of the store: a replica or a device.
    pub struct VersionedNode(Setup) {
        msg: Msg, timer: Timer, record: Stored,
        role: Role { Replica(Replica), Device(Client<DeviceWorkload>) }
    }
}

pub struct VersionedStore {
    setup: Rc<Setup>,
    /// True time of the first event of the settle phase.
    settle_at: Option<Time>,
    /// When every replica first held the same profile during the settle phase.
    converged_at: Option<Time>,
}

impl sim::Model for VersionedStore {
    type Node = VersionedNode;

    fn build(&mut self, id: NodeId, disk: &[Stored]) -> VersionedNode {
        let s = &self.setup;
        let role = if let Some(ordinal) = s.replica_ordinal[id.index()] {
            Role::Replica(Replica::recover(s, ordinal, disk))
        } else {
            let ordinal = s
                .devices
                .iter()
                .position(|&d| d == id)
                .expect("every node has a role");
            let config = ClientConfig {
                think_time: s.params.think_time.clone(),
                timeout: s.params.client_timeout,
                on_timeout: OnTimeout::GiveUp,
            };
            Role::Device(Client::new(
                DeviceWorkload::new(Rc::clone(s), ordinal),
                config,
                ordinal as u32,
                s.devices.len() as u32,
            ))
        };
        VersionedNode {
            setup: Rc::clone(s),
            role,
        }
    }

    /// `converge_ms`: from the first event of the settle phase (which heals every partition
    /// and restarts every node) to the first moment every replica is up and holds the same
    /// profile. Compares one digest per replica: no allocation.
    fn observe(&mut self, world: &World<'_, VersionedNode>, _: Observed, metrics: &mut Metrics) {
        if !world.is_settling() || self.converged_at.is_some() {
            return;
        }
        let since = *self.settle_at.get_or_insert(world.now);
        let mut first = None;
        for &r in &self.setup.replicas {
            let Some(Role::Replica(rep)) = world.nodes[r.index()].as_ref().map(|n| &n.role) else {
                return;
            };
            match first {
                None => first = Some(rep.value_digest),
                Some(d) if d != rep.value_digest => return,
                Some(_) => {}
            }
        }
        self.converged_at = Some(world.now);
        metrics.record_nanos("converge_ms", world.now.0 - since.0);
    }

    fn finish(
        &mut self,
        world: &World<'_, VersionedNode>,
        history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        metrics.declare("converge_ms");
        checks::judge(world, &self.setup, history, metrics)
    }
}

impl Params for VersionedParams {
    type Model = VersionedStore;
    const SPEC: ModelSpec = ModelSpec {
        kind: "versioned_store",
        summary: "multi-leader user profiles: last-writer-wins by wall clock or hybrid logical clock, or vector clocks with siblings, under clock skew",
        invariants: &["convergence", "no_silent_loss", "siblings_concurrent"],
        metrics: &[
            "lost_updates_causal",
            "lost_updates_concurrent",
            "siblings_max",
            "converge_ms",
            "merges",
            "merge_discarded",
            "updates_acked",
            "write_latency_ms",
            "read_latency_ms",
            "timeouts",
        ],
        bugs: Bug::KNOWN,
        unnamed_bugs: Bug::UNNAMED,
        messages: <Msg as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<VersionedStore, ParamError> {
        check_roles(nodes, &["replica", "client"])?;
        let replicas = nodes_with_role(nodes, "replica");
        if replicas.is_empty() {
            return Err(ParamError::new(
                "nodes",
                "needs at least one node with role `replica`",
            ));
        }
        let devices = nodes_with_role(nodes, "client");
        if devices.is_empty() {
            return Err(ParamError::new(
                "nodes",
                "needs at least one node with role `client` (a device): the workload would be empty",
            ));
        }
        if devices.len() >= 1 << 19 {
            return Err(ParamError::new(
                "nodes",
                "at most 524,287 devices (update ids hold the device ordinal in 19 bits)",
            ));
        }
        for (field, p) in [
            ("model.address_ratio", self.address_ratio),
            ("model.roam", self.roam),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(ParamError::new(
                    field,
                    format!("must be within [0, 1], got {p}"),
                ));
            }
        }
        for (field, d) in [
            ("model.client_timeout", self.client_timeout),
            ("model.anti_entropy_every", self.anti_entropy_every),
            ("model.timestamp_resolution", self.timestamp_resolution),
        ] {
            if d.is_zero() {
                return Err(ParamError::new(field, "must be positive"));
            }
        }
        if self.max_addresses > 1024 {
            return Err(ParamError::new("model.max_addresses", "at most 1024"));
        }
        if self.timestamp_resolution > Duration::from_secs(3600) {
            return Err(ParamError::new(
                "model.timestamp_resolution",
                "at most one hour",
            ));
        }
        let mut replica_ordinal = vec![None; nodes.len()];
        for (i, r) in replicas.iter().enumerate() {
            replica_ordinal[r.index()] = Some(i as u32);
        }
        let home = devices
            .iter()
            .enumerate()
            .map(|(k, d)| {
                let region = &nodes[d.index()].region;
                replicas
                    .iter()
                    .position(|r| &nodes[r.index()].region == region)
                    .unwrap_or(k % replicas.len())
            })
            .collect();
        Ok(VersionedStore {
            setup: Rc::new(Setup {
                params: self,
                replicas,
                devices,
                home,
                replica_ordinal,
            }),
            settle_at: None,
            converged_at: None,
        })
    }
}
