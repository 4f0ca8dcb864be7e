//! The liveness session an app runs before a check-in: the core issues the challenge, the app shows it
//! and streams camera frames, the core answers each frame with guidance, and the finished session is
//! handed to `SiapCore::check`, which decides and records.
//!
//! The challenge is drawn by the core (the app cannot choose an easy one), a session is bound to one
//! employee and can be used for one check only, and everything heavy (detection per frame) runs in the
//! core: the shell only moves pixels.

use std::sync::{Arc, Mutex};

use siap_core::face::{FaceEngine, LiveConfig, LivenessAttempt};
use siap_core::liveness::{LivenessPolicy, Movement};

use crate::error::{SiapError, guard};
use crate::types::{CameraImage, decode};

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
    /// The movement to make now; `None` when all are done (the app can call `check`).
    pub next: Option<HeadMovement>,
    /// The attempt cannot pass any more (wrong movement, another face, too slow): start a new session.
    pub failed: bool,
}

/// One liveness attempt for one employee, created by `SiapCore::start_liveness`.
#[derive(uniffi::Object)]
pub struct LivenessSession {
    engine: Arc<FaceEngine>,
    policy: LivenessPolicy,
    employee_id: String,
    challenge: LivenessChallenge,
    /// `None` once a check has used the session.
    attempt: Mutex<Option<LivenessAttempt>>,
}

impl LivenessSession {
    pub(crate) fn new(
        engine: Arc<FaceEngine>,
        policy: LivenessPolicy,
        employee_id: String,
        attempt: LivenessAttempt,
    ) -> Self {
        let c = attempt.challenge();
        let challenge = LivenessChallenge {
            nonce: c.nonce.clone(),
            steps: c.steps.iter().map(|m| (*m).into()).collect(),
            step_timeout_ms: c.step_timeout_ms,
            total_timeout_ms: c.total_timeout_ms,
        };
        LivenessSession {
            engine,
            policy,
            employee_id,
            challenge,
            attempt: Mutex::new(Some(attempt)),
        }
    }

    /// Takes the attempt out for a check (once), if it belongs to `employee_id`.
    pub(crate) fn take(&self, employee_id: &str) -> Result<LivenessAttempt, SiapError> {
        if self.employee_id != employee_id {
            return Err(SiapError::BadInput(
                "liveness session belongs to another employee".into(),
            ));
        }
        self.attempt
            .lock()
            .map_err(|_| SiapError::Internal("liveness session lock poisoned".into()))?
            .take()
            .ok_or_else(|| SiapError::BadInput("liveness session already used".into()))
    }
}

#[uniffi::export]
impl LivenessSession {
    /// The challenge to show the person.
    pub fn challenge(&self) -> LivenessChallenge {
        self.challenge.clone()
    }

    /// Adds one camera frame, captured at `monotonic_ms` (the same clock as `ClockReading`), and says
    /// how far the challenge has got. CPU work: call it off the UI thread, at about 10 frames a second.
    pub fn push_frame(
        &self,
        frame: CameraImage,
        monotonic_ms: i64,
    ) -> Result<LivenessFeedback, SiapError> {
        guard(|| {
            let img = decode(frame)?;
            let mut slot = self
                .attempt
                .lock()
                .map_err(|_| SiapError::Internal("liveness session lock poisoned".into()))?;
            let attempt = slot
                .as_mut()
                .ok_or_else(|| SiapError::BadInput("liveness session already used".into()))?;
            let f = self
                .engine
                .observe(attempt, &img, monotonic_ms, &self.policy)?;
            Ok(LivenessFeedback {
                faces: f.faces,
                steps_completed: f.steps_completed as u32,
                next: f.next.map(Into::into),
                failed: f.failed,
            })
        })
    }
}

/// The attempt settings the bindings use (the core's defaults).
pub(crate) fn live_config() -> LiveConfig {
    LiveConfig::default()
}
