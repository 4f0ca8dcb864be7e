//! The one error type of `siap-core`.
//!
//! Every public function returns [`Result`]. Variants are chosen so that a caller can act on them (ask for
//! another photo, move closer, re-register, retry later) and their messages never carry personal data:
//! no coordinates, names, employee ids or biometric values — only which input was wrong and why.

use crate::ledger::ChainError;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller passed a value the core cannot accept (NaN coordinate, empty id, oversized payload...).
    /// `field` names the parameter, `reason` says what is wrong with it (never the value itself).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which parameter or field was wrong.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// Something the call needs does not exist (an unknown site, employee, asset, permit...).
    #[error("{what} not found")]
    NotFound {
        /// The kind of thing that was looked up.
        what: &'static str,
    },

    /// The operation needs state that is not there yet (no device key, not registered, no template...).
    #[error("not ready: {0}")]
    NotReady(&'static str),

    /// The database file was written by a newer SIAP version; upgrade the app instead of opening it.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },

    /// The database file is not a SIAP database or is damaged. It is left untouched.
    #[error("database file is corrupt or not a SIAP database: {0}")]
    CorruptDatabase(String),

    /// Any other SQLite failure (disk full, locked for too long, I/O error).
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),

    /// File-system failure outside SQLite (exports, model files, blobs).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),

    /// A cryptographic operation failed: a wrong key-wrapping key, a damaged sealed blob, a bad key encoding.
    #[error("crypto error: {0}")]
    Crypto(&'static str),

    /// The platform signer (hardware keystore) failed to sign.
    #[error("signer failed: {0}")]
    Signer(String),

    /// The platform clock could not be read (the shell's clock callback failed). Nothing was recorded:
    /// an event without a reading of the monotonic clock could not be placed in time.
    #[error("platform clock failed: {0}")]
    Clock(String),

    /// The caller cancelled the operation before it wrote anything (the app's coroutine or task was
    /// cancelled). Nothing was recorded.
    #[error("cancelled")]
    Cancelled,

    /// A ledger chain did not verify.
    #[error("ledger chain invalid: {0}")]
    Chain(#[from] ChainError),

    /// Data signed by the server (permits, changes) did not verify against the configured server key.
    #[error("server signature invalid for {0}")]
    BadServerSignature(&'static str),

    /// A model file is missing, has the wrong SHA-256, or could not be loaded.
    #[error("model {name}: {reason}")]
    Model {
        /// Model file name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An image could not be decoded or is unusable (too large, truncated, unsupported format).
    #[error("image: {0}")]
    Image(String),

    /// Model inference failed.
    #[error("inference failed: {0}")]
    Inference(String),

    /// The network could not be reached or timed out; safe to retry later.
    #[error("network: {0}")]
    Network(String),

    /// The server answered but refused the request.
    #[error("server rejected request ({status}): {message}")]
    ServerRejected {
        /// HTTP status code.
        status: u16,
        /// The server's error code / message (contains no personal data).
        message: String,
    },

    /// Serialising or parsing a protocol or record payload failed.
    #[error("encoding: {0}")]
    Encoding(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        // serde_json's own messages may quote the offending value (a name, a coordinate): keep only the
        // category and the position.
        Error::Encoding(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    }
}
