//! The `consim` command line.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod check;

#[derive(Parser, Debug)]
#[command(name = "consim", version, about = "Deterministic simulator for distributed data-consistency techniques")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a JSON Lines history for linearizability.
    Check(check::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check(a) => check::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
