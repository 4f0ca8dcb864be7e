//! The device's own ledger in the store: append (one or a batch per transaction) and read back.
//!
//! Signing is slow where it matters: a platform keystore (StrongBox, Secure Enclave) takes tens to
//! hundreds of milliseconds and may wait for the user. So an append never signs while it holds the
//! store's connection lock, which every other reader (status screen, permits, sync) needs:
//!
//! 1. appends take turns on the ledger's own append lock, shared by every clone of a [`Ledger`];
//! 2. the head is read in a short read of its own;
//! 3. the records are hashed and signed with no store lock held;
//! 4. one short transaction checks that the head is still the one that was signed on top of, then
//!    inserts the records (and the caller's rows, for [`Ledger::append_with`]).
//!
//! Step 4's check only fails when something outside this ledger's append lock wrote to the ledger in
//! between: another [`Ledger`] value built over the same store, or another process on the same file. Those
//! records are valid, and the caller still wants its record appended, so the append starts again from
//! the new head (a few times at most; then it fails as a busy database). Signatures made for a head that
//! moved are dropped unused: they never reach the store or the server, just as when the caller's
//! `also` fails and the transaction rolls back.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{OptionalExtension, Transaction, params};

use super::chain::ChainHead;
use super::record::{GENESIS_PREV_HASH, Record, record_hash, validate_entry};
use super::signer::{Signer, device_id_for};
use crate::store::Store;
use crate::{Error, Result};

/// How many times an append signs again because another writer moved the head while it was signing.
const APPEND_ATTEMPTS: usize = 3;

