//! A regional cache in front of the server of its region (look-aside, as memcache in
//! front of a MySQL replica): reads hit it or fill it from that server; the server tells
//! it, once it has applied a write, to drop the key (`Invalidate`). Under
//! `read_your_writes = "cache-invalidation"`, the region's writes go through it too, and it
//! keeps the value it saw acknowledged until the server behind it has applied that write —
//! so a client reads its own write in its region even while the replica lags (the remote
//! markers of Nishtala et al., NSDI 2013, in their simplest form). What breaks it: an
//! invalidation sent before the replica applied the write (`early-invalidation`), after
//! which the next miss refills the cache from the lagging replica; and a lost invalidation,
//! after which the cache serves an old value until the key is written again.
//!
//! No fill, from a read miss or a write's acknowledgement, may cache a version older than
//! one the key was already invalidated for: the message may have been overtaken by the
//! invalidation, and caching it would undo it (the "stale set" that memcache's leases
//! prevent).

use super::log::Version;
use super::{Msg, ReadAt, ReplicationNode, ReqId, Setup, Timer};
use sim::{Ctx, NodeId, Part, TimerId};

pub struct Cache {
    /// The server it fronts.
    backing: NodeId,
    /// Where it sends writes: the primary, as last heard.
    primary: NodeId,
    /// Per key: the value and its version, if cached.
    entries: Vec<Option<(Option<i64>, Version)>>,
    /// Per key: the newest version it was invalidated for.
    invalidated: Vec<Version>,
    /// Requests it relays, at most one per client (a client has one outstanding).
    relays: Vec<Relay>,
}

struct Relay {
    req: ReqId,
    client: NodeId,
    key: u32,
    /// The value written, for a write.
    write: Option<i64>,
}

impl Cache {
    /// An empty cache (a restart loses it).
    pub(super) fn new(s: &Setup, id: NodeId) -> Cache {
        Cache {
            backing: s.local_server[s.region[id.index()]].expect("checked at build"),
            primary: s.servers[usize::from(s.first_primary)],
            entries: vec![None; s.params.keys as usize],
            invalidated: vec![Version::ZERO; s.params.keys as usize],
            relays: Vec::new(),
        }
    }

    fn relay(&mut self, relay: Relay) {
        // A client's new request supersedes whatever of its own is still relayed.
        self.relays.retain(|r| r.req.client != relay.req.client);
        self.relays.push(relay);
    }

    fn take(&mut self, req: ReqId) -> Option<Relay> {
        let i = self.relays.iter().position(|r| r.req == req)?;
        Some(self.relays.swap_remove(i))
    }

    /// Caches `(value, version)` for `key` unless it holds a newer one or the key was
    /// invalidated for a newer one.
    fn fill(&mut self, key: u32, value: Option<i64>, version: Version) {
        if version < self.invalidated[key as usize] {
            return;
        }
        let slot = &mut self.entries[key as usize];
        if slot.is_none_or(|(_, held)| held < version) {
            *slot = Some((value, version));
        }
    }
}

impl Part<ReplicationNode, Setup> for Cache {
    fn on_start(&mut self, _: &mut Ctx<'_, ReplicationNode>, _: &Setup) {}

    fn on_message(
        &mut self,
        ctx: &mut Ctx<'_, ReplicationNode>,
        _: &Setup,
        from: NodeId,
        msg: Msg,
    ) {
        match msg {
            Msg::Read { req, key, .. } => match self.entries[key as usize] {
                Some((value, version)) => ctx.send(
                    from,
                    Msg::ReadOk {
                        req,
                        value,
                        version,
                    },
                ),
                None => {
                    self.relay(Relay {
                        req,
                        client: from,
                        key,
                        write: None,
                    });
                    let at = ReadAt::Any { after: None };
                    ctx.send(self.backing, Msg::Read { req, key, at });
                }
            },
            Msg::Write { req, key, value } => {
                self.relay(Relay {
                    req,
                    client: from,
                    key,
                    write: Some(value),
                });
                ctx.send(self.primary, Msg::Write { req, key, value });
            }
            Msg::ReadOk {
                req,
                value,
                version,
            } => {
                if let Some(r) = self.take(req) {
                    self.fill(r.key, value, version);
                    let reply = Msg::ReadOk {
                        req,
                        value,
                        version,
                    };
                    ctx.send(r.client, reply);
                }
            }
            Msg::WriteOk { req, version } => {
                if let Some(r) = self.take(req) {
                    self.fill(r.key, r.write, version);
                    ctx.send(r.client, Msg::WriteOk { req, version });
                }
            }
            Msg::NotPrimary { req, hint } => {
                if let Some(h) = hint {
                    self.primary = h;
                }
                if let Some(r) = self.take(req) {
                    ctx.send(r.client, Msg::NotPrimary { req, hint });
                }
            }
            Msg::Unavailable { req } => {
                if let Some(r) = self.take(req) {
                    ctx.send(r.client, Msg::Unavailable { req });
                }
            }
            Msg::Invalidate { key, version } => {
                let newest = &mut self.invalidated[key as usize];
                *newest = (*newest).max(version);
                let slot = &mut self.entries[key as usize];
                if slot.is_some_and(|(_, held)| held <= version) {
                    *slot = None;
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, _: &mut Ctx<'_, ReplicationNode>, _: &Setup, _: TimerId, _: Timer) {}
}
