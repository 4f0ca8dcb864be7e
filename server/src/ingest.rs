//! Record upload: verify with the core's chain code, store the exact bytes, acknowledge the highest
//! contiguous seq.
//!
//! - resent records (same seq, same hash) are no-ops;
//! - a batch that starts after the next expected seq is a gap: nothing is stored, the ack names the seq
//!   the server expects;
//! - a verified record with an already-stored seq but another hash is a fork: kept as evidence, the
//!   device is flagged for review, nothing is merged;
//! - a record that does not verify (tampered, forged, another device's) is refused with 422; the
//!   verified records before it are stored, because nothing that verified is ever lost.
//!
//! Signature verification (the expensive part) runs on a blocking thread outside any transaction; the
//! transaction only re-checks that the device's head did not move meanwhile (optimistic concurrency).

use siap_core::ledger::{
    ChainError, ChainHead, GENESIS_PREV_HASH, Record, verify_continuation, verify_record,
};
use siap_core::sync::protocol::{MAX_BATCH_RECORDS, UploadAck, UploadStatus};

use crate::db::{Db, Sql, V};
use crate::devices::{Device, flag_device};
use crate::error::ServerError;
use crate::report::extract;

/// Outcome of one upload, before signing.
#[derive(Debug)]
pub struct Ingested {
    /// The ack body.
    pub ack: UploadAck,
    /// When some records did not verify: the error to return (the ack's seq is in it).
    pub rejected: Option<ServerError>,
}

enum Plan {
    /// Records with seq <= head: (record verified, same hash as stored).
    Old(Vec<(Record, bool)>),
}

/// Ingests `records` for `device`. `now` is the server time.
pub async fn ingest(
    db: &Db,
    device: Device,
    records: Vec<Record>,
    now: i64,
) -> Result<Ingested, ServerError> {
    if records.len() > MAX_BATCH_RECORDS {
        return Err(ServerError::TooLarge(format!(
            "at most {MAX_BATCH_RECORDS} records per batch"
        )));
    }
    let mut device = device;
    for _attempt in 0..8 {
        let head = (device.acked_seq > 0).then_some(ChainHead {
            seq: device.acked_seq,
            hash: device.head_hash,
        });
        let outcome = try_once(db, &device, head, &records, now).await?;
        if let Some(done) = outcome {
            return Ok(done);
        }
        // The head moved (a concurrent upload of the same device): reload and redo.
        let id = device.device_id.clone();
        device = db
            .tx(move |tx| crate::devices::load_device(tx, &id))
            .await?
            .ok_or(ServerError::Unauthorized)?
            .0;
    }
    Err(ServerError::Conflict(
        "concurrent uploads for this device; retry".into(),
    ))
}

fn ack(
    device_id: &str,
    seq: u64,
    hash: [u8; 32],
    stored: u32,
    duplicates: u32,
    status: UploadStatus,
    now: i64,
) -> UploadAck {
    UploadAck {
        kind: "ack".into(),
        device_id: device_id.to_owned(),
        acked_seq: seq,
        acked_hash: hash,
        expected_seq: seq + 1,
        stored,
        duplicates,
        status,
        server_time_ms: now,
    }
}

