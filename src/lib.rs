//! The `consim` command line's library: scenario loading, running, reporting. The binary in
//! `main.rs` is a thin clap layer over it, and integration tests use it directly.

pub mod bench; // `consim bench pingpong`: the kernel throughput benchmark
pub mod chart; // SVG charts of a run (plotters)
pub mod exit; // exit codes: the CLI's contract
pub mod font; // the charts' embedded font (same pixels on every machine)
pub mod hunt; // `consim hunt`: search seeds for a violation, shrink it to a reproducer
pub mod output; // the human summary table
pub mod registry; // model kinds and dispatch by name
pub mod report; // a sweep's summary.csv, charts and index.html (`consim report`)
pub mod runner; // loaded scenarios and run reports (the --json contract)
pub mod scenario; // TOML scenario files with located errors
pub mod spacetime; // the space-time diagram of a run: lanes, messages, faults, the violation
pub mod summary; // results lines read back: means and 95% confidence intervals per point
pub mod sweep; // `consim sweep`: parameter points × seeds, in parallel, sharded
pub mod watch; // wall-clock limit and progress line of a long run, outside the kernel
