//! Primary–replica replication of a key-value store, with failover, regional caches and the
//! CAP choice: the e-commerce store with its primary in Singapore and read replicas in
//! Mumbai and Frankfurt.
//!
//! **Writes** go to the primary, which logs each one durably, stamps it with its epoch and
//! the next log index ([`log::Version`]) and ships the log to every replica, which applies
//! it in log order. It acknowledges the client by `mode`: `sync` once every replica has the
//! entry durably, `semisync` once `sync_replicas` of them have, `async` at once.
//!
//! **Failover.** The primary sends its log (or an empty append, a heartbeat) to every
//! replica each `heartbeat_every`; a replica that hears nothing for `failover_after` stands
//! for election in the next epoch, and another server grants its vote only if it too has lost
//! the primary and the candidate's log is at least as up to date as its own — so the most
//! up-to-date reachable replica wins (Raft's election, Ongaro & Ousterhout 2014; epochs are
//! ballots, distinct per server). Epochs fence a deposed primary: a server never follows an
//! older epoch, and the old primary, when it hears the new one, steps down and truncates the
//! suffix its log does not share with the new primary's (Kafka's leader epochs, KIP-101);
//! the entries it discards are counted (`divergent_writes_discarded`).
//!
//! **The CAP choice** (`on_partition`). `refuse` (CP): a candidate needs a majority of the
//! servers' votes, and a primary serves only while a majority acknowledged one of its
//! heartbeats within its lease (`failover_after / 2` less a tick, which a new primary cannot
//! be elected inside even with ±10% clock drift); a primary cut off from the majority refuses
//! reads and writes (`unavailable_ops`), so two primaries never serve at once. `accept` (AP):
//! a candidate that no better-placed server objects to promotes itself with whatever votes
//! it has, and a primary serves whoever reaches it, so both sides of a partition take writes
//! and the losing side's are discarded at rejoin.
//!
//! **Reads** (`read_from`): from the primary; from the nearest server (the one in the
//! client's region); or through the regional cache in front of it. Read-your-writes
//! (`read_your_writes`): `cache-invalidation` (writes go through the regional cache, which
//! keeps the value it saw acknowledged until the server behind it, having applied that
//! write, sends the invalidation; Nishtala et al., "Scaling Memcache at Facebook", NSDI
//! 2013), `session` (a client's reads carry the newest version it has seen, and a replica
//! answers only once it has applied that far; Terry et al. 1994), `primary-after-write` (a
//! client reads from the primary for `primary_reads_for` after its own write), or `none`.
//!
//! Checked at the end ([`checks`]): `linearizable` (the clients' history, a key-value
//! register per key), `no_lost_acked_writes` (every acknowledged write is in the final
//! primary's log), `single_primary` (online: one primary per epoch, and under `refuse`
//! never two serving at once), `read_your_writes` and `monotonic_reads` (per client
//! session, by the versions of what each read returned), `convergence` (every server holds
//! the same log after settling). Staleness of every read — versions behind the newest
//! acknowledged write when it started, and for how long that write had been acknowledged —
//! is measured from the same history. Known bugs: `no-epochs`, `fake-sync`,
//! `ignore-session`, `early-invalidation`.

mod cache;
mod checks;
pub mod log;
mod server;
mod workload;

use crate::{check_roles, nodes_with_role, ModelSpec, NodeInfo, ParamError, Params};
use cache::Cache;
use log::{Entry, Epoch, Record, Version};
use serde::{Deserialize, Serialize};
use server::Server;
use sim::client::{Client, ClientConfig, ClientTimer, OnTimeout, RequestId};
use sim::dist::Dist;
use sim::history::History;
use sim::invariant::{OnlineCheck, Verdict};
use sim::metrics::{intern, Metrics};
use sim::{Message, NodeId, Observed, World};
use std::rc::Rc;
use std::time::Duration;
use workload::ReplicationWorkload;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationParams {
    pub kind: String,
    pub bug: Bug,
    /// When the primary acknowledges a write.
    pub mode: Mode,
    /// For `semisync`: how many replicas must have a write durably before it is acknowledged.
    pub sync_replicas: u32,
    /// What a primary cut off from the majority does.
    pub on_partition: OnPartition,
    /// Where clients read.
    pub read_from: ReadFrom,
    /// How a client reading in its own region sees its own writes.
    pub read_your_writes: ReadYourWrites,
    /// For `primary-after-write`: how long after its own write a client reads from the
    /// primary (by its own clock).
    #[serde(with = "crate::serde_duration")]
    pub primary_reads_for: Duration,
    /// How many keys the store holds (clients pick one uniformly per operation).
    pub keys: u32,
    /// Fraction of client operations that are writes.
    pub write_ratio: f64,
    /// Think time between a client's operations.
    pub think_time: Dist,
    /// How long a client waits before recording an operation as indeterminate (`info`).
    #[serde(with = "crate::serde_duration")]
    pub client_timeout: Duration,
    /// How often the primary sends its log (a heartbeat when there is nothing new); every
    /// server's clock of failure detection ticks at this period.
    #[serde(with = "crate::serde_duration")]
    pub heartbeat_every: Duration,
    /// How long a replica hears nothing from the primary before it stands for election. The
    /// primary's lease under `refuse` is about half of it, in whole heartbeats: at four
    /// heartbeats it is one, and a primary whose round trip to the majority exceeds a
    /// heartbeat never holds one.
    #[serde(with = "crate::serde_duration")]
    pub failover_after: Duration,
}

