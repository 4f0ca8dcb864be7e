//! `siap-ffi`: the UniFFI facade the Android and iOS shells call.
//!
//! Small Rust wrappers around `siap-core` (which knows nothing of UniFFI): one [`SiapCore`] object with
//! a few coarse methods, plain records for frames, fixes and results, one error enum an app can act on,
//! and a foreign [`PlatformSigner`] trait for hardware-held keys. CPU work (faces) is a blocking call
//! the shell runs off the UI thread; sync is async on tokio. Every call is guarded: a panic becomes
//! [`SiapError::Internal`], never a crash.
//!
//! - `error.rs`: the public error and the one mapping from core errors;
//! - `signer.rs`: the platform signer seam;
//! - `types.rs`: records crossing the boundary;
//! - `liveness.rs`: the liveness session (challenge, frames, guidance);
//! - `core.rs`: the `SiapCore` object.

// UniFFI passes owned values across the boundary; exported methods must take them by value.
#![allow(clippy::needless_pass_by_value)]

mod core;
mod error;
mod liveness;
mod signer;
mod types;

pub use crate::core::SiapCore;
pub use error::SiapError;
pub use liveness::{HeadMovement, LivenessChallenge, LivenessFeedback, LivenessSession};
pub use signer::{PlatformClock, PlatformSigner};
pub use types::*;

uniffi::setup_scaffolding!();
