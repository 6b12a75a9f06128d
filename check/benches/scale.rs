//! The checker at the scale of real runs: generated histories of 10k, 100k and 1M operations
//! (10 concurrent clients, 5% `info`), linearizable and with one injected stale read, for the
//! register and (10k, 100k) the key-value model. Reports the check's time (generation and
//! parsing apart: the history is built in memory), the peak heap the check allocated (counted
//! by this bench's global allocator, on top of the history itself), configurations examined
//! and the algorithm that decided.
//!
//! Run: `cargo bench -p check --bench scale` (`-- --quick` stops at 100k).
//!
//! `-- --sweep` instead checks a grid of seeded random histories — register (with and without
//! cas) and key-value (with and without appends); 5, 20 and 50 clients; 1k, 10k and 100k
//! operations; 5% `info` (crashed or timed-out clients); linearizable and with a stale read —
//! each with a 60 s and 2 GB budget, and reports the share decided and the time per size.

use check::generate::{history, Config, Kind};
use check::linearizability::{check, Budget, Model, Verdict};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let live = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    if std::env::args().any(|a| a == "--sweep") {
        return sweep();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    println!(
        "| model | operations | anomaly | verdict | check time | peak heap of the check | configurations | algorithm |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (kind, sizes) in [
        (Kind::Register, &[10_000usize, 100_000, 1_000_000][..]),
        (Kind::Kv, &[10_000usize, 100_000][..]),
    ] {
        for &n in sizes {
            if quick && n > 100_000 {
                continue;
            }
            for anomaly in [false, true] {
                let h = history(&Config {
                    kind,
                    operations: n,
                    processes: 10,
                    info_percent: 5,
                    anomaly,
                    seed: 7,
                    ..Config::default()
                });
                let model = match kind {
                    Kind::Register => Model::Register,
                    Kind::Kv => Model::Kv,
                };
                let base = LIVE.load(Ordering::Relaxed);
                PEAK.store(base, Ordering::Relaxed);
                let t = Instant::now();
                let r = check(&h, model, &Budget::default()).expect("valid history");
                let elapsed = t.elapsed();
                let peak = PEAK.load(Ordering::Relaxed) - base;
                println!(
                    "| {} | {n} | {} | {} | {:.3} s | {:.1} MB | {} | {} |",
                    model.as_str(),
                    if anomaly { "stale read" } else { "none" },
                    r.verdict.as_str(),
                    elapsed.as_secs_f64(),
                    peak as f64 / 1e6,
                    r.stats.configurations,
                    r.stats.algorithm,
                );
            }
        }
    }
}

/// The value after `--name` on the command line.
fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The grid of `--sweep`: every history is checked once, one after another (so the peak heap
/// is the check's own), and every verdict that is not `unknown` must match what was injected.
/// `--timeout S` shortens the 60 s budget (a quicker look), `--only CLASS` keeps one class
/// (`register-plain`, `register-cas`, `kv-plain`, `kv-appends`), and `--each` prints a line per
/// history.
fn sweep() {
    let timeout_s: u64 = arg("--timeout").and_then(|t| t.parse().ok()).unwrap_or(60);
    let only = arg("--only");
    let each = std::env::args().any(|a| a == "--each");
    let budget = Budget {
        timeout: Some(std::time::Duration::from_secs(timeout_s)),
        max_memo_bytes: 2 << 30,
    };
    println!("| model | variant | operations | histories | decided | check time mean / max | peak heap max | reported peak max |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let (mut all, mut all_decided, mut over_cap, mut under_reported) = (0, 0, 0, 0);
    for (kind, variant) in [
        (Kind::Register, false),
        (Kind::Register, true),
        (Kind::Kv, false),
        (Kind::Kv, true),
    ] {
        let class = match (kind, variant) {
            (Kind::Register, false) => "register-plain",
            (Kind::Register, true) => "register-cas",
            (Kind::Kv, false) => "kv-plain",
            (Kind::Kv, true) => "kv-appends",
        };
        if only.as_deref().is_some_and(|o| o != class) {
            continue;
        }
        for n in [1_000usize, 10_000, 100_000] {
            let (mut decided, mut count, mut total_s, mut max_s, mut max_heap, mut max_reported) =
                (0, 0, 0.0, 0f64, 0, 0);
            for processes in [5, 20, 50] {
                for anomaly in [false, true] {
                    let h = history(&Config {
                        kind,
                        operations: n,
                        processes,
                        info_percent: 5,
                        cas: kind == Kind::Register && variant,
                        appends: kind == Kind::Kv && variant,
                        anomaly,
                        seed: processes as u64 * 31 + n as u64,
                        ..Config::default()
                    });
                    let model = match kind {
                        Kind::Register => Model::Register,
                        Kind::Kv => Model::Kv,
                    };
                    let base = LIVE.load(Ordering::Relaxed);
                    PEAK.store(base, Ordering::Relaxed);
                    let t = Instant::now();
                    let r = check(&h, model, &budget).expect("valid history");
                    let s = t.elapsed().as_secs_f64();
                    let heap = PEAK.load(Ordering::Relaxed) - base;
                    max_heap = max_heap.max(heap);
                    max_reported = max_reported.max(r.stats.peak_memo_bytes);
                    over_cap += (heap > budget.max_memo_bytes) as usize;
                    // The history's operations are paired inside the check, on top of what
                    // the reported peak counts; allow them.
                    under_reported += (heap > r.stats.peak_memo_bytes + (64 << 20)) as usize;
                    if each {
                        eprintln!(
                            "{class} n={n} p={processes} anomaly={anomaly}: {} in {s:.2} s, heap {:.0} MB, reported {:.0} MB, {} configurations, {} {}",
                            r.verdict.as_str(),
                            heap as f64 / 1e6,
                            r.stats.peak_memo_bytes as f64 / 1e6,
                            r.stats.configurations,
                            r.stats.algorithm,
                            r.unknown_reason.as_deref().unwrap_or(""),
                        );
                    }
                    count += 1;
                    total_s += s;
                    max_s = max_s.max(s);
                    if r.verdict != Verdict::Unknown {
                        decided += 1;
                        // A stale read is injected only where the generator can (not with appends).
                        if !anomaly {
                            assert_eq!(
                                r.verdict,
                                Verdict::Linearizable,
                                "{kind:?} {n} {processes}"
                            );
                        }
                    }
                }
            }
            all += count;
            all_decided += decided;
            println!(
                "| {} | {} | {n} | {count} | {decided} | {:.2} s / {:.2} s | {:.0} MB | {:.0} MB |",
                match kind {
                    Kind::Register => "register",
                    Kind::Kv => "kv",
                },
                match (kind, variant) {
                    (Kind::Register, true) => "cas",
                    (Kind::Kv, true) => "appends",
                    _ => "plain",
                },
                total_s / count as f64,
                max_s,
                max_heap as f64 / 1e6,
                max_reported as f64 / 1e6,
            );
        }
    }
    println!(
        "decided {all_decided} of {all} ({:.0}%); heap over the cap: {over_cap}; heap over the reported peak by more than 64 MB: {under_reported}",
        100.0 * all_decided as f64 / all as f64
    );
}
