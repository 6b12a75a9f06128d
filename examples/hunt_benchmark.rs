//! The hunt's power, measured: for every known bug of every model, the seed a hunt of its
//! bundled story first fails on, the faults of that run and of the shrunk reproducer, and
//! the time taken; then the same for the unnamed bugs. Markdown tables on stdout.
//!
//! ```sh
//! cargo run --release --example hunt_benchmark           # seeds 1..=200, 2 jobs
//! cargo run --release --example hunt_benchmark -- 50 1   # seeds 1..=50, 1 job
//! ```

use consim::hunt::{self, BugStory, Outcome, KNOWN_BUGS, UNNAMED_BUGS};
use std::path::Path;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args
        .next()
        .map_or(200, |s| s.parse().expect("a number of seeds"));
    let jobs: usize = args
        .next()
        .map_or(2, |s| s.parse().expect("a number of jobs"));
    println!("Known bugs, each on its bundled story:\n");
    table(KNOWN_BUGS, seeds, jobs)?;
    println!("\nUnnamed bugs (written to measure the hunt, not against any invariant):\n");
    table(UNNAMED_BUGS, seeds, jobs)
}

/// One markdown table: a row per bug, hunted over seeds `1..=seeds` on `jobs` threads.
fn table(bugs: &[BugStory], seeds: u64, jobs: usize) -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("| story | bug | first failing seed | invariant | faults: run → reproducer | clients | candidate runs | time |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for story in bugs {
        let h = story.hunt(root, 1..=seeds, jobs)?;
        let started = Instant::now();
        let row = match hunt::hunt(&h, &|_| {})?.outcome {
            Outcome::Found(found) => {
                let f = &found[0];
                format!(
                    "{} | {} | {} → {} | {} → {} | {} | {:.1} s",
                    f.seed,
                    f.invariant,
                    f.faults_before,
                    f.faults_after,
                    f.clients_before,
                    f.clients_after,
                    f.candidates,
                    started.elapsed().as_secs_f64()
                )
            }
            Outcome::Clean { runs, .. } => format!(
                "not in {runs} seeds | - | - | - | - | {:.1} s",
                started.elapsed().as_secs_f64()
            ),
        };
        println!("| {} | `{}` | {row} |", story.scenario, story.bug);
    }
    Ok(())
}
