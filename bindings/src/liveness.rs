//! The liveness session an app runs before a check-in: the core issues the challenge, the app shows it
//! and streams camera frames, the core answers each frame with guidance, and the session is handed to
//! `SiapCore.check` as `FaceInput.Liveness`. Per-frame calls are synchronous: one detection, ~5-30 ms
//! on a phone core (see `core/benches/liveness_frames.rs`), inside a 100 ms frame budget.

use std::sync::Arc;

use siap_core::liveness::Movement;

use crate::error::{SiapError, guard};
use crate::input::CameraImage;

/// A head movement the person is asked to make (their own left and right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum HeadMovement {
    /// Turn the head to the person's left.
    TurnLeft,
    /// Turn the head to the person's right.
    TurnRight,
    /// Chin up.
    LookUp,
    /// Chin down.
    LookDown,
}

impl From<Movement> for HeadMovement {
    fn from(m: Movement) -> Self {
        match m {
            Movement::TurnLeft => HeadMovement::TurnLeft,
            Movement::TurnRight => HeadMovement::TurnRight,
            Movement::LookUp => HeadMovement::LookUp,
            Movement::LookDown => HeadMovement::LookDown,
        }
    }
}

/// The challenge to show.
#[derive(Debug, Clone, uniffi::Record)]
pub struct LivenessChallenge {
    /// The one-time nonce (recorded in the signed check-in).
    pub nonce: String,
    /// The movements, in order.
    pub steps: Vec<HeadMovement>,
    /// Each movement must be made within this many ms of the previous one.
    pub step_timeout_ms: i64,
    /// The whole challenge must be answered within this many ms.
    pub total_timeout_ms: i64,
}

/// What the core saw in one frame, to guide the person.
#[derive(Debug, Clone, uniffi::Record)]
pub struct LivenessFeedback {
    /// Faces in the frame that count (0: "look at the camera"; 2+: "only you in the picture").
    pub faces: u32,
    /// Movements completed so far.
    pub steps_completed: u32,
    /// The movement to make now; `None` when all are done (the app can check in).
    pub next: Option<HeadMovement>,
    /// The attempt cannot pass any more (wrong movement, another face, too slow): start a new session.
    pub failed: bool,
}

/// One liveness attempt for one employee, from `SiapCore.startLiveness`.
#[derive(Debug, uniffi::Object)]
pub struct LivenessSession {
    pub(crate) inner: Arc<siap_core::device::LivenessSession>,
}

#[uniffi::export]
impl LivenessSession {
    /// The challenge to show the person.
    pub fn challenge(&self) -> LivenessChallenge {
        let c = self.inner.challenge();
        LivenessChallenge {
            nonce: c.nonce.clone(),
            steps: c.steps.iter().map(|m| (*m).into()).collect(),
            step_timeout_ms: c.step_timeout_ms,
            total_timeout_ms: c.total_timeout_ms,
        }
    }

    /// Adds one camera frame captured at `monotonic_ms` (the platform clock's monotonic timebase) and
    /// says how far the challenge has got. Call it off the UI thread, at about 10 frames a second.
    pub fn push_frame(
        &self,
        frame: CameraImage,
        monotonic_ms: i64,
    ) -> Result<LivenessFeedback, SiapError> {
        guard(|| {
            let img = siap_core::device::ImageInput::from(frame).decode()?;
            let f = self.inner.push_frame(&img, monotonic_ms)?;
            Ok(LivenessFeedback {
                faces: f.faces,
                steps_completed: f.steps_completed as u32,
                next: f.next.map(Into::into),
                failed: f.failed,
            })
        })
    }
}
