//! Record upload: verify with the core's chain code, store the exact bytes, acknowledge the highest
//! contiguous seq.
//!
//! One pass over the batch, in the order sent, classifies every record:
//!
//! - a record with a seq already stored, or already accepted earlier in the same batch, and the same
//!   hash is a duplicate (a resend): a no-op, never a reason to flag the device;
//! - the same seq with another hash and a valid signature is a **fork**: kept as evidence (once per
//!   distinct record), the device is flagged for review, nothing is merged — and this holds inside one
//!   batch too, where a fork used to be mistaken for a gap and lost;
//! - the next seq must continue the chain from the head; a batch that skips ahead is a gap: nothing after
//!   it is stored and the ack names the seq the server expects;
//! - a record that does not verify (tampered, forged, another device's) or breaks the record rules
//!   (kind character set, payload size — the same [`validate_entry`] the device applies before signing)
//!   is refused with 422; the verified records before it are stored, because nothing that verified is
//!   ever lost.
//!
//! Every review reason is recorded (`device_reviews`), not only the first. Signature verification (the
//! expensive part) runs on a blocking thread outside any transaction; the transaction only re-checks
//! that the device's head did not move meanwhile (optimistic concurrency).

use std::collections::HashMap;

use siap_core::ledger::record::validate_entry;
use siap_core::ledger::{ChainHead, GENESIS_PREV_HASH, Record, verify_continuation, verify_record};
use siap_core::sync::protocol::{
    Binding, DeviceConfig, MAX_BATCH_RECORDS, UploadAck, UploadStatus,
};

use crate::db::{Db, Sql, V};
use crate::devices::{Device, flag_device};
use crate::error::ServerError;
use crate::report::extract;

/// Outcome of one upload, before signing.
#[derive(Debug)]
pub struct Ingested {
    /// The ack body.
    pub ack: UploadAck,
    /// Records stored by this upload (not counting duplicates).
    pub stored: u64,
    /// The server's verdict on each attendance record stored: decision and reasons.
    pub verdicts: Vec<(String, Vec<String>)>,
    /// When some records did not verify: the error to return (the ack's seq is in it).
    pub rejected: Option<ServerError>,
}

