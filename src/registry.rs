//! The model registry: every model kind the CLI knows, and a generic dispatch from a kind's
//! name to its parameter type.

use models::{
    order_pipeline, payments, pingpong, quorum, replication, saga, two_phase_commit, versioning,
    ModelSpec, Params,
};

/// Something to do with a model's parameter type, chosen at run time by kind.
pub trait Visitor {
    type Out;
    fn visit<P: Params>(self) -> Self::Out;
}

/// The one registration line per model: its parameter type, in the order `consim models`
/// lists them. A kind's name is its `ModelSpec::kind`.
macro_rules! registry {
    ($($params:ty),+ $(,)?) => {
        /// Every model kind, in the order `consim models` lists them.
        pub const KINDS: &[&str] = &[$(<$params as Params>::SPEC.kind),+];

        /// Calls `v` with the parameter type of `kind`; `None` for an unknown kind.
        pub fn dispatch<V: Visitor>(kind: &str, v: V) -> Option<V::Out> {
            $(
                if kind == <$params as Params>::SPEC.kind {
                    return Some(v.visit::<$params>());
                }
            )+
            None
        }
    };
}

registry!(
    two_phase_commit::TwoPcParams,
    saga::SagaParams,
    replication::ReplicationParams,
    payments::PaymentParams,
    order_pipeline::PipelineParams,
    quorum::QuorumParams,
    versioning::VersionedParams,
    pingpong::PingPongParams,
);

pub fn kinds() -> Vec<&'static str> {
    KINDS.to_vec()
}

/// A model's description with its parameters' defaults, for `consim models`.
pub struct Described {
    pub spec: ModelSpec,
    pub params: serde_json::Value,
}

struct Describe;

impl Visitor for Describe {
    type Out = Described;
    fn visit<P: Params>(self) -> Described {
        let mut params = serde_json::to_value(P::default()).expect("parameters serialize");
        if let Some(m) = params.as_object_mut() {
            m.remove("kind");
            m.remove("bug");
        }
        Described {
            spec: P::SPEC,
            params,
        }
    }
}

pub fn describe_all() -> Vec<Described> {
    KINDS
        .iter()
        .map(|k| dispatch(k, Describe).expect("every listed kind dispatches"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_dispatches_to_its_own_spec() {
        for d in describe_all().iter().zip(KINDS) {
            assert_eq!(d.0.spec.kind, *d.1);
        }
    }

    /// A copied `ModelSpec::kind` would silently shadow the model registered after it.
    #[test]
    fn kinds_are_unique() {
        let mut kinds = KINDS.to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(
            kinds.len(),
            KINDS.len(),
            "a kind is registered twice: {KINDS:?}"
        );
    }
}
