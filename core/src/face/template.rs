//! Enrollment templates: what is kept of a person's face, bound to the embedding model that made it.
//!
//! A template holds the L2-normalised mean of the enrollment embeddings (used for matching) and the
//! individual embeddings (to re-derive the mean, or audit an enrollment), plus the SHA-256 of the embedding
//! model: embeddings of different models are not comparable, so a template from another model is refused.
//! Templates are biometric data; [`Template::to_bytes`] gives a compact encoding for the caller to seal
//! (AEAD) before storage. It is never logged: `Debug` prints no values.

use serde::{Deserialize, Serialize};

use super::embed::{DIM, cosine, normalize};
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"SFT1";
/// Most embeddings a template keeps.
pub const MAX_EMBEDDINGS: usize = 8;

/// An enrolled face.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// SHA-256 (hex) of the embedding model that made the embeddings.
    pub model_sha256: String,
    /// L2-normalised mean of `embeddings`.
    pub mean: Vec<f32>,
    /// The individual L2-normalised enrollment embeddings.
    pub embeddings: Vec<Vec<f32>>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("model_sha256", &self.model_sha256)
            .field("embeddings", &self.embeddings.len())
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Builds a template from normalised embeddings.
    pub fn from_embeddings(model_sha256: &str, embeddings: Vec<Vec<f32>>) -> Result<Template> {
        if embeddings.is_empty() || embeddings.len() > MAX_EMBEDDINGS {
            return Err(Error::invalid(
                "embeddings",
                format!("need 1 to {MAX_EMBEDDINGS}"),
            ));
        }
        if embeddings
            .iter()
            .any(|e| e.len() != DIM || e.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid(
                "embeddings",
                format!("each must be {DIM} finite values"),
            ));
        }
        let mut mean = vec![0f32; DIM];
        for e in &embeddings {
            mean.iter_mut().zip(e).for_each(|(m, v)| *m += v);
        }
        normalize(&mut mean).ok_or_else(|| Error::invalid("embeddings", "mean is zero"))?;
        Ok(Template {
            model_sha256: model_sha256.to_string(),
            mean,
            embeddings,
        })
    }

    /// Cosine similarity of a normalised embedding with this template's mean.
    pub fn similarity(&self, embedding: &[f32]) -> f32 {
        cosine(&self.mean, embedding)
    }

    /// Hex SHA-256 of [`Template::to_bytes`]: how records and the city's decisions name a template.
    pub fn sha256(&self) -> String {
        hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            &self.to_bytes(),
        ))
    }

    /// Compact binary encoding: magic, model hash, count, then little-endian f32 values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 32 + 1 + (1 + self.embeddings.len()) * DIM * 4);
        out.extend_from_slice(MAGIC);
        let hash = hex::decode(&self.model_sha256).unwrap_or_default();
        let mut h = [0u8; 32];
        if hash.len() == 32 {
            h.copy_from_slice(&hash);
        }
        out.extend_from_slice(&h);
        out.push(self.embeddings.len() as u8);
        for v in self.embeddings.iter().flatten() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Decodes [`Template::to_bytes`]; the mean is recomputed. Typed error for any malformed input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Template> {
        let bad = |r: &str| Error::invalid("template", r.to_string());
        if bytes.len() < 37 || &bytes[..4] != MAGIC {
            return Err(bad("not a SIAP face template"));
        }
        let n = bytes[36] as usize;
        let body = &bytes[37..];
        if n == 0 || n > MAX_EMBEDDINGS || body.len() != n * DIM * 4 {
            return Err(bad("wrong length"));
        }
        let values: Vec<f32> = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let embeddings = values.chunks_exact(DIM).map(<[f32]>::to_vec).collect();
        Template::from_embeddings(&hex::encode(&bytes[4..36]), embeddings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_garbage_is_refused() {
        let mut a = vec![0f32; DIM];
        a[0] = 1.0;
        let mut b = vec![0f32; DIM];
        b[1] = 1.0;
        let t = Template::from_embeddings(&"ab".repeat(32), vec![a.clone(), b]).expect("valid");
        assert!((t.similarity(&a) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        let back = Template::from_bytes(&t.to_bytes()).expect("round trip");
        assert_eq!(back, t);
        assert!(Template::from_bytes(b"SFT1").is_err());
        assert!(Template::from_bytes(&t.to_bytes()[..100]).is_err());
    }
}
