//! The end-of-run judgement: what the clients' history and the servers' logs say.
//!
//! Every write has a unique value, and every server's disk keeps every entry it ever held
//! (truncations are records, not erasures), so each value read or written maps to the
//! version that wrote it. Versions order writes ([`Version`]: epoch, then index), which is
//! what read-your-writes, monotonic reads and staleness are stated over (Terry et al. 1994;
//! staleness as in Golab, Li & Shah 2011: how far behind, not only whether).

use super::log::{Record, Version};
use super::{ReplicationNode, Role, Server, Setup};
use sim::history::{History, OpFn, Operation, Outcome, Value};
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::{NodeId, World};
use std::collections::{BTreeMap, HashMap, HashSet};

pub fn finish(
    s: &Setup,
    world: &World<'_, ReplicationNode>,
    history: &History,
    metrics: &mut Metrics,
) -> Vec<Verdict> {
    let ops = match history.operations() {
        Ok(ops) => ops,
        Err(e) => {
            let why = format!("the simulator wrote an invalid history: {e}");
            return [
                "linearizable",
                "no_lost_acked_writes",
                "read_your_writes",
                "monotonic_reads",
            ]
            .into_iter()
            .map(|name| Verdict::unknown(name, why.clone()))
            .chain([convergence(s, world)])
            .collect();
        }
    };
    // The final word: the most up-to-date log of a server up at the end (by its last
    // version, as an election compares them: a deposed primary still cut off loses).
    let authority = live_servers(s, world)
        .into_iter()
        .max_by_key(|(_, server)| server.log().last());
    let versions = versions(s, world, authority.map(|(_, server)| server));
    let mut verdicts = vec![
        linearizable(history),
        no_lost_acked_writes(world, authority, history, &ops, metrics),
    ];
    verdicts.extend(sessions(history, &ops, &versions, metrics));
    staleness(s, history, &ops, &versions, metrics);
    verdicts.push(convergence(s, world));
    verdicts
}

fn linearizable(history: &History) -> Verdict {
    use sim::linearizability as lin;
    match lin::check(history, lin::Model::Kv, &lin::Budget::default()) {
        Ok(r) => match r.verdict {
            lin::Verdict::Linearizable => Verdict::holds(
                "linearizable",
                format!("{} client operations", r.stats.operations),
            ),
            lin::Verdict::NotLinearizable => Verdict::violated(
                "linearizable",
                r.explanation.map_or_else(
                    || "not linearizable".to_string(),
                    |e| format!("{} (history line {})", e.reason, e.blocked.invoke_line),
                ),
            ),
            lin::Verdict::Unknown => {
                Verdict::unknown("linearizable", "the checker's budget ran out")
            }
        },
        Err(e) => Verdict::unknown(
            "linearizable",
            format!("the simulator wrote an invalid history: {e}"),
        ),
    }
}

/// The servers up at the end, with their state.
fn live_servers<'w>(s: &Setup, world: &'w World<'_, ReplicationNode>) -> Vec<(NodeId, &'w Server)> {
    s.servers
        .iter()
        .filter_map(
            |&id| match world.nodes[id.index()].as_ref().map(|n| &n.role) {
                Some(Role::Server(server)) => Some((id, server)),
                _ => None,
            },
        )
        .collect()
}

/// The version of every value any server ever logged: the one in the final log if it is
/// there (a request logged twice, by a deposed primary and by its successor, keeps the copy
/// that survived), else the newest copy.
fn versions(
    s: &Setup,
    world: &World<'_, ReplicationNode>,
    last: Option<&Server>,
) -> HashMap<i64, Version> {
    let mut versions = HashMap::new();
    for &id in &s.servers {
        for r in world.disk(id).records() {
            if let Record::Entry(e) = r {
                if e.is_write() {
                    let v = versions.entry(e.value).or_insert(e.version);
                    *v = (*v).max(e.version);
                }
            }
        }
    }
    for e in last.iter().flat_map(|server| server.log().entries()) {
        if e.is_write() {
            versions.insert(e.value, e.version);
        }
    }
    versions
}

/// The integer a history value carries (`""` is a key never written).
fn value_of(v: &Value) -> Option<Option<i64>> {
    match v {
        Value::Str(s) if s.is_empty() => Some(None),
        Value::Str(s) => s.parse().ok().map(Some),
        _ => None,
    }
}

