//! consim's kernel. Knows no protocol.
pub mod history;
pub mod linearizability;
