//! consim's models: one module per consistency technique. Each module defines its node roles,
//! messages, parameters (deserialized from the scenario's `[model]` table), its invariants
//! and its known-bug variants. Models do no I/O and know nothing of the CLI or charts.

pub mod bank; // accounts and the transfer workload shared by 2PC and saga
pub mod broker; // a Kafka-like broker: partitioned durable logs, consumer groups, replay
pub mod order_pipeline; // orders, broker, inventory, notification, billing; outbox and reconciliation
pub mod payments; // idempotency keys and a ledger in front of a card processor
pub mod pingpong; // the kernel benchmark's workload
pub mod quorum; // leaderless partial quorums (Dynamo, Cassandra) and read freshness (PBS)
pub mod replication; // primary–replica store: sync/semisync/async, failover, caches
pub mod saga; // the same transfer as debit, credit and compensating refund
pub mod two_phase_commit; // 2PC with presumed abort: the cross-database transfer
pub mod versioning; // multi-leader user profiles: LWW by wall clock or HLC, vector clocks

pub mod serde_duration; // durations as "250ms" strings in parameters

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a model is, for `consim models` and for validating `[expect]`.
#[derive(Clone, Copy, Debug)]
pub struct ModelSpec {
    pub kind: &'static str,
    pub summary: &'static str,
    /// Every invariant the model judges, by name.
    pub invariants: &'static [&'static str],
    /// Every metric it reports, by name (unit last).
    pub metrics: &'static [&'static str],
    /// Its known-bug variants, `"none"` excluded.
    pub bugs: &'static [&'static str],
    /// Plausible bugs written to measure the hunt, not stories: `Bug::UNNAMED`.
    pub unnamed_bugs: &'static [&'static str],
    /// The kinds of its messages (`Message::kind`), which fault triggers may name.
    pub messages: &'static [&'static str],
}

/// Declares a model's known-bug enum once: `none` (the default, the correct model) and every
/// bug with its scenario name; `KNOWN` lists the names for the model's [`ModelSpec`].
///
/// ```text
/// crate::bugs! {   // inside the models crate; models::bugs! from outside
///     pub enum Bug {
///         /// The leader acknowledges a write before syncing it.
///         AckBeforeSync = "ack-before-sync",
///     }
/// }
/// ```
#[macro_export]
macro_rules! bugs {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }
        $(
            $(#[$umeta:meta])*
            unnamed { $($(#[$uvmeta:meta])* $uvariant:ident = $utext:literal),* $(,)? }
        )?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
        $vis enum $name {
            /// The correct model.
            #[default]
            #[serde(rename = "none")]
            None,
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
            $($($(#[$uvmeta])* #[serde(rename = $utext)] $uvariant,)*)?
        }

        impl $name {
            /// The known bugs' names, `none` excluded: the model's `ModelSpec::bugs`.
            pub const KNOWN: &'static [&'static str] = &[$($text),*];
            /// Plausible bugs no invariant or story was written against, selected with `bug`
            /// like the known ones: they measure what the invariants and the hunt catch
            /// unaided (`ModelSpec::unnamed_bugs`).
            pub const UNNAMED: &'static [&'static str] = &[$($($utext),*)?];
        }
    };
}

/// A number unique to the `n`-th value of a client life (the client and its life from
/// request `id`): `(client + 1)·2^48 + life·2^28 + n`, so a history shows whose it is.
/// Within the kernel's bounds (at most 4,096 nodes, the nemesis's 100,000 faults, the
/// history's 2,000,000 events) the fields never overflow; the asserts say so.
pub fn unique_value(id: sim::client::RequestId, n: u64) -> i64 {
    let (client, life) = (u64::from(id.client) + 1, u64::from(id.incarnation / 2));
    assert!(client < 1 << 15, "at most {} nodes", sim::net::MAX_NODES);
    assert!(life < 1 << 20, "a client restarted over a million times");
    assert!(n < 1 << 28, "over 268 million values in one client life");
    (client << 48 | life << 28 | n) as i64
}

/// A node of the scenario as the model sees it: its name, region and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub region: String,
    pub role: String,
}

/// A model's `[model]` table: `kind`, `bug` and its own parameters, all with defaults except
/// `kind`. Deserialization rejects unknown fields, so a typo is an error, never ignored.
pub trait Params: DeserializeOwned + Serialize + Default + Clone + Send + Sync + 'static {
    type Model: sim::Model;
    const SPEC: ModelSpec;

    /// Builds the model for these nodes; an error names the offending field or role.
    fn build(self, nodes: &[NodeInfo]) -> Result<Self::Model, ParamError>;
}

/// A model parameter that does not fit the scenario, with the field it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// Dotted path of the field, e.g. `model.replicas` or `nodes`.
    pub field: String,
    pub message: String,
}

impl ParamError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> ParamError {
        ParamError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Finds the nodes with `role`, by id.
pub fn nodes_with_role(nodes: &[NodeInfo], role: &str) -> Vec<sim::NodeId> {
    nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.role == role)
        .map(|(i, _)| sim::NodeId(i as u32))
        .collect()
}

/// Checks that every node's role is one of `roles`.
pub fn check_roles(nodes: &[NodeInfo], roles: &[&str]) -> Result<(), ParamError> {
    for n in nodes {
        if !roles.contains(&n.role.as_str()) {
            return Err(ParamError::new(
                "nodes",
                format!(
                    "node `{}` has role `{}`; this model's roles are {}",
                    n.name,
                    n.role,
                    roles.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
