//! The wire protocol between devices and the server, defined once so that both sides serialise and
//! parse exactly the same structs.
//!
//! Everything is JSON over HTTP. What the server asserts (registration, acknowledgements, changes)
//! travels as a [`SignedBlob`](crate::signed::SignedBlob) whose body is one of the structs here, signed
//! with the server key under a domain tag; the device verifies before it parses. Every response also
//! carries the server time in the [`SERVER_TIME_HEADER`] header so the device can anchor trusted time.

use serde::{Deserialize, Serialize};

use crate::ledger::Record;
use crate::ledger::record::{b64, hex32};

/// Protocol version; bumped on incompatible changes (the path prefix is `/v1`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Response header carrying the server's wall time (ms since the Unix epoch) on every response.
pub const SERVER_TIME_HEADER: &str = "x-siap-server-time";

/// Request header carrying the device id (with the device token as bearer authorisation).
pub const DEVICE_ID_HEADER: &str = "x-siap-device-id";

/// Most records the server accepts in one upload.
pub const MAX_BATCH_RECORDS: usize = 1000;

/// Largest upload request body (records batch). A full batch of maximal records would exceed it; the
/// client splits by size as well as by count.
pub const MAX_RECORDS_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Largest blob (photo) the server accepts.
pub const MAX_BLOB_BYTES: u64 = 16 * 1024 * 1024;

/// Largest blob chunk in one request.
pub const MAX_BLOB_CHUNK_BYTES: usize = 1024 * 1024;

/// Most changes in one pulled page.
pub const MAX_CHANGES_PAGE: u32 = 500;

/// `POST /v1/register`: a device presents a one-time enrollment code, its public key, and a signature
/// with that key proving it holds the private half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// The one-time code an administrator issued.
    pub enrollment_code: String,
    /// The device's uncompressed P-256 public key.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// ECDSA P-256 / SHA-256 (ASN.1 DER) by the device key over [`registration_message`] of the
    /// normalised code, this public key and the server's public key. Without it anyone holding a code and
    /// a victim's public key (printed for `siap ledger verify`) could register the victim's device.
    #[serde(with = "b64")]
    pub proof: Vec<u8>,
}

/// Domain tag of the registration proof (never a valid record hash: records sign 32-byte hashes).
pub const REGISTER_DOMAIN: &[u8] = b"SIAP-REGISTER-v1\0";

/// Normalises a typed enrollment code: ASCII letters and digits only, upper case (spaces and dashes
/// people type are dropped). Device and server sign and check the same normalised form.
pub fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The message a device signs to register: `domain ‖ len‖code ‖ len‖device key ‖ len‖server key`
/// (lengths as 4-byte big-endian). Binding the code stops a proof being reused with another code;
/// binding the server key stops a proof made for one city's server being relayed to another.
pub fn registration_message(
    code: &str,
    device_public_key: &[u8],
    server_public_key: &[u8],
) -> Vec<u8> {
    let code = normalise_code(code);
    let mut m = Vec::with_capacity(REGISTER_DOMAIN.len() + 12 + code.len() + 130);
    m.extend_from_slice(REGISTER_DOMAIN);
    for part in [code.as_bytes(), device_public_key, server_public_key] {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(part);
    }
    m
}

/// What a device is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Binding {
    /// A civil servant's or inspector's phone.
    Employee(String),
    /// A citizen tracking one permit application.
    Permit(String),
}

/// Device configuration handed out at registration.
// Each switch is an independent, documented policy decision of the city; an enum would hide that.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceConfig {
    /// Records per upload request.
    pub batch_size: u32,
    /// Whether check-in selfies are uploaded (policy); inspection photos always are.
    pub upload_selfies: bool,
    /// Tolerance between the wall clock and trusted time before `clock_skew` is flagged.
    pub skew_tolerance_ms: i64,
    /// The city's policy: a check-in needs a face (absent in configurations signed before the field
    /// existed: required).
    #[serde(default = "required")]
    pub require_face: bool,
    /// The city's policy: the face needs a liveness answer (a still photo is not enough).
    #[serde(default = "required")]
    pub require_liveness: bool,
    /// The city's policy: an enrollment needs a passed liveness answer (a face enrolled from photos of
    /// someone is the cheapest attack). The server refuses an enrollment record without one, whatever
    /// the app signed; absent in configurations signed before the field existed: required.
    #[serde(default = "required")]
    pub require_enrollment_liveness: bool,
}

fn required() -> bool {
    true
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            batch_size: 500,
            upload_selfies: false,
            skew_tolerance_ms: crate::clock::DEFAULT_SKEW_TOLERANCE_MS,
            require_face: true,
            require_liveness: true,
            require_enrollment_liveness: true,
        }
    }
}

