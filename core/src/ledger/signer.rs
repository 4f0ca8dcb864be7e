//! Device keys: the `Signer` seam and the default software signer.
//!
//! Records are signed with ECDSA P-256 / SHA-256 (ASN.1 DER signatures) because that is what Android
//! Keystore (incl. StrongBox) and the iOS Secure Enclave can do in hardware: a shell implements
//! [`Signer`] over its platform key and the records are indistinguishable from software-signed ones.
//! The [`SoftwareSigner`] keeps its PKCS#8 key sealed at rest under the caller's master key.

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use zeroize::Zeroizing;

use crate::sealed::SealingKey;
use crate::{Error, Result};

/// Length of an uncompressed SEC1 P-256 public key (`0x04 ‖ X ‖ Y`).
pub const PUBLIC_KEY_LEN: usize = 65;

const SEAL_AAD: &[u8] = b"siap/device-key/pkcs8";

/// Something that can sign ledger records with the device key.
///
/// Implementations must be thread-safe; `sign` may be slow (a hardware keystore) and may fail (the user
/// removed the screen lock, the key was invalidated): failures become [`Error::Signer`] and no record is
/// written.
pub trait Signer: Send + Sync {
    /// The public key as an uncompressed SEC1 point (65 bytes, starting with `0x04`).
    fn public_key(&self) -> Result<Vec<u8>>;
    /// ECDSA P-256 with SHA-256 over `message`, ASN.1 DER encoded.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// A P-256 key held in memory, persisted sealed with AES-GCM.
pub struct SoftwareSigner {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SoftwareSigner(..)")
    }
}

impl SoftwareSigner {
    /// Generates a new random key pair.
    pub fn generate() -> Result<Self> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| Error::Crypto("key generation failed"))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Loads a key from PKCS#8 DER.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|_| Error::Crypto("not a P-256 PKCS#8 key"))?;
        Ok(SoftwareSigner {
            pair,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            rng,
        })
    }

    /// The key sealed for storage.
    pub fn seal(&self, key: &SealingKey) -> Result<Vec<u8>> {
        key.seal(SEAL_AAD, &self.pkcs8)
    }

    /// Opens a key sealed by [`SoftwareSigner::seal`]; a wrong master key gives [`Error::Crypto`].
    pub fn unseal(key: &SealingKey, sealed: &[u8]) -> Result<Self> {
        Self::from_pkcs8(&key.open(SEAL_AAD, sealed)?)
    }
}

impl Signer for SoftwareSigner {
    fn public_key(&self) -> Result<Vec<u8>> {
        Ok(self.pair.public_key().as_ref().to_vec())
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let sig = self
            .pair
            .sign(&self.rng, message)
            .map_err(|_| Error::Crypto("signing failed"))?;
        Ok(sig.as_ref().to_vec())
    }
}

/// Checks that `public_key` is shaped like an uncompressed P-256 point.
pub fn check_public_key(public_key: &[u8]) -> Result<()> {
    if public_key.len() == PUBLIC_KEY_LEN && public_key[0] == 0x04 {
        Ok(())
    } else {
        Err(Error::invalid(
            "public_key",
            "expected a 65-byte uncompressed P-256 point",
        ))
    }
}

/// Verifies an ECDSA P-256 / SHA-256 ASN.1 signature.
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
        .verify(message, signature)
        .is_ok()
}

/// The device id derived from its public key: the first 16 bytes of a domain-separated SHA-256, in hex.
/// Self-certifying, so records can be created offline before registration and the server can check
/// that a record's device id belongs to the key that signed it.
pub fn device_id_for(public_key: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"SIAP-DEVICE-ID-v1\0");
    ctx.update(public_key);
    hex::encode(&ctx.finish().as_ref()[..16])
}
