//! `cargo xtask test`: the one command that runs every test, on a fresh machine too.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// Root of the workspace (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Runs a command in the workspace root, failing on a non-zero exit.
pub fn run_cmd(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Makes sure a command-line tool exists, installing its Debian package when it does not.
pub fn ensure_tool(tool: &str, package: &str) -> anyhow::Result<()> {
    if Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(());
    }
    eprintln!("xtask: {tool} not found, installing Debian package {package}");
    run_cmd(Command::new("apt-get").args(["update", "-qq"]))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Starts a throwaway PostgreSQL (`.ci/postgres.sh`) and returns the variables it exports.
/// Failure is not fatal: the PostgreSQL tests then report themselves skipped.
fn start_postgres() -> Vec<(String, String)> {
    let out = Command::new("bash")
        .arg(".ci/postgres.sh")
        .current_dir(workspace_root())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        Ok(o) => {
            eprintln!(
                "xtask: PostgreSQL could not be started; its tests will be skipped:\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            Vec::new()
        }
        Err(e) => {
            eprintln!("xtask: cannot run .ci/postgres.sh ({e}); PostgreSQL tests will be skipped");
            Vec::new()
        }
    }
}

fn stop_postgres(env: &[(String, String)]) {
    if let Some((_, dir)) = env.iter().find(|(k, _)| k == "SIAP_TEST_POSTGRES_DIR") {
        let pg_ctl = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin/pg_ctl"))
                .max()
        });
        if let Some(pg_ctl) = pg_ctl {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(pg_ctl)
                .args(["-D", &format!("{dir}/data"), "-m", "fast", "stop"])
                .status();
        }
    }
}

/// Runs the whole suite.
pub fn run(_args: &[String]) -> anyhow::Result<()> {
    ensure_tool("mvn", "maven")?;
    let pg = start_postgres();
    let result = run_suites(&pg);
    stop_postgres(&pg);
    result
}

fn run_suites(pg: &[(String, String)]) -> anyhow::Result<()> {
    let faces = workspace_root().join("../shared/faces");
    if std::env::var_os("SIAP_FACES_DIR").is_none() && !faces.is_dir() {
        eprintln!(
            "xtask: ../shared/faces not found and SIAP_FACES_DIR not set: face tests will report themselves skipped"
        );
    }
    run_cmd(
        Command::new("cargo")
            .args(["test", "--workspace", "--all-targets"])
            .envs(pg.iter().cloned()),
    )?;
    // The binding boundary: generate Kotlin and Swift from the built library, fail on stale committed
    // Swift, and run the Kotlin tests on the JVM against the real library.
    crate::bindings::run(&["--check".to_owned()])?;
    crate::bindings::kotlin_test()?;
    // The phone library's size budget (issue 5): a release build, stripped, < 12 MB.
    crate::size::run()?;
    Ok(())
}
