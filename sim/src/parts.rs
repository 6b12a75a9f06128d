//! Nodes built from parts: a client, a server, a coordinator, a broker, a cache.
//!
//! A model whose nodes play different roles writes each role as a [`Part`] — the node's
//! three handlers, given the run's shared setup — and declares its node type with
//! [`node_of_parts!`], which writes the role enum and the [`Node`] dispatch. The generic
//! [`crate::client::Client`] is a part of any node whose timer type carries its timers.
//!
//! Messages need no envelope: every part sees the node's message type and ignores what it
//! does not handle (a client reads replies through its workload,
//! [`crate::client::Workload::reply`]). Timers are typed: a node's `Timer` enum has one
//! variant per part that sets timers, and each part matches its own.

use crate::node::{Ctx, Node, TimerId};
use crate::NodeId;

/// One role of a node of type `N`, with `S` the setup every node of the run shares (its
/// parameters, who is who): read-only, so parts never coordinate through it.
pub trait Part<N: Node, S: ?Sized> {
    fn on_start(&mut self, ctx: &mut Ctx<'_, N>, setup: &S);
    fn on_message(&mut self, ctx: &mut Ctx<'_, N>, setup: &S, from: NodeId, msg: N::Msg);
    fn on_timer(&mut self, ctx: &mut Ctx<'_, N>, setup: &S, timer: TimerId, tag: N::Timer);
}

/// Declares a node type made of parts: a struct holding the shared setup (`Rc<Setup>`)
/// and the node's role, an enum with one variant per part, and the `Node` implementation
/// that hands every event to the part:
///
/// ```text
/// sim::node_of_parts! {
///     /// A node of the register: the leader, a replica or a client.
///     pub struct RegisterNode(Setup) {
///         msg: Msg, timer: Timer, record: Applied,
///         role: Role { Leader(Leader), Replica(Replica), Client(RegisterClient) }
///     }
/// }
/// ```
#[macro_export]
macro_rules! node_of_parts {
    (
        $(#[$meta:meta])*
        $vis:vis struct $node:ident($setup:ty) {
            msg: $msg:ty, timer: $timer:ty, record: $record:ty,
            role: $role:ident { $($variant:ident($part:ty)),+ $(,)? }
        }
    ) => {
        $(#[$meta])*
        $vis struct $node {
            /// What every node of the run shares.
            pub setup: ::std::rc::Rc<$setup>,
            /// The part this node plays.
            pub role: $role,
        }

        /// The parts a node can be.
        $vis enum $role {
            $($variant($part)),+
        }

        impl $crate::Node for $node {
            type Msg = $msg;
            type Timer = $timer;
            type Record = $record;

            fn on_start(&mut self, ctx: &mut $crate::Ctx<'_, Self>) {
                let s = &*self.setup;
                match &mut self.role {
                    $($role::$variant(p) => $crate::parts::Part::<Self, $setup>::on_start(p, ctx, s)),+
                }
            }

            fn on_message(&mut self, ctx: &mut $crate::Ctx<'_, Self>, from: $crate::NodeId, msg: $msg) {
                let s = &*self.setup;
                match &mut self.role {
                    $($role::$variant(p) => $crate::parts::Part::<Self, $setup>::on_message(p, ctx, s, from, msg)),+
                }
            }

            fn on_timer(&mut self, ctx: &mut $crate::Ctx<'_, Self>, timer: $crate::TimerId, tag: $timer) {
                let s = &*self.setup;
                match &mut self.role {
                    $($role::$variant(p) => $crate::parts::Part::<Self, $setup>::on_timer(p, ctx, s, timer, tag)),+
                }
            }
        }
    };
}
