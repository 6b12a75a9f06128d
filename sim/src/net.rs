//! The simulated network: a region-to-region matrix of links (latency distribution, loss and
//! duplication probabilities), node-level partitions (symmetric or one-way), and an optional
//! FIFO mode in which each ordered pair of nodes delivers in send order, like a TCP stream.
//!
//! Without FIFO, messages reorder whenever a later send draws a shorter latency.

use crate::dist::Dist;
use crate::rng::Rng;
use crate::NodeId;

/// The parameters of the link between two regions (the same in both directions).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkParams {
    pub latency: Dist,
    pub loss: f64,
    pub duplicate: f64,
}

/// What happens to messages already in flight on a link when a partition cuts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InFlight {
    /// They are lost: checked again at arrival, a cut link drops them (packets in switch
    /// buffers die with the link).
    Drop,
    /// They arrive: only messages sent while the link is cut are lost.
    Deliver,
}

/// What happens to a message in flight to a node that crashes before it arrives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToRestarted {
    /// It is lost, even if the node has restarted by then: its connections died with it.
    #[default]
    Drop,
    /// It is delivered if the node is up again when it arrives, as a queue's redelivery or a
    /// datagram retry would: the restarted node's recovery code meets late messages of its
    /// previous life (a `Prepare`, a `Commit`, a retried request).
    Deliver,
}

impl ToRestarted {
    pub fn as_str(self) -> &'static str {
        match self {
            ToRestarted::Drop => "drop",
            ToRestarted::Deliver => "deliver",
        }
    }
}

/// Whether a link keeps the order of messages between one sender and one receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Like a TCP stream: each ordered pair of nodes delivers in send order.
    Fifo,
    /// Like datagrams: a later message that draws a shorter latency overtakes.
    Unordered,
}

/// Why a message did not arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Loss,
    Partition,
    /// The receiver crashed (or crashed and restarted) after the message was sent.
    ReceiverDown,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Partition => "partition",
            DropReason::ReceiverDown => "receiver_down",
        }
    }
}

/// What the network decided for one send: up to two arrivals (the second is a duplicate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Dropped(DropReason),
    Arrives { at: u64, duplicate_at: Option<u64> },
}

/// The most nodes a network holds: partitions and FIFO links keep state per ordered pair of
/// nodes (up to 16.8 M pairs: 32 MiB of cut counts, 128 MiB of FIFO arrival times).
pub const MAX_NODES: usize = 4096;

/// The network's state.
#[derive(Clone, Debug)]
pub struct Network {
    nodes: usize,
    regions: usize,
    node_region: Vec<u32>,
    /// `regions × regions`, symmetric.
    links: Vec<LinkParams>,
    /// Set by loss / duplication faults: overrides every link's own probability.
    loss_override: Option<f64>,
    duplicate_override: Option<f64>,
    /// `nodes × nodes` counts of the partitions cutting `from → to` (`from * nodes + to`), so
    /// that overlapping partitions each heal only their own cut; allocated at the first one.
    blocked: Vec<u16>,
    blocked_pairs: usize,
    heals: u32,
    in_flight: InFlight,
    to_restarted: ToRestarted,
    /// `nodes × nodes` last arrival times when FIFO; empty otherwise.
    last_arrival: Vec<u64>,
}

impl Network {
    /// `links[a * regions + b]` must be given for every pair and be symmetric.
    pub fn new(
        node_region: Vec<u32>,
        regions: usize,
        links: Vec<LinkParams>,
        order: Order,
        in_flight: InFlight,
    ) -> Network {
        assert_eq!(
            links.len(),
            regions * regions,
            "one link per ordered region pair"
        );
        assert!(
            node_region.iter().all(|&r| (r as usize) < regions),
            "every node is in a known region"
        );
        let nodes = node_region.len();
        assert!(nodes <= MAX_NODES, "{nodes} nodes is more than MAX_NODES");
        Network {
            nodes,
            regions,
            node_region,
            links,
            loss_override: None,
            duplicate_override: None,
            blocked: Vec::new(),
            blocked_pairs: 0,
            heals: 0,
            in_flight,
            to_restarted: ToRestarted::Drop,
            last_arrival: if order == Order::Fifo {
                vec![0; nodes * nodes]
            } else {
                Vec::new()
            },
        }
    }

    pub fn link(&self, from: NodeId, to: NodeId) -> &LinkParams {
        let (a, b) = (
            self.node_region[from.index()] as usize,
            self.node_region[to.index()] as usize,
        );
        &self.links[a * self.regions + b]
    }

    /// Decides the fate of a message sent at `now`: partition, loss, latency, duplication.
    /// Draws from `rng` only what the configuration needs.
    pub fn route(&mut self, now: u64, from: NodeId, to: NodeId, rng: &mut Rng) -> Fate {
        if self.is_blocked(from, to) {
            return Fate::Dropped(DropReason::Partition);
        }
        let link = self.link(from, to);
        let loss = self.loss_override.unwrap_or(link.loss);
        let duplicate = self.duplicate_override.unwrap_or(link.duplicate);
        if rng.chance(loss) {
            return Fate::Dropped(DropReason::Loss);
        }
        // A zero-latency draw would let a message arrive at its own send instant; one
        // nanosecond keeps cause strictly before effect. Saturating: draws are capped
        // (`dist::MAX_DRAW_NS`), but a wrapped arrival would land in the past.
        let at = now.saturating_add(link.latency.sample(rng).max(1));
        let duplicate_at = if rng.chance(duplicate) {
            Some(now.saturating_add(link.latency.sample(rng).max(1)))
        } else {
            None
        };
        let at = self.fifo_arrival(from, to, at);
        let duplicate_at = duplicate_at.map(|d| self.fifo_arrival(from, to, d));
        Fate::Arrives { at, duplicate_at }
    }

