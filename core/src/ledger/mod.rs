//! The device ledger: signed, hash-chained records.
//!
//! Every record a device creates gets the next `seq` (1, 2, 3 … with no gaps), the hash of the record
//! before it, a kind and opaque payload bytes; its hash covers all of that plus the device id, and the
//! device key signs the hash. Editing, dropping, reordering or re-signing any record is detectable by
//! [`verify_chain`], which the server runs on everything it receives.
//!
//! - [`record`]: the record, its canonical hash and encoding;
//! - [`signer`]: the `Signer` seam (software or hardware keys) and device ids;
//! - [`chain`]: pure verification, shared with the server;
//! - [`book`]: append and read on the device's store;
//! - [`export`]: JSON Lines files.

pub mod book;
pub mod chain;
pub mod export;
pub mod record;
pub mod signer;

pub use book::Ledger;
pub use chain::{ChainError, ChainHead, verify_chain, verify_continuation, verify_record};
pub use record::{GENESIS_PREV_HASH, MAX_PAYLOAD_BYTES, Record, record_hash};
pub use signer::{Signer, SoftwareSigner, device_id_for, verify_signature};

#[cfg(test)]
mod append_tests;
#[cfg(test)]
mod tests;
