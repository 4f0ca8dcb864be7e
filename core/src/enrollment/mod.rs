//! Face enrollment as a city-governed event: what a phone records when someone enrolls (or erases) a
//! face, and the server-signed decision that lets a template count.
//!
//! A template enrolled on a phone is only a claim that this face belongs to that employee: a colleague
//! could enroll his own face under Maria's id. So enrolling writes a signed ledger record
//! ([`EnrollmentPayload`]) naming the template by its hash, with the aligned face crops as blobs and the
//! liveness verdict of the enrollment, and the template stays **pending** until the city approves it.
//! The approval (or rejection, or a later revocation) is a [`FaceDecision`] signed by the server under
//! [`FACE_DECISION_DOMAIN`] and pulled by the employee's devices; a check-in names the template it was
//! matched against, and the server counts it only when that template is approved for that device.
//!
//! This module has no face engine: the server reads these types without `siap-core[face]`.

pub mod decisions;

use serde::{Deserialize, Serialize};

use crate::clock::TimeEvidence;
use crate::liveness::LivenessEvidence;
use crate::{Error, Result};

/// Ledger kind of an enrollment record.
pub const KIND_ENROLLMENT: &str = "face.enrollment";
/// Ledger kind of an erasure record (the employee's face data deleted on the device).
pub const KIND_ERASURE: &str = "face.erasure";
/// Version of [`EnrollmentPayload`] and [`ErasurePayload`].
pub const PAYLOAD_VERSION: u32 = 1;
/// Domain of a signed [`FaceDecision`].
pub const FACE_DECISION_DOMAIN: &str = "SIAP-FACE-DECISION-v1";

/// One enrollment photo as recorded: the hash of its aligned face crop (uploaded as a blob) and the
/// quality gate's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentPhoto {
    /// SHA-256 (hex) of the aligned 112x112 face crop, JPEG-encoded, uploaded as a blob.
    pub crop_sha256: String,
    /// The quality gate passed.
    pub quality_passed: bool,
    /// Quality gate reasons (empty when it passed).
    pub quality_reasons: Vec<String>,
}

/// The signed payload of a [`KIND_ENROLLMENT`] record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollmentPayload {
    /// [`PAYLOAD_VERSION`].
    pub v: u32,
    /// Whose face this claims to be.
    pub employee_id: String,
    /// SHA-256 (hex) of the template's canonical bytes: what check-ins and approvals name.
    pub template_sha256: String,
    /// SHA-256 of the model files that made the template.
    pub model_sha256: Vec<String>,
    /// The photos the template was made from.
    pub photos: Vec<EnrollmentPhoto>,
    /// The liveness check the enrollment passed (absent only where the city's policy allows it).
    pub liveness: Option<LivenessEvidence>,
    /// The template this one replaces on this device, if any.
    pub replaces: Option<String>,
    /// Why the device refused the enrollment (`liveness_failed`, `liveness_missing`,
    /// `face_mismatch`); empty: the template was stored, pending approval.
    #[serde(default)]
    pub refused: Vec<String>,
    /// When.
    pub time: TimeEvidence,
}

/// The signed payload of a [`KIND_ERASURE`] record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasurePayload {
    /// [`PAYLOAD_VERSION`].
    pub v: u32,
    /// Whose face data was deleted.
    pub employee_id: String,
    /// The template that was deleted (`None`: there was none on this device).
    pub template_sha256: Option<String>,
    /// When.
    pub time: TimeEvidence,
}

/// What the city decided about an enrolled template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceDecisionKind {
    /// The template may be used for accepted check-ins.
    Approved,
    /// The enrollment was refused (e.g. the crops are not the employee's face).
    Rejected,
    /// A once-approved template may no longer be used (erasure, re-enrollment, misuse).
    Revoked,
}

impl FaceDecisionKind {
    /// The snake_case code (as stored and shown).
    pub fn code(self) -> &'static str {
        match self {
            FaceDecisionKind::Approved => "approved",
            FaceDecisionKind::Rejected => "rejected",
            FaceDecisionKind::Revoked => "revoked",
        }
    }
}

/// The city's decision on one template, signed by the server ([`FACE_DECISION_DOMAIN`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceDecision {
    /// Whose template.
    pub employee_id: String,
    /// Which template (hex SHA-256, see [`EnrollmentPayload::template_sha256`]).
    pub template_sha256: String,
    /// What was decided.
    pub decision: FaceDecisionKind,
    /// The devices it holds for; `None`: any device bound to this employee.
    pub device_ids: Option<Vec<String>>,
    /// Who decided (an administrator's name or id).
    pub approver: String,
    /// Why (free text, may be empty for an approval).
    pub reason: String,
    /// When (server time).
    pub at_ms: i64,
}

impl FaceDecision {
    /// Whether this decision speaks about `device_id`.
    pub fn covers(&self, device_id: &str) -> bool {
        self.device_ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|d| d == device_id))
    }

    /// Checks the fields before the server signs it.
    pub fn validate(&self) -> Result<()> {
        if self.employee_id.is_empty() || self.employee_id.len() > 128 {
            return Err(Error::invalid("employee_id", "must be 1 to 128 bytes"));
        }
        if !is_sha256_hex(&self.template_sha256) {
            return Err(Error::invalid(
                "template_sha256",
                "must be 64 lowercase hex characters",
            ));
        }
        if self.approver.trim().is_empty()
            || self.approver.len() > 128
            || self.approver.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                "approver",
                "must be 1 to 128 bytes without control characters",
            ));
        }
        if self.reason.len() > 1024 || self.reason.contains('\0') {
            return Err(Error::invalid(
                "reason",
                "must be at most 1024 bytes without NUL",
            ));
        }
        if let Some(ids) = &self.device_ids {
            let bad_id =
                |d: &String| d.is_empty() || d.len() > 128 || d.chars().any(char::is_control);
            if ids.is_empty() || ids.len() > 64 || ids.iter().any(bad_id) {
                return Err(Error::invalid(
                    "device_ids",
                    "must name 1 to 64 devices by their ids",
                ));
            }
        }
        Ok(())
    }
}

/// Whether `s` is a SHA-256 in lowercase hex.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The template a check was matched against and whether the device holds the city's approval for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    /// Hex SHA-256 of the template.
    pub sha256: String,
    /// The device holds a verified [`FaceDecision`] approving it (the server re-checks this).
    pub approved: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(ids: Option<Vec<String>>) -> FaceDecision {
        FaceDecision {
            employee_id: "e1".into(),
            template_sha256: "ab".repeat(32),
            decision: FaceDecisionKind::Approved,
            device_ids: ids,
            approver: "hr".into(),
            reason: String::new(),
            at_ms: 1,
        }
    }

    #[test]
    fn a_decision_covers_its_devices_or_all_of_the_employees() {
        assert!(decision(None).covers("d1"));
        let scoped = decision(Some(vec!["d1".into()]));
        assert!(scoped.covers("d1"));
        assert!(!scoped.covers("d2"));
    }

    #[test]
    fn malformed_decisions_are_refused_before_signing() {
        assert!(decision(None).validate().is_ok());
        let mut d = decision(None);
        d.template_sha256 = "AB".repeat(32);
        assert!(d.validate().is_err());
        let mut d = decision(Some(vec![]));
        assert!(d.validate().is_err());
        d = decision(None);
        d.approver = " ".into();
        assert!(d.validate().is_err());
        d = decision(None);
        d.employee_id = String::new();
        assert!(d.validate().is_err());
    }
}
