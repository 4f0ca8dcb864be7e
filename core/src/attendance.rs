//! Attendance check-in and check-out: really them, really there, really now — decided on the device,
//! offline, and written as signed evidence whatever the outcome.
//!
//! A check-in composes the face result (from the face pipeline, see [`FaceEvidence`]), the geo verdict
//! against the employee's assigned sites, and the trusted-time evidence into one decision. Rejected
//! attempts are recorded too, with their reasons: failed attempts are evidence. The fix and its
//! fingerprint are remembered so that an exact replay of an earlier fix is flagged.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::clock::{ClockStore, DEFAULT_SKEW_TOLERANCE_MS, MonotonicReading, TimeEvidence};
use crate::geo::{
    Containment, Fix, FixContext, GeoFlag, GeoPolicy, GeoVerdict, SiteIndex, evaluate,
};
use crate::ledger::Ledger;
use crate::reference::Reference;
use crate::{Error, Result};

/// Ledger kind of a check-in record.
pub const KIND_CHECK_IN: &str = "attendance.check_in";
/// Ledger kind of a check-out record.
pub const KIND_CHECK_OUT: &str = "attendance.check_out";
/// Version of [`AttendancePayload`].
pub const PAYLOAD_VERSION: u32 = 1;

/// In or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Start of the working day.
    In,
    /// End of the working day.
    Out,
}

/// Accepted or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Counted as attendance.
    Accepted,
    /// Not counted; recorded as evidence of the attempt.
    Rejected,
}

/// Why a check was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The employee has no assigned site on this device.
    NoAssignedSite,
    /// The whole accuracy circle is outside every assigned fence.
    OutsideFence,
    /// Inside or outside cannot be told (accuracy too poor or missing).
    LocationUndecidable,
    /// The platform reported a mock location provider.
    MockLocation,
    /// The fix moved faster than possible since the previous one.
    ImpossibleSpeed,
    /// The exact same fix was used before.
    RepeatedFix,
    /// The fix is too old or dated in the future.
    StaleFix,
    /// The wall clock disagrees with trusted time.
    ClockSkew,
    /// The policy requires a face check and none was given.
    FaceMissing,
    /// The face did not pass the quality gate.
    FaceQuality,
    /// The face did not match the enrolled template.
    FaceMismatch,
    /// The liveness check failed.
    LivenessFailed,
    /// The policy requires a liveness check and the face came without one (a single still photo).
    LivenessMissing,
    /// The face matched a template the city has not approved (yet) for this device.
    EnrollmentPending,
}

/// Liveness result carried by the record; defined with the check that fills it.
pub use crate::liveness::LivenessEvidence;

/// The face step's result as recorded: what was measured, against what threshold, with which models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceEvidence {
    /// Cosine similarity to the enrolled template.
    pub similarity: f32,
    /// The threshold in force.
    pub threshold: f32,
    /// `similarity >= threshold` and the quality gate passed.
    pub matched: bool,
    /// The quality gate passed.
    pub quality_passed: bool,
    /// Quality gate reasons (e.g. `too_small`, `more_than_one_face`).
    pub quality_reasons: Vec<String>,
    /// SHA-256 of the model files used.
    pub model_sha256: Vec<String>,
    /// The template matched against, and whether the device holds the city's approval of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::enrollment::TemplateRef>,
    /// SHA-256 (hex) of the aligned face crop the similarity was computed on, uploaded as a blob
    /// with the record: the server embeds it again against the template it approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop_sha256: Option<String>,
    /// Liveness, when checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessEvidence>,
}

/// What the shell hands in for one check.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    /// Who.
    pub employee_id: String,
    /// In or out.
    pub direction: Direction,
    /// The location fix taken for this check.
    pub fix: Fix,
    /// The monotonic clock at the moment of the check.
    pub now: MonotonicReading,
    /// The phone's wall clock at the moment of the check.
    pub device_wall_ms: i64,
    /// The face step's result (`None` when no face was captured).
    pub face: Option<FaceEvidence>,
    /// The aligned face crop of the face step, JPEG-encoded, stored as a blob with the record (its
    /// hash is `face.crop_sha256`).
    pub face_crop: Option<Vec<u8>>,
    /// The liveness attempt's encoded [`crate::liveness::Transcript`], stored as a blob with the record
    /// (its hash is `face.liveness.observations_sha256`).
    pub liveness_transcript: Option<Vec<u8>>,
}

