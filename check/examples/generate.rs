//! Writes a seeded random history (`check::generate`) to standard output, so the scale
//! figures can be reproduced through `consim check`:
//!
//! ```sh
//! cargo run --release -p check --example generate -- register 1000000 10 5 > h.jsonl
//! consim check h.jsonl --model register
//! ```
//!
//! Arguments: `register|kv OPERATIONS PROCESSES INFO_PERCENT [SEED] [anomaly]`.

use check::generate::{history, Config, Kind};
use std::io::Write as _;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: generate register|kv OPERATIONS PROCESSES INFO_PERCENT [SEED] [anomaly]";
    let number = |i: usize| -> u64 {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{usage}"))
    };
    let kind = match args.first().map(String::as_str) {
        Some("register") => Kind::Register,
        Some("kv") => Kind::Kv,
        _ => panic!("{usage}"),
    };
    let config = Config {
        kind,
        operations: number(1) as usize,
        processes: number(2) as usize,
        info_percent: number(3) as u32,
        seed: if args.len() > 4 { number(4) } else { 1 },
        anomaly: args.get(5).is_some_and(|a| a == "anomaly"),
        ..Config::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    history(&config)
        .write_jsonl(&mut out)
        .and_then(|()| out.flush())
        .expect("writing standard output");
}
