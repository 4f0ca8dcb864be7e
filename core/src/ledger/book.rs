//! The device's own ledger in the store: append (one or a batch per transaction) and read back.

use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};

use super::chain::ChainHead;
use super::record::{GENESIS_PREV_HASH, Record, record_hash, validate_entry};
use super::signer::{Signer, device_id_for};
use crate::store::Store;
use crate::{Error, Result};

/// The ledger of this device: its store, its signer and its id.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<Store>,
    signer: Arc<dyn Signer>,
    device_id: String,
    public_key: Vec<u8>,
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
    pub fn prove_registration(&self, code: &str, server_public_key: &[u8]) -> Result<Vec<u8>> {
        let m =
            crate::sync::protocol::registration_message(code, &self.public_key, server_public_key);
        self.signer.sign(&m)
    }

    /// Appends one record: assigns seq and prev_hash, hashes, signs, and commits in one transaction.
    pub fn append(&self, kind: &str, payload: &[u8]) -> Result<Record> {
        self.append_with(kind, payload, |_, _| Ok(()))
    }

    /// Like [`Ledger::append`], and runs `also` (e.g. index rows that reference the record) in the same
    /// transaction, so the record and what points at it are committed together or not at all.
    pub fn append_with(
        &self,
        kind: &str,
        payload: &[u8],
        also: impl FnOnce(&Transaction<'_>, &Record) -> Result<()>,
    ) -> Result<Record> {
        validate_entry(kind, payload)?;
        self.store.with_tx(|tx| {
            let r = self.append_in(tx, kind, payload)?;
            also(tx, &r)?;
            Ok(r)
        })
    }

    /// Appends many records in one transaction (all or none).
    pub fn append_batch(&self, entries: &[(&str, &[u8])]) -> Result<Vec<Record>> {
        for (kind, payload) in entries {
            validate_entry(kind, payload)?;
        }
        self.store.with_tx(|tx| {
            entries
                .iter()
                .map(|(k, p)| self.append_in(tx, k, p))
                .collect()
        })
    }

    fn append_in(&self, tx: &Transaction<'_>, kind: &str, payload: &[u8]) -> Result<Record> {
        let head = head_in(tx)?;
        let (seq, prev_hash) = head.map_or((1, GENESIS_PREV_HASH), |h| (h.seq + 1, h.hash));
        let hash = record_hash(&self.device_id, seq, &prev_hash, kind, payload);
        let signature = self.signer.sign(&hash).map_err(|e| match e {
            Error::Signer(_) => e,
            other => Error::Signer(other.to_string()),
        })?;
        let seq_i = i64::try_from(seq).map_err(|_| Error::invalid("seq", "ledger is full"))?;
        tx.execute(
            "INSERT INTO ledger (seq, prev_hash, kind, payload, hash, signature, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                seq_i,
                &prev_hash[..],
                kind,
                payload,
                &hash[..],
                &signature,
                crate::time::wall_now_ms()
            ],
        )?;
        Ok(Record {
            device_id: self.device_id.clone(),
            seq,
            prev_hash,
            kind: kind.to_owned(),
            payload: payload.to_vec(),
            hash,
            signature,
        })
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
