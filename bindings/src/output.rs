//! What the app gets back: results, statuses and the typed codes in them. Each is a conversion from
//! the core's own type; reasons, flags and statuses are enums (non-exhaustive where a newer core or
//! server may add values, so the app keeps a default branch).

use std::time::SystemTime;

use siap_core::attendance::{CheckOutcome, Decision, Reason};
use siap_core::face::IdentifiedFace;
use siap_core::geo::GeoFlag;
use siap_core::inspection::InspectionOutcome;
use siap_core::liveness::LivenessReasonKind;
use siap_core::permit::{PermitStatus as CorePermitStatus, PermitView};
use siap_core::sync::client::{SyncPhase as CorePhase, SyncReport};

use crate::error::SiapError;
use crate::time::system_time;

/// Why a check was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
#[non_exhaustive]
pub enum CheckReason {
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
    /// A face is required and none was given (or the device has no face models).
    FaceMissing,
    /// The face did not pass the quality gate.
    FaceQuality,
    /// The face did not match the enrolled template.
    FaceMismatch,
    /// The liveness check failed.
    LivenessFailed,
    /// Liveness is required and the face came without it (a still photo).
    LivenessMissing,
    /// The face matched a template the city has not approved (yet) for this device.
    EnrollmentPending,
}

impl From<Reason> for CheckReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::NoAssignedSite => Self::NoAssignedSite,
            Reason::OutsideFence => Self::OutsideFence,
            Reason::LocationUndecidable => Self::LocationUndecidable,
            Reason::MockLocation => Self::MockLocation,
            Reason::ImpossibleSpeed => Self::ImpossibleSpeed,
            Reason::RepeatedFix => Self::RepeatedFix,
            Reason::StaleFix => Self::StaleFix,
            Reason::ClockSkew => Self::ClockSkew,
            Reason::FaceMissing => Self::FaceMissing,
            Reason::FaceQuality => Self::FaceQuality,
            Reason::FaceMismatch => Self::FaceMismatch,
            Reason::LivenessFailed => Self::LivenessFailed,
            Reason::LivenessMissing => Self::LivenessMissing,
            Reason::EnrollmentPending => Self::EnrollmentPending,
        }
    }
}

/// A plausibility flag on a location fix (recorded whether or not it rejects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
#[non_exhaustive]
pub enum LocationFlag {
    /// The platform reported a mock location provider.
    MockLocation,
    /// Faster than possible since the previous fix.
    ImpossibleSpeed,
    /// Older than allowed.
    StaleFix,
    /// Dated in the future.
    FutureFix,
    /// No accuracy given.
    MissingAccuracy,
    /// An accuracy no real receiver reports.
    ImplausibleAccuracy,
    /// Exactly the same fix as before.
    RepeatedFix,
}

impl From<GeoFlag> for LocationFlag {
    fn from(f: GeoFlag) -> Self {
        match f {
            GeoFlag::MockLocation => Self::MockLocation,
            GeoFlag::ImpossibleSpeed => Self::ImpossibleSpeed,
            GeoFlag::StaleFix => Self::StaleFix,
            GeoFlag::FutureFix => Self::FutureFix,
            GeoFlag::MissingAccuracy => Self::MissingAccuracy,
            GeoFlag::ImplausibleAccuracy => Self::ImplausibleAccuracy,
            GeoFlag::RepeatedFix => Self::RepeatedFix,
        }
    }
}

/// Why a liveness attempt failed (what to tell the person: "turn further", "only you in the picture").
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
#[non_exhaustive]
pub enum LivenessFailure {
    /// Too few frames.
    TooFewFrames,
    /// Frame timestamps went backwards.
    TimestampsNotIncreasing,
    /// Frames from before the challenge (a replayed recording).
    FramesBeforeChallenge,
    /// A long gap between frames.
    FrameGap,
    /// More than one face.
    MultipleFaces,
    /// Too many frames without a face.
    TooManyFramesWithoutFace,
    /// A face without usable landmarks.
    MissingLandmarks,
    /// The face is too small in the frame.
    FaceTooSmall,
    /// The same frame over and over (a still picture).
    StaticSequence,
    /// Too few frames to verify the identity on.
    TooFewEmbeddings,
    /// Not the same person throughout.
    EmbeddingMismatch,
    /// A movement other than the one asked for.
    WrongMovement,
    /// A movement after the last one asked for.
    ExtraMovement,
    /// The session was used too late.
    SessionExpired,
    /// A requested movement was not made.
    StepNotCompleted,
    /// A movement came after its deadline.
    StepTooLate,
    /// The movement was that of a flat picture.
    PlanarMotion,
    /// Flat or not could not be told.
    PlanarityUndetermined,
    /// The nose did not stand out of the face: a flat or bent picture.
    FlatNose,
    /// The anti-spoof model's score is above the city's cut.
    PassiveSpoof,
    /// The frames are too blurry.
    TooBlurry,
    /// A reason this version of the app does not know (recorded by a newer core).
    Unknown,
}