/// The rules a check is decided by. Flags are always recorded; these say which ones reject.
// Each switch is an independent, documented policy decision of the city; an enum would hide that.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone)]
pub struct AttendancePolicy {
    /// Geo thresholds.
    pub geo: GeoPolicy,
    /// A check without a face result is rejected.
    pub require_face: bool,
    /// A check whose liveness failed is rejected (when liveness evidence is present).
    pub require_liveness_pass: bool,
    /// A face without liveness evidence (a single still photo) is rejected. On by default: a still
    /// photo cannot tell the person from a picture of them.
    pub require_liveness: bool,
    /// A face matched against a template the city has not approved for this device is rejected
    /// (`enrollment_pending`). On by default: a template enrolled on a phone is only a claim until the
    /// city checks whose face it is (see [`crate::enrollment`]).
    pub require_approved_enrollment: bool,
    /// An enrollment without a passed liveness check is refused (on by default: a face enrolled from
    /// a photo of someone is the cheapest attack on the face check).
    pub require_enrollment_liveness: bool,
    /// Thresholds of the liveness decision.
    pub liveness: crate::liveness::LivenessPolicy,
    /// Reject when the wall clock disagrees with trusted time.
    pub reject_clock_skew: bool,
    /// Tolerance for the clock skew flag.
    pub skew_tolerance_ms: i64,
    /// Geo flags that reject a check.
    pub rejecting_flags: Vec<GeoFlag>,
}

impl Default for AttendancePolicy {
    fn default() -> Self {
        AttendancePolicy {
            geo: GeoPolicy::default(),
            require_face: true,
            require_liveness_pass: true,
            require_liveness: true,
            require_approved_enrollment: true,
            require_enrollment_liveness: true,
            liveness: crate::liveness::LivenessPolicy::default(),
            reject_clock_skew: true,
            skew_tolerance_ms: DEFAULT_SKEW_TOLERANCE_MS,
            rejecting_flags: vec![
                GeoFlag::MockLocation,
                GeoFlag::ImpossibleSpeed,
                GeoFlag::RepeatedFix,
                GeoFlag::StaleFix,
                GeoFlag::FutureFix,
            ],
        }
    }
}

/// The signed payload of an attendance record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttendancePayload {
    /// [`PAYLOAD_VERSION`].
    pub v: u32,
    /// Who.
    pub employee_id: String,
    /// In or out.
    pub direction: Direction,
    /// Accepted or rejected.
    pub decision: Decision,
    /// Why rejected (empty when accepted).
    pub reasons: Vec<Reason>,
    /// The geo verdict (nearest assigned site, containment, distance, flags).
    pub geo: GeoVerdict,
    /// The fix as reported by the platform.
    pub fix: Fix,
    /// Wall clock, monotonic clock and trusted estimate.
    pub time: TimeEvidence,
    /// The face step (absent when none was captured).
    pub face: Option<FaceEvidence>,
}

/// The outcome returned to the shell.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// Seq of the ledger record written.
    pub seq: u64,
    /// What was recorded.
    pub payload: AttendancePayload,
}

impl CheckOutcome {
    /// Whether the check counts.
    pub fn accepted(&self) -> bool {
        self.payload.decision == Decision::Accepted
    }
}

