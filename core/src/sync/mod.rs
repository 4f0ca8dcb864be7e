//! Sync between a device and the city's server: exactly once, in order, verifiable.
//!
//! - [`protocol`]: the wire structs, shared verbatim by the device client and the server;
//! - [`outbox`]: what the device still owes the server (records above the ack, blobs not uploaded);
//! - [`apply`]: applying a verified changes page to the device store;
//! - `client` (feature `client`): the HTTP client with timeouts, backoff and one `sync()` call.

pub mod apply;
#[cfg(feature = "client")]
pub mod client;
pub mod outbox;
pub mod protocol;

#[cfg(feature = "client")]
pub use client::{
    ClientConfig, MonotonicClock, SyncClient, SyncPhase, SyncReport, SystemMonotonic,
};
pub use outbox::Outbox;