impl From<LivenessReasonKind> for LivenessFailure {
    fn from(k: LivenessReasonKind) -> Self {
        use LivenessReasonKind as K;
        match k {
            K::TooFewFrames => Self::TooFewFrames,
            K::TimestampsNotIncreasing => Self::TimestampsNotIncreasing,
            K::FramesBeforeChallenge => Self::FramesBeforeChallenge,
            K::FrameGap => Self::FrameGap,
            K::MultipleFaces => Self::MultipleFaces,
            K::TooManyFramesWithoutFace => Self::TooManyFramesWithoutFace,
            K::MissingLandmarks => Self::MissingLandmarks,
            K::FaceTooSmall => Self::FaceTooSmall,
            K::StaticSequence => Self::StaticSequence,
            K::TooFewEmbeddings => Self::TooFewEmbeddings,
            K::EmbeddingMismatch => Self::EmbeddingMismatch,
            K::WrongMovement => Self::WrongMovement,
            K::ExtraMovement => Self::ExtraMovement,
            K::SessionExpired => Self::SessionExpired,
            K::StepNotCompleted => Self::StepNotCompleted,
            K::StepTooLate => Self::StepTooLate,
            K::PlanarMotion => Self::PlanarMotion,
            K::PlanarityUndetermined => Self::PlanarityUndetermined,
            K::FlatNose => Self::FlatNose,
            K::PassiveSpoof => Self::PassiveSpoof,
            K::TooBlurry => Self::TooBlurry,
            _ => Self::Unknown,
        }
    }
}

/// The outcome of a check, as the app shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CheckResult {
    /// Ledger seq of the record written (rejected attempts are recorded too).
    pub seq: u64,
    /// Counted as attendance by this device. The server re-checks the evidence.
    pub accepted: bool,
    /// Why not.
    pub reasons: Vec<CheckReason>,
    /// The nearest assigned site.
    pub site_id: Option<String>,
    /// Signed distance to the fence edge in metres (negative: inside).
    pub distance_to_edge_m: Option<f64>,
    /// Plausibility flags of the fix.
    pub flags: Vec<LocationFlag>,
    /// Face similarity, when a face was checked.
    pub similarity: Option<f32>,
    /// The wall clock disagreed with trusted time.
    pub clock_skew: bool,
    /// Liveness verdict, when a liveness session was used.
    pub liveness_passed: Option<bool>,
    /// Why liveness failed.
    pub liveness_failures: Vec<LivenessFailure>,
}

impl From<&CheckOutcome> for CheckResult {
    fn from(o: &CheckOutcome) -> Self {
        let p = &o.payload;
        let live = p.face.as_ref().and_then(|f| f.liveness.as_ref());
        CheckResult {
            seq: o.seq,
            accepted: p.decision == Decision::Accepted,
            reasons: p.reasons.iter().copied().map(Into::into).collect(),
            site_id: p.geo.site_id.clone(),
            distance_to_edge_m: p.geo.distance_to_edge_m,
            flags: p.geo.flags.iter().copied().map(Into::into).collect(),
            similarity: p.face.as_ref().map(|f| f.similarity),
            clock_skew: p.time.clock_skew,
            liveness_passed: live.map(|l| l.passed),
            liveness_failures: live
                .map(|l| l.reasons().into_iter().map(Into::into).collect())
                .unwrap_or_default(),
        }
    }
}

/// The outcome of an inspection.
#[derive(Debug, Clone, uniffi::Record)]
pub struct InspectionResult {
    /// Ledger seq of the record written.
    pub seq: u64,
    /// Signed distance to the asset's circle in metres (negative: at the asset).
    pub distance_to_edge_m: Option<f64>,
    /// Plausibility flags of the fix.
    pub flags: Vec<LocationFlag>,
}

impl From<&InspectionOutcome> for InspectionResult {
    fn from(o: &InspectionOutcome) -> Self {
        InspectionResult {
            seq: o.seq,
            distance_to_edge_m: o.payload.proximity.distance_to_edge_m,
            flags: o
                .payload
                .proximity
                .flags
                .iter()
                .copied()
                .map(Into::into)
                .collect(),
        }
    }
}

/// Where a permit application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
#[non_exhaustive]
pub enum PermitStatus {
    /// Received.
    Submitted,
    /// Being examined.
    InReview,
    /// The applicant must supply something.
    NeedsInfo,
    /// Waiting for the official fee to be paid.
    AwaitingPayment,
    /// Granted.
    Issued,
    /// Refused.
    Rejected,
    /// Withdrawn by the applicant.
    Withdrawn,
}

impl From<CorePermitStatus> for PermitStatus {
    fn from(s: CorePermitStatus) -> Self {
        match s {
            CorePermitStatus::Submitted => Self::Submitted,
            CorePermitStatus::InReview => Self::InReview,
            CorePermitStatus::NeedsInfo => Self::NeedsInfo,
            CorePermitStatus::AwaitingPayment => Self::AwaitingPayment,
            CorePermitStatus::Issued => Self::Issued,
            CorePermitStatus::Rejected => Self::Rejected,
            CorePermitStatus::Withdrawn => Self::Withdrawn,
        }
    }
}

