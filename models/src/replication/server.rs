//! A server: the primary or a replica, a standing that moves at failover.

use super::log::{Entry, Epoch, Log, Record, Version};
use super::{Bug, Mode, Msg, OnPartition, ReadAt, ReplicationNode, ReqId, Setup, Timer};
use sim::{Ctx, NodeId, Part, Stopwatch, TimerId};
use std::collections::VecDeque;

/// The most entries one `Append` carries: a lagging replica catches up a batch per round
/// trip.
const MAX_BATCH: usize = 64;

/// Heartbeat ticks a candidate waits for votes before it gives up (or, under `accept`,
/// promotes itself if no better-placed server objected).
const ELECTION_TICKS: u32 = 3;

pub struct Server {
    id: NodeId,
    /// Its ordinal among the servers (an epoch names its server by it).
    me: u8,
    /// The highest epoch it stood, voted or followed in (durable: [`Record::Promise`]).
    promised: Epoch,
    /// The highest epoch it heard of in a refused vote: it stands above it next time.
    seen: Epoch,
    log: Log,
    /// The last index known committed (acknowledgeable by the mode): by counting replicas as
    /// primary, from the primary's appends as follower. Volatile: zero after a restart.
    committed: u64,
    /// Per key: the value the log sets it to and the version that did.
    values: Vec<(Option<i64>, Version)>,
    standing: Standing,
    /// Session reads waiting for the log to reach their token.
    parked: Vec<Parked>,
}

enum Standing {
    Follower(Follower),
    Candidate(Candidate),
    Primary(Primary),
}

struct Follower {
    /// The primary it follows, if it knows one.
    primary: Option<NodeId>,
    /// Heartbeat ticks since it last heard from a primary.
    missed: u32,
    /// Ticks it waits before standing: `failover_ticks` plus a random share, so that two
    /// replicas rarely stand at once.
    patience: u32,
    /// When it last heard from a primary (for `failover_ms`).
    heard: Option<Stopwatch>,
}

struct Candidate {
    epoch: Epoch,
    /// Votes granted by others.
    granted: usize,
    ticks: u32,
    /// A server with a more up-to-date log refused: under `accept`, it should win instead.
    objected: bool,
    heard: Option<Stopwatch>,
}

struct Primary {
    epoch: Epoch,
    /// The index of its no-op: it serves reads once that is committed, since only then
    /// does it know everything its predecessors acknowledged is.
    start: u64,
    /// Heartbeat rounds sent in this epoch.
    round: u64,
    /// Per server ordinal: the next entry to send it, and the last it holds for sure.
    next: Vec<u64>,
    matched: Vec<u64>,
    /// Per server ordinal: the latest heartbeat round it acknowledged.
    acked_round: Vec<Option<u64>>,
    /// The latest round a majority acknowledged: the lease runs `lease_ticks` from it.
    lease_round: Option<u64>,
    /// Writes logged and not yet acknowledged, in log order.
    pending: VecDeque<Pending>,
    /// Per client ordinal: its latest request the log holds, with the entry's index, so a
    /// duplicated or late request is never logged twice. Rebuilt from the log.
    latest: Vec<Option<(ReqId, u64)>>,
}

struct Pending {
    index: u64,
    reply_to: NodeId,
    req: ReqId,
}

struct Parked {
    from: NodeId,
    req: ReqId,
    key: u32,
    after: Version,
}

impl Server {
    /// Server `ordinal`, from its disk. A server with an empty disk starts in the first
    /// epoch, the first primary as its primary; one restarting from its disk comes back a
    /// follower and learns the primary from its next append.
    pub(super) fn new(s: &Setup, ordinal: usize, disk: &[Record]) -> Server {
        let kept = if s.params.bug == Bug::EmptyDiskRestart {
            &[]
        } else {
            disk
        };
        let (log, promised) = Log::replay(kept);
        let first = Epoch::initial(s.first_primary);
        let fresh = disk.is_empty();
        let mut server = Server {
            id: s.servers[ordinal],
            me: ordinal as u8,
            promised: promised.max(first),
            seen: Epoch::default(),
            log,
            committed: 0,
            values: Vec::new(),
            standing: Standing::Follower(Follower {
                primary: fresh.then_some(s.servers[usize::from(s.first_primary)]),
                missed: 0,
                patience: s.failover_ticks,
                heard: None,
            }),
            parked: Vec::new(),
        };
        server.rebuild_values(s);
        if fresh && ordinal == usize::from(s.first_primary) {
            let mut primary = server.primary_state(s, first);
            primary.start = 0; // no predecessor: nothing to learn the commit of
            server.standing = Standing::Primary(primary);
        }
        server
    }

