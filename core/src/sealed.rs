//! Encryption at rest for the few secrets and biometric data the device stores.
//!
//! The device private key and the face templates never touch the database in the clear. The caller (the
//! app shell) provides one 32-byte master key — on phones it lives in Android Keystore / iOS Keychain and
//! is released only to this app — and each purpose derives its own AES-256-GCM key from it with HKDF, so a
//! sealed face template can never be opened as a device key or the other way round.
//!
//! Sealed format: `version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`. The associated data binds a blob to
//! what it is (e.g. the employee id of a template), so swapping blobs between rows fails to open.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::{Error, Result};

const VERSION: u8 = 1;
const SALT: &[u8] = b"siap/sealed/v1";

/// The caller's master key-wrapping key (32 bytes). Zeroised on drop.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// Wraps 32 bytes of key material.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("master_key", "must be exactly 32 bytes"))?;
        Ok(MasterKey(Zeroizing::new(arr)))
    }

    /// A fresh random master key (tests, the demo, and first start on platforms that store it themselves).
    pub fn generate() -> Result<Self> {
        let mut k = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(k.as_mut())
            .map_err(|_| Error::Crypto("random generator failed"))?;
        Ok(MasterKey(k))
    }

    /// The raw bytes, for the caller to persist in its own keystore.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Derives the sealing key for one purpose (e.g. `"device-key"`, `"face-template"`).
    pub fn sealing_key(&self, purpose: &str) -> SealingKey {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(self.0.as_ref());
        let info = [purpose.as_bytes()];
        #[allow(clippy::expect_used)]
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .expect("AES-256-GCM key length is a valid HKDF output length");
        SealingKey(LessSafeKey::new(UnboundKey::from(okm)))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// An AES-256-GCM key for one purpose.
pub struct SealingKey(LessSafeKey);

impl SealingKey {
    /// Encrypts `plaintext`, binding it to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::Crypto("random generator failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| Error::Crypto("sealing failed"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts a blob made by [`SealingKey::seal`] with the same `aad`. A wrong key, wrong `aad` or any
    /// altered byte gives [`Error::Crypto`].
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < 1 + NONCE_LEN + AES_256_GCM.tag_len() || sealed[0] != VERSION {
            return Err(Error::Crypto(
                "sealed data is truncated or of an unknown version",
            ));
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..=NONCE_LEN])
            .map_err(|_| Error::Crypto("bad nonce"))?;
        let mut body = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
        let len = self
            .0
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map_err(|_| Error::Crypto("cannot open sealed data: wrong key or altered data"))?
            .len();
        body.truncate(len);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let mk = MasterKey::generate().unwrap();
        let k = mk.sealing_key("test");
        let s = k.seal(b"row-1", b"secret").unwrap();
        assert_eq!(&k.open(b"row-1", &s).unwrap()[..], b"secret");
        assert!(matches!(k.open(b"row-2", &s), Err(Error::Crypto(_))));
        let mut t = s.clone();
        *t.last_mut().unwrap() ^= 1;
        assert!(k.open(b"row-1", &t).is_err());
        assert!(mk.sealing_key("other").open(b"row-1", &s).is_err());
        assert!(
            MasterKey::generate()
                .unwrap()
                .sealing_key("test")
                .open(b"row-1", &s)
                .is_err()
        );
        assert!(k.open(b"row-1", &s[..10]).is_err());
        assert!(MasterKey::from_bytes(&[0; 31]).is_err());
    }
}
