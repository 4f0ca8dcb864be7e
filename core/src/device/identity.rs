//! The device identity: creates or loads the device key on first open and hands out the ledger.
//!
//! Either the core keeps a software key (sealed under the caller's master key), or the shell passes a
//! platform [`Signer`] (Android Keystore / Secure Enclave). The public key is recorded on first open; a
//! later open with a different key is refused, because it would silently start a second chain in the
//! same database.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use crate::ledger::{Ledger, Signer, SoftwareSigner, device_id_for};
use crate::sealed::MasterKey;
use crate::store::Store;
use crate::{Error, Result};

const KEY_PURPOSE: &str = "device-key";

/// Which key signs this device's records.
pub enum KeySource {
    /// A software P-256 key created on first open and stored sealed under the master key.
    Software,
    /// A platform key held outside the core (hardware keystore).
    Platform(Arc<dyn Signer>),
}

/// Opens the device identity in `store`, creating it on first use, and returns its ledger.
pub fn open_ledger(store: Arc<Store>, master: &MasterKey, source: KeySource) -> Result<Ledger> {
    let existing: Option<(Vec<u8>, Option<Vec<u8>>)> = store.with_conn(|c| {
        Ok(c.query_row(
            "SELECT public_key, sealed_key FROM device WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
    })?;
    let sealing = master.sealing_key(KEY_PURPOSE);
    let signer: Arc<dyn Signer> = match (existing, source) {
        (None, KeySource::Software) => {
            let s = SoftwareSigner::generate()?;
            insert_device(&store, &s.public_key()?, Some(&s.seal(&sealing)?))?;
            Arc::new(s)
        }
        (None, KeySource::Platform(p)) => {
            insert_device(&store, &p.public_key()?, None)?;
            p
        }
        (Some((_, Some(sealed))), KeySource::Software) => {
            Arc::new(SoftwareSigner::unseal(&sealing, &sealed)?)
        }
        (Some((_, None)), KeySource::Software) => {
            return Err(Error::NotReady(
                "this device's key is held by the platform signer; pass it",
            ));
        }
        (Some((pk, _)), KeySource::Platform(p)) => {
            if p.public_key()? != pk {
                return Err(Error::Crypto(
                    "the platform signer's key is not this device's key",
                ));
            }
            p
        }
    };
    Ledger::new(store, signer)
}

fn insert_device(store: &Store, public_key: &[u8], sealed: Option<&[u8]>) -> Result<()> {
    crate::ledger::signer::check_public_key(public_key)?;
    store.with_conn(|c| {
        c.execute(
            "INSERT INTO device (id, device_id, public_key, sealed_key, created_at_ms) VALUES (1, ?1, ?2, ?3, ?4)",
            params![device_id_for(public_key), public_key, sealed, crate::time::wall_now_ms()],
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_key_persists_and_needs_the_right_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let mk = MasterKey::generate().unwrap();
        let id = {
            let store = Arc::new(Store::open_dir(dir.path()).unwrap());
            let l = open_ledger(store, &mk, KeySource::Software).unwrap();
            l.append("test.one", b"{}").unwrap();
            l.device_id().to_owned()
        };
        let store = Arc::new(Store::open_dir(dir.path()).unwrap());
        let l = open_ledger(store.clone(), &mk, KeySource::Software).unwrap();
        assert_eq!(l.device_id(), id);
        l.append("test.two", b"{}").unwrap();
        l.verify().unwrap();
        let wrong = MasterKey::generate().unwrap();
        assert!(matches!(
            open_ledger(store.clone(), &wrong, KeySource::Software),
            Err(Error::Crypto(_))
        ));
        let other = Arc::new(SoftwareSigner::generate().unwrap());
        assert!(matches!(
            open_ledger(store, &mk, KeySource::Platform(other)),
            Err(Error::Crypto(_))
        ));
    }
}