/// The version a read returned or a write wrote, if known.
fn version_of(value: &Value, versions: &HashMap<i64, Version>) -> Option<Version> {
    match value_of(value)? {
        None => Some(Version::ZERO),
        Some(v) => versions.get(&v).copied(),
    }
}

fn acked_writes(ops: &[Operation]) -> impl Iterator<Item = &Operation> {
    ops.iter()
        .filter(|o| o.f == OpFn::Put && o.outcome == Outcome::Ok)
}

fn no_lost_acked_writes(
    world: &World<'_, ReplicationNode>,
    authority: Option<(NodeId, &Server)>,
    history: &History,
    ops: &[Operation],
    metrics: &mut Metrics,
) -> Verdict {
    const NAME: &str = "no_lost_acked_writes";
    let Some((authority, server)) = authority else {
        return Verdict::unknown(NAME, "no server is up at the end");
    };
    let kept: HashSet<i64> = server
        .log()
        .entries()
        .iter()
        .filter(|e| e.is_write())
        .map(|e| e.value)
        .collect();
    let lost: Vec<&Operation> = acked_writes(ops)
        .filter(|o| {
            value_of(&o.input)
                .flatten()
                .is_none_or(|v| !kept.contains(&v))
        })
        .collect();
    metrics.add("lost_acked_writes", lost.len() as u64);
    let acked = acked_writes(ops).count();
    match lost.first() {
        None => Verdict::holds(
            NAME,
            format!(
                "all {acked} acknowledged writes are in the log of {}",
                world.name(authority)
            ),
        ),
        Some(first) => Verdict::violated(
            NAME,
            format!(
                "{} of {acked} acknowledged writes are not in the log of {} at the end; \
                 first: {} = {} (acknowledged at history line {}, t={})",
                lost.len(),
                world.name(authority),
                first.key.as_deref().unwrap_or("?"),
                first.input,
                first.complete_line().unwrap_or(0),
                sim::Time(history.events[first.complete.unwrap_or(first.invoke)].time_ns),
            ),
        ),
    }
}

/// One session's view of one key, swept in invocation order (a session is one client life,
/// one operation at a time).
#[derive(Default)]
struct Thread {
    /// The newest version the session wrote and saw acknowledged.
    written: Version,
    /// The newest version it read.
    read: Version,
}

/// Counts and the first example of a session-guarantee violation.
struct Broken<'h> {
    count: u64,
    first: Option<(&'h Operation, Version, Version)>,
}

impl<'h> Broken<'h> {
    fn new() -> Self {
        Broken {
            count: 0,
            first: None,
        }
    }

    fn note(&mut self, op: &'h Operation, got: Version, owed: Version) {
        self.count += 1;
        self.first.get_or_insert((op, got, owed));
    }

    fn verdict(&self, name: &'static str, holds: &str, owed: &str) -> Verdict {
        match self.first {
            None => Verdict::holds(name, holds),
            Some((op, got, expected)) => Verdict::violated(
                name,
                format!(
                    "{} read(s) broke it; first: the read of {} at history line {} returned \
                     version {got}, older than version {expected} {owed}",
                    self.count,
                    op.key.as_deref().unwrap_or("?"),
                    op.invoke_line()
                ),
            ),
        }
    }
}

/// `read_your_writes` and `monotonic_reads`, per session and key.
fn sessions(
    history: &History,
    ops: &[Operation],
    versions: &HashMap<i64, Version>,
    metrics: &mut Metrics,
) -> [Verdict; 2] {
    debug_assert!(history.events.iter().all(|e| e.session.is_some()));
    let mut threads: BTreeMap<(u64, &str), Thread> = BTreeMap::new();
    let (mut ryw, mut mr) = (Broken::new(), Broken::new());
    let mut sessions = HashSet::new();
    for op in ops.iter().filter(|o| o.outcome == Outcome::Ok) {
        let (Some(session), Some(key)) = (op.session, op.key.as_deref()) else {
            continue;
        };
        sessions.insert(session);
        let t = threads.entry((session, key)).or_default();
        match op.f {
            OpFn::Put => {
                if let Some(v) = version_of(&op.input, versions) {
                    t.written = t.written.max(v);
                }
            }
            OpFn::Get => {
                let Some(v) = version_of(&op.output, versions) else {
                    continue;
                };
                if v < t.written {
                    ryw.note(op, v, t.written);
                }
                if v < t.read {
                    mr.note(op, v, t.read);
                }
                t.read = t.read.max(v);
            }
            _ => {}
        }
    }
    metrics.add("read_your_writes_violations", ryw.count);
    metrics.add("monotonic_reads_violations", mr.count);
    let n = sessions.len();
    [
        ryw.verdict(
            "read_your_writes",
            &format!("in {n} session(s), every read showed the session's own acknowledged writes"),
            "the session had written and seen acknowledged",
        ),
        mr.verdict(
            "monotonic_reads",
            &format!("in {n} session(s), no read went back before an earlier read"),
            "an earlier read of the session had returned",
        ),
    ]
}

