//! The public error of the bindings: variants an app can act on, with their details as fields, mapped
//! from the core's error in one place. Not a "flat" error: the platform callbacks (signer, clock) throw
//! these same typed errors back into Rust, and the platform's reason reaches the core intact. Messages
//! never carry coordinates, names or biometric data (the core's don't either).

use siap_core::Error as CoreError;

/// What went wrong, in terms an app can act on.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum SiapError {
    /// A parameter was rejected (empty id, NaN coordinate, oversized payload, undecodable image...).
    #[error("bad input: {reason}")]
    BadInput {
        /// Which input and why (never the value itself).
        reason: String,
    },
    /// Something referenced does not exist on this device (site, employee, asset, permit).
    #[error("not found: {what}")]
    NotFound {
        /// The kind of thing looked up.
        what: String,
    },
    /// The employee has no enrolled face on this device.
    #[error("not enrolled")]
    NotEnrolled,
    /// The device is not ready for this call (not registered, no server or models configured).
    #[error("not ready: {reason}")]
    NotReady {
        /// What is missing.
        reason: String,
    },
    /// A model file is missing or does not match its recorded SHA-256.
    #[error("model missing or invalid: {reason}")]
    ModelMissing {
        /// Which model and what is wrong.
        reason: String,
    },
    /// The local database failed (disk full, newer schema, corrupt file). Nothing was deleted.
    #[error("storage: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },
    /// The platform signer failed (keystore locked, key invalidated, user not authenticated). Thrown
    /// by a [`crate::PlatformSigner`], its reason comes back unchanged.
    #[error("signer: {reason}")]
    Signer {
        /// The platform's reason.
        reason: String,
    },
    /// The platform clock failed. Thrown by a [`crate::PlatformClock`], its reason comes back
    /// unchanged. Nothing was recorded.
    #[error("clock: {reason}")]
    Clock {
        /// The platform's reason.
        reason: String,
    },
    /// A key or sealed blob did not open (wrong master key, altered data).
    #[error("crypto: {reason}")]
    Crypto {
        /// What did not open.
        reason: String,
    },
    /// The network could not be reached; retry later. Nothing is lost.
    #[error("network: {reason}")]
    Network {
        /// What failed.
        reason: String,
    },
    /// The server refused the request (`status` is its HTTP status), or sent data whose signature
    /// does not verify (`status` is `None`).
    #[error("server rejected: {reason}")]
    ServerRejected {
        /// HTTP status, when the server answered with an error.
        status: Option<u16>,
        /// The server's error code, or what did not verify.
        reason: String,
    },
    /// The call was cancelled before it wrote anything (the coroutine or task was cancelled).
    #[error("cancelled")]
    Cancelled,
    /// A bug: an unexpected failure inside the core (including a caught panic).
    #[error("internal: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl From<CoreError> for SiapError {
    fn from(e: CoreError) -> Self {
        let reason = e.to_string();
        match e {
            CoreError::InvalidInput { .. } | CoreError::Image(_) => SiapError::BadInput { reason },
            CoreError::NotFound {
                what: "face template",
            } => SiapError::NotEnrolled,
            CoreError::NotFound { what } => SiapError::NotFound { what: what.into() },
            CoreError::NotReady(what) => SiapError::NotReady {
                reason: what.into(),
            },
            CoreError::Model { .. } => SiapError::ModelMissing { reason },
            CoreError::SchemaTooNew { .. }
            | CoreError::CorruptDatabase(_)
            | CoreError::Storage(_)
            | CoreError::Io(_) => SiapError::Storage { reason },
            CoreError::Signer(reason) => SiapError::Signer { reason },
            CoreError::Clock(reason) => SiapError::Clock { reason },
            CoreError::Cancelled => SiapError::Cancelled,
            CoreError::Crypto(what) => SiapError::Crypto {
                reason: what.into(),
            },
            CoreError::Network(reason) => SiapError::Network { reason },
            CoreError::ServerRejected { status, message } => SiapError::ServerRejected {
                status: Some(status),
                reason: message,
            },
            CoreError::BadServerSignature(_) => SiapError::ServerRejected {
                status: None,
                reason,
            },
            _ => SiapError::Internal { reason },
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for SiapError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // The reason of an unexpected foreign exception is its whole stack trace: keep the first line.
        let first = e.reason.lines().next().unwrap_or_default();
        SiapError::Internal {
            reason: format!("platform callback failed: {first}"),
        }
    }
}

impl SiapError {
    /// The platform's reason carried by an error a callback threw, for the core's own error.
    pub(crate) fn into_reason(self) -> String {
        match self {
            SiapError::Signer { reason } | SiapError::Clock { reason } => reason,
            other => other.to_string(),
        }
    }
}

/// Runs `f`, turning a panic into [`SiapError::Internal`] so that no panic ever reaches the app as a
/// crash, whatever the foreign language does with UniFFI's own panic status.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, SiapError>) -> Result<T, SiapError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(SiapError::Internal {
            reason: format!("panic caught at the FFI boundary: {what}"),
        })
    })
}
