//! Helpers shared by the cross-crate end-to-end tests.
//!
//! - [`sync_support`]: real sync servers (SQLite or PostgreSQL) on loopback, simulated devices with
//!   real store files, an administrator client and a fault-injecting TCP proxy.

pub mod sync_support;
