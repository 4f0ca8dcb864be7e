//! The device ledger: signed, hash-chained records.
//!
//! Every record a device creates gets the next `seq` (1, 2, 3 … with no gaps), the hash of the record
//! before it, a kind and opaque payload bytes; its hash covers all of that plus the device id, and the
//! device key signs the hash. Editing, dropping, reordering or re-signing any record is detectable by
//! [`verify_chain`], which the server runs on everything it receives.

mod chain;

pub use chain::ChainError;
