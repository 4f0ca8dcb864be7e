//! Hash-checked loading of the face models.
//!
//! A model file is the engine's most security-relevant input: a swapped embedding model would make every
//! face match. So each file's SHA-256 is compiled in here and checked before the bytes reach the ONNX
//! parser; a missing file, a wrong hash or a file tract cannot parse is an [`Error::Model`] naming the file.
//! `cargo xtask models` rebuilds `models/` and prints the same hashes (see `models/README.md`).

use std::path::{Path, PathBuf};

use ring::digest;
use tract_onnx::prelude::*;

use crate::{Error, Result};

/// One model file the engine needs, with the SHA-256 it must have.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// File name inside the models directory.
    pub file: &'static str,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: &'static str,
}

/// MTCNN proposal network (dynamic spatial size).
pub const PNET: ModelSpec = ModelSpec {
    file: "pnet.onnx",
    sha256: "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
};
/// MTCNN refinement network (24x24 crops).
pub const RNET: ModelSpec = ModelSpec {
    file: "rnet.onnx",
    sha256: "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
};
/// MTCNN output network (48x48 crops, 5 landmarks).
pub const ONET: ModelSpec = ModelSpec {
    file: "onet.onnx",
    sha256: "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
};
/// MobileFaceNet embedding network (1x3x112x112 -> 192), converted and repaired by `cargo xtask models`.
pub const MOBILEFACENET: ModelSpec = ModelSpec {
    file: "mobilefacenet.onnx",
    sha256: "991c3a37c0b0e3d8cbffe013457f64d608a72d6f0617d4f24e2d3f2daccf0d1b",
};

/// All models, in the order [`crate::face::FaceEngine::model_hashes`] reports them.
pub const ALL: [ModelSpec; 4] = [PNET, RNET, ONET, MOBILEFACENET];

/// Largest model file accepted (the biggest real one is ~5 MB).
const MAX_MODEL_BYTES: u64 = 64 * 1024 * 1024;

/// The directory models are loaded from by default: `SIAP_MODELS_DIR` if set, else the workspace's
/// `models/` (next to the `core` crate).
pub fn default_models_dir() -> PathBuf {
    match std::env::var_os("SIAP_MODELS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("models"),
    }
}

fn model_error(spec: &ModelSpec, reason: impl Into<String>) -> Error {
    Error::Model {
        name: spec.file.to_string(),
        reason: reason.into(),
    }
}

/// Reads a model file and checks its SHA-256 against the compiled-in value.
pub fn read_verified(dir: &Path, spec: &ModelSpec) -> Result<Vec<u8>> {
    let path = dir.join(spec.file);
    let meta = std::fs::metadata(&path)
        .map_err(|e| model_error(spec, format!("cannot read file: {}", e.kind())))?;
    if meta.len() > MAX_MODEL_BYTES {
        return Err(model_error(spec, "file too large"));
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| model_error(spec, format!("cannot read file: {}", e.kind())))?;
    let got = hex::encode(digest::digest(&digest::SHA256, &bytes));
    if got != spec.sha256 {
        return Err(model_error(
            spec,
            format!("SHA-256 mismatch: expected {}, found {got}", spec.sha256),
        ));
    }
    Ok(bytes)
}

/// Reads, hash-checks and parses a model into tract's inference representation (with the one-pass
/// PReLU of [`super::prelu`]).
pub fn load_onnx(dir: &Path, spec: &ModelSpec) -> Result<InferenceModel> {
    let bytes = read_verified(dir, spec)?;
    super::prelu::onnx()
        .model_for_read(&mut bytes.as_slice())
        .map_err(|e| model_error(spec, format!("not a loadable ONNX model: {e}")))
}

/// Wraps a tract error from model preparation as [`Error::Model`].
pub fn prep_error(spec: &ModelSpec, e: &TractError) -> Error {
    model_error(spec, format!("cannot prepare: {e}"))
}
