//! Plain records that cross the boundary, and their conversions to and from core types.

use siap_core::attendance::{CheckOutcome, Decision};
use siap_core::clock::MonotonicReading;
use siap_core::face::{FaceImage, RawFrame};
use siap_core::geo::Fix;
use siap_core::permit::PermitView;

use crate::error::SiapError;

/// Everything the app passes to open the core.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CoreConfig {
    /// App-private directory for the database.
    pub data_dir: String,
    /// Directory holding the ONNX models (shipped as app assets, copied to storage). `None`: no face step.
    pub models_dir: Option<String>,
    /// Sync server base URL, e.g. `https://siap.kupangkota.go.id`.
    pub server_url: Option<String>,
    /// The city's server signing key (uncompressed P-256), configured in the app build.
    pub server_public_key: Option<Vec<u8>>,
    /// 32-byte master key from the platform keystore; seals the device key and face templates.
    pub master_key: Vec<u8>,
    /// Check-ins need a liveness session (default). Only a city that has measured its own liveness
    /// error rates and decided otherwise should turn this off: a still selfie cannot tell a person from
    /// a photo of them.
    #[uniffi(default = true)]
    pub require_liveness: bool,
}

/// A location fix as the platform reports it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct LocationFix {
    /// Degrees.
    pub latitude: f64,
    /// Degrees.
    pub longitude: f64,
    /// Horizontal accuracy radius in metres (`None` if the platform gave none).
    pub accuracy_m: Option<f64>,
    /// Fix time, ms since the Unix epoch (GNSS time where available).
    pub time_ms: i64,
    /// Provider name (`gps`, `fused`, `network`).
    pub provider: String,
    /// The platform's mock-location flag (`Location.isMock()` / `sourceInformation.isSimulatedBySoftware`).
    pub is_mock: bool,
}

impl From<LocationFix> for Fix {
    fn from(f: LocationFix) -> Self {
        Fix {
            lat: f.latitude,
            lon: f.longitude,
            accuracy_m: f.accuracy_m,
            time_ms: f.time_ms,
            provider: f.provider,
            is_mock: f.is_mock,
        }
    }
}

/// The two clocks at the moment of an event.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClockReading {
    /// Monotonic ms since boot including sleep (`SystemClock.elapsedRealtime()`).
    pub monotonic_ms: i64,
    /// Boot session id (`Settings.Global.BOOT_COUNT`, or the kernel boot id).
    pub boot_id: String,
    /// The phone's wall clock, ms since the Unix epoch.
    pub wall_ms: i64,
}

impl ClockReading {
    pub(crate) fn monotonic(&self) -> MonotonicReading {
        MonotonicReading {
            monotonic_ms: self.monotonic_ms,
            boot_id: self.boot_id.clone(),
        }
    }
}

/// Pixel layouts of raw camera frames.
#[derive(Debug, Clone, Copy, uniffi::Enum)]
pub enum PixelFormat {
    /// 4 bytes per pixel, R G B A.
    Rgba8,
    /// 4 bytes per pixel, B G R A (iOS `kCVPixelFormatType_32BGRA`).
    Bgra8,
    /// Y plane then interleaved V/U (Android camera default).
    Nv21,
    /// Y plane, then U plane, then V plane (YUV_420_888 repacked).
    I420,
}

impl From<PixelFormat> for siap_core::face::PixelFormat {
    fn from(f: PixelFormat) -> Self {
        match f {
            PixelFormat::Rgba8 => Self::Rgba8,
            PixelFormat::Bgra8 => Self::Bgra8,
            PixelFormat::Nv21 => Self::Nv21,
            PixelFormat::I420 => Self::I420,
        }
    }
}

/// An image from the camera: encoded bytes, or a raw frame with its rotation.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum CameraImage {
    /// JPEG or PNG bytes (EXIF orientation honoured).
    Encoded {
        /// The file bytes.
        bytes: Vec<u8>,
    },
    /// A raw frame, so the shell never re-encodes.
    Raw {
        /// Layout.
        format: PixelFormat,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Clockwise rotation to make the image upright: 0, 90, 180 or 270.
        rotation_degrees: u32,
        /// The bytes.
        data: Vec<u8>,
    },
}

/// In or out.
#[derive(Debug, Clone, Copy, uniffi::Enum)]
pub enum CheckDirection {
    /// Check in.
    In,
    /// Check out.
    Out,
}

