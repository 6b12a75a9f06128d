//! A replica: accepts reads and writes from devices, stamps or dots each write by the run's
//! policy, pushes it to the other replicas, and runs anti-entropy.

use super::checks::{Event, Stored};
use super::clocks::{truncate, Hlc, Stamp, UpdateId};
use super::device::device_of;
use super::merge::{Causal, ClockMerge, Compare, Edit, Field, Resolution, State};
use super::{Bug, MergeMode, Msg, Policy, Setup, Timer, VersionedNode};
use sim::client::RequestId;
use sim::{Ctx, NodeId, Part, TimerId};
use std::rc::Rc;
use std::time::Duration;

pub struct Replica {
    ordinal: u32,
    /// The stored profile: under vector clocks every sibling, resolved or not.
    stored: State,
    /// What devices read and the checks judge: the profile as the application merge shows
    /// it (`merge = "app"`), else the stored profile itself.
    view: State,
    /// The resolutions the view currently makes (each is logged once, when it appears).
    shown: Vec<Resolution>,
    /// This replica's write counter (the last part of an LWW stamp).
    seq: u64,
    hlc: Hlc,
    /// Per device, the latest update applied here: a duplicated or late write is applied
    /// once.
    latest: Vec<UpdateId>,
    /// Digest of the whole state (anti-entropy) and of the profile's values (convergence).
    digest: u64,
    pub value_digest: u64,
}

impl Replica {
    /// Replica `ordinal`, from its synced log: the last record's state and clocks, and the
    /// latest write of every device.
    pub fn recover(s: &Setup, ordinal: u32, disk: &[Stored]) -> Replica {
        let mut latest = vec![0; s.devices.len()];
        for r in disk {
            for e in r.events.iter() {
                if let Event::Wrote { id, .. } = e {
                    let d = device_of(*id);
                    latest[d] = latest[d].max(*id);
                }
            }
        }
        let (state, seq, hlc) = disk.last().map_or((s.initial(), 0, Hlc::ZERO), |r| {
            (r.state.clone(), r.seq, r.hlc)
        });
        let mut rep = Replica {
            ordinal,
            view: state.clone(),
            shown: Vec::new(),
            stored: state,
            seq,
            hlc,
            latest,
            digest: 0,
            value_digest: 0,
        };
        rep.refresh_view(s, None, &mut Vec::new());
        rep.rehash();
        rep
    }

    /// The profile as devices read it.
    pub fn state(&self) -> &State {
        &self.view
    }

    fn rehash(&mut self) {
        self.digest = self.stored.digest(true);
        self.value_digest = self.view.digest(false);
    }

    /// Recomputes the view after the stored profile changed from `before`: logs every scalar
    /// field whose siblings changed, and every resolution the view newly makes.
    fn refresh_view(&mut self, s: &Setup, before: Option<&Causal>, events: &mut Vec<Event>) {
        let State::Causal(c) = &self.stored else {
            self.view = self.stored.clone();
            return;
        };
        for f in [Field::Name, Field::Email] {
            if c.field(f).len() > 1 && before.is_none_or(|b| b.field(f) != c.field(f)) {
                events.push(Event::Siblings {
                    field: f,
                    values: c.field(f).iter().map(|e| e.value).collect(),
                });
            }
        }
        if s.params.merge != MergeMode::App {
            self.view = self.stored.clone();
            return;
        }
        let (view, resolutions) = c.resolved();
        if before.is_some() {
            events.extend(
                resolutions
                    .iter()
                    .filter(|r| !self.shown.contains(r))
                    .cloned()
                    .map(Event::Resolved),
            );
        }
        self.shown = resolutions;
        self.view = State::Causal(Rc::new(view));
    }

    fn compare(s: &Setup) -> Compare {
        if s.params.bug == Bug::NoTiebreak {
            Compare::TimestampOnly
        } else {
            Compare::Total
        }
    }

    /// The physical clock as stamps see it.
    fn physical(ctx: &Ctx<'_, VersionedNode>, s: &Setup) -> i64 {
        let res = s.params.timestamp_resolution.as_nanos() as i64;
        truncate(ctx.local_clock(), res)
    }

    /// Syncs the new state with what happened, then the caller may acknowledge or send.
    fn store(&mut self, ctx: &mut Ctx<'_, VersionedNode>, events: Vec<Event>) {
        self.rehash();
        ctx.disk().append_synced(Stored {
            state: self.stored.clone(),
            seq: self.seq,
            hlc: self.hlc,
            events: Rc::new(events),
        });
    }

