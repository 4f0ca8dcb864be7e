//! The face side of the device: enrollment, kiosk identification, liveness sessions and the face step
//! of a check, over the sealed template store.
//!
//! A liveness challenge is drawn by the core (the app cannot choose an easy one); a session is bound
//! to one employee and used by one check only; everything heavy (detection per frame) runs here, the
//! shell only moves pixels.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Cancel, ClockNow, Device, ImageInput};
use crate::attendance::{self, FaceEvidence};
use crate::face::{
    FaceEngine, FaceImage, FrameFeedback, IdentifyOutcome, LiveConfig, LivenessAttempt,
    template_store,
};
use crate::liveness::{Challenge, ChallengeConfig, LivenessPolicy};
use crate::{Error, Result};

/// Where the face of a check comes from: exactly one of the two.
#[derive(Debug, Clone)]
pub enum FaceInput {
    /// One still photo (only where the city's policy allows a check without liveness).
    Selfie(ImageInput),
    /// A finished liveness session (its frames are the evidence; the session is used up).
    Liveness(Arc<LivenessSession>),
}

/// One liveness attempt for one employee (see [`Device::start_liveness`]).
pub struct LivenessSession {
    engine: Arc<FaceEngine>,
    policy: LivenessPolicy,
    employee_id: String,
    challenge: Challenge,
    /// `None` once a check has used the session.
    attempt: Mutex<Option<LivenessAttempt>>,
}

impl std::fmt::Debug for LivenessSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivenessSession")
            .field("nonce", &self.challenge.nonce)
            .finish_non_exhaustive()
    }
}

impl LivenessSession {
    /// The challenge to show the person.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    fn slot(&self) -> MutexGuard<'_, Option<LivenessAttempt>> {
        // A panic inside `observe` leaves at worst a half-added frame; the attempt then fails its
        // consistency checks, so a poisoned lock is safe to reuse.
        self.attempt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds one camera frame captured at `monotonic_ms` (the device clock's timebase) and says how far
    /// the challenge has got. CPU work (one detection, ~5-30 ms): call it off the UI thread.
    pub fn push_frame(&self, frame: &FaceImage, monotonic_ms: i64) -> Result<FrameFeedback> {
        let mut slot = self.slot();
        let attempt = slot
            .as_mut()
            .ok_or_else(|| Error::invalid("liveness_session", "already used"))?;
        self.engine
            .observe(attempt, frame, monotonic_ms, &self.policy)
    }

    /// Takes the attempt out for a check (once), if it belongs to `employee_id`.
    fn take(&self, employee_id: &str) -> Result<LivenessAttempt> {
        if self.employee_id != employee_id {
            return Err(Error::invalid(
                "liveness_session",
                "belongs to another employee",
            ));
        }
        self.slot()
            .take()
            .ok_or_else(|| Error::invalid("liveness_session", "already used"))
    }
}

impl Device {
    fn engine(&self) -> Result<&Arc<FaceEngine>> {
        self.face
            .as_ref()
            .ok_or(Error::NotReady("no face models configured"))
    }

    /// Starts a liveness check for `employee_id` now: the core draws the challenge; the app shows it,
    /// feeds frames to the session, then passes it to [`Device::check`]. An employee without an
    /// enrolled face gets `NotFound("face template")` here, before any frame is captured.
    pub fn start_liveness(&self, employee_id: &str) -> Result<Arc<LivenessSession>> {
        let engine = self.engine()?.clone();
        if !template_store::list(&self.store)?
            .iter()
            .any(|e| e == employee_id)
        {
            return Err(Error::NotFound {
                what: "face template",
            });
        }
        let now = self.now()?;
        let challenge = Challenge::issue(&now.monotonic, &ChallengeConfig::default())?;
        let attempt = LivenessAttempt::new(challenge.clone(), LiveConfig::default())?;
        Ok(Arc::new(LivenessSession {
            engine,
            policy: self.policy.liveness.clone(),
            employee_id: employee_id.to_owned(),
            challenge,
            attempt: Mutex::new(Some(attempt)),
        }))
    }

    /// The face step of a check: a selfie verified against the template, or a finished liveness
    /// session (judged at `now`, then verified on its own frames).
    pub(super) fn face_step(
        &self,
        employee_id: &str,
        input: &FaceInput,
        now: &ClockNow,
        cancel: &Cancel,
    ) -> Result<FaceEvidence> {
        let engine = self.engine()?;
        match input {
            FaceInput::Selfie(img) => {
                let img = img.decode()?;
                cancel.checkpoint()?;
                attendance::verify_face(engine, &self.store, &self.master, employee_id, &img)
            }
            FaceInput::Liveness(session) => {
                // Taken before the work: a cancelled check still uses the session up (a session is
                // one attempt, whatever became of it).
                let attempt = session.take(employee_id)?;
                cancel.checkpoint()?;
                attendance::verify_live(
                    engine,
                    &self.store,
                    &self.master,
                    employee_id,
                    &attempt,
                    None,
                    &self.policy.liveness,
                    &now.monotonic,
                )
            }
        }
    }

    /// Kiosk mode (1:N): every face in `photo` compared with every employee enrolled on this device. A
    /// face below the threshold, or failing the quality gate, has no id. Identifies only; attendance is
    /// still recorded through [`Device::check`].
    pub fn identify(&self, photo: &ImageInput, cancel: &Cancel) -> Result<IdentifyOutcome> {
        let engine = self.engine()?;
        let img = photo.decode()?;
        cancel.checkpoint()?;
        let key = template_store::sealing_key(&self.master);
        let gallery = template_store::load_all(&self.store, &key)?;
        cancel.checkpoint()?;
        engine.identify(&gallery, &img)
    }

    /// Enrolls an employee's face from 3 to 5 photos (each must pass the quality gate), replacing an
    /// earlier enrollment. The template is sealed at rest. Cancelled before the save, nothing changes.
    pub fn enroll(&self, employee_id: &str, photos: &[ImageInput], cancel: &Cancel) -> Result<()> {
        if employee_id.trim().is_empty() {
            return Err(Error::invalid("employee_id", "empty"));
        }
        let engine = self.engine()?;
        let mut imgs = Vec::with_capacity(photos.len());
        for p in photos {
            cancel.checkpoint()?;
            imgs.push(p.decode()?);
        }
        cancel.checkpoint()?;
        let template = engine.enroll(&imgs)?;
        cancel.checkpoint()?;
        let key = template_store::sealing_key(&self.master);
        template_store::save(
            &self.store,
            &key,
            employee_id,
            &template,
            self.now()?.wall_ms,
        )
    }

    /// Deletes an employee's face data (the right to erasure). Returns whether there was any.
    pub fn delete_face(&self, employee_id: &str) -> Result<bool> {
        template_store::delete(&self.store, employee_id)
    }
}
