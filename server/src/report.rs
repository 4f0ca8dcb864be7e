//! Reports for supervisors and auditors: attendance for a day (JSON or CSV), flagged records, forks and
//! devices that have not synced for N days.
//!
//! Report columns are extracted from each record's payload at ingest ([`extract`]), so reports are plain
//! queries; the signed bytes stay untouched next to them for end-to-end verification.

use std::fmt::Write as _;

use serde::Serialize;

use crate::db::{Db, V};
use crate::error::ServerError;

/// Report columns extracted from a record payload. Unknown or non-JSON payloads give empty columns.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Employee the record is about.
    pub employee_id: Option<String>,
    /// Site of an attendance record.
    pub site_id: Option<String>,
    /// Event time: the trusted estimate when the device had one, else the device's wall clock.
    pub event_ms: Option<i64>,
    /// `trusted` or `device`.
    pub time_source: Option<&'static str>,
    /// `accepted` / `rejected`.
    pub decision: Option<String>,
    /// Flags raised on the device.
    pub flags: Vec<String>,
    /// Rejected, or any flag raised.
    pub flagged: bool,
}

/// The snake_case code of a serialisable enum value.
fn code<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_value(v).ok()?.as_str().map(str::to_owned)
}

/// Extracts report columns from a record payload, parsed with the core's own payload types (one
/// definition shared by device and server). Unknown kinds or unparsable payloads give empty columns:
/// the record itself is stored verbatim whatever its payload says.
pub fn extract(kind: &str, payload: &[u8]) -> Extracted {
    use siap_core::attendance::{AttendancePayload, Decision, KIND_CHECK_IN, KIND_CHECK_OUT};
    use siap_core::inspection::{InspectionPayload, KIND_INSPECTION};

    let time_of = |t: &siap_core::clock::TimeEvidence| match t.trusted.estimate_ms() {
        Some(e) => (Some(e), Some("trusted")),
        None => (Some(t.device_wall_ms), Some("device")),
    };
    let mut x = Extracted::default();
    if kind == KIND_CHECK_IN || kind == KIND_CHECK_OUT {
        let Ok(p) = serde_json::from_slice::<AttendancePayload>(payload) else {
            return x;
        };
        (x.event_ms, x.time_source) = time_of(&p.time);
        x.employee_id = Some(p.employee_id);
        x.site_id.clone_from(&p.geo.site_id);
        x.decision = Some(
            if p.decision == Decision::Accepted {
                "accepted"
            } else {
                "rejected"
            }
            .into(),
        );
        let mut flags: Vec<String> = p.geo.flags.iter().filter_map(code).collect();
        flags.extend(p.reasons.iter().filter_map(code));
        if p.time.clock_skew {
            flags.push("clock_skew".into());
        }
        flags.sort();
        flags.dedup();
        x.flags = flags;
        x.flagged = p.decision != Decision::Accepted || !x.flags.is_empty();
    } else if kind == KIND_INSPECTION {
        let Ok(p) = serde_json::from_slice::<InspectionPayload>(payload) else {
            return x;
        };
        (x.event_ms, x.time_source) = time_of(&p.time);
        x.site_id = Some(p.asset_id);
        x.flags = p.proximity.flags.iter().filter_map(code).collect();
        if p.proximity.containment != siap_core::geo::Containment::Inside {
            x.flags.push("far_from_asset".into());
        }
        x.flagged = !x.flags.is_empty();
    }
    x
}

/// Earliest plausible event time (2020-01-01T00:00Z): SIAP did not exist before; earlier or negative
/// times come from a broken or edited clock.
pub const EARLIEST_EVENT_MS: i64 = 1_577_836_800_000;

/// How far an event may lie after the server received it (clock granularity, not a tolerance for a
/// phone clock set forward: the device's trusted estimate is anchored to this server's time).
pub const FUTURE_TOLERANCE_MS: i64 = 10 * 60_000;