async fn try_once(
    db: &Db,
    device: &Device,
    head: Option<ChainHead>,
    records: &[Record],
    now: i64,
) -> Result<Option<Ingested>, ServerError> {
    let head_seq = head.map_or(0, |h| h.seq);
    let head_hash = head.map_or(GENESIS_PREV_HASH, |h| h.hash);
    let (old, new): (Vec<&Record>, Vec<&Record>) = records.iter().partition(|r| r.seq <= head_seq);

    // 1. Records the server already has a seq for: duplicates or forks.
    let mut duplicates = 0u32;
    if !old.is_empty() {
        let pk = device.public_key.clone();
        let id = device.device_id.clone();
        let old_owned: Vec<Record> = old.into_iter().cloned().collect();
        let Plan::Old(checked) = tokio::task::spawn_blocking(move || {
            Plan::Old(
                old_owned
                    .into_iter()
                    .map(|r| {
                        let ok = verify_record(&pk, &id, &r).is_ok();
                        (r, ok)
                    })
                    .collect(),
            )
        })
        .await
        .map_err(|_| ServerError::Internal("verification task failed".into()))?;
        if let Some((bad, _)) = checked.iter().find(|(_, ok)| !ok) {
            let seq = bad.seq;
            let id = device.device_id.clone();
            db.tx(move |tx| flag_device(tx, &id, "record failed verification"))
                .await?;
            return Ok(Some(Ingested {
                ack: ack(
                    &device.device_id,
                    head_seq,
                    head_hash,
                    0,
                    0,
                    UploadStatus::Ok,
                    now,
                ),
                rejected: Some(ServerError::BadRecord {
                    message: format!("record {seq}: does not verify"),
                    acked_seq: head_seq,
                }),
            }));
        }
        let id = device.device_id.clone();
        let (dups, forks) = db
            .tx(move |tx| {
                let mut dups = 0u32;
                let mut forks = Vec::new();
                for (r, _) in checked {
                    let stored = stored_hash(tx, &id, r.seq)?;
                    if stored.as_deref() == Some(&r.hash[..]) {
                        dups += 1;
                    } else {
                        let stored = stored.unwrap_or_default();
                        let seen = tx.one(
                            "SELECT 1 FROM forks WHERE device_id = $1 AND seq = $2 AND record_json = $3",
                            &[V::T(id.clone()), V::I(r.seq as i64), V::B(serde_json::to_vec(&r).unwrap_or_default())],
                        )?;
                        if seen.is_none() {
                            tx.exec(
                                "INSERT INTO forks (device_id, seq, stored_hash, record_json, received_at_ms) VALUES ($1, $2, $3, $4, $5)",
                                &[V::T(id.clone()), V::I(r.seq as i64), V::B(stored), V::B(serde_json::to_vec(&r).unwrap_or_default()), V::I(now)],
                            )?;
                        }
                        forks.push(r.seq);
                    }
                }
                if !forks.is_empty() {
                    flag_device(tx, &id, "fork: two different records with the same seq")?;
                }
                Ok((dups, forks))
            })
            .await?;
        duplicates = dups;
        if let Some(first) = forks.first() {
            let mut a = ack(
                &device.device_id,
                head_seq,
                head_hash,
                0,
                duplicates,
                UploadStatus::Fork,
                now,
            );
            a.expected_seq = *first;
            return Ok(Some(Ingested {
                ack: a,
                rejected: None,
            }));
        }
    }
    if new.is_empty() {
        return Ok(Some(Ingested {
            ack: ack(
                &device.device_id,
                head_seq,
                head_hash,
                0,
                duplicates,
                UploadStatus::Ok,
                now,
            ),
            rejected: None,
        }));
    }

    // 2. New records: must continue the chain from the stored head.
    if new[0].seq != head_seq + 1 {
        return Ok(Some(Ingested {
            ack: ack(
                &device.device_id,
                head_seq,
                head_hash,
                0,
                duplicates,
                UploadStatus::Gap,
                now,
            ),
            rejected: None,
        }));
    }
    let pk = device.public_key.clone();
    let new_owned: Vec<Record> = new.into_iter().cloned().collect();
    let (valid, failure) = tokio::task::spawn_blocking(move || verify_prefix(&pk, head, new_owned))
        .await
        .map_err(|_| ServerError::Internal("verification task failed".into()))?;
    let stored = valid.len() as u32;
    let (new_seq, new_hash) = valid
        .last()
        .map_or((head_seq, head_hash), |r| (r.seq, r.hash));
    let id = device.device_id.clone();
    let reason = failure.as_ref().map(std::string::ToString::to_string);
    let committed = db
        .tx(move |tx| {
            if !valid.is_empty() {
                let moved = tx.exec(
                    "UPDATE devices SET acked_seq = $1, head_hash = $2, last_seen_ms = $3 WHERE device_id = $4 AND acked_seq = $5",
                    &[V::I(new_seq as i64), V::B(new_hash.to_vec()), V::I(now), V::T(id.clone()), V::I(head_seq as i64)],
                )?;
                if moved == 0 {
                    return Ok(false);
                }
                for chunk in valid.chunks(INSERT_BATCH) {
                    insert_records(tx, chunk, now)?;
                }
            }
            if let Some(reason) = &reason {
                flag_device(tx, &id, &format!("rejected upload: {reason}"))?;
            }
            Ok(true)
        })
        .await?;
    if !committed {
        return Ok(None);
    }
    let status = if failure
        .as_ref()
        .is_some_and(|f| matches!(f, ChainError::Gap { .. }))
    {
        UploadStatus::Gap
    } else {
        UploadStatus::Ok
    };
    let rejected = match failure {
        None | Some(ChainError::Gap { .. }) => None,
        Some(e) => Some(ServerError::BadRecord {
            message: e.to_string(),
            acked_seq: new_seq,
        }),
    };
    Ok(Some(Ingested {
        ack: ack(
            &device.device_id,
            new_seq,
            new_hash,
            stored,
            duplicates,
            status,
            now,
        ),
        rejected,
    }))
}

