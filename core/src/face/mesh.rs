//! Dense face landmarks: MediaPipe's face mesh (468 points) on a face the detector found, for the
//! liveness check's head pose in degrees.
//!
//! MTCNN's five landmarks mix head pose with expression (a laugh moves the mouth corners, which moves
//! the 5-point "pitch") and barely move on moderate real turns (`core/src/liveness/README.md`). The mesh
//! places 468 points on the face surface; the liveness check fits a rigid 3-D face to the 28 of them
//! that do not move with expression ([`crate::liveness::pose::POSE_POINTS`]) and reads yaw and pitch in
//! degrees from the fit.
//!
//! What the mesh is *not* used for: telling a head from a picture. It is a network that has learned
//! what faces look like, and measured on photos tilted in front of the camera its points move as a
//! turning head's would (`core/src/liveness/README.md`, "Planarity"); the flat-versus-3-D test uses
//! feature points tracked in the pixels instead (`super::flow`).
//!
//! Input contract (MediaPipe's `face_landmark.tflite`, translated op by op by
//! `xtask/models/facemesh.py`): `[1, 3, 192, 192]` NCHW RGB in 0..1, a square crop around the face,
//! rotated so that the eyes are level; outputs the 468 points `(x, y, z)` in pixels of the crop (z a
//! relative depth at the same scale) and a face-presence logit.

use std::sync::Arc;

use tract_nnef::prelude::*;

use super::align::{Similarity, bilinear};
use super::input::FaceImage;
use super::models::{ModelSpec, prep_error};
use crate::{Error, Result};

/// The converted face mesh model (`models/facemesh.nnef.tar`, from `facemesh.onnx`).
pub const FACEMESH: ModelSpec = ModelSpec {
    file: "facemesh.nnef.tar",
    sha256: "c6af2d06e463fff486f9210e867eb416282716f1ed58eddc44c0ef012a0be220",
    source: "facemesh.onnx",
    input: &[Some(1), Some(3), Some(INPUT), Some(INPUT)],
};

/// Side of the square model input, pixels.
pub const INPUT: usize = 192;

/// Number of points the model places.
pub const POINTS: usize = 468;

/// Side of the crop in inter-ocular distances (MediaPipe crops 1.5 times a face box about three
/// inter-ocular distances wide).
const CROP_IODS: f32 = 4.5;

/// Below this face-presence logit the crop holds no face (sigmoid 0.5).
const MIN_FACE_LOGIT: f32 = 0.0;

/// The mesh of one face.
#[derive(Debug, Clone, PartialEq)]
pub struct Mesh {
    /// The 468 points in image pixels; `z` is a relative depth in pixels (smaller = nearer the camera).
    pub points: Vec<[f32; 3]>,
    /// The model's face-presence logit (above 0: a face).
    pub face_logit: f32,
}

impl Mesh {
    /// The points at `indices`, image `(x, y)` only.
    pub fn select(&self, indices: &[u16]) -> Vec<[f32; 2]> {
        indices
            .iter()
            .filter_map(|&i| self.points.get(usize::from(i)).map(|p| [p[0], p[1]]))
            .collect()
    }
}

/// The optimised face mesh plan.
pub struct MeshModel {
    plan: Arc<TypedRunnableModel>,
}

impl std::fmt::Debug for MeshModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshModel").finish_non_exhaustive()
    }
}

/// The crop-to-image map of the model input for a face with these five landmarks: centred between the
/// eyes and the mouth, [`CROP_IODS`] inter-ocular distances wide (or the eye-to-mouth distance, when
/// that is larger, as on a turned head), rotated with the eye line. `None` for degenerate landmarks.
pub fn crop_transform(landmarks: &[[f32; 2]; 5]) -> Option<Similarity> {
    if landmarks.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let [le, re, _, lm, rm] = *landmarks;
    let (ex, ey) = (re[0] - le[0], re[1] - le[1]);
    let iod = ex.hypot(ey);
    let eye_mid = [f32::midpoint(le[0], re[0]), f32::midpoint(le[1], re[1])];
    let mouth_mid = [f32::midpoint(lm[0], rm[0]), f32::midpoint(lm[1], rm[1])];
    // On the ArcFace template the eye-to-mouth distance is 1.15 inter-ocular distances.
    let eye_mouth = (mouth_mid[0] - eye_mid[0]).hypot(mouth_mid[1] - eye_mid[1]) / 1.15;
    let size = CROP_IODS * iod.max(eye_mouth);
    if !(size > 4.0) || !size.is_finite() {
        return None;
    }
    let centre = [
        f32::midpoint(eye_mid[0], mouth_mid[0]),
        f32::midpoint(eye_mid[1], mouth_mid[1]),
    ];
    let scale = size / INPUT as f32;
    let (cos, sin) = if iod > 1e-3 {
        (ex / iod, ey / iod)
    } else {
        (1.0, 0.0)
    };
    let (a, b) = (scale * cos, scale * sin);
    let half = INPUT as f32 / 2.0;
    // image = R * s * (crop - half) + centre
    Some(Similarity {
        a,
        b,
        tx: centre[0] - (a * half - b * half),
        ty: centre[1] - (b * half + a * half),
    })
}

