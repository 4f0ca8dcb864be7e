//! `siap-ffi`: the UniFFI facade the Android and iOS shells call.
//!
//! A mechanical translation of `siap_core::Device`: every exported function converts its arguments,
//! calls the device and converts the answer; no SQL, policy or clock reading lives here. Slow calls
//! (check, enrollment, identification, inspection, registration, sync) are `async` (Kotlin `suspend`,
//! Swift `async throws`), run off the executor, and stop when the caller cancels. Errors are one rich
//! enum the platform callbacks can throw too. Every call is guarded: a panic becomes
//! `SiapError::Internal`, never a crash.
//!
//! - `error.rs`: the public error and the one mapping from core errors;
//! - `platform.rs`: the platform signer and clock seams;
//! - `input.rs` / `output.rs`: what crosses the boundary, and its conversions;
//! - `time.rs`: timestamps as `SystemTime`;
//! - `run.rs`: how async calls run (blocking pool, tasks, cancellation);
//! - `liveness.rs`: the liveness session (challenge, frames, guidance);
//! - `enrollment.rs`: enrollment results and a face's standing with the city;
//! - `core.rs`: the `SiapCore` object.

// UniFFI passes owned values across the boundary; exported methods must take them by value.
#![allow(clippy::needless_pass_by_value)]

mod core;
mod enrollment;
mod error;
mod input;
mod liveness;
mod output;
mod platform;
mod run;
mod time;

pub use crate::core::SiapCore;
pub use error::SiapError;
pub use input::{
    AssetCondition, CameraImage, CheckDirection, CoreConfig, FaceInput, LocationFix, Photo,
    PixelFormat,
};
pub use liveness::{HeadMovement, LivenessChallenge, LivenessFeedback, LivenessSession};
pub use output::{
    CheckReason, CheckResult, DeviceStatus, FaceBox, IdentifiedPerson, InspectionResult,
    LivenessFailure, LocationFlag, PermitInfo, PermitStatus, PermitStep, SyncPhase, SyncProblem,
    SyncSummary,
};
pub use platform::{ClockReading, PlatformClock, PlatformSigner};

uniffi::setup_scaffolding!();