impl Default for ReplicationParams {
    fn default() -> Self {
        ReplicationParams {
            kind: "replication".into(),
            bug: Bug::None,
            mode: Mode::Sync,
            sync_replicas: 1,
            on_partition: OnPartition::Refuse,
            read_from: ReadFrom::Primary,
            read_your_writes: ReadYourWrites::None,
            primary_reads_for: Duration::from_secs(1),
            keys: 8,
            write_ratio: 0.5,
            think_time: Dist::Exponential { mean: 50_000_000 },
            client_timeout: Duration::from_secs(1),
            heartbeat_every: Duration::from_millis(100),
            failover_after: Duration::from_secs(1),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Sync,
    Semisync,
    Async,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnPartition {
    Refuse,
    Accept,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    Primary,
    Nearest,
    Cache,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadYourWrites {
    None,
    CacheInvalidation,
    Session,
    PrimaryAfterWrite,
}

crate::bugs! {
    /// Known-bug variants.
    pub enum Bug {
        /// Promotion without epochs: a new primary keeps the old epoch, so nothing fences the
        /// old one and two primaries accept writes (`single_primary` breaks).
        NoEpochs = "no-epochs",
        /// The primary acknowledges at once whatever the mode, as if the replicas had the
        /// write (`no_lost_acked_writes` breaks when it dies).
        FakeSync = "fake-sync",
        /// Replicas answer a session's read without waiting to reach its token
        /// (`read_your_writes` breaks under `read_your_writes = "session"`).
        IgnoreSession = "ignore-session",
        /// The primary sends the cache invalidation when it logs a write, before the replica
        /// behind the cache has applied it: the cache refills from the lagging replica
        /// (`read_your_writes` breaks under `cache-invalidation`).
        EarlyInvalidation = "early-invalidation",
    }
    unnamed {
        /// Sync acknowledges once one replica has the write, not every replica.
        SyncAfterOne = "sync-after-one",
        /// A server restarts from an empty log (its disk read from a lost volume).
        EmptyDiskRestart = "empty-disk-restart",
    }
}

/// A client request's id.
pub type ReqId = RequestId;

/// Where a read must be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadAt {
    /// By the primary (another server redirects).
    Primary,
    /// By any server, once it has applied the log up to `after` (a session token), if any.
    Any { after: Option<Version> },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    Write {
        req: ReqId,
        key: u32,
        value: i64,
    },
    WriteOk {
        req: ReqId,
        version: Version,
    },
    Read {
        req: ReqId,
        key: u32,
        at: ReadAt,
    },
    /// The value of the key (`None`: never written) and the version that wrote it.
    ReadOk {
        req: ReqId,
        value: Option<i64>,
        version: Version,
    },
    /// The server is not the primary; `hint` is the one it follows, if it knows one.
    NotPrimary {
        req: ReqId,
        hint: Option<NodeId>,
    },
    /// The primary has lost the majority and refuses (`on_partition = "refuse"`).
    Unavailable {
        req: ReqId,
    },
    /// The primary's log from after `prev` (possibly nothing: a heartbeat), in heartbeat
    /// round `round` of its epoch, when its log ended at index `end` and was committed up
    /// to `commit`.
    Append {
        epoch: Epoch,
        round: u64,
        prev: Version,
        entries: Vec<Entry>,
        end: u64,
        commit: u64,
    },
    /// The follower holds the primary's log up to `matched`.
    Ack {
        epoch: Epoch,
        round: u64,
        matched: u64,
    },
    /// The follower refuses: it follows a later epoch (`epoch` is its), or its log does not
    /// hold `prev` and it proposes to resume after `hint`.
    Nack {
        epoch: Epoch,
        hint: Option<Version>,
    },
    RequestVote {
        epoch: Epoch,
        last: Version,
    },
    /// A vote in `epoch`, with what the voter promised and the end of its log.
    Vote {
        epoch: Epoch,
        granted: bool,
        promised: Epoch,
        last: Version,
    },
    /// The server behind a cache applied the write of `key` at `version`.
    Invalidate {
        key: u32,
        version: Version,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "Write",
        "WriteOk",
        "Read",
        "ReadOk",
        "NotPrimary",
        "Unavailable",
        "Append",
        "Ack",
        "Nack",
        "RequestVote",
        "Vote",
        "Invalidate",
    ];

    fn kind(&self) -> &'static str {
        match self {
            Msg::Write { .. } => "Write",
            Msg::WriteOk { .. } => "WriteOk",
            Msg::Read { .. } => "Read",
            Msg::ReadOk { .. } => "ReadOk",
            Msg::NotPrimary { .. } => "NotPrimary",
            Msg::Unavailable { .. } => "Unavailable",
            Msg::Append { .. } => "Append",
            Msg::Ack { .. } => "Ack",
            Msg::Nack { .. } => "Nack",
            Msg::RequestVote { .. } => "RequestVote",
            Msg::Vote { .. } => "Vote",
            Msg::Invalidate { .. } => "Invalidate",
        }
    }
}

/// The model's timers: the clients' and the servers' heartbeat tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    Client(ClientTimer),
    Tick,
}

sim::client_timer!(Timer::Client);

/// Metric names of one region (`"mumbai.write_latency_ms"`), made once at build.
#[derive(Clone, Copy, Debug)]
struct RegionMetrics {
    write: &'static str,
    read: &'static str,
    lag: &'static str,
    staleness: &'static str,
}

/// What every node of one run shares: its parameters and who is who.
struct Setup {
    params: ReplicationParams,
    /// The servers (primary and replicas), by ordinal: an epoch names its server by it.
    servers: Vec<NodeId>,
    /// The first primary's ordinal.
    first_primary: u8,
    clients: Vec<NodeId>,
    caches: Vec<NodeId>,
    /// Per node, its region's index.
    region: Vec<usize>,
    /// Per region: the server there (the first, if several), its cache, its metric names.
    local_server: Vec<Option<NodeId>>,
    local_cache: Vec<Option<NodeId>>,
    metrics: Vec<RegionMetrics>,
    /// Heartbeat ticks without news from the primary before a replica stands.
    failover_ticks: u32,
    /// Heartbeat rounds a majority acknowledgement keeps a primary serving under `refuse`.
    lease_ticks: u64,
}

impl Setup {
    /// The server's ordinal, if `id` is a server.
    fn ordinal(&self, id: NodeId) -> Option<usize> {
        self.servers.iter().position(|&s| s == id)
    }

