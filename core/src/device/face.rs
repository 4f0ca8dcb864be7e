//! The face side of the device: enrollment, kiosk identification, liveness sessions and the face step
//! of a check, over the sealed template store.
//!
//! A liveness challenge is drawn by the core (the app cannot choose an easy one); a session is bound
//! to one employee and one purpose (a check or an enrollment) and used once; everything heavy
//! (detection per frame) runs here, the shell only moves pixels.
//!
//! Enrolling writes a signed `face.enrollment` record with the aligned crops as blobs, and the
//! template stays pending until the city's signed approval arrives (see [`crate::enrollment`]); a
//! check matched against a template without it is recorded with `enrollment_pending`.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Cancel, ClockNow, Device, ImageInput};
use crate::attendance::{self, FaceCapture};
use crate::clock::ClockStore;
use crate::enrollment::decisions::{self, TemplateStatus};
use crate::enrollment::{
    EnrollmentPayload, EnrollmentPhoto, ErasurePayload, KIND_ENROLLMENT, KIND_ERASURE,
    PAYLOAD_VERSION,
};
use crate::face::{
    FaceEngine, FaceImage, FrameFeedback, IdentifyOutcome, LiveConfig, LivenessAttempt, crop,
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

/// What a liveness session is for: it answers exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Check,
    Enrollment,
}

/// One liveness attempt for one employee (see [`Device::start_liveness`] and
/// [`Device::start_enrollment`]).
pub struct LivenessSession {
    engine: Arc<FaceEngine>,
    policy: LivenessPolicy,
    employee_id: String,
    purpose: Purpose,
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

