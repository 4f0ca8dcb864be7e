//! `cargo xtask test`: the one command that runs every test, on a fresh machine too.

use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{TEST_SELECTION, ensure_tool, in_ci, run_cmd, workspace_root};

/// The throwaway PostgreSQL of `.ci/postgres.sh`. Dropping it stops the server and removes its directory
/// (`.ci/pg-ctl.sh destroy`), so it goes away whether the steps pass, fail (`?` returns early) or panic.
struct Postgres {
    /// The variables `.ci/postgres.sh` exported (`SIAP_TEST_POSTGRES_URL`, `_DIR`, `_CTL`).
    env: Vec<(String, String)>,
}

impl Postgres {
    /// Starts the server. When it cannot be started: an error in CI (`CI` set), else `None` and the
    /// PostgreSQL halves of the sync tests report themselves skipped.
    fn start() -> anyhow::Result<Option<Self>> {
        let why = match Command::new("bash")
            .arg(".ci/postgres.sh")
            .current_dir(workspace_root())
            .output()
        {
            Ok(o) if o.status.success() => {
                let env: Vec<(String, String)> = String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                let pg = Postgres { env };
                if pg.var("SIAP_TEST_POSTGRES_URL").is_some() {
                    return Ok(Some(pg));
                }
                format!(
                    ".ci/postgres.sh exported no SIAP_TEST_POSTGRES_URL:\n{}",
                    String::from_utf8_lossy(&o.stdout)
                )
            }
            Ok(o) => format!(
                ".ci/postgres.sh failed ({}):\n{}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("cannot run .ci/postgres.sh: {e}"),
        };
        if in_ci() {
            bail!(
                "PostgreSQL could not be started, and CI is set: the PostgreSQL tests must run in CI, \
                 so this run fails instead of skipping them.\n{why}"
            );
        }
        eprintln!(
            "xtask: PostgreSQL could not be started; its tests will report themselves skipped \
             (in CI, with CI set, this is an error):\n{why}"
        );
        Ok(None)
    }

    fn var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Some(dir) = self.var("SIAP_TEST_POSTGRES_DIR") else {
            return;
        };
        let ctl = self.var("SIAP_TEST_POSTGRES_CTL").map_or_else(
            || workspace_root().join(".ci/pg-ctl.sh"),
            std::path::PathBuf::from,
        );
        eprintln!("xtask: stopping PostgreSQL ({dir})");
        let status = Command::new("bash")
            .arg(&ctl)
            .arg("destroy")
            .env("SIAP_TEST_POSTGRES_DIR", dir)
            .status();
        if !status.as_ref().is_ok_and(std::process::ExitStatus::success) {
            eprintln!("xtask: could not stop PostgreSQL in {dir} ({status:?})");
        }
    }
}

/// Runs the whole suite.
pub fn run(_args: &[String]) -> anyhow::Result<()> {
    ensure_tool("mvn", "maven")?;
    let pg = Postgres::start().context("starting PostgreSQL")?;
    let env = pg.as_ref().map(|p| p.env.clone()).unwrap_or_default();
    // `pg` lives to the end of this function: dropped (server stopped) after the steps, whatever their
    // outcome.
    run_suites(&env)
}

fn run_suites(pg: &[(String, String)]) -> anyhow::Result<()> {
    let faces = workspace_root().join("../shared/faces");
    if std::env::var_os("SIAP_FACES_DIR").is_none() && !faces.is_dir() {
        eprintln!(
            "xtask: ../shared/faces not found and SIAP_FACES_DIR not set: the Rust face tests will fail if CI \
             is set, else report themselves skipped"
        );
    }
    run_cmd(
        Command::new("cargo")
            .arg("test")
            .args(TEST_SELECTION)
            .envs(pg.iter().cloned()),
    )?;
    // The HTTP API against its OpenAPI document, with generated (and malformed) requests.
    crate::fuzz::run(pg)?;
    // The binding boundary: generate Kotlin and Swift from the built library, fail on stale committed
    // Swift, and run the Kotlin tests on the JVM against the real library.
    crate::bindings::run(&["--check".to_owned()])?;
    crate::bindings::kotlin_test()?;
    // The phone library's size budget: a release build, stripped, models excluded, < 12 MB.
    crate::size::run()?;
    Ok(())
}
