//! One ledger record: its fields, its canonical hash and its wire/file encoding.
//!
//! The hash is computed over length-prefixed fields so that no two different records can produce the
//! same byte string: `SHA-256(DOMAIN ‖ len(device_id) ‖ device_id ‖ seq ‖ prev_hash ‖ len(kind) ‖ kind ‖
//! len(payload) ‖ payload)` with big-endian `u32` lengths and a big-endian `u64` seq. The payload is kept
//! and sent as the exact bytes that were hashed and signed; nothing re-serialises it before verification.

use ring::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Domain separation tag: a record hash can never be confused with any other SHA-256 the system makes.
pub const DOMAIN_TAG: &[u8] = b"SIAP-LEDGER-RECORD-v1\0";

/// Largest payload a record may carry. Photos travel as content-addressed blobs, not in records.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Longest record kind.
pub const MAX_KIND_LEN: usize = 64;

/// The hash of the (non-existent) record before seq 1.
pub const GENESIS_PREV_HASH: [u8; 32] = [0u8; 32];

/// A signed, hash-chained ledger record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The device that created it (see [`crate::ledger::device_id_for`]).
    pub device_id: String,
    /// 1, 2, 3 … per device, no gaps.
    pub seq: u64,
    /// Hash of the record with `seq - 1` ([`GENESIS_PREV_HASH`] for seq 1).
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// What the payload is, e.g. `attendance.check_in`.
    pub kind: String,
    /// The exact bytes that were hashed and signed (JSON produced by the domain service).
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    /// [`record_hash`] of the fields above.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// ECDSA P-256 / SHA-256 signature (ASN.1 DER) over `hash`, by the device key.
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

impl Record {
    /// Recomputes this record's hash from its fields.
    pub fn computed_hash(&self) -> [u8; 32] {
        record_hash(
            &self.device_id,
            self.seq,
            &self.prev_hash,
            &self.kind,
            &self.payload,
        )
    }

    /// Parses the payload as JSON of type `T`.
    pub fn payload_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.payload)?)
    }
}

/// The canonical record hash.
pub fn record_hash(
    device_id: &str,
    seq: u64,
    prev_hash: &[u8; 32],
    kind: &str,
    payload: &[u8],
) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(DOMAIN_TAG);
    update_prefixed(&mut ctx, device_id.as_bytes());
    ctx.update(&seq.to_be_bytes());
    ctx.update(prev_hash);
    update_prefixed(&mut ctx, kind.as_bytes());
    update_prefixed(&mut ctx, payload);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn update_prefixed(ctx: &mut Context, bytes: &[u8]) {
    // Lengths are bounded by validation (payload <= 64 KiB); saturate rather than wrap regardless.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    ctx.update(&len.to_be_bytes());
    ctx.update(bytes);
}

/// Checks a record kind and payload before anything is signed.
pub fn validate_entry(kind: &str, payload: &[u8]) -> Result<()> {
    if kind.is_empty() || kind.len() > MAX_KIND_LEN {
        return Err(Error::invalid(
            "kind",
            format!("must be 1..={MAX_KIND_LEN} characters"),
        ));
    }
    if !kind
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_')
    {
        return Err(Error::invalid(
            "kind",
            "only a-z, 0-9, '.' and '_' are allowed",
        ));
    }
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::invalid(
            "payload",
            format!("larger than {MAX_PAYLOAD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Serde helper: 32-byte arrays as lowercase hex.
pub mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serialises as hex.
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    /// Parses 64 hex characters.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = <&str>::deserialize(d).map_err(|_| D::Error::custom("expected a hex string"))?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| D::Error::custom("expected 64 hex characters"))?;
        Ok(out)
    }
}

/// Serde helper: byte vectors as standard base64 (`#[serde(with = "siap_core::ledger::record::b64")]`).
pub mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serialises as base64.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    /// Parses base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s)
            .map_err(|_| D::Error::custom("expected base64"))
    }
}
