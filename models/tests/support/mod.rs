//! Code shared by the models' tests and benchmarks.
pub mod sweep;
