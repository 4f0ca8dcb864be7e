//! SIAP core (skeleton; modules arrive in the next commits).

pub mod error;
pub mod geo;
pub mod ledger;

pub use error::{Error, Result};