/// Ingests `records` for `device`. `now` is the server time.
/// Attendance records are judged by the city's `policy` (see [`crate::verdict`]); with
/// `face_recheck`, a check-in otherwise accepted waits for the server's face check
/// ([`crate::recheck`]).
pub async fn ingest(
    db: &Db,
    device: Device,
    records: Vec<Record>,
    policy: &DeviceConfig,
    face_recheck: bool,
    now: i64,
) -> Result<Ingested, ServerError> {
    if records.len() > MAX_BATCH_RECORDS {
        return Err(ServerError::TooLarge(format!(
            "at most {MAX_BATCH_RECORDS} records per batch"
        )));
    }
    let records = std::sync::Arc::new(records);
    let mut device = device;
    for _attempt in 0..8 {
        let head = (device.acked_seq > 0).then_some(ChainHead {
            seq: device.acked_seq,
            hash: device.head_hash,
        });
        let outcome = try_once(
            db,
            &device,
            head,
            records.clone(),
            policy,
            face_recheck,
            now,
        )
        .await?;
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

/// Why classification stopped early.
#[derive(Debug)]
enum Stop {
    /// The batch skipped ahead of the next expected seq.
    Gap,
    /// A record failed verification or the record rules.
    Bad(String),
}

/// The batch, classified without touching the database.
#[derive(Debug, Default)]
struct Plan {
    /// Verified records with a seq at or below the stored head: duplicates or forks, decided against
    /// the stored hashes.
    old: Vec<Record>,
    /// Verified records that continue the chain, in order.
    new: Vec<Record>,
    /// Resends of a record accepted earlier in the same batch.
    batch_duplicates: u32,
    /// Validly signed records contradicting one accepted earlier in this batch: (record, hash it
    /// contradicts).
    batch_forks: Vec<(Record, [u8; 32])>,
    /// Where and why the pass stopped.
    stop: Option<Stop>,
}

fn classify(
    public_key: &[u8],
    device_id: &str,
    head: Option<ChainHead>,
    records: &[Record],
) -> Plan {
    let mut plan = Plan::default();
    let mut cur = head;
    let mut accepted: HashMap<u64, [u8; 32]> = HashMap::new();
    for r in records {
        if validate_entry(&r.kind, &r.payload).is_err() {
            plan.stop = Some(Stop::Bad(format!(
                "record {}: kind or payload breaks the record rules",
                r.seq
            )));
            break;
        }
        let cur_seq = cur.map_or(0, |h| h.seq);
        if r.seq <= cur_seq {
            if let Err(e) = verify_record(public_key, device_id, r) {
                plan.stop = Some(Stop::Bad(e.to_string()));
                break;
            }
            match accepted.get(&r.seq) {
                Some(h) if *h == r.hash => plan.batch_duplicates += 1,
                Some(h) => plan.batch_forks.push((r.clone(), *h)),
                // Not accepted in this batch, so at or below the stored head: decided against the
                // stored hash.
                None => plan.old.push(r.clone()),
            }
            continue;
        }
        if r.seq != cur_seq + 1 {
            plan.stop = Some(Stop::Gap);
            break;
        }
        match verify_continuation(public_key, cur, std::slice::from_ref(r)) {
            Ok(next) => {
                cur = next;
                accepted.insert(r.seq, r.hash);
                plan.new.push(r.clone());
            }
            Err(e) => {
                plan.stop = Some(Stop::Bad(e.to_string()));
                break;
            }
        }
    }
    plan
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

/// What the database transaction decided.
struct Committed {
    duplicates: u32,
    first_fork: Option<u64>,
    verdicts: Vec<(String, Vec<String>)>,
}

async fn try_once(
    db: &Db,
    device: &Device,
    head: Option<ChainHead>,
    records: std::sync::Arc<Vec<Record>>,
    policy: &DeviceConfig,
    face_recheck: bool,
    now: i64,
) -> Result<Option<Ingested>, ServerError> {
    let head_seq = head.map_or(0, |h| h.seq);
    let head_hash = head.map_or(GENESIS_PREV_HASH, |h| h.hash);
    let (pk, id) = (device.public_key.clone(), device.device_id.clone());
    let plan = tokio::task::spawn_blocking(move || classify(&pk, &id, head, &records))
        .await
        .map_err(|_| ServerError::Internal("verification task failed".into()))?;
    let Plan {
        old,
        new,
        batch_duplicates,
        batch_forks,
        stop,
    } = plan;
    let stored = new.len() as u32;
    let (new_seq, new_hash) = new
        .last()
        .map_or((head_seq, head_hash), |r| (r.seq, r.hash));
    let id = device.device_id.clone();
    let bad = match &stop {
        Some(Stop::Bad(reason)) => Some(reason.clone()),
        _ => None,
    };
    let binding = device.binding.clone();
    let policy = policy.clone();
    let committed = db
        .tx(move |tx| {
            let mut verdicts = Vec::new();
            if !new.is_empty() {
                let moved = tx.exec(
                    "UPDATE devices SET acked_seq = $1, head_hash = $2, last_seen_ms = $3 WHERE device_id = $4 AND acked_seq = $5",
                    &[V::I(new_seq as i64), V::B(new_hash.to_vec()), V::I(now), V::T(id.clone()), V::I(head_seq as i64)],
                )?;
                if moved == 0 {
                    return Ok(None);
                }
                let mut reference =
                    crate::verdict::Reference::load(tx, &new, &policy, face_recheck)?;
                for chunk in new.chunks(INSERT_BATCH) {
                    insert_records(tx, chunk, &binding, &mut reference, now)?;
                }
                crate::faces::record(tx, &new, &binding, &mut reference, now)?;
                reference.remember(tx, now)?;
                verdicts = std::mem::take(&mut reference.judged);
            }
            let mut duplicates = batch_duplicates;
            let mut forks: Vec<(Record, Vec<u8>)> = batch_forks
                .into_iter()
                .map(|(r, h)| (r, h.to_vec()))
                .collect();
            for r in old {
                let stored = stored_hash(tx, &id, r.seq)?.unwrap_or_default();
                if stored == r.hash {
                    duplicates += 1;
                } else {
                    forks.push((r, stored));
                }
            }
            let first_fork = forks.iter().map(|(r, _)| r.seq).min();
            if !forks.is_empty() {
                let fresh = store_forks(tx, &id, &forks, now)?;
                tx.exec(
                    "UPDATE devices SET fork_count = fork_count + $1 WHERE device_id = $2",
                    &[V::I(fresh as i64), V::T(id.clone())],
                )?;
                flag_device(tx, &id, "fork: two different records with the same seq", now)?;
            }
            if let Some(reason) = &bad {
                // Grouped by kind of failure, not by seq: one review row per reason, with a count.
                let category = reason
                    .strip_prefix("record ")
                    .and_then(|r| r.split_once(": "))
                    .map_or(reason.as_str(), |(_, what)| what);
                flag_device(tx, &id, &format!("rejected upload: {category}"), now)?;
            }
            Ok(Some(Committed {
                duplicates,
                first_fork,
                verdicts,
            }))
        })
        .await?;
    let Some(Committed {
        duplicates,
        first_fork,
        verdicts,
    }) = committed
    else {
        return Ok(None);
    };
    let status = if first_fork.is_some() {
        UploadStatus::Fork
    } else if matches!(stop, Some(Stop::Gap)) {
        UploadStatus::Gap
    } else {
        UploadStatus::Ok
    };
    let mut a = ack(
        &device.device_id,
        new_seq,
        new_hash,
        stored,
        duplicates,
        status,
        now,
    );
    if let Some(seq) = first_fork {
        a.expected_seq = seq;
    }
    let rejected = match stop {
        Some(Stop::Bad(message)) => Some(ServerError::BadRecord {
            message,
            acked_seq: new_seq,
        }),
        _ => None,
    };
    Ok(Some(Ingested {
        ack: a,
        stored: u64::from(stored),
        verdicts,
        rejected,
    }))
}

/// Stores fork evidence, once per distinct (device, seq, record hash); returns how many were new.
fn store_forks(
    tx: &mut dyn Sql,
    device_id: &str,
    forks: &[(Record, Vec<u8>)],
    now: i64,
) -> Result<u64, ServerError> {
    let mut fresh = 0;
    for (r, stored) in forks {
        let json = serde_json::to_vec(r)
            .map_err(|_| ServerError::Internal("cannot encode a fork".into()))?;
        fresh += tx.exec(
            "INSERT INTO forks (device_id, seq, stored_hash, record_json, received_at_ms, record_hash) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (device_id, seq, record_hash) DO NOTHING",
            &[V::T(device_id.to_owned()), V::I(r.seq as i64), V::B(stored.clone()), V::B(json), V::I(now), V::B(r.hash.to_vec())],
        )?;
    }
    Ok(fresh)
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

/// Records per multi-row INSERT: 17 parameters each, 1,088 per statement, well under both backends'
/// limits (PostgreSQL 65,535; SQLite 32,766), and one round trip instead of 64 on PostgreSQL.
const INSERT_BATCH: usize = 64;

/// Columns of one stored record, in the order of the INSERT below.
const RECORD_COLUMNS: usize = 17;

fn insert_records(
    tx: &mut dyn Sql,
    records: &[Record],
    binding: &Binding,
    reference: &mut crate::verdict::Reference,
    now: i64,
) -> Result<(), ServerError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(
        "INSERT INTO records (device_id, seq, prev_hash, kind, payload, hash, signature, received_at_ms,
            employee_id, site_id, event_ms, time_source, decision, flags, flagged, server_decision,
            server_reasons) VALUES ",
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
        params.extend(record_params(r, binding, reference, now));
    }
    tx.exec(&sql, &params)?;
    Ok(())
}

/// A report column from device-written text: control characters (NUL above all, which PostgreSQL's
/// text type refuses, so one signed record could otherwise block its device's sync forever) removed,
/// and at most 128 characters. The signed payload keeps the original bytes.
fn column_text(s: Option<String>) -> V {
    V::opt_text(
        s.map(|t| {
            t.chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect::<String>()
        })
        .as_deref(),
    )
}

fn record_params(
    r: &Record,
    binding: &Binding,
    reference: &mut crate::verdict::Reference,
    now: i64,
) -> [V; RECORD_COLUMNS] {
    let mut x = extract(&r.kind, &r.payload);
    crate::report::flag_event_time(&mut x, now);
    let verdict = crate::verdict::judge(r, binding, &mut x, reference);
    [
        V::T(r.device_id.clone()),
        V::I(r.seq as i64),
        V::B(r.prev_hash.to_vec()),
        V::T(r.kind.clone()),
        V::B(r.payload.clone()),
        V::B(r.hash.to_vec()),
        V::B(r.signature.clone()),
        V::I(now),
        column_text(x.employee_id.take()),
        column_text(x.site_id.take()),
        x.event_ms.map_or(V::NullI, V::I),
        V::opt_text(x.time_source),
        column_text(x.decision.take()),
        // JSON escapes control characters, so the flags text never carries a raw NUL.
        V::T(serde_json::to_string(&x.flags).unwrap_or_else(|_| "[]".into())),
        V::I(i64::from(x.flagged)),
        V::opt_text(verdict.as_ref().map(|v| v.decision)),
        V::T(verdict.map_or_else(
            || "[]".into(),
            |v| serde_json::to_string(&v.reasons).unwrap_or_else(|_| "[]".into()),
        )),
    ]
}
