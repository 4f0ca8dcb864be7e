//! On-device face verification: "is this really the enrolled civil servant?", offline, on a mid-range
//! phone.
//!
//! Map of the module (one job per file):
//! - `input`: JPEG/PNG bytes and raw camera frames -> upright RGB ([`FaceImage`]), with size limits;
//! - `models`: hash-checked model loading; `nnef`: the NNEF framework it reads with (`onnx`, feature
//!   `onnx`: the converter's ONNX import); `plan`: one optimised tract plan per input shape, cached;
//! - `resample`: area/bilinear crops into network inputs; `detect`: MTCNN boxes + 5 landmarks;
//! - `align`: similarity transform onto the ArcFace 112x112 template; `embed`: MobileFaceNet, cosine;
//! - `live`: liveness frames -> landmarks, mesh, tracked points, sharpness, embeddings where needed,
//!   the verified frame, guidance; `flow`: feature points followed by optical flow (the planarity input);
//! - `mesh`: MediaPipe's 468-point face mesh, for the liveness check's head pose in degrees;
//! - `quality`: the gate with reasons; `template`: enrollment templates; `engine`: the public API;
//! - `antispoof`: the optional passive anti-spoof score and the package's sharpness count; `widen`: its
//!   float16 weights kept float16 in the model file.

// Image and geometry code names coordinates x, y, w, h as the papers do; and `!(v > t)` is used on
// purpose to reject NaN along with small values.
#![allow(clippy::many_single_char_names, clippy::neg_cmp_op_on_partial_ord)]

mod align;
mod antispoof;
pub mod crop;
mod detect;
mod embed;
mod engine;
mod flow;
mod input;
mod live;
pub mod mesh;
mod models;
pub mod nnef;
#[cfg(feature = "onnx")]
pub mod onnx;
mod plan;
mod prelu;
mod quality;
mod resample;
mod template;
pub mod template_store;
mod widen;

pub use align::{ALIGNED, Similarity, TEMPLATE, align};
pub use antispoof::{
    ANTISPOOF, INPUT_SIZE as ANTISPOOF_INPUT, LAPLACE_THRESHOLD, PassiveModel, PassiveScore,
    SHARPNESS_THRESHOLD, SPOOF_THRESHOLD, package_crop, sharpness,
};
pub use detect::{Detection, DetectorConfig, nms};
pub use embed::{DIM, cosine};
pub use engine::{
    DEFAULT_IDENTIFY_THRESHOLD, DEFAULT_THRESHOLD, Enrolled, FaceConfig, FaceEngine, FaceSample,
    IdentifiedFace, IdentifyOutcome, VerifyOutcome,
};
pub use input::{FaceImage, MAX_PIXELS, MAX_SIDE, PixelFormat, RawFrame};
pub use live::{FrameFeedback, Hint, LiveConfig, LiveOutcome, LivenessAttempt};
pub use models::{ALL as MODELS, MOBILEFACENET_EQUIVALENT, ModelSpec, default_models_dir};
pub use quality::{QualityConfig, QualityIssue, QualityReport};
pub use template::Template;
