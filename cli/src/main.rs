//! `siap`: the command for people — run the demo, verify a ledger file, work with faces, serve.

mod demo;
mod face;
mod ledger;
mod liveness;
mod serve;

use clap::{Parser, Subcommand};

/// SIAP: signed, offline-first attendance, inspection and permit tracking for city governments.
#[derive(Parser)]
#[command(name = "siap", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Walk through a working day on an embedded default, in a fresh temporary data directory.
    Demo(demo::DemoArgs),
    /// Ledger files: export and verify.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Face pipeline: detect, passive, enroll, verify, eval, liveness-eval, liveness-attacks.
    #[command(subcommand)]
    Face(face::FaceCommand),
    /// Run the reference sync server (SQLite in a data directory, or PostgreSQL by URL).
    Serve(serve::ServeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Ledger(cmd) => ledger::run(cmd),
        Command::Face(cmd) => face::run(cmd),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