/// Staleness of every successful read: how many acknowledged writes of its key, newer than
/// what it returned, had completed before it started, and for how long the oldest of them
/// had been acknowledged (`staleness_ms`: 0 for a fresh read), overall and per region.
fn staleness(
    s: &Setup,
    history: &History,
    ops: &[Operation],
    versions: &HashMap<i64, Version>,
    metrics: &mut Metrics,
) {
    let time = |index: usize| history.events[index].time_ns;
    // Per key: acknowledged writes by completion time, with the running maximum version.
    let mut writes: BTreeMap<&str, Vec<(u64, Version, Version)>> = BTreeMap::new();
    for op in acked_writes(ops) {
        let (Some(key), Some(v), Some(done)) = (
            op.key.as_deref(),
            version_of(&op.input, versions),
            op.complete,
        ) else {
            continue;
        };
        writes.entry(key).or_default().push((time(done), v, v));
    }
    for w in writes.values_mut() {
        w.sort_by_key(|&(t, v, _)| (t, v));
        let mut newest = Version::ZERO;
        for (_, v, running) in w.iter_mut() {
            newest = newest.max(*v);
            *running = newest;
        }
    }
    let (mut stale, mut most_behind) = (0, 0);
    for op in ops
        .iter()
        .filter(|o| o.f == OpFn::Get && o.outcome == Outcome::Ok)
    {
        let (Some(key), Some(v)) = (op.key.as_deref(), version_of(&op.output, versions)) else {
            continue;
        };
        let started = time(op.invoke);
        let w = writes.get(key).map_or(&[][..], Vec::as_slice);
        let before = &w[..w.partition_point(|&(t, _, _)| t < started)];
        let (mut behind, mut since) = (0u64, started);
        for &(t, written, running) in before.iter().rev() {
            if running <= v {
                break; // nothing earlier is newer than what the read returned
            }
            if written > v {
                behind += 1;
                since = since.min(t);
            }
        }
        let ns = started - since;
        metrics.record_nanos_at("staleness_ms", started, ns);
        if let Some(session) = op.session {
            let client = s.clients[(session >> 32) as usize];
            metrics.record_nanos_at(s.metrics_of(client).staleness, started, ns);
        }
        if behind > 0 {
            stale += 1;
            most_behind = most_behind.max(behind);
        }
    }
    metrics.add("stale_reads", stale);
    metrics.raise("stale_versions_max", most_behind);
}

/// Every server holds the same log once the run has settled.
fn convergence(s: &Setup, world: &World<'_, ReplicationNode>) -> Verdict {
    const NAME: &str = "convergence";
    if let Some(unknown) = world.unsettled(NAME) {
        return unknown;
    }
    let live = live_servers(s, world);
    if live.len() < s.servers.len() {
        return Verdict::unknown(NAME, "a server is down at the end");
    }
    let (first, reference) = live[0];
    let same = |server: &Server| {
        let (a, b) = (server.log().entries(), reference.log().entries());
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.version == y.version)
    };
    match live.iter().find(|(_, server)| !same(server)) {
        None => Verdict::holds(
            NAME,
            format!(
                "all {} servers hold the same {} log entries at the end",
                live.len(),
                reference.log().len()
            ),
        ),
        Some((other, server)) => Verdict::violated(
            NAME,
            format!(
                "{} ends at {} but {} at {}",
                world.name(first),
                reference.log().last(),
                world.name(*other),
                server.log().last()
            ),
        ),
    }
}
