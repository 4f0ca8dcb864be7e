//! Chain verification, shared verbatim by the device and the server.

use std::collections::HashMap;

use super::record::{GENESIS_PREV_HASH, Record};
use super::signer::{device_id_for, verify_signature};

/// Why a chain of records did not verify. Every variant names the `seq` where it broke, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The record's hash does not match its contents (a flipped byte in some field).
    #[error("record {seq}: hash does not match contents")]
    HashMismatch {
        /// Sequence number of the offending record.
        seq: u64,
    },
    /// The signature does not verify under the device's public key (signed by another key, or altered).
    #[error("record {seq}: signature does not verify")]
    BadSignature {
        /// Sequence number of the offending record.
        seq: u64,
    },
    /// The record names another device (a replay of someone else's record).
    #[error("record {seq}: belongs to another device")]
    WrongDevice {
        /// Sequence number of the offending record.
        seq: u64,
    },
    /// `prev_hash` does not equal the previous record's hash.
    #[error("record {seq}: does not link to the previous record")]
    BrokenLink {
        /// Sequence number of the offending record.
        seq: u64,
    },
    /// A sequence number is missing (a dropped record) or records are out of order.
    #[error("expected record {expected}, found {found}")]
    Gap {
        /// The seq that should come next.
        expected: u64,
        /// The seq that came instead.
        found: u64,
    },
    /// The same record appears twice.
    #[error("record {seq}: duplicated")]
    Duplicate {
        /// Sequence number of the duplicated record.
        seq: u64,
    },
    /// Two different records claim the same seq: the device rewrote its history.
    #[error("record {seq}: fork (two different records with the same seq)")]
    Fork {
        /// The contested sequence number.
        seq: u64,
    },
    /// The public key is not a valid uncompressed P-256 point.
    #[error("public key is not a P-256 key")]
    BadPublicKey,
}

/// The last verified record of a chain: where the next record must link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Its seq.
    pub seq: u64,
    /// Its hash.
    pub hash: [u8; 32],
}

/// Verifies a whole chain from seq 1. Returns the head (`None` for an empty chain).
///
/// Detects a flipped byte in any field, reordered, dropped or duplicated records, a record signed by
/// another key, another device's record, and two different records with the same seq (a fork).
pub fn verify_chain(
    public_key: &[u8],
    records: &[Record],
) -> Result<Option<ChainHead>, ChainError> {
    verify_continuation(public_key, None, records)
}

/// Verifies `records` as the continuation of a chain whose verified head is `after` (`None`: from the
/// start). The server calls this on each uploaded batch with the head it has stored.
pub fn verify_continuation(
    public_key: &[u8],
    after: Option<ChainHead>,
    records: &[Record],
) -> Result<Option<ChainHead>, ChainError> {
    if super::signer::check_public_key(public_key).is_err() {
        return Err(ChainError::BadPublicKey);
    }
    // Forks and duplicates first: "two records claim seq 7" is a stronger finding than "out of order".
    let mut seen: HashMap<u64, &[u8; 32]> = HashMap::with_capacity(records.len());
    for r in records {
        if let Some(prev) = seen.insert(r.seq, &r.hash) {
            return Err(if *prev == r.hash {
                ChainError::Duplicate { seq: r.seq }
            } else {
                ChainError::Fork { seq: r.seq }
            });
        }
    }
    let device_id = device_id_for(public_key);
    let mut head = after;
    for r in records {
        verify_record(public_key, &device_id, r)?;
        let (expected, prev_hash) = head.map_or((1, GENESIS_PREV_HASH), |h| (h.seq + 1, h.hash));
        if r.seq != expected {
            return Err(ChainError::Gap {
                expected,
                found: r.seq,
            });
        }
        if r.prev_hash != prev_hash {
            return Err(ChainError::BrokenLink { seq: r.seq });
        }
        head = Some(ChainHead {
            seq: r.seq,
            hash: r.hash,
        });
    }
    Ok(head)
}

/// Verifies one record on its own: it belongs to `device_id`, its hash matches its fields, and the key
/// signed it. (Linking is checked by [`verify_continuation`].)
pub fn verify_record(public_key: &[u8], device_id: &str, r: &Record) -> Result<(), ChainError> {
    if r.device_id != device_id {
        return Err(ChainError::WrongDevice { seq: r.seq });
    }
    if r.computed_hash() != r.hash {
        return Err(ChainError::HashMismatch { seq: r.seq });
    }
    if !verify_signature(public_key, &r.hash, &r.signature) {
        return Err(ChainError::BadSignature { seq: r.seq });
    }
    Ok(())
}
