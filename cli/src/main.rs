//! `siap`: the command-line front end (minimal here; the integrator merges the other subcommands).

mod face;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "siap", about = "SIAP attendance / inspection / permit core")]
enum Cli {
    /// Face pipeline: detect, enroll, verify, eval.
    #[command(subcommand)]
    Face(face::FaceCommand),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Face(cmd) => face::run(cmd),
    }
}