    /// The epoch it is primary in, if it is one.
    pub fn primary_epoch(&self) -> Option<Epoch> {
        match &self.standing {
            Standing::Primary(p) => Some(p.epoch),
            _ => None,
        }
    }

    /// Whether it serves as primary now: it is one, and under `refuse` its lease holds.
    pub(super) fn serving(&self, s: &Setup) -> bool {
        match &self.standing {
            Standing::Primary(p) => match s.params.on_partition {
                OnPartition::Accept => true,
                // A lone server is its own majority.
                OnPartition::Refuse => {
                    s.majority() == 1 || p.lease_round.is_some_and(|r| p.round - r < s.lease_ticks)
                }
            },
            _ => false,
        }
    }

    /// As primary, whether some server may not hold all of its log yet: entries are on
    /// their way to the replicas.
    pub(super) fn replicating(&self) -> bool {
        match &self.standing {
            Standing::Primary(p) => p.matched.iter().any(|&m| m < self.log.len()),
            _ => false,
        }
    }

    /// Whether it stands for election now.
    pub(super) fn candidate(&self) -> bool {
        matches!(self.standing, Standing::Candidate(_))
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    /// As primary, whether its no-op is committed: before, it may not know that an entry
    /// its predecessor acknowledged is committed, and would read an older value.
    fn knows_commits(&self) -> bool {
        match &self.standing {
            Standing::Primary(p) => self.committed >= p.start,
            _ => false,
        }
    }

    /// The primary it would send a client to.
    fn hint(&self) -> Option<NodeId> {
        match &self.standing {
            Standing::Follower(f) => f.primary,
            Standing::Candidate(_) => None,
            Standing::Primary(_) => Some(self.id),
        }
    }

    fn primary_state(&self, s: &Setup, epoch: Epoch) -> Primary {
        let mut latest = vec![None; s.clients.len()];
        for e in self.log.entries().iter().filter(|e| e.is_write()) {
            latest[e.req.client as usize] = Some((e.req, e.version.index));
        }
        let n = s.servers.len();
        Primary {
            epoch,
            start: self.log.len() + 1,
            round: 0,
            next: vec![self.log.len() + 1; n],
            matched: vec![0; n],
            acked_round: vec![None; n],
            lease_round: None,
            pending: VecDeque::new(),
            latest,
        }
    }

    fn rebuild_values(&mut self, s: &Setup) {
        self.values = vec![(None, Version::ZERO); s.params.keys as usize];
        for e in self.log.entries().iter().filter(|e| e.is_write()) {
            self.values[e.key as usize] = (Some(e.value), e.version);
        }
    }

    /// The value of `key` as of the committed prefix of the log (a primary's reads: an
    /// uncommitted write may yet be discarded, and a read must never show it).
    fn committed_value(&self, key: u32) -> (Option<i64>, Version) {
        let latest = self.values[key as usize];
        if latest.1.index <= self.committed {
            return latest;
        }
        let committed = &self.log.entries()[..self.committed as usize];
        committed
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map_or((None, Version::ZERO), |e| (Some(e.value), e.version))
    }

    /// Never goes back to an older epoch: persisted before anything depends on it.
    fn promise(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, epoch: Epoch) {
        if epoch > self.promised {
            self.promised = epoch;
            ctx.disk().append_synced(Record::Promise(epoch));
        }
    }

    fn others<'s>(&self, s: &'s Setup) -> impl Iterator<Item = (usize, NodeId)> + Clone + 's {
        let me = usize::from(self.me);
        s.servers
            .iter()
            .copied()
            .enumerate()
            .filter(move |&(i, _)| i != me)
    }

    /// The cache in front of this server, if any.
    fn own_cache(&self, s: &Setup) -> Option<NodeId> {
        let region = s.region[self.id.index()];
        (s.local_server[region] == Some(self.id))
            .then_some(s.local_cache[region])
            .flatten()
    }

    fn follow(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup, primary: NodeId) {
        let heard = Some(ctx.stopwatch());
        match &mut self.standing {
            Standing::Follower(f) => {
                f.primary = Some(primary);
                f.missed = 0;
                f.heard = heard;
            }
            _ => {
                self.standing = Standing::Follower(Follower {
                    primary: Some(primary),
                    missed: 0,
                    patience: patience(ctx, s),
                    heard,
                });
            }
        }
    }

    /// Steps down (or out of a candidacy) without knowing the new primary yet. A deposed
    /// primary starts counting missed heartbeats afresh; a failed candidate has missed them
    /// all along (so it may vote for another at once) and stands again after a random
    /// backoff of up to `failover_ticks`, so that candidates stop colliding.
    fn step_down(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup) {
        let f = s.failover_ticks;
        let (heard, missed, patience) = match &self.standing {
            Standing::Follower(_) => return,
            Standing::Candidate(c) => {
                let backoff = 1 + ctx.rng().below(u64::from(f)) as u32;
                (c.heard, f, f + backoff)
            }
            Standing::Primary(_) => (Some(ctx.stopwatch()), 0, patience(ctx, s)),
        };
        self.standing = Standing::Follower(Follower {
            primary: None,
            missed,
            patience,
            heard,
        });
    }

    fn on_tick(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup) {
        ctx.set_timer(s.params.heartbeat_every, Timer::Tick);
        match &mut self.standing {
            Standing::Follower(f) => {
                f.missed += 1;
                if f.missed >= f.patience {
                    self.stand(ctx, s);
                }
            }
            Standing::Candidate(c) => {
                c.ticks += 1;
                if c.ticks >= ELECTION_TICKS {
                    if s.params.on_partition == OnPartition::Accept && !c.objected {
                        self.promote(ctx, s);
                    } else {
                        self.step_down(ctx, s);
                    }
                }
            }
            Standing::Primary(p) => {
                p.round += 1;
                let (me, len) = (usize::from(self.me), self.log.len());
                let behind = p
                    .matched
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != me)
                    .map(|(_, &m)| len.saturating_sub(m))
                    .max()
                    .unwrap_or(0);
                ctx.metrics().raise("replication_lag_entries_max", behind);
                self.broadcast(ctx, s);
            }
        }
    }

    /// Stands for primary in the next epoch.
    fn stand(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup) {
        // The candidacy's epoch is promised only once won: a server that stood in vain
        // while cut off must not, on rejoining, reject the primary it could not reach and
        // depose it (the disruption Raft's pre-vote prevents).
        let epoch = if s.params.bug == Bug::NoEpochs {
            self.promised
        } else {
            self.promised.max(self.seen).next(self.me)
        };
        let heard = match &self.standing {
            Standing::Follower(f) => f.heard,
            _ => None,
        };
        self.standing = Standing::Candidate(Candidate {
            epoch,
            granted: 0,
            ticks: 0,
            objected: false,
            heard,
        });
        if s.majority() == 1 {
            return self.promote(ctx, s);
        }
        let last = self.log.last();
        for (_, to) in self.others(s) {
            ctx.send(to, Msg::RequestVote { epoch, last });
        }
    }

    fn promote(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup) {
        let Standing::Candidate(c) = &self.standing else {
            return;
        };
        let (epoch, heard) = (c.epoch, c.heard);
        if let Some(heard) = heard {
            ctx.record_elapsed("failover_ms", heard);
        }
        self.promise(ctx, epoch);
        self.standing = Standing::Primary(self.primary_state(s, epoch));
        let version = Version {
            epoch,
            index: self.log.len() + 1,
        };
        let no_op = Entry::no_op(version, self.id, ctx.stopwatch());
        ctx.disk().append_synced(Record::Entry(no_op));
        self.apply(ctx, s, no_op);
        self.acknowledge(ctx, s);
        self.broadcast(ctx, s);
    }

    fn on_request_vote(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        s: &Setup,
        from: NodeId,
        epoch: Epoch,
        last: Version,
    ) {
        let newer =
            epoch > self.promised || (s.params.bug == Bug::NoEpochs && epoch == self.promised);
        // A server that still hears its primary never helps depose it: the primary's lease
        // (under `refuse`) relies on that.
        let lost_primary = match &self.standing {
            Standing::Follower(f) => f.missed >= s.failover_ticks,
            Standing::Candidate(_) => true,
            Standing::Primary(_) => false,
        };
        let granted = newer && lost_primary && last >= self.log.last();
        if granted {
            self.promise(ctx, epoch);
            self.step_down(ctx, s);
        }
        let (promised, last) = (self.promised, self.log.last());
        ctx.send(
            from,
            Msg::Vote {
                epoch,
                granted,
                promised,
                last,
            },
        );
    }

    fn on_vote(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        s: &Setup,
        epoch: Epoch,
        granted: bool,
        promised: Epoch,
        last: Version,
    ) {
        self.seen = self.seen.max(promised);
        let my_last = self.log.last();
        let Standing::Candidate(c) = &mut self.standing else {
            return;
        };
        if c.epoch != epoch {
            return;
        }
        if granted {
            c.granted += 1;
            if c.granted + 1 >= s.majority() {
                self.promote(ctx, s);
            }
        } else if last > my_last {
            c.objected = true;
        }
    }

    fn broadcast(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup) {
        for (i, to) in self.others(s) {
            self.send_append(ctx, i, to);
        }
    }

    fn send_append(&self, ctx: &mut Ctx<'_, ReplicationNode>, i: usize, to: NodeId) {
        let Standing::Primary(p) = &self.standing else {
            return;
        };
        let next = p.next[i];
        let batch = self.log.from(next);
        let entries = batch[..batch.len().min(MAX_BATCH)].to_vec();
        ctx.send(
            to,
            Msg::Append {
                epoch: p.epoch,
                round: p.round,
                prev: self.log.version_at(next - 1),
                entries,
                end: self.log.len(),
                commit: self.committed,
            },
        );
    }

    fn on_write(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        s: &Setup,
        from: NodeId,
        req: ReqId,
        key: u32,
        value: i64,
    ) {
        if !matches!(self.standing, Standing::Primary(_)) {
            return ctx.send(
                from,
                Msg::NotPrimary {
                    req,
                    hint: self.hint(),
                },
            );
        }
        if !self.serving(s) {
            return ctx.send(from, Msg::Unavailable { req });
        }
        let commit = self.commit_index(s);
        let Standing::Primary(p) = &mut self.standing else {
            unreachable!("checked above")
        };
        match p.latest[req.client as usize] {
            // A late copy of an earlier request: its client has moved on.
            Some((latest, _)) if req < latest => return,
            // A duplicate: answer it again once acknowledgeable, never log it twice.
            Some((latest, index)) if req == latest => {
                if index <= commit {
                    let version = self.log.version_at(index);
                    ctx.send(from, Msg::WriteOk { req, version });
                } else if !p.pending.iter().any(|w| w.index == index) {
                    let at = p.pending.partition_point(|w| w.index < index);
                    p.pending.insert(
                        at,
                        Pending {
                            index,
                            reply_to: from,
                            req,
                        },
                    );
                }
                return;
            }
            _ => {}
        }
        let version = Version {
            epoch: p.epoch,
            index: self.log.len() + 1,
        };
        let entry = Entry {
            version,
            key,
            value,
            client: s.clients[req.client as usize],
            req,
            born: ctx.stopwatch(),
        };
        p.latest[req.client as usize] = Some((req, version.index));
        p.pending.push_back(Pending {
            index: version.index,
            reply_to: from,
            req,
        });
        ctx.disk().append_synced(Record::Entry(entry));
        self.apply(ctx, s, entry);
        if s.params.bug == Bug::EarlyInvalidation {
            // The bug: every region's cache hears of the write before its replica has it.
            for &cache in &s.caches {
                ctx.send(cache, Msg::Invalidate { key, version });
            }
        }
        // Acknowledged first if the mode allows (async: the acknowledgement leaves before
        // the write is shipped, which is what a crash in between loses), then shipped,
        // pipelined: replicas up to date get the entry now, the others at the next tick.
        self.acknowledge(ctx, s);
        let Standing::Primary(p) = &mut self.standing else {
            unreachable!("still primary")
        };
        for (i, to) in s.servers.iter().copied().enumerate() {
            if to != self.id && p.next[i] == version.index {
                p.next[i] += 1;
                ctx.send(
                    to,
                    Msg::Append {
                        epoch: p.epoch,
                        round: p.round,
                        prev: self.log.version_at(version.index - 1),
                        entries: vec![entry],
                        end: version.index,
                        commit: self.committed,
                    },
                );
            }
        }
    }

    /// Appends `entry` to the log (already on disk) and applies it; tells the cache in
    /// front of this server, once applied.
    fn apply(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup, entry: Entry) {
        self.log.append(entry);
        if !entry.is_write() {
            return;
        }
        self.values[entry.key as usize] = (Some(entry.value), entry.version);
        if s.params.bug != Bug::EarlyInvalidation {
            if let Some(cache) = self.own_cache(s) {
                ctx.send(
                    cache,
                    Msg::Invalidate {
                        key: entry.key,
                        version: entry.version,
                    },
                );
            }
        }
    }

    /// The last index the primary may acknowledge, by mode: under `sync` and `semisync`,
    /// the entry that enough replicas hold, if it is of this primary's epoch (an older
    /// epoch's entry is committed only by a later one of this epoch: Raft's rule, without
    /// which a majority-held entry can still be overwritten).
    fn commit_index(&self, s: &Setup) -> u64 {
        let Standing::Primary(p) = &self.standing else {
            return self.committed;
        };
        let replicas = s.servers.len() - 1;
        let needed = match s.params.mode {
            _ if s.params.bug == Bug::FakeSync => 0,
            Mode::Async => 0,
            Mode::Semisync => s.params.sync_replicas as usize,
            Mode::Sync if s.params.bug == Bug::SyncAfterOne => 1,
            Mode::Sync => replicas,
        };
        if needed == 0 {
            return self.log.len();
        }
        let held = kth_largest(self.others(s).map(|(i, _)| p.matched[i]), needed).unwrap_or(0);
        if self.log.version_at(held).epoch == p.epoch {
            self.committed.max(held)
        } else {
            self.committed
        }
    }

    /// Acknowledges every pending write the mode allows.
    fn acknowledge(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup) {
        self.committed = self.commit_index(s);
        debug_assert!(
            self.committed <= self.log.len(),
            "only held entries are committed"
        );
        let Standing::Primary(p) = &mut self.standing else {
            return;
        };
        while let Some(w) = p.pending.front() {
            if w.index > self.committed {
                break;
            }
            let version = self.log.version_at(w.index);
            ctx.send(
                w.reply_to,
                Msg::WriteOk {
                    req: w.req,
                    version,
                },
            );
            p.pending.pop_front();
        }
    }

    fn on_append(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        s: &Setup,
        from: NodeId,
        msg: (Epoch, u64, Version, Vec<Entry>, u64, u64),
    ) {
        let (epoch, round, prev, entries, end, commit) = msg;
        if epoch < self.promised {
            let epoch = self.promised;
            return ctx.send(from, Msg::Nack { epoch, hint: None });
        }
        if self.primary_epoch() == Some(epoch) {
            // Another primary of our own epoch: only without epochs (the `no-epochs` bug)
            // can there be one, and nothing tells which of us is the real one.
            return;
        }
        self.promise(ctx, epoch);
        self.follow(ctx, s, from);
        if !self.log.matches(prev) {
            let hint = Some(self.log.resume_hint(prev));
            return ctx.send(from, Msg::Nack { epoch, hint });
        }
        let matched = prev.index + entries.len() as u64;
        for e in entries {
            match self.log.get(e.version.index) {
                Some(held) if held.version == e.version => continue,
                Some(_) => self.discard_after(ctx, s, e.version.index - 1),
                None => {}
            }
            ctx.disk().append_synced(Record::Entry(e));
            self.apply(ctx, s, e);
            ctx.record_elapsed("replication_lag_ms", e.born);
            ctx.record_elapsed(s.metrics_of(self.id).lag, e.born);
        }
        // Holding the primary's whole log, anything past it from an older epoch is a
        // deposed primary's suffix the new one never had (it appends only in its own epoch):
        // discard it. Entries of this epoch past `end` were sent after this message.
        if matched == end
            && self
                .log
                .get(end + 1)
                .is_some_and(|e| e.version.epoch < epoch)
        {
            self.discard_after(ctx, s, end);
        }
        // What the primary has committed, as far as this log is known to match its.
        self.committed = self.committed.max(commit.min(matched));
        ctx.send(
            from,
            Msg::Ack {
                epoch,
                round,
                matched,
            },
        );
        self.serve_parked(ctx);
    }

    /// Discards the log's suffix past `keep`: writes of a deposed primary that the new
    /// one never had.
    fn discard_after(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup, keep: u64) {
        let discarded = self.log.truncate(keep);
        // What another primary committed past `keep` is not in this log any more.
        self.committed = self.committed.min(keep);
        ctx.disk().append_synced(Record::Truncate { keep });
        ctx.metrics()
            .add("divergent_writes_discarded", discarded as u64);
        self.rebuild_values(s);
    }

    fn on_ack(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        s: &Setup,
        from: NodeId,
        epoch: Epoch,
        round: u64,
        matched: u64,
    ) {
        let Some(i) = s.ordinal(from) else {
            return;
        };
        let majority = s.majority();
        let Standing::Primary(p) = &mut self.standing else {
            return;
        };
        if p.epoch != epoch {
            return;
        }
        p.matched[i] = p.matched[i].max(matched);
        p.next[i] = p.next[i].max(matched + 1);
        p.acked_round[i] = p.acked_round[i].max(Some(round));
        // The lease: the latest round a majority (this primary included) acknowledged.
        let me = usize::from(self.me);
        let others = p
            .acked_round
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != me)
            .filter_map(|(_, r)| *r);
        if let Some(r) = kth_largest(others, majority - 1) {
            p.lease_round = p.lease_round.max(Some(r));
        }
        self.acknowledge(ctx, s);
    }

    fn on_nack(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        s: &Setup,
        from: NodeId,
        epoch: Epoch,
        hint: Option<Version>,
    ) {
        let Some(i) = s.ordinal(from) else {
            return;
        };
        let Standing::Primary(p) = &mut self.standing else {
            return;
        };
        if epoch > p.epoch {
            // Deposed: a later primary exists. Its appends will say who.
            self.promise(ctx, epoch);
            return self.step_down(ctx, s);
        }
        let Some(hint) = hint.filter(|_| epoch == p.epoch) else {
            return;
        };
        let resume = hint.index.min(self.log.end_of_epoch(hint.epoch));
        p.next[i] = p.next[i].min(resume + 1);
        p.matched[i] = p.matched[i].min(resume);
        self.send_append(ctx, i, from);
    }

    fn on_read(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        s: &Setup,
        from: NodeId,
        req: ReqId,
        key: u32,
        at: ReadAt,
    ) {
        match at {
            ReadAt::Primary if !matches!(self.standing, Standing::Primary(_)) => ctx.send(
                from,
                Msg::NotPrimary {
                    req,
                    hint: self.hint(),
                },
            ),
            ReadAt::Primary if !self.serving(s) || !self.knows_commits() => {
                ctx.send(from, Msg::Unavailable { req })
            }
            ReadAt::Primary => {
                let (value, version) = self.committed_value(key);
                ctx.send(
                    from,
                    Msg::ReadOk {
                        req,
                        value,
                        version,
                    },
                )
            }
            ReadAt::Any { after: Some(after) }
                if s.params.bug != Bug::IgnoreSession && self.log.last() < after =>
            {
                // One per client: its earlier reads have timed out.
                self.parked.retain(|p| p.req.client != req.client);
                self.parked.push(Parked {
                    from,
                    req,
                    key,
                    after,
                })
            }
            _ => self.answer_read(ctx, from, req, key),
        }
    }

    fn answer_read(&self, ctx: &mut Ctx<'_, ReplicationNode>, to: NodeId, req: ReqId, key: u32) {
        let (value, version) = self.values[key as usize];
        ctx.send(
            to,
            Msg::ReadOk {
                req,
                value,
                version,
            },
        );
    }

    /// Answers the parked session reads the log now reaches.
    fn serve_parked(&mut self, ctx: &mut Ctx<'_, ReplicationNode>) {
        let last = self.log.last();
        let mut i = 0;
        while i < self.parked.len() {
            if self.parked[i].after <= last {
                let p = self.parked.swap_remove(i);
                self.answer_read(ctx, p.from, p.req, p.key);
            } else {
                i += 1;
            }
        }
    }
}

