//! The liveness session an app runs before a check-in: the core issues the challenge, the app shows it
//! and streams camera frames, the core answers each frame with guidance, and the session is handed to
//! `SiapCore.check` as `FaceInput.Liveness`. Per-frame calls are synchronous: one detection or track,
//! the face mesh and the optical flow (see `core/benches/liveness_frames.rs` for the cost), inside a
//! 100 ms frame budget. Each answer carries the guidance to show: the movement, how far along it the
//! head is, and a hint ("turn further", "move closer", "only you in the picture").

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

/// What to tell the person beyond the movement asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LivenessHint {
    /// No face found: "look at the camera".
    NoFace,
    /// Several faces: "only you in the picture".
    OneFaceOnly,
    /// The face is too small: "move closer".
    MoveCloser,
    /// The neutral pose is being measured: "look at the camera and hold still".
    HoldStill,
    /// The movement has started but is not far enough: "turn further".
    TurnFurther,
    /// Far enough: "now look back at the camera".
    ComeBack,
}

impl From<siap_core::face::Hint> for LivenessHint {
    fn from(h: siap_core::face::Hint) -> Self {
        use siap_core::face::Hint as H;
        match h {
            H::NoFace => Self::NoFace,
            H::OneFaceOnly => Self::OneFaceOnly,
            H::MoveCloser => Self::MoveCloser,
            H::HoldStill => Self::HoldStill,
            H::TurnFurther => Self::TurnFurther,
            H::ComeBack => Self::ComeBack,
        }
    }
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
    /// How far the head has gone towards `next`, 0..1 (for a progress arc; 1: far enough, come back).
    pub progress: f32,
    /// What to tell the person beyond the movement, if anything.
    pub hint: Option<LivenessHint>,
    /// Head yaw in this frame, degrees (+ = the person's left in an unmirrored frame), when the face
    /// was found.
    pub yaw_deg: Option<f32>,
    /// Head pitch in this frame, degrees (+ = up), when the face was found.
    pub pitch_deg: Option<f32>,
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
                progress: f.progress,
                hint: f.hint.map(Into::into),
                yaw_deg: f.pose.map(|p| p.yaw),
                pitch_deg: f.pose.map(|p| p.pitch),
            })
        })
    }
}
