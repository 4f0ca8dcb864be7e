//! The ONNX -> NNEF conversion of the face models, shared by `examples/nnef.rs` (which `cargo xtask models`
//! runs to write the twins) and the xtask unit test that checks the committed twins.
//!
//! Not part of the `cargo xtask` binary: it needs `siap-core` with `onnx` (tract's ONNX parser), a
//! dev-dependency of this package, so that the binary stays light (README.md, "Build time").

use std::path::Path;

use anyhow::{Context, Result};

/// Every model the engine loads, optional ones included.
pub fn specs() -> [siap_core::face::ModelSpec; 6] {
    let [pnet, rnet, onet, mfn, mesh] = siap_core::face::MODELS;
    [pnet, rnet, onet, mfn, mesh, siap_core::face::ANTISPOOF]
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed NNEF files are exactly what the committed ONNX files convert to (so their hashes,
    /// compiled into the engine, can be re-derived by anyone), and compute the same function.
    #[test]
    fn committed_nnef_models_are_the_conversions_of_the_onnx_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
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
        let mfn = siap_core::face::MODELS[3];
        let source = std::fs::read(dir.join(mfn.source)).expect("source");
        assert!(siap_core::face::MOBILEFACENET_EQUIVALENT.contains(&sha256(&source).as_str()));
    }
}
