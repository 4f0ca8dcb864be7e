//! The platform seams: the shells implement [`PlatformSigner`] over Android Keystore / StrongBox or the
//! iOS Secure Enclave (ECDSA P-256), and [`PlatformClock`] over the platform's monotonic and wall
//! clocks. Both may throw a typed [`SiapError`]; its reason reaches the core and comes back to the app
//! in the error of the call that needed it.

use std::sync::Arc;
use std::time::SystemTime;

use siap_core::clock::MonotonicReading;
use siap_core::device::{ClockNow, DeviceClock};

use crate::error::{SiapError, guard};
use crate::time::epoch_ms;

/// A P-256 key held by the platform. Called from a worker thread, never while the core holds its
/// database lock; may be slow (StrongBox: tens to hundreds of ms) and may block for user presence.
#[uniffi::export(with_foreign)]
pub trait PlatformSigner: Send + Sync {
    /// The public key as an uncompressed SEC1 point (65 bytes, `0x04 ‖ X ‖ Y`). On Android, the last
    /// 65 bytes of `KeyPair.public.encoded` (X.509 SubjectPublicKeyInfo) for a P-256 key.
    fn public_key(&self) -> Result<Vec<u8>, SiapError>;
    /// ECDSA with SHA-256 over `message`, DER encoded (`SHA256withECDSA` / `ecdsaSignatureMessageX962SHA256`).
    /// Throw `SiapError.Signer` with the platform's reason when the key cannot sign.
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, SiapError>;
}

/// The two clocks at one moment, as the platform reads them.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClockReading {
    /// Monotonic ms since boot including sleep (`SystemClock.elapsedRealtime()`, iOS continuous time).
    pub monotonic_ms: i64,
    /// Boot session id (`Settings.Global.BOOT_COUNT`, or the kernel boot id; iOS: the boot time).
    pub boot_id: String,
    /// The phone's wall clock.
    pub wall: SystemTime,
}

/// The platform's clocks, read by the core at the moment of each event and to anchor server time.
#[uniffi::export(with_foreign)]
pub trait PlatformClock: Send + Sync {
    /// Both clocks now. Throw `SiapError.Clock` when they cannot be read; the call that needed them
    /// fails with that error and records nothing.
    fn now(&self) -> Result<ClockReading, SiapError>;
}

/// A foreign signer as the core's `Signer`; failures and panics become `Error::Signer` with the
/// platform's reason.
pub(crate) struct ForeignSigner(pub Arc<dyn PlatformSigner>);

impl siap_core::ledger::Signer for ForeignSigner {
    fn public_key(&self) -> siap_core::Result<Vec<u8>> {
        guard(|| self.0.public_key()).map_err(|e| siap_core::Error::Signer(e.into_reason()))
    }

    fn sign(&self, message: &[u8]) -> siap_core::Result<Vec<u8>> {
        guard(|| self.0.sign(message.to_vec()))
            .map_err(|e| siap_core::Error::Signer(e.into_reason()))
    }
}

/// A foreign clock as the core's `DeviceClock`; failures and panics become `Error::Clock`.
pub(crate) struct ForeignClock(pub Arc<dyn PlatformClock>);

impl DeviceClock for ForeignClock {
    fn now(&self) -> siap_core::Result<ClockNow> {
        let r = guard(|| self.0.now()).map_err(|e| siap_core::Error::Clock(e.into_reason()))?;
        Ok(ClockNow {
            monotonic: MonotonicReading {
                monotonic_ms: r.monotonic_ms,
                boot_id: r.boot_id,
            },
            wall_ms: epoch_ms(r.wall),
        })
    }
}
