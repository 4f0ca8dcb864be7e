//! `cargo xtask fuzz`: the HTTP API fuzz run of `tests/fuzz/api_fuzz.sh` (schemathesis, driven by the
//! server's own `/openapi.json`) against `target/debug/siap-server`.
//!
//! In `cargo xtask test` it runs right after the Rust suite, whose build (`cargo test --workspace
//! --all-targets`) links `target/debug/siap-server`: siap-server's bench makes Cargo build its binary.
//! Standalone, the binary is built with the same selection ([`crate::util::build_workspace`]) when
//! missing.

use std::process::Command;

use crate::util::{build_workspace, debug_artifact, run_cmd};

/// Runs the fuzz script; fails on any 5xx or any answer that does not conform to the document. With a
/// PostgreSQL URL in `pg` (`SIAP_TEST_POSTGRES_URL`), runs a second, shorter round on PostgreSQL: some
/// inputs only fail there (a NUL in a path id was a 503 on PostgreSQL and a 404 on SQLite).
pub fn run(pg: &[(String, String)]) -> anyhow::Result<()> {
    let server = debug_artifact("siap-server");
    if !server.is_file() {
        eprintln!("xtask: {} missing, building it", server.display());
        build_workspace()?;
    }
    run_cmd(
        Command::new("bash")
            .arg("tests/fuzz/api_fuzz.sh")
            .env("SIAP_SERVER_BIN", &server),
    )?;
    if let Some((_, url)) = pg.iter().find(|(k, _)| k == "SIAP_TEST_POSTGRES_URL") {
        run_cmd(
            Command::new("bash")
                .arg("tests/fuzz/api_fuzz.sh")
                .env("SIAP_SERVER_BIN", &server)
                .env("SIAP_FUZZ_DATABASE_URL", url)
                .env("SIAP_FUZZ_SECONDS", "30"),
        )?;
    }
    Ok(())
}