/// Adds server-side time flags to extracted columns, judged against the server's own receipt time
/// `received_ms` (the one clock a device cannot move): `event_time_implausible` for events before
/// [`EARLIEST_EVENT_MS`] (negative, epoch, years ago), `event_time_in_future` for events after receipt
/// (year 9999, a clock set forward). The record stays stored verbatim; the flag makes it visible.
pub fn flag_event_time(x: &mut Extracted, received_ms: i64) {
    let Some(t) = x.event_ms else { return };
    let flag = if t < EARLIEST_EVENT_MS {
        Some("event_time_implausible")
    } else if t > received_ms.saturating_add(FUTURE_TOLERANCE_MS) {
        Some("event_time_in_future")
    } else {
        None
    };
    if let Some(f) = flag {
        x.flags.push(f.to_owned());
        x.flags.sort();
        x.flags.dedup();
        x.flagged = true;
    }
}

/// One attendance row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttendanceRow {
    /// Employee.
    pub employee_id: String,
    /// Site.
    pub site_id: String,
    /// `attendance.check_in` / `attendance.check_out`.
    pub kind: String,
    /// Event time (ms).
    pub event_ms: i64,
    /// `trusted` or `device`.
    pub time_source: String,
    /// The server's verdict ([`crate::verdict`]): `accepted`, `rejected`, `pending` (waiting for the
    /// server's own face check, [`crate::recheck`]), or `unverified` for records stored before the
    /// server judged attendance. This is what counts.
    pub decision: String,
    /// What the device decided (a claim the server re-checks).
    pub device_decision: String,
    /// Why the server rejected it.
    pub server_reasons: Vec<String>,
    /// The server's own similarity of the uploaded face crop to the approved template, once its
    /// re-check ([`crate::recheck`]) ran.
    pub server_similarity: Option<f32>,
    /// Why the server's own liveness verdict failed (the check's reason codes), when it re-ran the
    /// check on the uploaded transcript and it failed.
    pub server_liveness_reasons: Vec<String>,
    /// Flags.
    pub flags: Vec<String>,
    /// Device.
    pub device_id: String,
    /// Record seq.
    pub seq: u64,
    /// The employee's agency ([`crate::opd`]), when known.
    pub opd: Option<String>,
}

/// Parses `YYYY-MM-DD` to days since the Unix epoch.
pub fn parse_day(s: &str) -> Result<i64, ServerError> {
    let bad = || ServerError::BadRequest("date must be YYYY-MM-DD".into());
    let mut it = s.split('-');
    let (y, m, d) = (
        it.next().ok_or_else(bad)?,
        it.next().ok_or_else(bad)?,
        it.next().ok_or_else(bad)?,
    );
    if it.next().is_some() {
        return Err(bad());
    }
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(era * 146_097 + doe - 719_468)
}

/// Attendance records whose event time falls on `day` in the time zone `utc_offset_min` (WIB = 420).
pub async fn attendance(
    db: &Db,
    day: &str,
    utc_offset_min: i64,
) -> Result<Vec<AttendanceRow>, ServerError> {
    let start = parse_day(day)? * 86_400_000 - utc_offset_min * 60_000;
    let end = start + 86_400_000;
    db.tx(move |tx| {
        let rows = tx.query(
            "SELECT r.employee_id, r.site_id, r.kind, r.event_ms, r.time_source, r.decision, r.flags, r.device_id, r.seq,
                COALESCE(r.server_decision, 'unverified'), r.server_reasons, f.similarity_bp, f.liveness_reasons
             FROM records r LEFT JOIN face_rechecks f ON f.device_id = r.device_id AND f.seq = r.seq
             WHERE r.kind LIKE 'attendance.%' AND r.event_ms >= $1 AND r.event_ms < $2 ORDER BY r.event_ms, r.device_id, r.seq",
            &[V::I(start), V::I(end)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AttendanceRow {
                    employee_id: r[0].opt_t()?.unwrap_or_default(),
                    site_id: r[1].opt_t()?.unwrap_or_default(),
                    kind: r[2].t()?,
                    event_ms: r[3].i()?,
                    time_source: r[4].opt_t()?.unwrap_or_default(),
                    device_decision: r[5].opt_t()?.unwrap_or_default(),
                    flags: serde_json::from_str(&r[6].t()?).unwrap_or_default(),
                    device_id: r[7].t()?,
                    seq: r[8].i()?.max(0) as u64,
                    decision: r[9].t()?,
                    server_reasons: serde_json::from_str(&r[10].t()?).unwrap_or_default(),
                    server_similarity: r[11].opt_i()?.map(|bp| bp as f32 / 10_000.0),
                    server_liveness_reasons: r[12]
                        .opt_t()?
                        .and_then(|j| serde_json::from_str(&j).ok())
                        .unwrap_or_default(),
                    opd: None,
                })
            })
            .collect()
    })
    .await
}