/// Bilinear sample of the crop through `t` (crop -> image) as planar RGB in 0..1; outside is black.
fn sample(img: &FaceImage, t: &Similarity) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rgb = img.rgb();
    let plane = INPUT * INPUT;
    let mut out = vec![0f32; 3 * plane];
    for v in 0..INPUT {
        for u in 0..INPUT {
            let [sx, sy] = t.apply([u as f32, v as f32]);
            let acc = bilinear(w, h, |o| f32::from(rgb[o]), sx, sy);
            let i = v * INPUT + u;
            for (c, a) in acc.iter().enumerate() {
                out[c * plane + i] = a / 255.0;
            }
        }
    }
    out
}

impl MeshModel {
    /// Optimises the loaded model for one 192x192 crop.
    pub fn new(model: TypedModel) -> Result<MeshModel> {
        let err = |e: TractError| prep_error(&FACEMESH, &e);
        let plan = model
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(MeshModel { plan })
    }

    /// The mesh of the face with these five (detector) landmarks in `img`; `None` when the landmarks
    /// are degenerate or the model finds no face in the crop.
    pub fn run(&self, img: &FaceImage, landmarks: &[[f32; 2]; 5]) -> Result<Option<Mesh>> {
        let Some(t) = crop_transform(landmarks) else {
            return Ok(None);
        };
        let input = Tensor::from_shape(&[1, 3, INPUT, INPUT], &sample(img, &t))
            .map_err(|e| Error::Inference(format!("face mesh input: {e}")))?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| Error::Inference(format!("face mesh: {e}")))?;
        let values = |k: usize| -> Result<Vec<f32>> {
            Ok(out
                .get(k)
                .ok_or_else(|| Error::Inference("face mesh: missing output".into()))?
                .to_plain_array_view::<f32>()
                .map_err(|e| Error::Inference(format!("face mesh output: {e}")))?
                .iter()
                .copied()
                .collect())
        };
        let raw = values(0)?;
        let logit = values(1)?.first().copied().unwrap_or(f32::NAN);
        if raw.len() != POINTS * 3 || raw.iter().any(|v| !v.is_finite()) || !logit.is_finite() {
            return Err(Error::Inference(
                "face mesh output is malformed or not finite".into(),
            ));
        }
        if logit < MIN_FACE_LOGIT {
            return Ok(None);
        }
        let scale = t.a.hypot(t.b);
        let points = raw
            .chunks_exact(3)
            .map(|p| {
                let [x, y] = t.apply([p[0], p[1]]);
                [x, y, p[2] * scale]
            })
            .collect();
        Ok(Some(Mesh {
            points,
            face_logit: logit,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_is_centred_level_and_sized_from_the_eyes() {
        let l = [
            [100.0, 100.0],
            [140.0, 100.0],
            [120.0, 125.0],
            [105.0, 146.0],
            [135.0, 146.0],
        ];
        let t = crop_transform(&l).expect("crop");
        let half = INPUT as f32 / 2.0;
        let c = t.apply([half, half]);
        assert!((c[0] - 120.0).abs() < 1e-3 && (c[1] - 123.0).abs() < 1e-3);
        // 46 px eye-to-mouth / 1.15 = 40 px = the inter-ocular distance: 4.5 * 40 = 180 px wide.
        assert!((t.a.hypot(t.b) * INPUT as f32 - 180.0).abs() < 1e-2);
        assert!(t.b.abs() < 1e-6, "eyes level: no rotation");
        assert!(crop_transform(&[[f32::NAN, 0.0]; 5]).is_none());
        assert!(crop_transform(&[[5.0, 5.0]; 5]).is_none());
    }
}
