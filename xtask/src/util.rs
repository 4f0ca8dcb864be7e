//! Helpers shared by the tasks: the workspace root, running commands, installing tools, and the one
//! debug build every task that needs built artifacts uses.

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

/// The packages and targets of the Rust test step. Every debug build xtask makes selects exactly these,
/// so that Cargo unifies features the same way and reuses the test build's artifacts instead of
/// compiling siap-core, tract, SQLite, hyper, ... again with other features (README.md, "Build time").
pub const TEST_SELECTION: [&str; 2] = ["--workspace", "--all-targets"];

/// `cargo build --workspace --all-targets`: the units of `cargo test --workspace --all-targets` (fresh
/// after the test step) plus the binaries in build mode that the test build does not link
/// (`uniffi-bindgen`, `xtask`). Produces `target/debug/libsiap_ffi.so`, `siap-server`,
/// `uniffi-bindgen`, `siap`.
pub fn build_workspace() -> anyhow::Result<()> {
    run_cmd(Command::new("cargo").arg("build").args(TEST_SELECTION))
}

/// A file in `target/debug/`.
pub fn debug_artifact(name: &str) -> PathBuf {
    workspace_root().join("target").join("debug").join(name)
}

/// True when the environment variable `CI` is set and not empty (CI runs `.ci/run` with `CI=true`).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}