    /// How many servers make a majority.
    fn majority(&self) -> usize {
        self.servers.len() / 2 + 1
    }

    fn metrics_of(&self, node: NodeId) -> RegionMetrics {
        self.metrics[self.region[node.index()]]
    }
}

sim::node_of_parts! {
    /// A node of the store: a server (primary or replica: the role moves at failover), a
    /// regional cache or a client.
    pub struct ReplicationNode(Setup) {
        msg: Msg, timer: Timer, record: Record,
        role: Role { Server(Server), Cache(Cache), Client(Client<ReplicationWorkload>) }
    }
}

pub struct Replication {
    setup: Rc<Setup>,
    /// `single_primary`, checked after every server event.
    single_primary: OnlineCheck,
    /// Every epoch a server was primary in, with the server.
    primaries: Vec<(Epoch, NodeId)>,
}

impl sim::Model for Replication {
    type Node = ReplicationNode;

    fn build(&mut self, id: NodeId, disk: &[Record]) -> ReplicationNode {
        let s = &self.setup;
        let role = if let Some(ordinal) = s.ordinal(id) {
            Role::Server(Server::new(s, ordinal, disk))
        } else if s.caches.contains(&id) {
            Role::Cache(Cache::new(s, id))
        } else {
            let ordinal = s
                .clients
                .iter()
                .position(|&c| c == id)
                .expect("every node has a role");
            let config = ClientConfig {
                think_time: s.params.think_time.clone(),
                timeout: s.params.client_timeout,
                on_timeout: OnTimeout::GiveUp,
            };
            Role::Client(Client::new(
                ReplicationWorkload::new(Rc::clone(s), id),
                config,
                ordinal as u32,
                s.clients.len() as u32,
            ))
        };
        ReplicationNode {
            setup: Rc::clone(s),
            role,
        }
    }

