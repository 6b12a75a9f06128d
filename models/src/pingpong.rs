//! Ping-pong: the kernel benchmark's workload, and the smallest model there is.
//!
//! At start each node sends `messages_per_node` messages, each to a uniformly random other
//! node; every delivered message makes its receiver send one new message to a uniformly random
//! other node. The number of messages in flight stays constant, so the run measures the
//! kernel's cost per delivery and nothing else.

use crate::{ModelSpec, NodeInfo, ParamError, Params};
use serde::{Deserialize, Serialize};
use sim::history::History;
use sim::invariant::Verdict;
use sim::metrics::Metrics;
use sim::{Ctx, Message, NodeId, TimerId, World};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PingPongParams {
    pub kind: String,
    pub bug: Bug,
    /// Messages each node sends at start.
    pub messages_per_node: u32,
}

impl Default for PingPongParams {
    fn default() -> Self {
        PingPongParams {
            kind: "pingpong".into(),
            bug: Bug::None,
            messages_per_node: 10,
        }
    }
}

crate::bugs! {
    /// Ping-pong has no protocol to get wrong.
    pub enum Bug {
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ping;

impl Message for Ping {
    const KINDS: &'static [&'static str] = &["Ping"];

    fn kind(&self) -> &'static str {
        "Ping"
    }
}

pub struct PingPong {
    nodes: u32,
    messages_per_node: u32,
}

/// The most messages ping-pong keeps in flight (nodes × messages per node): each is an event
/// in the queue (~32 bytes, twice that while the heap grows), so this bounds it to ~256 MiB.
pub const MAX_IN_FLIGHT: u64 = 1 << 22;

impl PingPong {
    /// Why `nodes` nodes sending `messages_per_node` each cannot run, if they cannot.
    pub fn check(nodes: u32, messages_per_node: u32) -> Result<(), String> {
        let in_flight = u64::from(nodes) * u64::from(messages_per_node);
        if messages_per_node == 0 {
            Err("must be at least 1 (with no message in flight nothing is delivered)".into())
        } else if in_flight > MAX_IN_FLIGHT {
            Err(format!(
                "{nodes} nodes × {messages_per_node} messages is {in_flight} messages in flight, \
                 more than {MAX_IN_FLIGHT} (each is a queued event held in memory)"
            ))
        } else {
            Ok(())
        }
    }

    pub fn new(nodes: u32, messages_per_node: u32) -> PingPong {
        assert!(nodes >= 2, "ping-pong needs someone to talk to");
        PingPong {
            nodes,
            messages_per_node,
        }
    }
}

pub struct Player {
    peers: u32,
    messages: u32,
}

impl Player {
    fn send_to_random_peer(&self, ctx: &mut Ctx<'_, Self>) {
        let me = ctx.id().0;
        // A uniform draw over the others: skip over ourselves.
        let mut to = ctx.rng().below(u64::from(self.peers - 1)) as u32;
        if to >= me {
            to += 1;
        }
        ctx.send(NodeId(to), Ping);
    }
}

impl sim::Node for Player {
    type Msg = Ping;
    type Record = ();
    type Timer = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        for _ in 0..self.messages {
            self.send_to_random_peer(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, _msg: Ping) {
        self.send_to_random_peer(ctx);
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: TimerId, _tag: ()) {}
}

impl sim::Model for PingPong {
    type Node = Player;

    fn build(&mut self, _id: NodeId, _disk: &[()]) -> Player {
        Player {
            peers: self.nodes,
            messages: self.messages_per_node,
        }
    }

    fn finish(
        &mut self,
        _world: &World<'_, Player>,
        _history: &History,
        _metrics: &mut Metrics,
    ) -> Vec<Verdict> {
        Vec::new()
    }
}

impl Params for PingPongParams {
    type Model = PingPong;
    const SPEC: ModelSpec = ModelSpec {
        kind: "pingpong",
        summary: "every delivery triggers one send to a random node: the kernel benchmark",
        invariants: &[],
        metrics: &[],
        bugs: Bug::KNOWN,
        unnamed_bugs: Bug::UNNAMED,
        messages: <Ping as Message>::KINDS,
    };

    fn build(self, nodes: &[NodeInfo]) -> Result<PingPong, ParamError> {
        if nodes.len() < 2 {
            return Err(ParamError::new("nodes", "ping-pong needs at least 2 nodes"));
        }
        PingPong::check(nodes.len() as u32, self.messages_per_node)
            .map_err(|e| ParamError::new("model.messages_per_node", e))?;
        Ok(PingPong::new(nodes.len() as u32, self.messages_per_node))
    }
}
