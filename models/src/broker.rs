//! A Kafka-like message broker, as a part any model can embed: topics of partitions that are
//! append-only durable logs on the broker's disk, producers that append batches of messages
//! carrying their own message ids, and consumer groups with committed offsets.
//!
//! What it guarantees, and what it does not:
//! - **Order within a partition only.** A message's partition is its key's hash modulo the
//!   partition count; a batch is appended in order, and a producer that waits for one batch's
//!   acknowledgement before sending the next keeps its order per key.
//! - **At-least-once delivery.** Consumers fetch from their position and commit offsets
//!   themselves; what a consumer processed but did not commit is delivered again after it
//!   crashes and rejoins. Committing before processing is at-most-once instead: the broker
//!   cannot tell, it is the consumer's choice.
//! - **No deduplication.** A batch appended twice (a retried produce, a duplicated message)
//!   is in the log twice: consumers deduplicate by message id.
//! - **Retention is unbounded** (the whole run), so any message can be replayed
//!   ([`BrokerMsg::Replay`] appends the first copy of each named message again, marked
//!   `replay`).
//! - **One broker node, not replicated.** Its log is synced before every acknowledgement, so
//!   a crash loses nothing acknowledged; while it is down, producers and consumers wait.
//!   Replication of the log is left out.
//!
//! Groups have one member each in the models so far: a **rebalance** is the member's
//! rejoin after a crash (a new generation, positions back at the committed offsets); fetches
//! and commits of an older generation (a zombie's) are ignored. Commits only move forward.
//! The broker counts rebalances in the metric `rebalances`.
//!
//! Embedding: the host node's message type wraps [`BrokerMsg`] and its record type wraps
//! [`LogRecord`] ([`Host`]); [`Broker`] is then a [`Part`] of that node.

use sim::{Ctx, Message, Node, NodeId, Part, TimerId};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

/// A consumer group, by number.
pub type Group = u32;

/// One message in a partition's log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry<E> {
    /// The partitioning key (hashed to choose the partition).
    pub key: u64,
    /// The producer's message id: what consumers deduplicate by and replays look up.
    pub id: u64,
    /// Appended again by a replay, not by a producer.
    pub replay: bool,
    pub event: E,
}

/// A message as a consumer receives it: where it sits in the log, and the entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Delivered<E> {
    pub partition: u32,
    pub offset: u64,
    pub entry: Entry<E>,
}

/// The broker's protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BrokerMsg<E> {
    /// Append `entries` in order (each to its key's partition); answered with `Produced`
    /// once synced.
    Produce {
        seq: u64,
        entries: Vec<Entry<E>>,
    },
    Produced {
        seq: u64,
    },
    /// Join `group`: a new generation, positions at the committed offsets.
    Join {
        group: Group,
    },
    Joined {
        group: Group,
        generation: u64,
        offsets: Vec<u64>,
    },
    /// Up to `max` messages per partition from positions `from` (one per partition).
    Fetch {
        group: Group,
        generation: u64,
        from: Vec<u64>,
        max: u32,
    },
    Records {
        group: Group,
        generation: u64,
        from: Vec<u64>,
        records: Vec<Delivered<E>>,
    },
    /// Commit the group's offsets (the next message to read, per partition). Not answered:
    /// a lost commit means more redelivery, never less.
    Commit {
        group: Group,
        generation: u64,
        offsets: Vec<u64>,
    },
    /// Append again the first copy of each message named in `ids` still in the log.
    Replay {
        tag: u64,
        ids: Vec<u64>,
    },
    /// Which of the ids were found (and appended again) and which the log does not have.
    Replayed {
        tag: u64,
        found: Vec<u64>,
        missing: Vec<u64>,
    },
}

impl<E> BrokerMsg<E> {
    /// Every kind [`BrokerMsg::kind`] returns; a host lists them in its `Message::KINDS`.
    pub const KINDS: &'static [&'static str] = &[
        "Produce", "Produced", "Join", "Joined", "Fetch", "Records", "Commit", "Replay", "Replayed",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            BrokerMsg::Produce { .. } => "Produce",
            BrokerMsg::Produced { .. } => "Produced",
            BrokerMsg::Join { .. } => "Join",
            BrokerMsg::Joined { .. } => "Joined",
            BrokerMsg::Fetch { .. } => "Fetch",
            BrokerMsg::Records { .. } => "Records",
            BrokerMsg::Commit { .. } => "Commit",
            BrokerMsg::Replay { .. } => "Replay",
            BrokerMsg::Replayed { .. } => "Replayed",
        }
    }
}

/// What the broker writes to its disk, each record synced before it is acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogRecord<E> {
    Append { partition: u32, entry: Entry<E> },
    Join { group: Group, generation: u64 },
    Commit { group: Group, offsets: Vec<u64> },
}

/// A node that embeds the broker: how its messages and records carry the broker's.
pub trait Host: Node {
    type Event: Clone + Debug + Hash;
    fn wrap(msg: BrokerMsg<Self::Event>) -> Self::Msg;
    fn unwrap(msg: Self::Msg) -> Option<BrokerMsg<Self::Event>>;
    fn record(r: LogRecord<Self::Event>) -> Self::Record;
}

/// The partition of `key` among `partitions`: a hash, so that near keys spread.
pub fn partition_of(key: u64, partitions: u32) -> u32 {
    (sim::rng::splitmix64(key) % u64::from(partitions.max(1))) as u32
}

#[derive(Clone, Debug, Default)]
struct GroupState {
    generation: u64,
    offsets: Vec<u64>,
}

