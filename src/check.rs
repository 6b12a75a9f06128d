//! `consim check` (placeholder: being written).
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    pub history: std::path::PathBuf,
}

pub fn run(_args: &CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
