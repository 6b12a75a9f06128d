//! Determinism: same binary + scenario + seed ⇒ the same trace hash and a byte-identical
//! trace; other seeds give other executions; and common random numbers: changing the network's
//! loss rate leaves every client's sequence of operations unchanged.

mod common;

use consim::runner::{load, Scenario};
use sim::history::{EventType, OpFn};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn bundled() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no bundled scenarios in {}",
        dir.display()
    );
    files
}

/// A `Write` that keeps what was written, shareable with the test after the run.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn traced_run(s: &dyn Scenario, seed: u64) -> (String, Vec<u8>) {
    let buf = Captured::default();
    let report = s.run(seed, Some(Box::new(buf.clone()))).unwrap();
    let bytes = buf.0.lock().unwrap().clone();
    (report.trace_hash, bytes)
}

#[test]
fn every_bundled_scenario_replays_exactly() {
    for path in bundled() {
        let s = load(&path, &[]).unwrap();
        let seed = s.common().seed;
        let (hash_a, trace_a) = traced_run(s.as_ref(), seed);
        let (hash_b, trace_b) = traced_run(s.as_ref(), seed);
        assert_eq!(
            hash_a,
            hash_b,
            "{}: trace hash differs between two runs",
            path.display()
        );
        assert!(trace_a == trace_b, "{}: trace files differ", path.display());
        assert!(!trace_a.is_empty(), "{}: empty trace", path.display());
        // The trace file is off the hot path: turning it off must not change the run.
        let untraced = s.run(seed, None).unwrap();
        assert_eq!(
            untraced.trace_hash,
            hash_a,
            "{}: tracing changed the run",
            path.display()
        );
        let other = s.run(seed + 1, None).unwrap();
        assert_ne!(
            other.trace_hash,
            hash_a,
            "{}: seeds {seed} and {} gave the same execution",
            path.display(),
            seed + 1
        );
    }
}

/// Per client (process number modulo the client count), the sequence of operations invoked.
fn operations_per_client(s: &dyn Scenario, seed: u64, clients: u64) -> Vec<Vec<(OpFn, String)>> {
    let report = s.run(seed, None).unwrap();
    let mut per = vec![Vec::new(); clients as usize];
    for e in report
        .history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Invoke)
    {
        per[(e.process % clients) as usize].push((e.f, format!("{:?}", e.value)));
    }
    per
}

#[test]
fn raising_loss_keeps_the_workload_draws() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/register-singapore-sync.toml");
    let calm = load(&path, &[]).unwrap();
    let lossy = load(&path, &[("network.loss".into(), "0.2".into())]).unwrap();
    let clients = calm
        .common()
        .nodes
        .iter()
        .filter(|n| n.role == "client")
        .count() as u64;
    let a = operations_per_client(calm.as_ref(), 7, clients);
    let b = operations_per_client(lossy.as_ref(), 7, clients);
    assert_ne!(
        calm.run(7, None).unwrap().trace_hash,
        lossy.run(7, None).unwrap().trace_hash,
        "the loss rate must change the execution"
    );
    for (x, y) in a.iter().zip(&b) {
        // Timing differs, so a client may get through fewer operations; the ones it issues are
        // the same draws in the same order.
        let n = x.len().min(y.len());
        assert!(n > 10, "too few operations to compare: {n}");
        assert_eq!(x[..n], y[..n]);
    }
}

/// A random fault schedule is plain data: printed as TOML and pasted into the scenario in
/// place of the nemesis, it replays the very same execution.
#[test]
fn a_printed_random_schedule_replays_the_same_run() {
    let original =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/register-singapore-sync.toml");
    let text = std::fs::read_to_string(&original).unwrap();
    // The story without its scripted faults: everything before the first [[faults]].
    let base = &text[..text
        .find("[[faults]]")
        .expect("the story has scripted faults")];
    let dir = common::Scratch::new("replay");
    let random = dir.join("random.toml");
    std::fs::write(&random, base).unwrap();
    let nemesis: Vec<(String, String)> = [
        ("nemesis.crash_every", "exponential(3s)"),
        ("nemesis.restart_after", "uniform(10ms, 2s)"),
        ("nemesis.partition_every", "exponential(4s)"),
        ("nemesis.heal_after", "uniform(10ms, 3s)"),
        ("nemesis.clock_jump_every", "exponential(5s)"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let with_nemesis = load(&random, &nemesis).unwrap().run(11, None).unwrap();
    assert!(
        with_nemesis.schedule_toml.matches("[[faults]]").count() > 10,
        "{}",
        with_nemesis.schedule_toml
    );

    let replay = dir.join("replay.toml");
    std::fs::write(&replay, format!("{base}\n{}", with_nemesis.schedule_toml)).unwrap();
    let replayed = load(&replay, &[]).unwrap().run(11, None).unwrap();
    assert_eq!(
        replayed.trace_hash, with_nemesis.trace_hash,
        "the printed schedule did not replay the run"
    );
    assert_eq!(replayed.schedule_toml, with_nemesis.schedule_toml);
}
