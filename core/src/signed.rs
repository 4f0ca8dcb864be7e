//! Server-signed data: what the city publishes (permit status, sites, configuration) reaches devices
//! as bytes plus an ECDSA P-256 signature by the server key, whose public half the app is configured
//! with. A device verifies before it parses, and keeps the bytes and signature it verified so it can show
//! (and re-check) offline that a fee or deadline really came from the city.
//!
//! The signed message is `domain ‖ 0x00 ‖ body`: a signature over a permit can never be passed off as a
//! signature over a changes page, and vice versa.

use serde::{Deserialize, Serialize};

use crate::ledger::record::b64;
use crate::ledger::{Signer, verify_signature};
use crate::{Error, Result};

/// Domain of a single permit document.
pub const PERMIT_DOMAIN: &str = "SIAP-PERMIT-v1";
/// Domain of a changes-feed page.
pub const CHANGES_DOMAIN: &str = "SIAP-CHANGES-v1";
/// Domain of other signed server responses (registration, acknowledgements).
pub const RESPONSE_DOMAIN: &str = "SIAP-RESPONSE-v1";

/// Bytes signed by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBlob {
    /// The exact signed bytes (usually JSON).
    #[serde(with = "b64")]
    pub body: Vec<u8>,
    /// ECDSA P-256 / SHA-256 ASN.1 signature over `domain ‖ 0 ‖ body`.
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

fn message(domain: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + 1 + body.len());
    m.extend_from_slice(domain.as_bytes());
    m.push(0);
    m.extend_from_slice(body);
    m
}

impl SignedBlob {
    /// Signs `body` for `domain` (server side, and tests).
    pub fn sign(signer: &dyn Signer, domain: &str, body: Vec<u8>) -> Result<Self> {
        let signature = signer.sign(&message(domain, &body))?;
        Ok(SignedBlob { body, signature })
    }

    /// Signs the JSON encoding of `value`.
    pub fn sign_json<T: Serialize>(signer: &dyn Signer, domain: &str, value: &T) -> Result<Self> {
        Self::sign(signer, domain, serde_json::to_vec(value)?)
    }

    /// Verifies the signature and returns the body; `what` names the data in the error.
    pub fn verify(
        &self,
        server_public_key: &[u8],
        domain: &str,
        what: &'static str,
    ) -> Result<&[u8]> {
        if verify_signature(
            server_public_key,
            &message(domain, &self.body),
            &self.signature,
        ) {
            Ok(&self.body)
        } else {
            Err(Error::BadServerSignature(what))
        }
    }

    /// Verifies, then parses the body as JSON.
    pub fn verify_json<T: serde::de::DeserializeOwned>(
        &self,
        server_public_key: &[u8],
        domain: &str,
        what: &'static str,
    ) -> Result<T> {
        Ok(serde_json::from_slice(self.verify(
            server_public_key,
            domain,
            what,
        )?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::SoftwareSigner;

    #[test]
    fn sign_verify_and_domain_separation() {
        let k = SoftwareSigner::generate().unwrap();
        let pk = k.public_key().unwrap();
        let b = SignedBlob::sign(&k, PERMIT_DOMAIN, b"{\"a\":1}".to_vec()).unwrap();
        assert_eq!(
            b.verify(&pk, PERMIT_DOMAIN, "permit").unwrap(),
            b"{\"a\":1}"
        );
        assert!(b.verify(&pk, CHANGES_DOMAIN, "changes").is_err());
        let mut t = b.clone();
        t.body[2] ^= 1;
        assert!(matches!(
            t.verify(&pk, PERMIT_DOMAIN, "permit"),
            Err(Error::BadServerSignature("permit"))
        ));
        let other = SoftwareSigner::generate().unwrap().public_key().unwrap();
        assert!(b.verify(&other, PERMIT_DOMAIN, "permit").is_err());
    }
}