/// The outcome of a check, as the app shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CheckResult {
    /// Ledger seq of the record written (rejected attempts are recorded too).
    pub seq: u64,
    /// Counted as attendance.
    pub accepted: bool,
    /// Why not (snake_case codes such as `outside_fence`, `mock_location`, `face_mismatch`).
    pub reasons: Vec<String>,
    /// The nearest assigned site.
    pub site_id: Option<String>,
    /// Signed distance to the fence edge in metres (negative: inside).
    pub distance_to_edge_m: Option<f64>,
    /// Plausibility flags (snake_case).
    pub flags: Vec<String>,
    /// Face similarity, when a face was checked.
    pub similarity: Option<f32>,
    /// The wall clock disagreed with trusted time.
    pub clock_skew: bool,
    /// Liveness verdict, when a liveness session was used.
    pub liveness_passed: Option<bool>,
    /// Why liveness failed (snake_case codes such as `planar_motion`, `step_not_completed`).
    pub liveness_reasons: Vec<String>,
}

fn codes<T: serde::Serialize>(items: &[T]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| serde_json::to_value(i).ok()?.as_str().map(str::to_owned))
        .collect()
}

impl From<&CheckOutcome> for CheckResult {
    fn from(o: &CheckOutcome) -> Self {
        let p = &o.payload;
        let live = p.face.as_ref().and_then(|f| f.liveness.as_ref());
        CheckResult {
            seq: o.seq,
            accepted: p.decision == Decision::Accepted,
            reasons: codes(&p.reasons),
            site_id: p.geo.site_id.clone(),
            distance_to_edge_m: p.geo.distance_to_edge_m,
            flags: codes(&p.geo.flags),
            similarity: p.face.as_ref().map(|f| f.similarity),
            clock_skew: p.time.clock_skew,
            liveness_passed: live.map(|l| l.passed),
            liveness_reasons: live
                .and_then(|l| l.details.get("reasons"))
                .and_then(|r| r.as_array())
                .map(|rs| {
                    rs.iter()
                        .filter_map(|r| r.get("reason")?.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Asset condition.
#[derive(Debug, Clone, Copy, uniffi::Enum)]
pub enum AssetCondition {
    /// Working.
    Good,
    /// Needs maintenance.
    MinorDamage,
    /// Unusable or unsafe.
    MajorDamage,
    /// Not found.
    Lost,
}

/// One step of a permit's history.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PermitStep {
    /// When, ms since epoch.
    pub at_ms: i64,
    /// Status code (snake_case).
    pub status: String,
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
    /// Status code (snake_case).
    pub status: String,
    /// Official fee in rupiah.
    pub official_fee_idr: u64,
    /// Service deadline, ms since epoch.
    pub deadline_ms: i64,
    /// Past the deadline and not final.
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
            status: codes(&[d.status]).pop().unwrap_or_default(),
            timeline: d
                .timeline
                .into_iter()
                .map(|e| PermitStep {
                    at_ms: e.at_ms,
                    status: codes(&[e.status]).pop().unwrap_or_default(),
                    note: e.note,
                })
                .collect(),
            permit_id: d.permit_id,
            permit_type: d.permit_type,
            official_fee_idr: d.official_fee_idr,
            deadline_ms: d.deadline_ms,
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
    /// Public key (uncompressed P-256), to register with the server.
    pub public_key: Vec<u8>,
    /// Records written so far.
    pub records: u64,
    /// Records not yet acknowledged by the server.
    pub pending_records: u64,
    /// Face models loaded.
    pub face_ready: bool,
}

/// What one `sync()` did.
#[derive(Debug, Clone, uniffi::Record)]
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
    /// Everything uploaded and pulled.
    pub complete: bool,
    /// Per-phase problems (retry later).
    pub errors: Vec<String>,
}

/// One face found in kiosk mode.
#[derive(Debug, Clone, uniffi::Record)]
pub struct IdentifiedPerson {
    /// The enrolled employee, or `None` for an unknown face (or one that failed the quality gate).
    pub employee_id: Option<String>,
    /// Similarity with the closest enrolled employee.
    pub similarity: f32,
    /// The face's box `[x1, y1, x2, y2]` in pixels of the upright image.
    pub face_box: Vec<f32>,
    /// The face passed the quality gate.
    pub quality_passed: bool,
}

/// Decodes an encoded photo or a raw camera frame into the core's upright RGB image.
pub(crate) fn decode(img: CameraImage) -> Result<FaceImage, SiapError> {
    Ok(match img {
        CameraImage::Encoded { bytes } => FaceImage::decode(&bytes)?,
        CameraImage::Raw {
            format,
            width,
            height,
            rotation_degrees,
            data,
        } => FaceImage::from_raw(&RawFrame {
            format: format.into(),
            width,
            height,
            rotation_degrees,
            data,
        })?,
    })
}