/// The broker: one topic of `partitions` partitions, and its consumer groups.
pub struct Broker<E> {
    partitions: Vec<Vec<Entry<E>>>,
    groups: BTreeMap<Group, GroupState>,
}

impl<E: Clone + Debug + Hash> Broker<E> {
    /// The broker with `partitions` partitions, rebuilt from its synced records.
    pub fn new<'a>(partitions: u32, disk: impl Iterator<Item = &'a LogRecord<E>>) -> Broker<E>
    where
        E: 'a,
    {
        let n = partitions.max(1) as usize;
        let mut b = Broker {
            partitions: vec![Vec::new(); n],
            groups: BTreeMap::new(),
        };
        for r in disk {
            match r {
                LogRecord::Append { partition, entry } => {
                    b.partitions[*partition as usize].push(entry.clone())
                }
                LogRecord::Join { group, generation } => {
                    b.group(*group).generation = *generation;
                }
                LogRecord::Commit { group, offsets } => {
                    b.group(*group).offsets = offsets.clone();
                }
            }
        }
        b
    }

    fn group(&mut self, g: Group) -> &mut GroupState {
        let n = self.partitions.len();
        let s = self.groups.entry(g).or_default();
        s.offsets.resize(n, 0);
        s
    }

    /// Every entry in the log, partition by partition (for judging).
    pub fn log(&self) -> impl Iterator<Item = (u32, &Entry<E>)> {
        self.partitions
            .iter()
            .enumerate()
            .flat_map(|(p, l)| l.iter().map(move |e| (p as u32, e)))
    }

    fn append<N: Host<Event = E>>(&mut self, ctx: &mut Ctx<'_, N>, entry: Entry<E>) {
        let partition = partition_of(entry.key, self.partitions.len() as u32);
        ctx.disk().append(N::record(LogRecord::Append {
            partition,
            entry: entry.clone(),
        }));
        self.partitions[partition as usize].push(entry);
    }

    fn handle<N: Host<Event = E>>(
        &mut self,
        ctx: &mut Ctx<'_, N>,
        from: NodeId,
        msg: BrokerMsg<E>,
    ) {
        let reply = match msg {
            BrokerMsg::Produce { seq, entries } => {
                for e in entries {
                    self.append(ctx, e);
                }
                ctx.disk().sync();
                BrokerMsg::Produced { seq }
            }
            BrokerMsg::Join { group } => {
                let s = self.group(group);
                s.generation += 1;
                let (generation, offsets) = (s.generation, s.offsets.clone());
                if generation > 1 {
                    // The group's member came back (or timed its session out): a rebalance.
                    ctx.metrics().add("rebalances", 1);
                }
                ctx.disk()
                    .append_synced(N::record(LogRecord::Join { group, generation }));
                BrokerMsg::Joined {
                    group,
                    generation,
                    offsets,
                }
            }
            BrokerMsg::Fetch {
                group,
                generation,
                from,
                max,
            } => {
                if self.group(group).generation != generation || from.len() != self.partitions.len()
                {
                    return;
                }
                let mut records = Vec::new();
                for (p, log) in self.partitions.iter().enumerate() {
                    let start = from[p].min(log.len() as u64);
                    for (i, entry) in log[start as usize..].iter().take(max as usize).enumerate() {
                        records.push(Delivered {
                            partition: p as u32,
                            offset: start + i as u64,
                            entry: entry.clone(),
                        });
                    }
                }
                BrokerMsg::Records {
                    group,
                    generation,
                    from,
                    records,
                }
            }
            BrokerMsg::Commit {
                group,
                generation,
                offsets,
            } => {
                let s = self.group(group);
                if s.generation != generation || offsets.len() != s.offsets.len() {
                    return;
                }
                // Forward only: a late commit of an earlier batch never rewinds the group.
                let moved: Vec<u64> = s
                    .offsets
                    .iter()
                    .zip(&offsets)
                    .map(|(&a, &b)| a.max(b))
                    .collect();
                if moved != s.offsets {
                    s.offsets = moved.clone();
                    ctx.disk().append_synced(N::record(LogRecord::Commit {
                        group,
                        offsets: moved,
                    }));
                }
                return;
            }
            BrokerMsg::Replay { tag, ids } => {
                let (mut found, mut missing) = (Vec::new(), Vec::new());
                for id in ids {
                    let first = self.log().find(|(_, e)| e.id == id).map(|(_, e)| e.clone());
                    match first {
                        Some(e) => {
                            self.append(ctx, Entry { replay: true, ..e });
                            found.push(id);
                        }
                        None => missing.push(id),
                    }
                }
                ctx.disk().sync();
                BrokerMsg::Replayed {
                    tag,
                    found,
                    missing,
                }
            }
            BrokerMsg::Produced { .. }
            | BrokerMsg::Joined { .. }
            | BrokerMsg::Records { .. }
            | BrokerMsg::Replayed { .. } => return,
        };
        ctx.send(from, N::wrap(reply));
    }
}

impl<N: Host, S> Part<N, S> for Broker<N::Event> {
    fn on_start(&mut self, _: &mut Ctx<'_, N>, _: &S) {}

    fn on_message(&mut self, ctx: &mut Ctx<'_, N>, _: &S, from: NodeId, msg: N::Msg) {
        if let Some(m) = N::unwrap(msg) {
            self.handle(ctx, from, m);
        }
    }

    fn on_timer(&mut self, _: &mut Ctx<'_, N>, _: &S, _: TimerId, _: N::Timer) {}
}

/// Whether a host's message type lists every kind of the broker's (for the host's tests).
pub fn kinds_listed<M: Message>() -> bool {
    BrokerMsg::<()>::KINDS.iter().all(|k| M::KINDS.contains(k))
}
