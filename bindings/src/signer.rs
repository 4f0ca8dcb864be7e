//! The platform signer seam: the shells implement [`PlatformSigner`] over Android Keystore / StrongBox
//! or the iOS Secure Enclave (ECDSA P-256), and the core signs every ledger record through it.

use std::sync::Arc;

use crate::error::{SiapError, guard};

/// A P-256 key held by the platform. Called from a background thread; may be slow; may fail.
#[uniffi::export(with_foreign)]
pub trait PlatformSigner: Send + Sync {
    /// The public key as an uncompressed SEC1 point (65 bytes, `0x04 ‖ X ‖ Y`). On Android, the last
    /// 65 bytes of `KeyPair.public.encoded` (X.509 SubjectPublicKeyInfo) for a P-256 key.
    fn public_key(&self) -> Result<Vec<u8>, SiapError>;
    /// ECDSA with SHA-256 over `message`, DER encoded (`SHA256withECDSA` / `ecdsaSignatureMessageX962SHA256`).
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, SiapError>;
}

/// Adapts a foreign signer to the core's `Signer`; failures and panics become `Error::Signer`.
pub(crate) struct ForeignSigner(pub Arc<dyn PlatformSigner>);

impl siap_core::ledger::Signer for ForeignSigner {
    fn public_key(&self) -> siap_core::Result<Vec<u8>> {
        guard(|| self.0.public_key()).map_err(|e| siap_core::Error::Signer(e.to_string()))
    }

    fn sign(&self, message: &[u8]) -> siap_core::Result<Vec<u8>> {
        guard(|| self.0.sign(message.to_vec())).map_err(|e| siap_core::Error::Signer(e.to_string()))
    }
}
