//! Hash-checked loading of the face models.
//!
//! A model file is the engine's most security-relevant input: a swapped embedding model would make every
//! face match. So each file's SHA-256 is compiled in here and checked before the bytes reach the NNEF
//! parser; a missing file, a wrong hash or a file tract cannot parse is an [`Error::Model`] naming the file.
//!
//! The engine loads NNEF (`*.nnef.tar`), not the published ONNX files: NNEF needs only `tract-nnef`, which
//! keeps tract's ONNX parser and inference layer (~3 MB) out of the phone library. `cargo xtask models`
//! converts each ONNX file of `models/` into its NNEF twin (`super::onnx`, deterministic output) and
//! prints the hashes; an `xtask` test checks that the committed NNEF files are exactly what the committed
//! ONNX files convert to (see `models/README.md`).
use std::path::{Path, PathBuf};

use ring::digest;
use tract_nnef::prelude::*;

use crate::{Error, Result};

/// One model file the engine needs, with the SHA-256 it must have.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// File name inside the models directory (NNEF tar).
    pub file: &'static str,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: &'static str,
    /// The published ONNX file it is converted from, in the same directory.
    pub source: &'static str,
    /// Shape of the single input as converted; `None` is a symbolic dimension (`siap_d{i}`), set per
    /// call by the plan cache.
    pub input: &'static [Option<usize>],
}

/// MTCNN proposal network (dynamic spatial size).
pub const PNET: ModelSpec = ModelSpec {
    file: "pnet.nnef.tar",
    sha256: "44c4d45ade54eb52f3cfacfd300a38edff05d1b04d505017b864a18831a07755",
    source: "pnet.onnx",
    input: &[Some(1), None, None, Some(3)],
};
/// MTCNN refinement network (24x24 crops).
pub const RNET: ModelSpec = ModelSpec {
    file: "rnet.nnef.tar",
    sha256: "4e8306c43c702a42da242f09bc9a837a2d3df7b1a4adb29d92facc7efd9be056",
    source: "rnet.onnx",
    input: &[None, Some(24), Some(24), Some(3)],
};
/// MTCNN output network (48x48 crops, 5 landmarks).
pub const ONET: ModelSpec = ModelSpec {
    file: "onet.nnef.tar",
    sha256: "2e7bb097b46b52d09c81fcf9e21e563b3af86eade1cb801fa3204105a13199fc",
    source: "onet.onnx",
    input: &[None, Some(48), Some(48), Some(3)],
};
/// MobileFaceNet embedding network (1x3x112x112 -> 192), converted and repaired by `cargo xtask models`.
pub const MOBILEFACENET: ModelSpec = ModelSpec {
    file: "mobilefacenet.nnef.tar",
    sha256: "51da544e292b5869e65fd3e720a9b511923f04d7088dcd62675446835452c998",
    source: "mobilefacenet.onnx",
    input: &[Some(1), Some(3), Some(112), Some(112)],
};

/// Embedding-model hashes whose enrolment templates stay valid with [`MOBILEFACENET`]: earlier files
/// that compute exactly the same function. Today only its own ONNX source (`mobilefacenet.onnx`, which
/// the engine loaded before it read NNEF): the `xtask` equivalence test runs both through tract and
/// finds identical outputs. A template from any other model is refused ("re-enroll").
pub const MOBILEFACENET_EQUIVALENT: &[&str] =
    &["991c3a37c0b0e3d8cbffe013457f64d608a72d6f0617d4f24e2d3f2daccf0d1b"];

/// All models, in the order [`crate::face::FaceEngine::model_hashes`] reports them.
pub const ALL: [ModelSpec; 5] = [PNET, RNET, ONET, MOBILEFACENET, super::mesh::FACEMESH];

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

/// Reads, hash-checks and parses a model into tract's typed, decluttered representation (with the
/// one-pass PReLU of [`super::prelu`]).
pub fn load(dir: &Path, spec: &ModelSpec) -> Result<TypedModel> {
    let bytes = read_verified(dir, spec)?;
    super::nnef::framework()
        .model_for_read(&mut bytes.as_slice())
        .map_err(|e| model_error(spec, format!("not a loadable NNEF model: {e}")))
}

/// Wraps a tract error from model preparation as [`Error::Model`].
pub fn prep_error(spec: &ModelSpec, e: &TractError) -> Error {
    model_error(spec, format!("cannot prepare: {e}"))
}
