//! Embedding: MobileFaceNet turns an aligned 112x112 face into a 192-d vector, L2-normalised so that the
//! dot product of two embeddings is their cosine similarity.
//!
//! Input contract of the converted model (see `models/README.md`): `[1, 3, 112, 112]` NCHW, RGB,
//! (v - 127.5) / 128. The plan is concrete (batch 1) and optimised once when the engine opens.

use tract_nnef::prelude::*;

use super::align::ALIGNED;
use super::models::{MOBILEFACENET, prep_error};
use crate::{Error, Result};

/// Embedding dimension.
pub const DIM: usize = 192;

/// The optimised MobileFaceNet plan.
pub struct Embedder {
    plan: std::sync::Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").finish_non_exhaustive()
    }
}

impl Embedder {
    /// Optimises the loaded model for a single 112x112 face.
    pub fn new(model: TypedModel) -> Result<Embedder> {
        let err = |e: TractError| prep_error(&MOBILEFACENET, &e);
        let plan = model
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(Embedder { plan })
    }

    /// Embeds one aligned RGB8 face (112x112x3, row-major interleaved).
    pub fn embed(&self, face: &[u8]) -> Result<Vec<f32>> {
        if face.len() != ALIGNED * ALIGNED * 3 {
            return Err(Error::invalid("face", "aligned face must be 112x112 RGB"));
        }
        let plane = ALIGNED * ALIGNED;
        let mut buf = vec![0f32; 3 * plane];
        for (i, px) in face.chunks_exact(3).enumerate() {
            for c in 0..3 {
                buf[c * plane + i] = (f32::from(px[c]) - 127.5) / 128.0;
            }
        }
        let input = Tensor::from_shape(&[1, 3, ALIGNED, ALIGNED], &buf)
            .map_err(|e| Error::Inference(format!("{e}")))?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::Inference(format!("embedding: {e}")))?;
        let v = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::Inference(format!("embedding output: {e}")))?;
        let mut e: Vec<f32> = v.iter().copied().collect();
        if e.len() != DIM {
            return Err(Error::Inference(format!(
                "embedding has {} values, expected {DIM}",
                e.len()
            )));
        }
        normalize(&mut e)
            .ok_or_else(|| Error::Inference("embedding is zero or not finite".into()))?;
        Ok(e)
    }
}

/// L2-normalises in place; `None` if the vector is zero or not finite.
pub fn normalize(v: &mut [f32]) -> Option<()> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(n > 1e-12) || !n.is_finite() {
        return None;
    }
    for x in v.iter_mut() {
        *x /= n;
    }
    Some(())
}

/// Cosine similarity of two L2-normalised vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
