//! Liveness: is a live person in front of the camera now, or a photo / a screen held up to it?
//!
//! Face verification says "this looks like them"; liveness says "a live, three-dimensional head answered
//! *this* challenge *now*". This module is pure math and policy over per-frame observations produced by the
//! face engine (detections, five landmarks, face-mesh points, feature points tracked by optical flow,
//! optional embeddings and sharpness): it has no dependency on tract or on `crate::face`, compiles
//! without the `face` feature, and the server can re-run [`check`] on the observations a device sends.
//!
//! What the check decides and why, what its thresholds were measured on (11 real videos of people
//! turning their heads, attacks built from real photos, and a synthetic face for regression tests), what
//! it costs and its known limits: `README.md` beside this file.
//!
//! One job per module:
//!
//! - [`Challenge`]: the random movements, nonce and time window (`challenge`);
//! - [`FrameObservation`], [`PassiveObservation`]: the input, validated (`observation`);
//! - [`LivenessPolicy`]: thresholds and switches (`policy`);
//! - [`pose`], [`planarity`]: head pose in degrees from the mesh, and the parallax of tracked points
//!   between two frames;
//! - frame consistency (timestamps, one face, same person) and the movement state machine, each fed one
//!   frame at a time (`consistency`, `tracker`);
//! - [`Progress`], [`check`]: one attempt's decision, frame by frame or all at once (`decision`);
//! - [`LivenessVerdict`], [`LivenessReason`]: the outcome and why (`verdict`, `reason`);
//! - [`LivenessEvidence`]: the form signed into attendance records, and how it reads other versions'
//!   records (`evidence`);
//! - [`Transcript`]: the attempt's observations as uploaded beside the record, for the server to run
//!   [`check`] again (`transcript`);
//! - [`eval`]: APCER / BPCER on labelled recordings;
//! - `synth`, `attack` (feature `test-support`): synthetic sequences (landmarks, mesh, tracked points)
//!   and image-level attacks for tests, benchmarks and the CLI's demo.

mod challenge;
mod consistency;
mod decision;
pub mod eval;
mod evidence;
mod observation;
pub mod planarity;
mod policy;
pub mod pose;
mod reason;
mod stats;
mod tracker;
mod transcript;
mod verdict;

#[cfg(any(test, feature = "test-support"))]
pub mod attack;
#[cfg(any(test, feature = "test-support"))]
pub mod synth;

#[cfg(test)]
mod tests;

pub use challenge::{Challenge, ChallengeConfig, Movement};
pub use decision::{AttemptStatus, Progress, check, check_with_passive};
pub use evidence::{LivenessDetails, LivenessEvidence};
pub use observation::{FrameObservation, MAX_TRACKS, PassiveObservation, Tracks};
pub use policy::LivenessPolicy;
pub use pose::{Landmarks, Pose};
pub use reason::{LivenessReason, LivenessReasonKind};
pub use transcript::{
    CROP_IN_ATTEMPT, MAX_TRANSCRIPT_FRAMES, MAX_TRANSCRIPT_JSON, Recheck, TRANSCRIPT_MIME,
    TRANSCRIPT_VERSION, Transcript, VerifiedFrame, transcript_sha256,
};
pub use verdict::{
    ConsistencyEvidence, LivenessVerdict, PassiveEvidence, PlanarityEvidence, SESSION_GRACE_MS,
    StepEvidence,
};
