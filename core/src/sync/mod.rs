//! Sync between a device and the city's server: exactly once, in order, verifiable.
//!
//! - [`protocol`]: the wire structs, shared verbatim by the device client and the server;
//! - [`outbox`]: what the device still owes the server (records above the ack, blobs not uploaded);
//! - [`apply`]: applying a verified changes page to the device store;
//! - [`validate`]: what a valid change is, shared by the server (before storing) and the device (before
//!   applying);
//! - `client` (feature `client`): the HTTP client with timeouts, backoff and one `sync()` call.

pub mod apply;
#[cfg(feature = "client")]
pub mod client;
pub mod outbox;
pub mod protocol;
pub mod validate;

#[cfg(feature = "client")]
pub use client::{
    ClientConfig, MonotonicClock, SyncClient, SyncPhase, SyncReport, SystemMonotonic,
};
pub use outbox::Outbox;
