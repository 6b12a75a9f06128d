//! The checker at the scale of real runs: generated histories of 10k, 100k and 1M operations
//! (10 concurrent clients, 5% `info`), linearizable and with one injected stale read, for the
//! register and (10k, 100k) the key-value model. Reports the check's time (generation and
//! parsing apart: the history is built in memory), the peak heap the check allocated (counted
//! by this bench's global allocator, on top of the history itself), configurations examined
//! and the algorithm that decided.
//!
//! Run: `cargo bench -p check --bench scale` (`-- --quick` stops at 100k).

use check::generate::{history, Config, Kind};
use check::linearizability::{check, Budget, Model};
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