/// Decides and records a check-in or check-out.
pub fn check(
    ledger: &Ledger,
    policy: &AttendancePolicy,
    req: &CheckRequest,
) -> Result<CheckOutcome> {
    if req.employee_id.trim().is_empty() {
        return Err(Error::invalid("employee_id", "empty"));
    }
    req.fix.validate()?;
    let store = ledger.store();
    let employee = Reference(store).employee(&req.employee_id)?;
    let assigned: Vec<_> = Reference(store)
        .sites()?
        .into_iter()
        .filter(|s| employee.site_ids.contains(&s.id))
        .collect();
    let fingerprint = req.fix.fingerprint();
    let (previous, seen_before) = fix_history(store, &fingerprint)?;
    let now_ms = crate::clock::estimate(ClockStore(store).best_for(&req.now)?.as_ref(), &req.now)
        .estimate_ms()
        .unwrap_or(req.device_wall_ms);
    let ctx = FixContext {
        previous,
        seen_before,
        now_ms,
    };
    let no_site = assigned.is_empty();
    let index = SiteIndex::new(assigned)?;
    let geo = evaluate(&req.fix, &ctx, &index, &policy.geo)?;
    let time =
        ClockStore(store).evidence(&req.now, req.device_wall_ms, policy.skew_tolerance_ms)?;

    let mut reasons = Vec::new();
    if no_site {
        reasons.push(Reason::NoAssignedSite);
    } else {
        match geo.containment {
            Containment::Inside => {}
            Containment::Outside => reasons.push(Reason::OutsideFence),
            Containment::Undecidable => reasons.push(Reason::LocationUndecidable),
        }
    }
    for flag in &geo.flags {
        if policy.rejecting_flags.contains(flag) {
            let r = match flag {
                GeoFlag::MockLocation => Reason::MockLocation,
                GeoFlag::ImpossibleSpeed => Reason::ImpossibleSpeed,
                GeoFlag::RepeatedFix => Reason::RepeatedFix,
                GeoFlag::StaleFix | GeoFlag::FutureFix => Reason::StaleFix,
                GeoFlag::MissingAccuracy | GeoFlag::ImplausibleAccuracy => {
                    Reason::LocationUndecidable
                }
            };
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
    }
    if time.clock_skew && policy.reject_clock_skew {
        reasons.push(Reason::ClockSkew);
    }
    match &req.face {
        None if policy.require_face => reasons.push(Reason::FaceMissing),
        None => {}
        Some(f) => {
            if !f.quality_passed {
                reasons.push(Reason::FaceQuality);
            } else if !f.matched {
                reasons.push(Reason::FaceMismatch);
            }
            match &f.liveness {
                Some(l) if !l.passed && policy.require_liveness_pass => {
                    reasons.push(Reason::LivenessFailed);
                }
                None if policy.require_liveness => reasons.push(Reason::LivenessMissing),
                _ => {}
            }
            if policy.require_approved_enrollment
                && !f.template.as_ref().is_some_and(|t| t.approved)
            {
                reasons.push(Reason::EnrollmentPending);
            }
        }
    }
    let payload = AttendancePayload {
        v: PAYLOAD_VERSION,
        employee_id: req.employee_id.clone(),
        direction: req.direction,
        decision: if reasons.is_empty() {
            Decision::Accepted
        } else {
            Decision::Rejected
        },
        reasons,
        geo,
        fix: req.fix.clone(),
        time,
        face: req.face.clone(),
    };
    let kind = match req.direction {
        Direction::In => KIND_CHECK_IN,
        Direction::Out => KIND_CHECK_OUT,
    };
    let bytes = serde_json::to_vec(&payload)?;
    let crop = req
        .face_crop
        .as_ref()
        .map(|jpeg| (ring::digest::digest(&ring::digest::SHA256, jpeg), jpeg));
    if let (Some((sha, _)), Some(f)) = (&crop, &req.face)
        && f.crop_sha256.as_deref() != Some(hex::encode(sha.as_ref()).as_str())
    {
        return Err(Error::invalid(
            "face_crop",
            "does not match the face evidence",
        ));
    }
    let transcript = req
        .liveness_transcript
        .as_ref()
        .map(|t| (ring::digest::digest(&ring::digest::SHA256, t), t));
    if let Some((sha, _)) = &transcript {
        let named = req
            .face
            .as_ref()
            .and_then(|f| f.liveness.as_ref())
            .and_then(|l| l.observations_sha256.as_deref());
        if named != Some(hex::encode(sha.as_ref()).as_str()) {
            return Err(Error::invalid(
                "liveness_transcript",
                "does not match the liveness evidence",
            ));
        }
    }
    let record = ledger.append_with(kind, &bytes, |tx, _| {
        tx.execute(
            "INSERT OR IGNORE INTO seen_fixes (fingerprint, time_ms, lat, lon) VALUES (?1, ?2, ?3, ?4)",
            params![fingerprint, req.fix.time_ms, req.fix.lat, req.fix.lon],
        )?;
        if let Some((sha, jpeg)) = &crop {
            tx.execute(
                "INSERT OR IGNORE INTO blobs (sha256, mime, data, created_at_ms) VALUES (?1, 'image/jpeg', ?2, ?3)",
                params![sha.as_ref(), jpeg, req.device_wall_ms],
            )?;
        }
        if let Some((sha, blob)) = &transcript {
            tx.execute(
                "INSERT OR IGNORE INTO blobs (sha256, mime, data, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![
                    sha.as_ref(),
                    crate::liveness::TRANSCRIPT_MIME,
                    blob,
                    req.device_wall_ms
                ],
            )?;
        }
        Ok(())
    })?;
    Ok(CheckOutcome {
        seq: record.seq,
        payload,
    })
}