    fn phases(&self) -> &'static [&'static str] {
        &["replicating", "no-primary", "election", "two-primaries"]
    }

    /// By the servers that are up (a crashed server holds no standing): a primary with
    /// entries some server may lack; none serving (failed, cut off past its lease, or not yet
    /// elected); a candidate standing; two servers that each believe they are primary (a
    /// deposed one not yet told).
    fn phases_now(&self, world: &World<'_, ReplicationNode>) -> u32 {
        let s = &*self.setup;
        let servers = s.servers.iter().filter_map(|id| {
            match world.nodes[id.index()].as_ref().map(|n| &n.role) {
                Some(Role::Server(server)) => Some(server),
                _ => None,
            }
        });
        let (mut under_way, mut serving, mut primaries) = (0, false, 0);
        for server in servers {
            if server.replicating() {
                under_way |= 1;
            }
            if server.candidate() {
                under_way |= 4;
            }
            serving |= server.serving(s);
            primaries += usize::from(server.primary_epoch().is_some());
        }
        if !serving {
            under_way |= 2;
        }
        if primaries > 1 {
            under_way |= 8;
        }
        under_way
    }

    /// `single_primary`: no two servers are ever primary in the same epoch, and under
    /// `refuse` no two serve at the same moment. A server changes standing only while it
    /// handles an event, so checking it after each of its events sees every change.
    fn observe(&mut self, world: &World<'_, ReplicationNode>, event: Observed, _: &mut Metrics) {
        let at = match event {
            Observed::Delivered { to, .. } => to,
            Observed::Started(n) | Observed::TimerFired(n) => n,
            Observed::Crashed(_) => return,
        };
        let s = &*self.setup;
        let server_of = |id: NodeId| match world.nodes[id.index()].as_ref().map(|n| &n.role) {
            Some(Role::Server(server)) => Some(server),
            _ => None,
        };
        let Some(epoch) = server_of(at).and_then(Server::primary_epoch) else {
            return;
        };
        match self.primaries.iter().find(|(e, _)| *e == epoch) {
            Some(&(_, other)) if other != at => self.single_primary.violate(|| {
                format!(
                    "at t={}: {} and {} were both primary in epoch {epoch}",
                    world.now,
                    world.name(other),
                    world.name(at)
                )
            }),
            Some(_) => {}
            None => self.primaries.push((epoch, at)),
        }
        if s.params.on_partition == OnPartition::Accept || !server_of(at).unwrap().serving(s) {
            return;
        }
        for &other in &s.servers {
            if other != at && server_of(other).is_some_and(|o| o.serving(s)) {
                self.single_primary.violate(|| {
                    format!(
                        "at t={}: {} and {} were both serving as primary",
                        world.now,
                        world.name(other),
                        world.name(at)
                    )
                });
            }
        }
    }

    fn finish(
        &mut self,
        world: &World<'_, ReplicationNode>,
        history: &History,
        metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        let statement = match self.setup.params.on_partition {
            OnPartition::Refuse => "one primary per epoch, and never two serving at once",
            OnPartition::Accept => {
                "one primary per epoch (under `accept`, primaries of different epochs may \
                 serve at once: that is the divergence AP accepts)"
            }
        };
        let mut verdicts = vec![self.single_primary.verdict("single_primary", statement)];
        verdicts.extend(checks::finish(&self.setup, world, history, metrics));
        verdicts
    }
}