/// The ledger of this device: its store, its signer and its id.
///
/// Clones share the store, the signer and the append lock, so appends through any of them form one chain.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<Store>,
    signer: Arc<dyn Signer>,
    device_id: String,
    public_key: Vec<u8>,
    /// Serialises appends (head read, signing, insert) without holding the store's lock while signing.
    appending: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// A ledger over `store`, signing with `signer`.
    pub fn new(store: Arc<Store>, signer: Arc<dyn Signer>) -> Result<Self> {
        let public_key = signer.public_key()?;
        super::signer::check_public_key(&public_key)?;
        Ok(Ledger {
            device_id: device_id_for(&public_key),
            store,
            signer,
            public_key,
            appending: Arc::new(Mutex::new(())),
        })
    }

    /// This device's id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// This device's public key (uncompressed P-256).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Proves possession of the device key for registration: a signature over
    /// [`registration_message`](crate::sync::protocol::registration_message). The key signs only
    /// domain-separated messages besides record hashes, so this cannot be turned into a record signature.
    /// Touches neither the store nor the append lock.
    pub fn prove_registration(&self, code: &str, server_public_key: &[u8]) -> Result<Vec<u8>> {
        let m =
            crate::sync::protocol::registration_message(code, &self.public_key, server_public_key);
        self.signer.sign(&m)
    }

    /// Appends one record: assigns seq and prev_hash, hashes, signs, and commits in one transaction.
    /// The signer runs without the store's lock held (see the module docs).
    pub fn append(&self, kind: &str, payload: &[u8]) -> Result<Record> {
        self.append_with(kind, payload, |_, _| Ok(()))
    }

    /// Like [`Ledger::append`], and runs `also` (e.g. index rows that reference the record) in the same
    /// transaction, so the record and what points at it are committed together or not at all.
    ///
    /// `also` runs at most once, after the record was signed, inside the insert transaction: it holds
    /// the store's lock, so it should only write rows (no signing, no waiting on other threads).
    pub fn append_with(
        &self,
        kind: &str,
        payload: &[u8],
        also: impl FnOnce(&Transaction<'_>, &Record) -> Result<()>,
    ) -> Result<Record> {
        let mut records = self.append_entries(&[(kind, payload)], |tx, records| {
            let r = records
                .first()
                .ok_or_else(|| Error::CorruptDatabase("append produced no record".into()))?;
            also(tx, r)
        })?;
        records
            .pop()
            .ok_or_else(|| Error::CorruptDatabase("append produced no record".into()))
    }

    /// Appends many records in one transaction (all or none): if any entry is invalid or any signature
    /// fails, nothing is written.
    pub fn append_batch(&self, entries: &[(&str, &[u8])]) -> Result<Vec<Record>> {
        self.append_entries(entries, |_, _| Ok(()))
    }

    /// The append sequence of the module docs: validate, take the append lock, then read the head,
    /// sign, and insert with `also` in one transaction, starting over if the head moved meanwhile.
    fn append_entries(
        &self,
        entries: &[(&str, &[u8])],
        also: impl FnOnce(&Transaction<'_>, &[Record]) -> Result<()>,
    ) -> Result<Vec<Record>> {
        for (kind, payload) in entries {
            validate_entry(kind, payload)?;
        }
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // The lock guards no data, only the turn: a panic in another append leaves nothing to repair.
        let _turn = self
            .appending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut also = Some(also);
        for _ in 0..APPEND_ATTEMPTS {
            let head = self.head()?;
            let records = self.sign_after(head, entries)?;
            let committed = self.store.with_tx(|tx| {
                if head_in(tx)? != head {
                    return Ok(false);
                }
                let created_at_ms = crate::time::wall_now_ms();
                for r in &records {
                    insert(tx, r, created_at_ms)?;
                }
                // Taken only here, and this attempt then ends in a commit or an error, never a retry.
                match also.take() {
                    Some(f) => f(tx, &records)?,
                    None => {
                        return Err(Error::CorruptDatabase(
                            "append retried after its rows were written".into(),
                        ));
                    }
                }
                Ok(true)
            })?;
            if committed {
                return Ok(records);
            }
        }
        Err(Error::Storage(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("another writer kept appending to the ledger while this device signed".into()),
        )))
    }

    /// Hashes and signs `entries` as the records following `head`. Holds no store lock.
    fn sign_after(
        &self,
        head: Option<ChainHead>,
        entries: &[(&str, &[u8])],
    ) -> Result<Vec<Record>> {
        let (mut seq, mut prev_hash) = head.map_or((1, GENESIS_PREV_HASH), |h| (h.seq + 1, h.hash));
        let mut out = Vec::with_capacity(entries.len());
        for (kind, payload) in entries {
            i64::try_from(seq).map_err(|_| Error::invalid("seq", "ledger is full"))?;
            let hash = record_hash(&self.device_id, seq, &prev_hash, kind, payload);
            let signature = self.signer.sign(&hash).map_err(|e| match e {
                Error::Signer(_) => e,
                other => Error::Signer(other.to_string()),
            })?;
            out.push(Record {
                device_id: self.device_id.clone(),
                seq,
                prev_hash,
                kind: (*kind).to_owned(),
                payload: payload.to_vec(),
                hash,
                signature,
            });
            seq += 1;
            prev_hash = hash;
        }
        Ok(out)
    }

    /// The last record's seq and hash.
    pub fn head(&self) -> Result<Option<ChainHead>> {
        self.store.with_conn(head_in)
    }

    /// Records with `seq > after`, in order, at most `limit`.
    pub fn records_after(&self, after: u64, limit: usize) -> Result<Vec<Record>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.store.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT seq, prev_hash, kind, payload, hash, signature FROM ledger WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = st.query_map(params![after, limit], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?, row.get::<_, String>(2)?, row.get::<_, Vec<u8>>(3)?, row.get::<_, Vec<u8>>(4)?, row.get::<_, Vec<u8>>(5)?))
            })?;
            rows.map(|row| {
                let (seq, prev, kind, payload, hash, signature) = row?;
                Ok(Record {
                    device_id: self.device_id.clone(),
                    seq: seq as u64,
                    prev_hash: to32(&prev)?,
                    kind,
                    payload,
                    hash: to32(&hash)?,
                    signature,
                })
            })
            .collect()
        })
    }

    /// Every record, in order.
    pub fn all(&self) -> Result<Vec<Record>> {
        self.records_after(0, usize::MAX)
    }

    /// One record by seq.
    pub fn get(&self, seq: u64) -> Result<Option<Record>> {
        Ok(self
            .records_after(seq.saturating_sub(1), 1)?
            .into_iter()
            .find(|r| r.seq == seq))
    }

    /// Verifies the stored chain against this device's key.
    pub fn verify(&self) -> Result<Option<ChainHead>> {
        Ok(super::chain::verify_chain(&self.public_key, &self.all()?)?)
    }

    /// Writes every record as one JSON object per line.
    pub fn export_jsonl(&self, out: &mut impl std::io::Write) -> Result<usize> {
        let records = self.all()?;
        super::export::write_jsonl(out, &records)?;
        Ok(records.len())
    }
}

fn insert(tx: &Transaction<'_>, r: &Record, created_at_ms: i64) -> Result<()> {
    let seq = i64::try_from(r.seq).map_err(|_| Error::invalid("seq", "ledger is full"))?;
    tx.execute(
        "INSERT INTO ledger (seq, prev_hash, kind, payload, hash, signature, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            seq,
            &r.prev_hash[..],
            r.kind,
            r.payload,
            &r.hash[..],
            &r.signature,
            created_at_ms
        ],
    )?;
    Ok(())
}

fn head_in(c: &rusqlite::Connection) -> Result<Option<ChainHead>> {
    let row: Option<(i64, Vec<u8>)> = c
        .query_row(
            "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(seq, hash)| {
        Ok(ChainHead {
            seq: seq as u64,
            hash: to32(&hash)?,
        })
    })
    .transpose()
}

fn to32(v: &[u8]) -> Result<[u8; 32]> {
    v.try_into()
        .map_err(|_| Error::CorruptDatabase("ledger hash column is not 32 bytes".into()))
}