/// One CSV cell: always quoted, and neutralised (a leading `'`) when a spreadsheet would read it as a
/// formula or a control: `=`, `+`, `-`, `@`, TAB, CR (OWASP's CSV-injection list).
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The attendance report as CSV.
pub fn attendance_csv(rows: &[AttendanceRow]) -> String {
    let mut out = String::from(
        "employee_id,site_id,kind,event_ms,time_source,decision,device_decision,server_reasons,flags,device_id,seq,opd\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.employee_id),
            csv_field(&r.site_id),
            csv_field(&r.kind),
            r.event_ms,
            csv_field(&r.time_source),
            csv_field(&r.decision),
            csv_field(&r.device_decision),
            csv_field(&r.server_reasons.join(";")),
            csv_field(&r.flags.join(";")),
            csv_field(&r.device_id),
            r.seq,
            csv_field(r.opd.as_deref().unwrap_or_default())
        );
    }
    out
}

/// A flagged record.
#[derive(Debug, Clone, Serialize)]
pub struct FlaggedRow {
    /// Device.
    pub device_id: String,
    /// Seq.
    pub seq: u64,
    /// Kind.
    pub kind: String,
    /// Employee.
    pub employee_id: Option<String>,
    /// Event time.
    pub event_ms: Option<i64>,
    /// The device's decision.
    pub decision: Option<String>,
    /// The server's verdict on attendance records (`None` for other kinds).
    pub server_decision: Option<String>,
    /// Why the server rejected it.
    pub server_reasons: Vec<String>,
    /// Flags.
    pub flags: Vec<String>,
}

/// Records that were rejected on the device or carry flags.
pub async fn flagged(db: &Db, limit: i64) -> Result<Vec<FlaggedRow>, ServerError> {
    db.tx(move |tx| {
        tx.query(
            "SELECT device_id, seq, kind, employee_id, event_ms, decision, flags, server_decision, server_reasons FROM records WHERE flagged = 1 ORDER BY received_at_ms DESC, device_id, seq LIMIT $1",
            &[V::I(limit)],
        )?
        .iter()
        .map(|r| {
            Ok(FlaggedRow {
                device_id: r[0].t()?,
                seq: r[1].i()?.max(0) as u64,
                kind: r[2].t()?,
                employee_id: r[3].opt_t()?,
                event_ms: r[4].opt_i()?,
                decision: r[5].opt_t()?,
                flags: serde_json::from_str(&r[6].t()?).unwrap_or_default(),
                server_decision: r[7].opt_t()?,
                server_reasons: serde_json::from_str(&r[8].t()?).unwrap_or_default(),
            })
        })
        .collect()
    })
    .await
}

/// A fork: the stored record and the conflicting one.
#[derive(Debug, Clone, Serialize)]
pub struct ForkRow {
    /// Device.
    pub device_id: String,
    /// Contested seq.
    pub seq: u64,
    /// Hash of the record the server stored first (hex).
    pub stored_hash: String,
    /// The conflicting record, exactly as received (JSON).
    pub conflicting: serde_json::Value,
    /// When it arrived.
    pub received_at_ms: i64,
    /// Position in the forks report (page with `after=<id>`).
    pub id: i64,
}

