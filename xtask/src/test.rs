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

/// Runs the whole suite.
pub fn run(_args: &[String]) -> anyhow::Result<()> {
    let faces = workspace_root().join("../shared/faces");
    if std::env::var_os("SIAP_FACES_DIR").is_none() && !faces.is_dir() {
        eprintln!(
            "xtask: ../shared/faces not found and SIAP_FACES_DIR not set: face tests will report themselves skipped"
        );
    }
    run_cmd(Command::new("cargo").args(["test", "--workspace", "--all-targets"]))?;
    Ok(())
}