/// How many ticks a follower waits before standing: `failover_ticks` plus up to half again,
/// drawn from the node's stream.
fn patience(ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup) -> u32 {
    let spread = u64::from(s.failover_ticks / 2 + 1);
    s.failover_ticks + ctx.rng().below(spread) as u32
}

/// The `k`-th largest of `values` (k from 1), without allocating (there are a handful);
/// `None` if there are fewer than `k`.
fn kth_largest(values: impl Iterator<Item = u64> + Clone, k: usize) -> Option<u64> {
    debug_assert!(k >= 1, "the 0th largest is not a thing");
    values
        .clone()
        .filter(|&v| values.clone().filter(|&w| w >= v).count() >= k)
        .max()
}

impl Part<ReplicationNode, Setup> for Server {
    fn on_start(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup) {
        ctx.set_timer(s.params.heartbeat_every, Timer::Tick);
        match &mut self.standing {
            Standing::Follower(f) => f.patience = patience(ctx, s),
            Standing::Primary(p) => {
                // On disk, so that a restart comes back a follower.
                let epoch = p.epoch;
                ctx.disk().append_synced(Record::Promise(epoch));
                self.broadcast(ctx, s);
            }
            Standing::Candidate(_) => unreachable!("a server starts as follower or primary"),
        }
    }