/// The most recent earlier fix (for the speed check) and whether this exact fix was seen before.
fn fix_history(store: &crate::store::Store, fingerprint: &str) -> Result<(Option<Fix>, bool)> {
    store.with_conn(|c| {
        let seen: bool = c
            .query_row(
                "SELECT 1 FROM seen_fixes WHERE fingerprint = ?1",
                [fingerprint],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        let prev = c
            .query_row(
                "SELECT lat, lon, time_ms FROM seen_fixes ORDER BY time_ms DESC LIMIT 1",
                [],
                |r| {
                    Ok(Fix {
                        lat: r.get(0)?,
                        lon: r.get(1)?,
                        accuracy_m: None,
                        time_ms: r.get(2)?,
                        provider: "history".into(),
                        is_mock: false,
                    })
                },
            )
            .optional()?;
        Ok((prev, seen))
    })
}

#[cfg(feature = "face")]
impl From<&crate::face::VerifyOutcome> for FaceEvidence {
    fn from(v: &crate::face::VerifyOutcome) -> Self {
        FaceEvidence {
            similarity: v.similarity,
            threshold: v.threshold,
            matched: v.matched,
            quality_passed: v.quality.passed,
            quality_reasons: v
                .quality
                .issues
                .iter()
                .filter_map(|i| serde_json::to_value(i).ok()?.as_str().map(str::to_owned))
                .collect(),
            model_sha256: v.model_sha256.clone(),
            template: None,
            crop_sha256: None,
            liveness: None,
        }
    }
}

/// The face step of a check: verifies `selfie` against the employee's sealed template.
/// No enrolled template is [`Error::NotFound`] (`"face template"`): the app should offer enrollment.
#[cfg(feature = "face")]
pub fn verify_face(
    engine: &crate::face::FaceEngine,
    store: &crate::store::Store,
    master: &crate::sealed::MasterKey,
    employee_id: &str,
    selfie: &crate::face::FaceImage,
) -> Result<(FaceEvidence, Option<Vec<u8>>)> {
    use crate::face::template_store;
    let key = template_store::sealing_key(master);
    let template = template_store::load(store, &key, employee_id)?.ok_or(Error::NotFound {
        what: "face template",
    })?;
    let outcome = engine.verify(&template, selfie)?;
    with_crop(FaceEvidence::from(&outcome), &template, &outcome)
}

/// The face step's evidence for the device to record: `evidence` naming `template` (not yet marked
/// approved: the device looks its approval up) and the crop the similarity was computed on, with the
/// crop itself, JPEG-encoded, to store as a blob beside the record.
#[cfg(feature = "face")]
fn with_crop(
    mut evidence: FaceEvidence,
    template: &crate::face::Template,
    outcome: &crate::face::VerifyOutcome,
) -> Result<(FaceEvidence, Option<Vec<u8>>)> {
    evidence.template = Some(unapproved(template));
    let crop = outcome
        .aligned
        .as_deref()
        .map(crate::face::crop::encode)
        .transpose()?;
    evidence.crop_sha256 = crop
        .as_ref()
        .map(|j| hex::encode(ring::digest::digest(&ring::digest::SHA256, j)));
    Ok((evidence, crop))
}

/// The reference to `template`, not yet marked approved (the device looks its approval up).
#[cfg(feature = "face")]
fn unapproved(template: &crate::face::Template) -> crate::enrollment::TemplateRef {
    crate::enrollment::TemplateRef {
        sha256: template.sha256(),
        approved: false,
    }
}

/// The face step of a live check at `now`: finishes a liveness attempt, verifies its best frame against
/// the employee's sealed template, and returns the face evidence with the liveness verdict in it (failed
/// when the attempt is used too long after its challenge, see
/// [`crate::liveness::LivenessVerdict::expire_at`]), the aligned crop, and the attempt's encoded
/// [`crate::liveness::Transcript`] (named by the evidence) for the server to re-run the check on. No
/// enrolled template is [`Error::NotFound`] (`"face template"`).
#[cfg(feature = "face")]
#[allow(clippy::too_many_arguments)]
pub fn verify_live(
    engine: &crate::face::FaceEngine,
    store: &crate::store::Store,
    master: &crate::sealed::MasterKey,
    employee_id: &str,
    attempt: &crate::face::LivenessAttempt,
    passive: Option<crate::liveness::PassiveObservation>,
    policy: &crate::liveness::LivenessPolicy,
    now: &MonotonicReading,
) -> Result<FaceCapture> {
    use crate::face::template_store;
    let key = template_store::sealing_key(master);
    let template = template_store::load(store, &key, employee_id)?.ok_or(Error::NotFound {
        what: "face template",
    })?;
    let mut outcome = engine.finish_and_verify(attempt, &template, passive, policy)?;
    outcome.verdict.expire_at(attempt.challenge(), now);
    let transcript = outcome.transcript.encode()?;
    let mut liveness = outcome.verdict.to_evidence();
    liveness.observations_sha256 = Some(crate::liveness::transcript_sha256(&transcript));
    let mut evidence = FaceEvidence::from(&outcome.verify);
    evidence.liveness = Some(liveness);
    let (evidence, crop) = with_crop(evidence, &template, &outcome.verify)?;
    Ok(FaceCapture {
        evidence,
        crop,
        transcript: Some(transcript),
    })
}

/// What the face step of a check produced: the evidence to sign, and the blobs it names, to store
/// beside the record.
#[derive(Debug, Clone)]
pub struct FaceCapture {
    /// The face evidence.
    pub evidence: FaceEvidence,
    /// The aligned face crop (JPEG), named by `evidence.crop_sha256`.
    pub crop: Option<Vec<u8>>,
    /// The liveness attempt's encoded transcript, named by `evidence.liveness.observations_sha256`.
    pub transcript: Option<Vec<u8>>,
}
