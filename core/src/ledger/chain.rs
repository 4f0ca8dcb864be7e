//! Chain verification, shared verbatim by the device and the server.

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