    /// Whether a message arriving now on `from → to` is lost to a partition that started
    /// while it was in flight.
    pub fn drops_in_flight(&self, from: NodeId, to: NodeId) -> bool {
        self.in_flight == InFlight::Drop && self.is_blocked(from, to)
    }

    fn fifo_arrival(&mut self, from: NodeId, to: NodeId, at: u64) -> u64 {
        if self.last_arrival.is_empty() {
            return at;
        }
        let slot = &mut self.last_arrival[from.index() * self.nodes + to.index()];
        // Equal times keep send order: the event queue breaks ties by insertion.
        *slot = (*slot).max(at);
        *slot
    }

    pub fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.blocked_pairs != 0 && self.blocked[from.index() * self.nodes + to.index()] > 0
    }

    /// Cuts `from → to` (one direction), once more.
    pub fn block(&mut self, from: NodeId, to: NodeId) {
        if from == to {
            return;
        }
        if self.blocked.is_empty() {
            self.blocked = vec![0; self.nodes * self.nodes];
        }
        let cuts = &mut self.blocked[from.index() * self.nodes + to.index()];
        if *cuts == 0 {
            self.blocked_pairs += 1;
        }
        *cuts = cuts.saturating_add(1);
    }

    /// Removes one cut of `from → to`; the link works again when no partition cuts it.
    pub fn unblock(&mut self, from: NodeId, to: NodeId) {
        if from == to || self.blocked.is_empty() {
            return;
        }
        let cuts = &mut self.blocked[from.index() * self.nodes + to.index()];
        if *cuts == 1 {
            self.blocked_pairs -= 1;
        }
        *cuts = cuts.saturating_sub(1);
    }

    /// True while a partition cuts at least one link.
    pub fn has_cuts(&self) -> bool {
        self.blocked_pairs != 0
    }

    /// Restores every link, whatever cut it.
    pub fn heal(&mut self) {
        self.blocked.iter_mut().for_each(|c| *c = 0);
        self.blocked_pairs = 0;
        self.heals += 1;
    }

    /// How many full heals have happened: a partition's own end, scheduled before a full
    /// heal, must not remove a cut that a later partition made.
    pub fn heals(&self) -> u32 {
        self.heals
    }

    /// Forgets loss and duplication faults: every link has its configured rates again.
    /// Sets what happens to messages in flight to a node that crashes (from now on).
    pub fn set_to_restarted(&mut self, policy: ToRestarted) {
        self.to_restarted = policy;
    }

    pub fn to_restarted(&self) -> ToRestarted {
        self.to_restarted
    }

    pub fn reset_overrides(&mut self) {
        self.loss_override = None;
        self.duplicate_override = None;
    }

    pub fn set_loss(&mut self, p: f64) {
        self.loss_override = Some(p);
    }

    pub fn set_duplicate(&mut self, p: f64) {
        self.duplicate_override = Some(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(order: Order) -> Network {
        let link = LinkParams {
            latency: "uniform(1ms, 10ms)".parse().unwrap(),
            loss: 0.0,
            duplicate: 0.0,
        };
        Network::new(vec![0, 0, 0], 1, vec![link], order, InFlight::Drop)
    }

    #[test]
    fn one_way_partition_blocks_one_direction() {
        let mut n = net(Order::Unordered);
        n.block(NodeId(0), NodeId(1));
        let mut rng = Rng::stream(1, "n");
        assert_eq!(
            n.route(0, NodeId(0), NodeId(1), &mut rng),
            Fate::Dropped(DropReason::Partition)
        );
        assert!(matches!(
            n.route(0, NodeId(1), NodeId(0), &mut rng),
            Fate::Arrives { .. }
        ));
        n.heal();
        assert!(matches!(
            n.route(0, NodeId(0), NodeId(1), &mut rng),
            Fate::Arrives { .. }
        ));
    }

    #[test]
    fn fifo_never_reorders_a_pair() {
        let mut n = net(Order::Fifo);
        let mut rng = Rng::stream(2, "n");
        let mut last = 0;
        for t in 0..200 {
            let Fate::Arrives { at, .. } = n.route(t * 100, NodeId(0), NodeId(2), &mut rng) else {
                panic!("no loss configured")
            };
            assert!(at >= last);
            last = at;
        }
    }

    #[test]
    fn an_arrival_never_wraps_around() {
        let link = LinkParams {
            latency: "lognormal(45ms, 1000)".parse().unwrap(),
            loss: 0.0,
            duplicate: 1.0,
        };
        let mut n = Network::new(vec![0, 0], 1, vec![link], Order::Fifo, InFlight::Drop);
        let mut rng = Rng::stream(5, "n");
        for now in [0, u64::MAX / 2, u64::MAX - 1] {
            for _ in 0..100 {
                let Fate::Arrives { at, duplicate_at } =
                    n.route(now, NodeId(0), NodeId(1), &mut rng)
                else {
                    panic!("no loss configured")
                };
                assert!(at > now || at == u64::MAX, "{at} at {now}");
                assert!(duplicate_at.is_some_and(|d| d >= now));
            }
        }
    }
}
