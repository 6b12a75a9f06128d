//! Helpers shared by the integration tests.

// Each test file uses the part it needs; the rest would be dead code in that crate.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `consim` binary from the project's root, so scenario paths are relative to it.
pub fn consim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_consim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("consim runs")
}

/// A scratch directory of one test, removed when the test ends (pass or fail), so test runs
/// leave nothing behind in the temporary directory.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh, empty directory named after the test and this process.
    pub fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("consim-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("the temporary directory is writable");
        Scratch(d)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The entry of invariant `name` in a `run --json` report.
pub fn invariant<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["invariants"]
        .as_array()
        .expect("a report lists its invariants")
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no invariant {name} in {report}"))
}