    /// Takes the attempt out (once), if it belongs to `employee_id` and was started for `purpose`.
    fn take(&self, employee_id: &str, purpose: Purpose) -> Result<LivenessAttempt> {
        if self.employee_id != employee_id {
            return Err(Error::invalid(
                "liveness_session",
                "belongs to another employee",
            ));
        }
        if self.purpose != purpose {
            return Err(Error::invalid(
                "liveness_session",
                "was started for another purpose",
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
        self.session(engine, employee_id, Purpose::Check)
    }

    /// Starts the liveness check an enrollment must pass (see [`Device::enroll`]): like
    /// [`Device::start_liveness`], for someone without a template yet.
    pub fn start_enrollment(&self, employee_id: &str) -> Result<Arc<LivenessSession>> {
        if employee_id.trim().is_empty() {
            return Err(Error::invalid("employee_id", "empty"));
        }
        let engine = self.engine()?.clone();
        self.session(engine, employee_id, Purpose::Enrollment)
    }

    fn session(
        &self,
        engine: Arc<FaceEngine>,
        employee_id: &str,
        purpose: Purpose,
    ) -> Result<Arc<LivenessSession>> {
        let now = self.now()?;
        let challenge = Challenge::issue(&now.monotonic, &ChallengeConfig::default())?;
        let attempt = LivenessAttempt::new(challenge.clone(), LiveConfig::default())?;
        Ok(Arc::new(LivenessSession {
            engine,
            policy: self.policy.liveness.clone(),
            employee_id: employee_id.to_owned(),
            purpose,
            challenge,
            attempt: Mutex::new(Some(attempt)),
        }))
    }

    /// The face step of a check: a selfie verified against the template, or a finished liveness
    /// session (judged at `now`, then verified on its own frames). Returns the evidence, the aligned
    /// crop it was computed on (JPEG) and the liveness attempt's transcript, which the check stores as
    /// blobs beside its record.
    pub(super) fn face_step(
        &self,
        employee_id: &str,
        input: &FaceInput,
        now: &ClockNow,
        cancel: &Cancel,
    ) -> Result<FaceCapture> {
        let engine = self.engine()?;
        let mut capture = match input {
            FaceInput::Selfie(img) => {
                let img = img.decode()?;
                cancel.checkpoint()?;
                let (evidence, crop) =
                    attendance::verify_face(engine, &self.store, &self.master, employee_id, &img)?;
                FaceCapture {
                    evidence,
                    crop,
                    transcript: None,
                }
            }
            FaceInput::Liveness(session) => {
                // Taken before the work: a cancelled check still uses the session up (a session is
                // one attempt, whatever became of it).
                let attempt = session.take(employee_id, Purpose::Check)?;
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
                )?
            }
        };
        if let Some(t) = capture.evidence.template.as_mut() {
            t.approved = self.template_status(employee_id, &t.sha256)? == TemplateStatus::Approved;
        }
        Ok(capture)
    }

    fn template_status(&self, employee_id: &str, sha256: &str) -> Result<TemplateStatus> {
        decisions::status(
            &self.store,
            self.server_public_key.as_deref(),
            employee_id,
            sha256,
        )
    }

    /// The employee's enrolled template on this device (its hash) and where it stands with the city;
    /// `None` when nobody is enrolled under that id here.
    pub fn face_status(&self, employee_id: &str) -> Result<Option<(String, TemplateStatus)>> {
        let key = template_store::sealing_key(&self.master);
        let Some(t) = template_store::load(&self.store, &key, employee_id)? else {
            return Ok(None);
        };
        let sha = t.sha256();
        let status = self.template_status(employee_id, &sha)?;
        Ok(Some((sha, status)))
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

    /// Enrolls an employee's face from 3 to 5 photos (each must pass the quality gate) and, where the
    /// city's policy requires liveness at enrollment (the default), a finished
    /// [`Device::start_enrollment`] session
    /// whose live face matches the photos: a photo held up to the camera fails it.
    ///
    /// Always writes a signed `face.enrollment` record with the aligned crops (and the liveness attempt's
    /// transcript, for the server to re-run the check) as blobs: an enrollment
    /// that passed stores the template, pending the city's approval, and replaces an earlier one; a
    /// refused one (its reasons in the payload) stores nothing else, as evidence of the attempt.
    /// Photos that fail the quality gate are an input error and record nothing. Cancelled before the
    /// record, nothing changes.
    pub fn enroll(
        &self,
        employee_id: &str,
        photos: &[ImageInput],
        liveness: Option<&LivenessSession>,
        cancel: &Cancel,
    ) -> Result<EnrollmentOutcome> {
        if employee_id.trim().is_empty() {
            return Err(Error::invalid("employee_id", "empty"));
        }
        let engine = self.engine()?;
        let attempt = liveness
            .map(|s| s.take(employee_id, Purpose::Enrollment))
            .transpose()?;
        let mut imgs = Vec::with_capacity(photos.len());
        for p in photos {
            cancel.checkpoint()?;
            imgs.push(p.decode()?);
        }
        cancel.checkpoint()?;
        let enrolled = engine.enroll_photos(&imgs)?;
        let now = self.now()?;
        let mut refused = Vec::new();
        let mut transcript = None;
        let live = match &attempt {
            Some(a) => {
                cancel.checkpoint()?;
                let mut outcome =
                    engine.finish_and_verify(a, &enrolled.template, None, &self.policy.liveness)?;
                outcome.verdict.expire_at(a.challenge(), &now.monotonic);
                if !outcome.verdict.passed {
                    refused.push("liveness_failed".to_owned());
                }
                if !outcome.verify.matched {
                    refused.push("face_mismatch".to_owned());
                }
                // The attempt's transcript goes with the record, for the server to re-run the check.
                let blob = outcome.transcript.encode()?;
                let mut evidence = outcome.verdict.to_evidence();
                evidence.observations_sha256 = Some(crate::liveness::transcript_sha256(&blob));
                transcript = Some(blob);
                Some(evidence)
            }
            None if self.policy.require_enrollment_liveness => {
                refused.push("liveness_missing".to_owned());
                None
            }
            None => None,
        };
        let mut crops = Vec::with_capacity(enrolled.samples.len());
        let mut recorded = Vec::with_capacity(enrolled.samples.len());
        for s in &enrolled.samples {
            let aligned = s
                .aligned
                .as_deref()
                .ok_or_else(|| Error::invalid("images", "a photo has no aligned face"))?;
            let jpeg = crop::encode(aligned)?;
            let sha = ring::digest::digest(&ring::digest::SHA256, &jpeg);
            recorded.push(EnrollmentPhoto {
                crop_sha256: hex::encode(sha.as_ref()),
                quality_passed: s.quality.passed,
                quality_reasons: s
                    .quality
                    .issues
                    .iter()
                    .filter_map(|i| serde_json::to_value(i).ok()?.as_str().map(str::to_owned))
                    .collect(),
            });
            crops.push((sha.as_ref().to_vec(), jpeg));
        }
        let key = template_store::sealing_key(&self.master);
        let replaces = template_store::load(&self.store, &key, employee_id)?.map(|t| t.sha256());
        let payload = EnrollmentPayload {
            v: PAYLOAD_VERSION,
            employee_id: employee_id.to_owned(),
            template_sha256: enrolled.template.sha256(),
            model_sha256: vec![enrolled.template.model_sha256.clone()],
            photos: recorded,
            liveness: live,
            replaces,
            refused,
            time: ClockStore(&self.store).evidence(
                &now.monotonic,
                now.wall_ms,
                self.policy.skew_tolerance_ms,
            )?,
        };
        cancel.checkpoint()?;
        let bytes = serde_json::to_vec(&payload)?;
        let store_template = payload.refused.is_empty();
        let record = self.ledger.append_with(KIND_ENROLLMENT, &bytes, |tx, _| {
            for (sha, jpeg) in &crops {
                tx.execute(
                    "INSERT OR IGNORE INTO blobs (sha256, mime, data, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![sha, crop::MIME, jpeg, now.wall_ms],
                )?;
            }
            if let Some(blob) = &transcript {
                let sha = ring::digest::digest(&ring::digest::SHA256, blob);
                tx.execute(
                    "INSERT OR IGNORE INTO blobs (sha256, mime, data, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![
                        sha.as_ref(),
                        crate::liveness::TRANSCRIPT_MIME,
                        blob,
                        now.wall_ms
                    ],
                )?;
            }
            if store_template {
                template_store::save_in(tx, &key, employee_id, &enrolled.template, now.wall_ms)?;
            }
            Ok(())
        })?;
        let status = if store_template {
            Some(self.template_status(employee_id, &payload.template_sha256)?)
        } else {
            None
        };
        Ok(EnrollmentOutcome {
            seq: record.seq,
            payload,
            status,
        })
    }

    /// Deletes an employee's face data on this device (the right to erasure) and records it in a
    /// signed `face.erasure` record, so the server can mark the template erased. Returns whether there
    /// was a template (nothing is recorded when there was none).
    pub fn delete_face(&self, employee_id: &str) -> Result<bool> {
        if employee_id.is_empty() || employee_id.len() > 128 {
            return Err(Error::invalid("employee_id", "must be 1 to 128 bytes"));
        }
        if !template_store::list(&self.store)?
            .iter()
            .any(|e| e == employee_id)
        {
            return Ok(false);
        }
        // A template that no longer opens (a corrupted row) is erased all the same, unnamed.
        let key = template_store::sealing_key(&self.master);
        let held = template_store::load(&self.store, &key, employee_id)
            .ok()
            .flatten()
            .map(|t| t.sha256());
        let now = self.now()?;
        let payload = ErasurePayload {
            v: PAYLOAD_VERSION,
            employee_id: employee_id.to_owned(),
            template_sha256: held,
            time: ClockStore(&self.store).evidence(
                &now.monotonic,
                now.wall_ms,
                self.policy.skew_tolerance_ms,
            )?,
        };
        let mut existed = false;
        self.ledger
            .append_with(KIND_ERASURE, &serde_json::to_vec(&payload)?, |tx, _| {
                existed = template_store::delete_in(tx, employee_id)?;
                Ok(())
            })?;
        Ok(existed)
    }
}

/// What an enrollment recorded (see [`Device::enroll`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EnrollmentOutcome {
    /// Seq of the `face.enrollment` record.
    pub seq: u64,
    /// What was recorded.
    pub payload: EnrollmentPayload,
    /// The stored template's standing with the city (pending until approved); `None` when the
    /// enrollment was refused and nothing was stored.
    pub status: Option<TemplateStatus>,
}

impl EnrollmentOutcome {
    /// Whether the template was stored (it still needs the city's approval to count).
    pub fn stored(&self) -> bool {
        self.payload.refused.is_empty()
    }
}
