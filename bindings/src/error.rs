//! The public error of the bindings: a few variants an app can act on, mapped from the core's error in
//! one place. Messages never carry coordinates, names or biometric data (the core's don't either).

use siap_core::Error as CoreError;

/// What went wrong, in terms an app can act on.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
#[non_exhaustive]
pub enum SiapError {
    /// A parameter was rejected (empty id, NaN coordinate, oversized payload, undecodable image...).
    #[error("bad input: {0}")]
    BadInput(String),
    /// Something referenced does not exist on this device (site, employee, asset, permit).
    #[error("not found: {0}")]
    NotFound(String),
    /// The employee has no enrolled face on this device.
    #[error("not enrolled")]
    NotEnrolled,
    /// The device is not ready for this call (not registered, no server configured, key unavailable).
    #[error("not ready: {0}")]
    NotReady(String),
    /// A model file is missing or does not match its recorded SHA-256.
    #[error("model missing or invalid: {0}")]
    ModelMissing(String),
    /// The local database failed (disk full, newer schema, corrupt file). Nothing was deleted.
    #[error("storage: {0}")]
    Storage(String),
    /// The platform signer failed (keystore locked or key invalidated).
    #[error("signer: {0}")]
    Signer(String),
    /// A key or sealed blob did not open (wrong master key, altered data).
    #[error("crypto: {0}")]
    Crypto(String),
    /// The network could not be reached; retry later. Nothing is lost.
    #[error("network: {0}")]
    Network(String),
    /// The server refused the request, or sent data whose signature does not verify.
    #[error("server rejected: {0}")]
    ServerRejected(String),
    /// A bug: an unexpected failure inside the core (including a caught panic).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<CoreError> for SiapError {
    fn from(e: CoreError) -> Self {
        let msg = e.to_string();
        match e {
            CoreError::InvalidInput { .. } | CoreError::Image(_) => SiapError::BadInput(msg),
            CoreError::NotFound { what: "face template" } => SiapError::NotEnrolled,
            CoreError::NotFound { .. } => SiapError::NotFound(msg),
            CoreError::NotReady(_) => SiapError::NotReady(msg),
            CoreError::Model { .. } => SiapError::ModelMissing(msg),
            CoreError::SchemaTooNew { .. } | CoreError::CorruptDatabase(_) | CoreError::Storage(_) | CoreError::Io(_) => {
                SiapError::Storage(msg)
            }
            CoreError::Signer(_) => SiapError::Signer(msg),
            CoreError::Crypto(_) => SiapError::Crypto(msg),
            CoreError::Network(_) => SiapError::Network(msg),
            CoreError::ServerRejected { .. } | CoreError::BadServerSignature(_) => SiapError::ServerRejected(msg),
            _ => SiapError::Internal(msg),
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for SiapError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        SiapError::Signer(format!("platform callback failed: {}", e.reason))
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
        Err(SiapError::Internal(format!("panic caught at the FFI boundary: {what}")))
    })
}