impl Params for ReplicationParams {
    type Model = Replication;
    const SPEC: ModelSpec = ModelSpec {
        kind: "replication",
        summary: "primary–replica key-value store: sync / semisync / async replication, \
                  failover with epochs, refuse or accept under partition, reads from the \
                  primary, the nearest replica or a regional cache, read-your-writes techniques",
        invariants: &[
            "single_primary",
            "linearizable",
            "no_lost_acked_writes",
            "read_your_writes",
            "monotonic_reads",
            "convergence",
        ],
        metrics: &[
            "write_latency_ms",
            "read_latency_ms",
            "replication_lag_ms",
            "staleness_ms",
            "failover_ms",
            "<region>.write_latency_ms",
            "<region>.read_latency_ms",
            "<region>.replication_lag_ms",
            "<region>.staleness_ms",
            "lost_acked_writes",
            "divergent_writes_discarded",
            "unavailable_ops",
            "timeouts",
            "stale_reads",
            "stale_versions_max",
            "replication_lag_entries_max",
            "read_your_writes_violations",
            "monotonic_reads_violations",
        ],
        bugs: Bug::KNOWN,
        unnamed_bugs: Bug::UNNAMED,
        messages: <Msg as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<Replication, ParamError> {
        check_roles(nodes, &["primary", "replica", "cache", "client"])?;
        let primaries = nodes_with_role(nodes, "primary");
        let [primary] = primaries[..] else {
            return Err(ParamError::new(
                "nodes",
                format!(
                    "needs exactly one node with role `primary` (the first primary), found {}",
                    primaries.len()
                ),
            ));
        };
        let mut servers = vec![primary];
        servers.extend(nodes_with_role(nodes, "replica"));
        if servers.len() > 255 {
            return Err(ParamError::new(
                "nodes",
                "at most 255 servers (an epoch names its server in one byte)",
            ));
        }
        let clients = nodes_with_role(nodes, "client");
        if clients.is_empty() {
            return Err(ParamError::new(
                "nodes",
                "needs at least one node with role `client`: the workload would be empty",
            ));
        }
        self.validate(servers.len())?;
        let mut regions: Vec<&str> = Vec::new();
        let region: Vec<usize> = nodes
            .iter()
            .map(|n| match regions.iter().position(|&r| r == n.region) {
                Some(i) => i,
                None => {
                    regions.push(&n.region);
                    regions.len() - 1
                }
            })
            .collect();
        let first_in = |role: &[&str], r: usize| {
            (0..nodes.len())
                .find(|&i| region[i] == r && role.contains(&nodes[i].role.as_str()))
                .map(|i| NodeId(i as u32))
        };
        let local_server: Vec<_> = (0..regions.len())
            .map(|r| first_in(&["primary", "replica"], r))
            .collect();
        let local_cache: Vec<_> = (0..regions.len())
            .map(|r| first_in(&["cache"], r))
            .collect();
        let caches = nodes_with_role(nodes, "cache");
        for &c in &caches {
            if local_server[region[c.index()]].is_none() {
                return Err(ParamError::new(
                    "nodes",
                    format!(
                        "cache `{}` is in region `{}`, which has no server for it to front",
                        nodes[c.index()].name,
                        nodes[c.index()].region
                    ),
                ));
            }
        }
        if self.read_from == ReadFrom::Cache {
            if let Some(&c) = clients
                .iter()
                .find(|c| local_cache[region[c.index()]].is_none())
            {
                return Err(ParamError::new(
                    "model.read_from",
                    format!(
                        "`cache` needs a node with role `cache` in every client's region; \
                         client `{}` is in `{}`, which has none",
                        nodes[c.index()].name,
                        nodes[c.index()].region
                    ),
                ));
            }
        }
        let metrics = regions
            .iter()
            .map(|r| RegionMetrics {
                write: intern(&format!("{r}.write_latency_ms")),
                read: intern(&format!("{r}.read_latency_ms")),
                lag: intern(&format!("{r}.replication_lag_ms")),
                staleness: intern(&format!("{r}.staleness_ms")),
            })
            .collect();
        let failover_ticks =
            u32::try_from(self.failover_after.as_nanos() / self.heartbeat_every.as_nanos())
                .expect("bounded by validate");
        Ok(Replication {
            setup: Rc::new(Setup {
                servers,
                first_primary: 0,
                clients,
                caches,
                region,
                local_server,
                local_cache,
                metrics,
                failover_ticks,
                lease_ticks: u64::from((failover_ticks - 1) / 2),
                params: self,
            }),
            single_primary: OnlineCheck::default(),
            primaries: Vec::new(),
        })
    }
}

/// The most keys a store may have.
const MAX_KEYS: u32 = 1 << 16;

/// The most heartbeats failure detection may wait for.
const MAX_FAILOVER_TICKS: u32 = 1 << 24;

/// The shortest heartbeat period: a run of an hour is then 3.6 million ticks per server.
const MIN_HEARTBEAT: Duration = Duration::from_millis(1);

impl ReplicationParams {
    /// Checks the parameters against each other and the number of servers.
    fn validate(&self, servers: usize) -> Result<(), ParamError> {
        if !(0.0..=1.0).contains(&self.write_ratio) {
            return Err(ParamError::new(
                "model.write_ratio",
                format!("must be within [0, 1], got {}", self.write_ratio),
            ));
        }
        if !(1..=MAX_KEYS).contains(&self.keys) {
            return Err(ParamError::new(
                "model.keys",
                format!(
                    "must be within 1..={MAX_KEYS} (every server and cache holds a slot per key), got {}",
                    self.keys
                ),
            ));
        }
        if self.heartbeat_every < MIN_HEARTBEAT {
            return Err(ParamError::new(
                "model.heartbeat_every",
                format!(
                    "must be at least {MIN_HEARTBEAT:?}: every server ticks at this period for \
                     the whole run"
                ),
            ));
        }
        for (field, d) in [
            ("model.client_timeout", self.client_timeout),
            ("model.failover_after", self.failover_after),
        ] {
            if d.is_zero() {
                return Err(ParamError::new(field, "must be positive"));
            }
        }
        if self.failover_after < self.heartbeat_every * 4 {
            return Err(ParamError::new(
                "model.failover_after",
                format!(
                    "must be at least 4 heartbeats ({:?}): a replica needs a few missed \
                     heartbeats to tell a dead primary from a late message, and the primary's \
                     lease is half of it",
                    self.heartbeat_every * 4
                ),
            ));
        }
        let ticks = self.failover_after.as_nanos() / self.heartbeat_every.as_nanos();
        if ticks > u128::from(MAX_FAILOVER_TICKS) {
            return Err(ParamError::new(
                "model.failover_after",
                format!(
                    "must be at most {MAX_FAILOVER_TICKS} heartbeats, got {ticks}: failure \
                     detection counts heartbeats"
                ),
            ));
        }
        let replicas = (servers - 1) as u32;
        if self.mode == Mode::Semisync && !(1..=replicas).contains(&self.sync_replicas) {
            return Err(ParamError::new(
                "model.sync_replicas",
                format!(
                    "semisync waits for 1 to {replicas} replica(s) (the scenario has \
                     {replicas}), got {}",
                    self.sync_replicas
                ),
            ));
        }
        // A parameter this configuration does not use may not be changed: it would be
        // silently ignored.
        let default = ReplicationParams::default();
        if self.mode != Mode::Semisync && self.sync_replicas != default.sync_replicas {
            return Err(ParamError::new(
                "model.sync_replicas",
                "only `mode = \"semisync\"` waits for some of the replicas",
            ));
        }
        if self.read_your_writes != ReadYourWrites::PrimaryAfterWrite
            && self.primary_reads_for != default.primary_reads_for
        {
            return Err(ParamError::new(
                "model.primary_reads_for",
                "only `read_your_writes = \"primary-after-write\"` reads from the primary after a write",
            ));
        }
        let technique_fits = matches!(
            (self.read_your_writes, self.read_from),
            (ReadYourWrites::None, _)
                | (ReadYourWrites::CacheInvalidation, ReadFrom::Cache)
                | (
                    ReadYourWrites::Session | ReadYourWrites::PrimaryAfterWrite,
                    ReadFrom::Nearest
                )
        );
        if !technique_fits {
            return Err(ParamError::new(
                "model.read_your_writes",
                format!(
                    "`{}` does not go with read_from = `{}`: cache-invalidation needs reads \
                     through the cache, session and primary-after-write reads from the \
                     nearest replica (reads from the primary see their writes already)",
                    self.read_your_writes.name(),
                    self.read_from.name()
                ),
            ));
        }
        Ok(())
    }
}

impl ReadYourWrites {
    fn name(self) -> &'static str {
        match self {
            ReadYourWrites::None => "none",
            ReadYourWrites::CacheInvalidation => "cache-invalidation",
            ReadYourWrites::Session => "session",
            ReadYourWrites::PrimaryAfterWrite => "primary-after-write",
        }
    }
}

impl ReadFrom {
    fn name(self) -> &'static str {
        match self {
            ReadFrom::Primary => "primary",
            ReadFrom::Nearest => "nearest",
            ReadFrom::Cache => "cache",
        }
    }
}