/// Body of the signed registration answer ([`crate::signed::RESPONSE_DOMAIN`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// Always `"register"`: a signed body can only be used as what it is.
    pub kind: String,
    /// The device id (derived from the key; the device checks it).
    pub device_id: String,
    /// The device's public key as registered.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// Bearer token for this device's requests (stored hashed on the server).
    pub device_token: String,
    /// What the device is bound to.
    pub binding: Binding,
    /// Configuration.
    pub config: DeviceConfig,
    /// The server's signing public key (must equal the one the app is configured with).
    #[serde(with = "b64")]
    pub server_public_key: Vec<u8>,
    /// Server time.
    pub server_time_ms: i64,
}

/// `POST /v1/records`: a batch of ledger records of one device, in seq order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRequest {
    /// The uploading device.
    pub device_id: String,
    /// The records, exactly as signed.
    pub records: Vec<Record>,
}

/// What happened to an uploaded batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Every record is stored (new or already there).
    Ok,
    /// The batch did not start at the next expected seq; nothing after the gap was stored.
    Gap,
    /// A record with an already-stored seq but different content arrived: stored as evidence, the
    /// device is flagged for review.
    Fork,
}

/// Body of the signed upload acknowledgement ([`crate::signed::RESPONSE_DOMAIN`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadAck {
    /// Always `"ack"`.
    pub kind: String,
    /// The device the ack is for.
    pub device_id: String,
    /// Highest contiguous seq stored for this device (0: none).
    pub acked_seq: u64,
    /// Hash of that record (zeros when none): the device checks it equals its own.
    #[serde(with = "hex32")]
    pub acked_hash: [u8; 32],
    /// The seq the server expects next (`acked_seq + 1`).
    pub expected_seq: u64,
    /// Records of this batch newly stored.
    pub stored: u32,
    /// Records of this batch that were already stored (resends).
    pub duplicates: u32,
    /// Outcome.
    pub status: UploadStatus,
    /// Server time.
    pub server_time_ms: i64,
}

/// `GET /v1/blobs/{sha256}`: how much of a blob the server holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobStatus {
    /// Hex SHA-256 of the whole blob.
    pub sha256: String,
    /// Bytes received so far (the offset to resume from).
    pub received: u64,
    /// Whole blob stored and its hash verified.
    pub complete: bool,
    /// Server time.
    pub server_time_ms: i64,
}

/// One item in the changes feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entity", rename_all = "snake_case")]
pub enum Change {
    /// A site (office) and its fence (JSON of [`crate::geo`]'s fence type).
    Site {
        /// Site id.
        id: String,
        /// Display name.
        name: String,
        /// The fence, as JSON.
        fence: serde_json::Value,
    },
    /// An employee (for kiosk galleries and assignment).
    Employee {
        /// Employee id.
        id: String,
        /// Display name.
        name: String,
        /// Sites the employee may check in at.
        site_ids: Vec<String>,
    },
    /// An asset in the registry.
    Asset {
        /// Asset id.
        id: String,
        /// Display name.
        name: String,
        /// Category (road, building, vehicle, equipment...).
        category: String,
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
        /// Proximity radius in metres.
        radius_m: f64,
    },
    /// A permit document, itself signed ([`crate::signed::PERMIT_DOMAIN`]).
    Permit {
        /// The signed permit document.
        signed: crate::signed::SignedBlob,
    },
    /// The city's decision on one employee's face template, itself signed
    /// ([`crate::enrollment::FACE_DECISION_DOMAIN`]); reaches only devices bound to that employee.
    FaceDecision {
        /// The signed [`crate::enrollment::FaceDecision`].
        signed: crate::signed::SignedBlob,
    },
    /// A work schedule (opaque JSON the attendance service interprets).
    Schedule {
        /// Schedule id.
        id: String,
        /// The schedule.
        body: serde_json::Value,
    },
}

/// One entry of a page: the change and its position in the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// Feed position (strictly increasing).
    pub cursor: u64,
    /// The change.
    pub change: Change,
}

/// Body of a signed changes page ([`crate::signed::CHANGES_DOMAIN`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangesPage {
    /// The device the page was made for (a page for another device is refused).
    pub device_id: String,
    /// The cursor the device asked from.
    pub since: u64,
    /// The cursor to ask from next.
    pub next_cursor: u64,
    /// More pages follow.
    pub more: bool,
    /// The changes, in cursor order.
    pub changes: Vec<ChangeEntry>,
    /// Server time.
    pub server_time_ms: i64,
}

/// The JSON body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code (`gap`, `bad_record`, `unauthorized`, `too_large`...).
    pub error: String,
    /// Human-readable explanation, without personal data.
    pub message: String,
    /// For record rejections: the highest contiguous seq stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_seq: Option<u64>,
}
