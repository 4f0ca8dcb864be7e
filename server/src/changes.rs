//! The changes feed and what administrators publish into it: sites and fences, employees, assets,
//! schedules and permits.
//!
//! Every change gets the next cursor (writers are serialised so cursors become visible in order). A
//! device pulls pages after its cursor; each page is signed with the server key under
//! [`CHANGES_DOMAIN`] and names the device, so a page cannot be replayed to another device. Permit
//! documents are additionally signed on their own ([`PERMIT_DOMAIN`]) and reach only devices bound to
//! that permit; reference data reaches only employee devices; a face decision (signed on its own too,
//! see [`crate::faces`]) reaches only the devices of that employee.

use siap_core::ledger::Signer;
use siap_core::permit::{PermitDocument, PermitEvent, PermitStatus};
use siap_core::signed::{CHANGES_DOMAIN, PERMIT_DOMAIN, SignedBlob};
use siap_core::sync::protocol::{Binding, Change, ChangeEntry, ChangesPage, MAX_CHANGES_PAGE};

use crate::db::{Db, Sql, V};
use crate::error::ServerError;

pub(crate) fn add_change(
    tx: &mut dyn Sql,
    entity: &str,
    id: &str,
    permit_id: Option<&str>,
    change: &Change,
    now: i64,
) -> Result<u64, ServerError> {
    tx.lock_changes()?;
    let next = tx
        .one("SELECT COALESCE(MAX(cursor), 0) + 1 FROM changes", &[])?
        .ok_or(ServerError::Internal("no cursor".into()))?[0]
        .i()?;
    let body = serde_json::to_vec(change)
        .map_err(|_| ServerError::Internal("cannot encode change".into()))?;
    tx.exec(
        "INSERT INTO changes (cursor, entity, entity_id, permit_id, body, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        &[V::I(next), V::T(entity.into()), V::T(id.into()), V::opt_text(permit_id), V::B(body), V::I(now)],
    )?;
    Ok(next as u64)
}

/// Publishes reference data (site, employee, asset, schedule). Returns its cursor.
pub async fn publish(db: &Db, change: Change, now: i64) -> Result<u64, ServerError> {
    publish_in(db, change, None, now).await
}

/// Where an employee or site published by an administrator belongs: the administrator's scope and the
/// agency the request names (see [`crate::opd::assign`]).
#[derive(Debug, Clone, Default)]
pub struct Agency {
    /// The administrator's agency (`None`: city-wide).
    pub scope: Option<String>,
    /// The agency asked for.
    pub requested: Option<String>,
}

/// [`publish`], also recording the entity's agency (`agency`) in the same transaction.
pub async fn publish_in(
    db: &Db,
    change: Change,
    agency: Option<Agency>,
    now: i64,
) -> Result<u64, ServerError> {
    let (entity, id) = match &change {
        Change::Site { id, .. } => ("site", id.clone()),
        Change::Employee { id, .. } => ("employee", id.clone()),
        Change::Asset {
            id,
            lat,
            lon,
            radius_m,
            ..
        } => {
            if !(lat.is_finite()
                && lon.is_finite()
                && radius_m.is_finite()
                && (-90.0..=90.0).contains(lat)
                && (-180.0..=180.0).contains(lon)
                && *radius_m > 0.0)
            {
                return Err(ServerError::BadRequest(
                    "asset coordinates or radius out of range".into(),
                ));
            }
            ("asset", id.clone())
        }
        Change::Schedule { id, .. } => ("schedule", id.clone()),
        Change::Permit { .. } => {
            return Err(ServerError::BadRequest(
                "permits are published through /v1/admin/permits".into(),
            ));
        }
        Change::FaceDecision { .. } => {
            return Err(ServerError::BadRequest(
                "face decisions are made through /v1/admin/faces".into(),
            ));
        }
    };
    crate::devices::check_binding_id(&id)?;
    // The same rules the device applies when it parses the change: what a device would refuse is never
    // stored (a deeply nested schedule once made every pull from cursor 0 fail).
    siap_core::sync::validate::validate_change(&change)
        .map_err(|e| ServerError::BadRequest(format!("not publishable: {e}")))?;
    db.tx(move |tx| {
        if let Some(a) = &agency {
            crate::opd::assign(tx, a.scope.as_deref(), entity, &id, a.requested.as_deref())?;
        }
        add_change(tx, entity, &id, None, &change, now)
    })
    .await
}

/// An administrator's permit update: the new status (and, when given, fee and deadline).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct PermitUpdate {
    /// Permit type (required when creating).
    #[serde(default)]
    pub permit_type: Option<String>,
    /// New status.
    pub status: PermitStatus,
    /// Official fee (required when creating).
    #[serde(default)]
    pub official_fee_idr: Option<u64>,
    /// Service deadline (required when creating).
    #[serde(default)]
    pub deadline_ms: Option<i64>,
    /// Issuing office (required when creating).
    #[serde(default)]
    pub office: Option<String>,
    /// Public note for the timeline.
    #[serde(default)]
    pub note: String,
}

