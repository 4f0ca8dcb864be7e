//! Face enrollment across the boundary: what an enrollment recorded, and where a template stands
//! with the city (pending until its signed approval is pulled).

use siap_core::device::EnrollmentOutcome;
use siap_core::enrollment::FaceDecisionKind;
use siap_core::enrollment::decisions::TemplateStatus;

/// Where an enrolled face stands with the city.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
#[non_exhaustive]
pub enum FaceApproval {
    /// Waiting for the city's approval: check-ins are recorded, but not counted (`EnrollmentPending`).
    Pending,
    /// Approved for this device: check-ins can be accepted.
    Approved,
    /// The city refused this enrollment; enroll again (the reason says why).
    Rejected {
        /// The approver's reason.
        reason: String,
    },
    /// The city withdrew an earlier approval.
    Revoked {
        /// The approver's reason.
        reason: String,
    },
}

impl From<TemplateStatus> for FaceApproval {
    fn from(s: TemplateStatus) -> Self {
        match s {
            TemplateStatus::Pending => Self::Pending,
            TemplateStatus::Approved => Self::Approved,
            TemplateStatus::Refused {
                decision: FaceDecisionKind::Revoked,
                reason,
            } => Self::Revoked { reason },
            TemplateStatus::Refused { reason, .. } => Self::Rejected { reason },
        }
    }
}

/// Why the device refused an enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
#[non_exhaustive]
pub enum EnrollmentRefusal {
    /// The liveness check at enrollment failed (a photo held up to the camera fails it).
    LivenessFailed,
    /// The city requires a liveness check at enrollment and none was given.
    LivenessMissing,
    /// The live face is not the face in the photos.
    FaceMismatch,
    /// A reason this version does not know.
    Other,
}

impl EnrollmentRefusal {
    fn from_code(code: &str) -> Self {
        match code {
            "liveness_failed" => Self::LivenessFailed,
            "liveness_missing" => Self::LivenessMissing,
            "face_mismatch" => Self::FaceMismatch,
            _ => Self::Other,
        }
    }
}

/// What an enrollment recorded.
#[derive(Debug, Clone, uniffi::Record)]
pub struct EnrollmentResult {
    /// Ledger seq of the `face.enrollment` record (refused attempts are recorded too).
    pub seq: u64,
    /// The template's hash, as the city's approval will name it.
    pub template_sha256: String,
    /// Why the device refused it (empty: the template was stored, pending approval).
    pub refused: Vec<EnrollmentRefusal>,
    /// Where the stored template stands (`None` when refused).
    pub approval: Option<FaceApproval>,
}

impl From<EnrollmentOutcome> for EnrollmentResult {
    fn from(o: EnrollmentOutcome) -> Self {
        EnrollmentResult {
            seq: o.seq,
            refused: o
                .payload
                .refused
                .iter()
                .map(|c| EnrollmentRefusal::from_code(c))
                .collect(),
            template_sha256: o.payload.template_sha256,
            approval: o.status.map(Into::into),
        }
    }
}

/// An employee's enrolled face on this device.
#[derive(Debug, Clone, uniffi::Record)]
pub struct FaceStatus {
    /// The template's hash.
    pub template_sha256: String,
    /// Where it stands with the city.
    pub approval: FaceApproval,
}
