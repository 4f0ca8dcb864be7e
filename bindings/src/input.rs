//! What the app passes in: configuration, location fixes, camera images and photos, and the face of
//! a check; each converted to the core's own type in one `From`/`into_core`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use siap_core::device::{FaceInput as CoreFaceInput, ImageInput, PhotoInput};
use siap_core::face::RawFrame;
use siap_core::geo::Fix;

use crate::liveness::LivenessSession;
use crate::time::epoch_ms;

/// Everything the app passes to open the core.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CoreConfig {
    /// App-private directory for the database.
    pub data_dir: String,
    /// Directory holding the face models (shipped as app assets, copied to storage). `None`: no face
    /// engine (a citizen's permit app); check-ins are then recorded as rejected (`FaceMissing`).
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
    /// An enrollment needs a liveness session (default): a face enrolled from a photo of someone is
    /// the cheapest attack on the face check.
    #[uniffi(default = true)]
    pub require_enrollment_liveness: bool,
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
    /// When the fix was taken (GNSS time where available).
    pub time: SystemTime,
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
            time_ms: epoch_ms(f.time),
            provider: f.provider,
            is_mock: f.is_mock,
        }
    }
}

/// Pixel layouts of raw camera frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

/// An image for the face pipeline.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum CameraImage {
    /// JPEG or PNG bytes (EXIF orientation honoured).
    Encoded {
        /// The file bytes.
        bytes: Vec<u8>,
    },
    /// A JPEG or PNG file the camera wrote (read by the core: no copy through the FFI).
    File {
        /// Absolute path in the app's storage.
        path: String,
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

impl From<CameraImage> for ImageInput {
    fn from(img: CameraImage) -> Self {
        match img {
            CameraImage::Encoded { bytes } => ImageInput::Encoded(bytes),
            CameraImage::File { path } => ImageInput::File(PathBuf::from(path)),
            CameraImage::Raw {
                format,
                width,
                height,
                rotation_degrees,
                data,
            } => ImageInput::Raw(RawFrame {
                format: format.into(),
                width,
                height,
                rotation_degrees,
                data,
            }),
        }
    }
}

/// An inspection photo (JPEG or PNG; the type is read from the bytes).
#[derive(Debug, Clone, uniffi::Enum)]
pub enum Photo {
    /// The file's bytes.
    Bytes {
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A file the camera wrote (read by the core).
    File {
        /// Absolute path in the app's storage.
        path: String,
    },
}

impl From<Photo> for PhotoInput {
    fn from(p: Photo) -> Self {
        match p {
            Photo::Bytes { bytes } => PhotoInput::Bytes(bytes),
            Photo::File { path } => PhotoInput::File(PathBuf::from(path)),
        }
    }
}

/// The face of a check: one still selfie or a finished liveness session, never both.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum FaceInput {
    /// One still photo (only where the city allows check-ins without liveness).
    Selfie {
        /// The photo.
        image: CameraImage,
    },
    /// A liveness session whose challenge was answered (it is used up by the check).
    Liveness {
        /// The session from `SiapCore.startLiveness`.
        session: Arc<LivenessSession>,
    },
}

impl From<FaceInput> for CoreFaceInput {
    fn from(f: FaceInput) -> Self {
        match f {
            FaceInput::Selfie { image } => CoreFaceInput::Selfie(image.into()),
            FaceInput::Liveness { session } => CoreFaceInput::Liveness(session.inner.clone()),
        }
    }
}

/// In or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CheckDirection {
    /// Check in.
    In,
    /// Check out.
    Out,
}

impl From<CheckDirection> for siap_core::attendance::Direction {
    fn from(d: CheckDirection) -> Self {
        match d {
            CheckDirection::In => Self::In,
            CheckDirection::Out => Self::Out,
        }
    }
}

/// Asset condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

impl From<AssetCondition> for siap_core::inspection::Condition {
    fn from(c: AssetCondition) -> Self {
        match c {
            AssetCondition::Good => Self::Good,
            AssetCondition::MinorDamage => Self::MinorDamage,
            AssetCondition::MajorDamage => Self::MajorDamage,
            AssetCondition::Lost => Self::Lost,
        }
    }
}