/// Forks after fork id `after`, at most `limit` (clamped to 1..=1000), oldest first; page with the last
/// row's `id`.
pub async fn forks(db: &Db, after: i64, limit: i64) -> Result<Vec<ForkRow>, ServerError> {
    let limit = limit.clamp(1, 1000);
    db.tx(move |tx| {
        tx.query("SELECT device_id, seq, stored_hash, record_json, received_at_ms, id FROM forks WHERE id > $1 ORDER BY id LIMIT $2", &[V::I(after), V::I(limit)])?
            .iter()
            .map(|r| {
                Ok(ForkRow {
                    device_id: r[0].t()?,
                    seq: r[1].i()?.max(0) as u64,
                    stored_hash: hex::encode(r[2].b()?),
                    conflicting: serde_json::from_slice(&r[3].b()?).unwrap_or(serde_json::Value::Null),
                    received_at_ms: r[4].i()?,
                    id: r[5].i()?,
                })
            })
            .collect()
    })
    .await
}

/// A device's sync state.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceRow {
    /// Device.
    pub device_id: String,
    /// `employee` or `permit`.
    pub binding_type: String,
    /// Employee or permit id.
    pub binding_id: String,
    /// Last request.
    pub last_seen_ms: i64,
    /// Highest contiguous seq stored.
    pub acked_seq: u64,
    /// Marked for review.
    pub review: bool,
    /// The first reason.
    pub review_reason: Option<String>,
    /// Every reason recorded, in the order first seen, with how often and when.
    pub review_reasons: Vec<ReviewReason>,
    /// Distinct forked records received from this device.
    pub fork_count: u64,
}

/// One reason a device was marked for review (or an event worth reviewing, like a re-bind).
#[derive(Debug, Clone, Serialize)]
pub struct ReviewReason {
    /// What happened (no personal data).
    pub reason: String,
    /// How many times.
    pub count: u64,
    /// First time.
    pub first_at_ms: i64,
    /// Last time.
    pub last_at_ms: i64,
}

fn device_rows(
    tx: &mut dyn crate::db::Sql,
    rows: &[crate::db::Row],
) -> Result<Vec<DeviceRow>, ServerError> {
    let mut out: Vec<DeviceRow> = rows
        .iter()
        .map(|r| {
            Ok(DeviceRow {
                device_id: r[0].t()?,
                binding_type: r[1].t()?,
                binding_id: r[2].t()?,
                last_seen_ms: r[3].i()?,
                acked_seq: r[4].i()?.max(0) as u64,
                review: r[5].i()? != 0,
                review_reason: r[6].opt_t()?,
                fork_count: r[7].i()?.max(0) as u64,
                review_reasons: Vec::new(),
            })
        })
        .collect::<Result<_, ServerError>>()?;
    for d in &mut out {
        d.review_reasons = tx
            .query(
                "SELECT reason, count, first_at_ms, last_at_ms FROM device_reviews WHERE device_id = $1 ORDER BY first_at_ms, reason",
                &[V::T(d.device_id.clone())],
            )?
            .iter()
            .map(|r| {
                Ok(ReviewReason {
                    reason: r[0].t()?,
                    count: r[1].i()?.max(0) as u64,
                    first_at_ms: r[2].i()?,
                    last_at_ms: r[3].i()?,
                })
            })
            .collect::<Result<_, ServerError>>()?;
    }
    Ok(out)
}

const DEVICE_COLS: &str = "device_id, binding_type, binding_id, last_seen_ms, acked_seq, review, review_reason, fork_count";

/// Devices that have not synced since `now - days` (`days` in 0..=36,500; checked arithmetic).
pub async fn stale_devices(db: &Db, days: i64, now: i64) -> Result<Vec<DeviceRow>, ServerError> {
    let cutoff = (0..=36_500)
        .contains(&days)
        .then(|| days.checked_mul(86_400_000))
        .flatten()
        .and_then(|ms| now.checked_sub(ms))
        .ok_or_else(|| ServerError::BadRequest("days must be in 0..=36500".into()))?;
    db.tx(move |tx| {
        let rows = tx.query(
            &format!(
                "SELECT {DEVICE_COLS} FROM devices WHERE last_seen_ms < $1 ORDER BY last_seen_ms"
            ),
            &[V::I(cutoff)],
        )?;
        device_rows(tx, &rows)
    })
    .await
}

