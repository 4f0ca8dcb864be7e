//! SIAP core: the shared, platform-free logic of the city's attendance, inspection and permit app.
//!
//! Everything that decides anything lives here so that the Android and iOS shells stay thin and the
//! same rules hold on every phone and on the server:
//!
//! - [`store`]: the one SQLite file per app install (schema, migrations);
//! - [`ledger`]: device keys, signed hash-chained records and their verification (reused by the server);
//! - [`sealed`]: encryption at rest for the device key and face templates;
//! - [`geo`]: fences, fix plausibility and the inside / outside / undecidable decision;
//! - [`enrollment`]: face enrollment records and the city's signed decisions on templates;
//! - [`device`]: the app on one phone ([`Device`]), composing all of the above for the shells, the demo
//!   and the test harness;
//!
//! The crate has no FFI types; `siap-ffi` wraps it.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod attendance;
pub mod clock;
pub mod device;
pub mod enrollment;
pub mod error;
#[cfg(feature = "face")]
pub mod face;
pub mod geo;
pub mod inspection;
pub mod ledger;
pub mod liveness;
pub mod permit;
pub mod reference;
pub mod sealed;
pub mod signed;
pub mod store;
pub mod sync;
pub mod time;

pub use device::Device;
pub use error::{Error, Result};
