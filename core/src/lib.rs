//! SIAP core (skeleton; modules arrive in the next commits).

pub mod error;
#[cfg(feature = "face")]
pub mod face;
pub mod geo;
pub mod ledger;

pub use error::{Error, Result};