/// Verifies records one by one from `head`; returns the verified prefix and the first failure.
pub fn verify_prefix(
    public_key: &[u8],
    head: Option<ChainHead>,
    records: Vec<Record>,
) -> (Vec<Record>, Option<ChainError>) {
    // The whole batch at once first (the common case), record by record only to locate a failure.
    if verify_continuation(public_key, head, &records).is_ok() {
        return (records, None);
    }
    let mut h = head;
    let mut valid = Vec::with_capacity(records.len());
    for r in records {
        match verify_continuation(public_key, h, std::slice::from_ref(&r)) {
            Ok(next) => {
                h = next;
                valid.push(r);
            }
            Err(e) => return (valid, Some(e)),
        }
    }
    (valid, None)
}

fn stored_hash(
    tx: &mut dyn Sql,
    device_id: &str,
    seq: u64,
) -> Result<Option<Vec<u8>>, ServerError> {
    tx.one(
        "SELECT hash FROM records WHERE device_id = $1 AND seq = $2",
        &[V::T(device_id.to_owned()), V::I(seq as i64)],
    )?
    .map(|r| r[0].b())
    .transpose()
}

/// Records per multi-row INSERT: 15 parameters each, 960 per statement, well under both backends'
/// limits (PostgreSQL 65,535; SQLite 32,766), and one round trip instead of 64 on PostgreSQL.
const INSERT_BATCH: usize = 64;

/// Columns of one stored record, in the order of the INSERT below.
const RECORD_COLUMNS: usize = 15;

fn insert_records(tx: &mut dyn Sql, records: &[Record], now: i64) -> Result<(), ServerError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(
        "INSERT INTO records (device_id, seq, prev_hash, kind, payload, hash, signature, received_at_ms,
            employee_id, site_id, event_ms, time_source, decision, flags, flagged) VALUES ",
    );
    let mut params = Vec::with_capacity(records.len() * RECORD_COLUMNS);
    for (i, r) in records.iter().enumerate() {
        let base = i * RECORD_COLUMNS;
        let row: Vec<String> = (1..=RECORD_COLUMNS)
            .map(|k| format!("${}", base + k))
            .collect();
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&row.join(", "));
        sql.push(')');
        params.extend(record_params(r, now));
    }
    tx.exec(&sql, &params)?;
    Ok(())
}

fn record_params(r: &Record, now: i64) -> [V; RECORD_COLUMNS] {
    let x = extract(&r.kind, &r.payload);
    [
        V::T(r.device_id.clone()),
        V::I(r.seq as i64),
        V::B(r.prev_hash.to_vec()),
        V::T(r.kind.clone()),
        V::B(r.payload.clone()),
        V::B(r.hash.to_vec()),
        V::B(r.signature.clone()),
        V::I(now),
        V::opt_text(x.employee_id.as_deref()),
        V::opt_text(x.site_id.as_deref()),
        x.event_ms.map_or(V::NullI, V::I),
        V::opt_text(x.time_source),
        V::opt_text(x.decision.as_deref()),
        V::T(serde_json::to_string(&x.flags).unwrap_or_else(|_| "[]".into())),
        V::I(i64::from(x.flagged)),
    ]
}
