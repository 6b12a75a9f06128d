//! Linearizability checking (placeholder: being written).