    fn write(
        &mut self,
        ctx: &mut Ctx<'_, VersionedNode>,
        s: &Setup,
        from: NodeId,
        req: RequestId,
        edit: Edit,
        base: State,
    ) {
        let device = device_of(edit.id);
        if device >= self.latest.len() || edit.id < self.latest[device] {
            return; // a late copy of an older write: its device has moved on
        }
        if edit.id == self.latest[device] {
            ctx.send(from, Msg::WriteOk { req }); // a duplicate: applied already
            return;
        }
        self.latest[device] = edit.id;
        let deps = base.ids();
        let mut events = Vec::new();
        let stamp;
        match (&mut self.stored, &base) {
            (State::Lww(current), State::Lww(read)) => {
                let pt = Self::physical(ctx, s);
                self.seq += 1;
                let node = ctx.id().0;
                stamp = match s.params.policy {
                    Policy::LwwHlc => {
                        self.hlc.receive(
                            Hlc {
                                l: read.stamp.ts,
                                c: read.stamp.c,
                            },
                            pt,
                        );
                        let h = self.hlc.tick(pt);
                        Stamp {
                            ts: h.l,
                            c: h.c,
                            node,
                            seq: self.seq,
                        }
                    }
                    _ => Stamp {
                        ts: pt,
                        c: 0,
                        node,
                        seq: self.seq,
                    },
                };
                let new = read.with_edit(edit, stamp);
                // The write goes through the same merge as any received record: under a
                // clock that runs behind, it may lose at once, acknowledged all the same.
                if current.loses_to(&new, Self::compare(s)) {
                    *current = Rc::new(new);
                }
            }
            (State::Causal(current), State::Causal(read)) => {
                stamp = Stamp::ZERO;
                let before = Rc::clone(current);
                Rc::make_mut(current).write(self.ordinal, edit, &read.ctx);
                self.refresh_view(s, Some(&before), &mut events);
            }
            _ => unreachable!("a device reads and writes under the run's one policy"),
        }
        if let State::Lww(_) = self.stored {
            self.view = self.stored.clone();
        }
        events.insert(
            0,
            Event::Wrote {
                id: edit.id,
                field: edit.field,
                replica: self.ordinal,
                stamp,
                deps,
            },
        );
        self.store(ctx, events);
        if ctx.is_halted() {
            return;
        }
        ctx.send(from, Msg::WriteOk { req });
        for &r in &s.replicas {
            if r != ctx.id() {
                ctx.send(
                    r,
                    Msg::Push {
                        state: self.stored.clone(),
                    },
                );
            }
        }
    }

    /// Merges a received state in; true if ours changed.
    fn receive(&mut self, ctx: &mut Ctx<'_, VersionedNode>, s: &Setup, incoming: &State) -> bool {
        let mut events = Vec::new();
        let changed = match (&mut self.stored, incoming) {
            (State::Lww(current), State::Lww(theirs)) => {
                if s.params.policy == Policy::LwwHlc {
                    let pt = Self::physical(ctx, s);
                    self.hlc.receive(
                        Hlc {
                            l: theirs.stamp.ts,
                            c: theirs.stamp.c,
                        },
                        pt,
                    );
                }
                if current.loses_to(theirs, Self::compare(s)) {
                    *current = Rc::clone(theirs);
                    true
                } else {
                    false
                }
            }
            (State::Causal(current), State::Causal(theirs)) => {
                let clock = if s.params.bug == Bug::NoClockMerge {
                    ClockMerge::Keep
                } else {
                    ClockMerge::Join
                };
                let mut merged = (**current).clone();
                merged.join(theirs, clock);
                if merged == **current {
                    false
                } else {
                    let before = std::mem::replace(current, Rc::new(merged));
                    self.refresh_view(s, Some(&before), &mut events);
                    true
                }
            }
            _ => false,
        };
        if changed {
            if let State::Lww(_) = self.stored {
                self.view = self.stored.clone();
            }
            self.store(ctx, events);
        }
        changed
    }

    fn arm_anti_entropy(&mut self, ctx: &mut Ctx<'_, VersionedNode>, s: &Setup) {
        // Jittered between half and one and a half periods, so replicas do not move in step.
        let every = s.params.anti_entropy_every.as_nanos() as f64;
        let after = (every * (0.5 + ctx.rng().unit())).max(1.0);
        ctx.set_timer(Duration::from_nanos(after as u64), Timer::AntiEntropy);
    }
}

impl Part<VersionedNode, Setup> for Replica {
    fn on_start(&mut self, ctx: &mut Ctx<'_, VersionedNode>, s: &Setup) {
        if s.replicas.len() > 1 {
            self.arm_anti_entropy(ctx, s);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, VersionedNode>, s: &Setup, from: NodeId, msg: Msg) {
        match msg {
            Msg::Read { req } => ctx.send(
                from,
                Msg::ReadOk {
                    req,
                    state: self.view.clone(),
                },
            ),
            Msg::Write { req, edit, base } => self.write(ctx, s, from, req, edit, base),
            Msg::Push { state } => {
                self.receive(ctx, s, &state);
            }
            Msg::Digest { digest } => {
                if digest != self.digest {
                    ctx.send(
                        from,
                        Msg::Sync {
                            state: self.stored.clone(),
                            reply: true,
                        },
                    );
                }
            }
            Msg::Sync { state, reply } => {
                self.receive(ctx, s, &state);
                // One round back at most: the asker learns what we have that it lacked.
                if reply && self.stored != state && !ctx.is_halted() {
                    ctx.send(
                        from,
                        Msg::Sync {
                            state: self.stored.clone(),
                            reply: false,
                        },
                    );
                }
            }
            Msg::ReadOk { .. } | Msg::WriteOk { .. } => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, VersionedNode>, s: &Setup, _: TimerId, tag: Timer) {
        if tag != Timer::AntiEntropy {
            return;
        }
        let others = s.replicas.len() as u64 - 1;
        let mut pick = ctx.rng().below(others) as usize;
        if pick >= self.ordinal as usize {
            pick += 1;
        }
        ctx.send(
            s.replicas[pick],
            Msg::Digest {
                digest: self.digest,
            },
        );
        self.arm_anti_entropy(ctx, s);
    }
}