/// One step of a permit's history.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PermitStep {
    /// When.
    pub at: SystemTime,
    /// The status it moved to.
    pub status: PermitStatus,
    /// Public note.
    pub note: String,
}

/// A permit as the citizen sees it, verified against the city's key.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PermitInfo {
    /// Application number.
    pub permit_id: String,
    /// Permit type.
    pub permit_type: String,
    /// Where it stands.
    pub status: PermitStatus,
    /// Official fee in rupiah.
    pub official_fee_idr: u64,
    /// Service deadline.
    pub deadline: SystemTime,
    /// Past the deadline (at trusted time) and not final.
    pub overdue: bool,
    /// Issuing office.
    pub office: String,
    /// History, oldest first.
    pub timeline: Vec<PermitStep>,
}

impl From<PermitView> for PermitInfo {
    fn from(v: PermitView) -> Self {
        let d = v.document;
        PermitInfo {
            status: d.status.into(),
            timeline: d
                .timeline
                .into_iter()
                .map(|e| PermitStep {
                    at: system_time(e.at_ms),
                    status: e.status.into(),
                    note: e.note,
                })
                .collect(),
            permit_id: d.permit_id,
            permit_type: d.permit_type,
            official_fee_idr: d.official_fee_idr,
            deadline: system_time(d.deadline_ms),
            overdue: v.overdue,
            office: d.office,
        }
    }
}

/// Device state for a status screen.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DeviceStatus {
    /// Device id (derived from its key).
    pub device_id: String,
    /// Public key (uncompressed P-256).
    pub public_key: Vec<u8>,
    /// Records written so far.
    pub records: u64,
    /// Records not yet acknowledged by the server.
    pub pending_records: u64,
    /// Face models loaded.
    pub face_ready: bool,
    /// Registered with the server.
    pub registered: bool,
}

impl From<siap_core::device::DeviceStatus> for DeviceStatus {
    fn from(s: siap_core::device::DeviceStatus) -> Self {
        DeviceStatus {
            device_id: s.device_id,
            public_key: s.public_key,
            records: s.records,
            pending_records: s.pending_records,
            face_ready: s.face_ready,
            registered: s.registered,
        }
    }
}

/// Which part of a sync a problem belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncPhase {
    /// Uploading ledger records.
    Records,
    /// Uploading photos.
    Blobs,
    /// Pulling changes.
    Pull,
}

/// One problem of a sync (the rest of the sync went on; retry later).
#[derive(Debug, uniffi::Record)]
pub struct SyncProblem {
    /// Where.
    pub phase: SyncPhase,
    /// What.
    pub error: SiapError,
}

/// What one `sync()` did.
#[derive(Debug, uniffi::Record)]
pub struct SyncSummary {
    /// Records sent (including resends).
    pub sent: u64,
    /// Records newly acknowledged.
    pub acknowledged: u64,
    /// Records still waiting.
    pub pending: u64,
    /// Photos uploaded.
    pub blobs_uploaded: u32,
    /// Changes pulled and applied.
    pub pulled: u32,
    /// Pulled changes skipped as invalid (the server published data this device cannot use).
    pub skipped: u32,
    /// Everything uploaded and pulled.
    pub complete: bool,
    /// Per-phase problems.
    pub problems: Vec<SyncProblem>,
}

impl From<SyncReport> for SyncSummary {
    fn from(r: SyncReport) -> Self {
        SyncSummary {
            complete: r.is_complete(),
            sent: r.sent,
            acknowledged: r.acknowledged,
            pending: r.pending,
            blobs_uploaded: r.blobs_uploaded,
            pulled: r.pulled,
            skipped: r.skipped,
            problems: r
                .errors
                .into_iter()
                .map(|(phase, e)| SyncProblem {
                    phase: match phase {
                        CorePhase::Records => SyncPhase::Records,
                        CorePhase::Blobs => SyncPhase::Blobs,
                        CorePhase::Pull => SyncPhase::Pull,
                    },
                    error: e.into(),
                })
                .collect(),
        }
    }
}

/// A face's box in pixels of the upright image.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct FaceBox {
    /// Left edge.
    pub left: f32,
    /// Top edge.
    pub top: f32,
    /// Right edge.
    pub right: f32,
    /// Bottom edge.
    pub bottom: f32,
}

/// One face found in kiosk mode.
#[derive(Debug, Clone, uniffi::Record)]
pub struct IdentifiedPerson {
    /// The enrolled employee, or `None` for an unknown face (or one that failed the quality gate).
    pub employee_id: Option<String>,
    /// Similarity with the closest enrolled employee.
    pub similarity: f32,
    /// Where the face is.
    pub face_box: FaceBox,
    /// The face passed the quality gate.
    pub quality_passed: bool,
}

impl From<IdentifiedFace> for IdentifiedPerson {
    fn from(f: IdentifiedFace) -> Self {
        let [left, top, right, bottom] = f.detection.bbox;
        IdentifiedPerson {
            employee_id: f.id,
            similarity: f.similarity,
            face_box: FaceBox {
                left,
                top,
                right,
                bottom,
            },
            quality_passed: f.quality.passed,
        }
    }
}