/// Every device (or only those marked for review).
pub async fn devices(db: &Db, review_only: bool) -> Result<Vec<DeviceRow>, ServerError> {
    db.tx(move |tx| {
        let rows = tx.query(
            &format!("SELECT {DEVICE_COLS} FROM devices WHERE review >= $1 ORDER BY device_id"),
            &[V::I(i64::from(review_only))],
        )?;
        device_rows(tx, &rows)
    })
    .await
}

/// A device's stored records with `seq > after` (at most `limit`), exactly as signed, with its public
/// key: an auditor re-verifies them with the core's `verify_chain`.
pub async fn device_records(
    db: &Db,
    device_id: String,
    after: u64,
    limit: i64,
) -> Result<(Vec<u8>, Vec<siap_core::ledger::Record>), ServerError> {
    db.tx(move |tx| {
        let pk = tx
            .one("SELECT public_key FROM devices WHERE device_id = $1", &[V::T(device_id.clone())])?
            .ok_or(ServerError::NotFound("device"))?[0]
            .b()?;
        let rows = tx.query(
            "SELECT seq, prev_hash, kind, payload, hash, signature FROM records WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[V::T(device_id.clone()), V::I(after.min(i64::MAX as u64) as i64), V::I(limit)],
        )?;
        let to32 = |v: Vec<u8>| -> Result<[u8; 32], ServerError> { v.try_into().map_err(|_| ServerError::Internal("stored hash is not 32 bytes".into())) };
        let records = rows
            .into_iter()
            .map(|r| {
                Ok(siap_core::ledger::Record {
                    device_id: device_id.clone(),
                    seq: r[0].i()?.max(0) as u64,
                    prev_hash: to32(r[1].b()?)?,
                    kind: r[2].t()?,
                    payload: r[3].b()?,
                    hash: to32(r[4].b()?)?,
                    signature: r[5].b()?,
                })
            })
            .collect::<Result<Vec<_>, ServerError>>()?;
        Ok((pk, records))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        assert_eq!(parse_day("1970-01-01").unwrap(), 0);
        assert_eq!(parse_day("2026-11-28").unwrap(), 20_785);
        assert!(parse_day("2026-13-01").is_err());
        assert!(parse_day("x").is_err());
    }

    #[test]
    fn extraction_reads_the_core_payload() {
        use siap_core::attendance::{AttendancePayload, Decision, Direction, Reason};
        use siap_core::clock::{MonotonicReading, TimeEvidence, TrustedTime};
        use siap_core::geo::{Containment, Fix, GeoFlag, GeoVerdict};
        let p = AttendancePayload {
            v: 1,
            employee_id: "e1".into(),
            direction: Direction::In,
            decision: Decision::Rejected,
            reasons: vec![Reason::MockLocation],
            geo: GeoVerdict {
                site_id: Some("s1".into()),
                containment: Containment::Inside,
                distance_to_edge_m: Some(-10.0),
                accuracy_m: Some(5.0),
                flags: vec![GeoFlag::MockLocation],
            },
            fix: Fix {
                lat: 0.0,
                lon: 0.0,
                accuracy_m: Some(5.0),
                time_ms: 5,
                provider: "gps".into(),
                is_mock: true,
            },
            time: TimeEvidence {
                device_wall_ms: 5,
                monotonic: MonotonicReading {
                    monotonic_ms: 1,
                    boot_id: "b".into(),
                },
                trusted: TrustedTime::Anchored {
                    estimate_ms: 7,
                    uncertainty_ms: 1,
                    anchor_age_ms: 1,
                },
                skew_ms: Some(-2),
                clock_skew: false,
            },
            face: None,
        };
        let x = extract("attendance.check_in", &serde_json::to_vec(&p).unwrap());
        assert_eq!(x.event_ms, Some(7));
        assert_eq!(x.time_source, Some("trusted"));
        assert_eq!(x.site_id.as_deref(), Some("s1"));
        assert_eq!(x.decision.as_deref(), Some("rejected"));
        assert_eq!(x.flags, vec!["mock_location".to_owned()]);
        assert!(x.flagged);
        assert_eq!(
            extract("attendance.check_in", b"not json"),
            Extracted::default()
        );
        assert_eq!(extract("x", b"{}"), Extracted::default());
    }
}