/// Applies a permit update: the next version, signed, stored, and published. Returns the signed document.
pub async fn update_permit(
    db: &Db,
    signer: std::sync::Arc<dyn Signer>,
    permit_id: String,
    u: PermitUpdate,
    now: i64,
) -> Result<SignedBlob, ServerError> {
    crate::devices::check_binding_id(&permit_id)?;
    db.tx(move |tx| {
        let current = tx.one("SELECT document FROM permits WHERE permit_id = $1", &[V::T(permit_id.clone())])?;
        let mut doc = if let Some(r) = current { serde_json::from_slice::<PermitDocument>(&r[0].b()?).map_err(|_| ServerError::Internal("stored permit unreadable".into()))? } else {
            let missing = || ServerError::BadRequest("a new permit needs permit_type, official_fee_idr, deadline_ms and office".into());
            PermitDocument {
                permit_id: permit_id.clone(),
                version: 0,
                permit_type: u.permit_type.clone().ok_or_else(missing)?,
                status: u.status,
                official_fee_idr: u.official_fee_idr.ok_or_else(missing)?,
                deadline_ms: u.deadline_ms.ok_or_else(missing)?,
                submitted_at_ms: now,
                timeline: Vec::new(),
                office: u.office.clone().ok_or_else(missing)?,
            }
        };
        doc.version += 1;
        doc.status = u.status;
        if let Some(t) = u.permit_type {
            doc.permit_type = t;
        }
        if let Some(f) = u.official_fee_idr {
            doc.official_fee_idr = f;
        }
        if let Some(d) = u.deadline_ms {
            doc.deadline_ms = d;
        }
        if let Some(o) = u.office {
            doc.office = o;
        }
        doc.timeline.push(PermitEvent { at_ms: now, status: u.status, note: u.note });
        let signed = SignedBlob::sign_json(signer.as_ref(), PERMIT_DOMAIN, &doc)?;
        tx.exec(
            "INSERT INTO permits (permit_id, version, document, updated_at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (permit_id) DO UPDATE SET version = excluded.version, document = excluded.document, updated_at_ms = excluded.updated_at_ms",
            &[V::T(permit_id.clone()), V::I(doc.version as i64), V::B(signed.body.clone()), V::I(now)],
        )?;
        add_change(tx, "permit", &permit_id, Some(&permit_id), &Change::Permit { signed: signed.clone() }, now)?;
        Ok(signed)
    })
    .await
}

/// The next page of changes for a device, signed.
pub async fn page(
    db: &Db,
    signer: &dyn Signer,
    device_id: String,
    binding: Binding,
    since: u64,
    limit: u32,
    now: i64,
) -> Result<SignedBlob, ServerError> {
    let limit = limit.clamp(1, MAX_CHANGES_PAGE);
    let since_i =
        i64::try_from(since).map_err(|_| ServerError::BadRequest("cursor too large".into()))?;
    let (rows, head) = db
        .tx(move |tx| {
            // Head first, rows up to it: a change committed in between is left for the next pull.
            let head = tx.one("SELECT COALESCE(MAX(cursor), 0) FROM changes", &[])?.map_or(Ok(0), |r| r[0].i())?;
            let (sql, params) = match &binding {
                // Reference data, and the face decisions about this employee only.
                Binding::Employee(e) => (
                    "SELECT cursor, body FROM changes WHERE cursor > $1 AND cursor <= $2 AND entity <> 'permit'
                     AND (entity <> 'face' OR entity_id = $3) ORDER BY cursor LIMIT $4",
                    vec![V::I(since_i), V::I(head), V::T(e.clone()), V::I(i64::from(limit) + 1)],
                ),
                Binding::Permit(p) => (
                    "SELECT cursor, body FROM changes WHERE cursor > $1 AND cursor <= $2 AND permit_id = $3 ORDER BY cursor LIMIT $4",
                    vec![V::I(since_i), V::I(head), V::T(p.clone()), V::I(i64::from(limit) + 1)],
                ),
            };
            let rows = tx.query(sql, &params)?;
            Ok((rows, head))
        })
        .await?;
    let more = rows.len() > limit as usize;
    let mut changes = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last_seen = since;
    for r in rows.iter().take(limit as usize) {
        last_seen = r[0].i()?.max(0) as u64;
        // A change stored before validation existed that cannot be read back is skipped (the cursor
        // still moves past it): one bad item must not stop every device's pull.
        let Ok(change) = serde_json::from_slice::<Change>(&r[1].b()?) else {
            continue;
        };
        changes.push(ChangeEntry {
            cursor: r[0].i()? as u64,
            change,
        });
    }
    // Without more pages, the device may jump to the feed head (changes for others are skipped for good).
    let next_cursor = if more {
        last_seen
    } else {
        since.max(head as u64)
    };
    let page = ChangesPage {
        device_id,
        since,
        next_cursor,
        more,
        changes,
        server_time_ms: now,
    };
    Ok(SignedBlob::sign_json(signer, CHANGES_DOMAIN, &page)?)
}