    fn on_message(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        s: &Setup,
        from: NodeId,
        msg: Msg,
    ) {
        match msg {
            Msg::Write { req, key, value } => self.on_write(ctx, s, from, req, key, value),
            Msg::Read { req, key, at } => self.on_read(ctx, s, from, req, key, at),
            Msg::Append {
                epoch,
                round,
                prev,
                entries,
                end,
                commit,
            } => self.on_append(ctx, s, from, (epoch, round, prev, entries, end, commit)),
            Msg::Ack {
                epoch,
                round,
                matched,
            } => self.on_ack(ctx, s, from, epoch, round, matched),
            Msg::Nack { epoch, hint } => self.on_nack(ctx, s, from, epoch, hint),
            Msg::RequestVote { epoch, last } => self.on_request_vote(ctx, s, from, epoch, last),
            Msg::Vote {
                epoch,
                granted,
                promised,
                last,
            } => self.on_vote(ctx, s, epoch, granted, promised, last),
            // Replies and invalidations are for clients and caches.
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, ReplicationNode>, s: &Setup, _: TimerId, tag: Timer) {
        if tag == Timer::Tick {
            self.on_tick(ctx, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::kth_largest;

    #[test]
    fn kth_largest_counts_ties() {
        let v = [3u64, 7, 7, 1];
        assert_eq!(kth_largest(v.iter().copied(), 1), Some(7));
        assert_eq!(kth_largest(v.iter().copied(), 2), Some(7));
        assert_eq!(kth_largest(v.iter().copied(), 3), Some(3));
        assert_eq!(kth_largest(v.iter().copied(), 4), Some(1));
        assert_eq!(kth_largest(v.iter().copied(), 5), None);
    }
}
