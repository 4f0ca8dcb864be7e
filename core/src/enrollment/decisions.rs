//! The city's decisions on face templates, as the device keeps them: each verified [`FaceDecision`]
//! that covers this device is stored with its signature, the newest per template winning, so the
//! device can tell offline whether a template counts and show why not.

use rusqlite::{OptionalExtension, params};

use super::{FACE_DECISION_DOMAIN, FaceDecision, FaceDecisionKind};
use crate::signed::SignedBlob;
use crate::store::Store;
use crate::{Error, Result};

/// Where a template stands with the city.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateStatus {
    /// No decision yet: check-ins with it are recorded as `enrollment_pending`.
    Pending,
    /// Approved for this device.
    Approved,
    /// Rejected or revoked, with the decision's reason.
    Refused {
        /// Rejected or revoked.
        decision: FaceDecisionKind,
        /// The approver's reason.
        reason: String,
    },
}

/// What applying one signed decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored (new, or newer than the one held).
    Stored,
    /// Not for this device, or older than the one held: nothing changed.
    Ignored,
}

/// Verifies `signed` with the server key and stores it if it covers `device_id` and is newer than
/// the decision held for the same template. A bad signature or document is an item error
/// ([`Error::BadServerSignature`], [`Error::InvalidInput`], [`Error::Encoding`]).
pub fn apply(
    tx: &rusqlite::Transaction<'_>,
    server_public_key: &[u8],
    device_id: &str,
    signed: &SignedBlob,
) -> Result<Stored> {
    let d: FaceDecision =
        signed.verify_json(server_public_key, FACE_DECISION_DOMAIN, "face decision")?;
    d.validate()?;
    if !d.covers(device_id) {
        return Ok(Stored::Ignored);
    }
    let held: Option<i64> = tx
        .query_row(
            "SELECT at_ms FROM face_decisions WHERE employee_id = ?1 AND template_sha256 = ?2",
            params![d.employee_id, d.template_sha256],
            |r| r.get(0),
        )
        .optional()?;
    if held.is_some_and(|at| at > d.at_ms) {
        return Ok(Stored::Ignored);
    }
    tx.execute(
        "INSERT INTO face_decisions (employee_id, template_sha256, decision, at_ms, body, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(employee_id, template_sha256) DO UPDATE SET decision = excluded.decision,
           at_ms = excluded.at_ms, body = excluded.body, signature = excluded.signature",
        params![d.employee_id, d.template_sha256, d.decision.code(), d.at_ms, signed.body, signed.signature],
    )?;
    Ok(Stored::Stored)
}

/// The status of `template_sha256` for `employee_id` on this device. The stored decision is
/// re-verified with `server_public_key` when one is given (an edited row counts as no decision).
pub fn status(
    store: &Store,
    server_public_key: Option<&[u8]>,
    employee_id: &str,
    template_sha256: &str,
) -> Result<TemplateStatus> {
    let row: Option<(Vec<u8>, Vec<u8>)> = store.with_conn(|c| {
        Ok(c.query_row(
            "SELECT body, signature FROM face_decisions WHERE employee_id = ?1 AND template_sha256 = ?2",
            params![employee_id, template_sha256],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
    })?;
    let Some((body, signature)) = row else {
        return Ok(TemplateStatus::Pending);
    };
    let blob = SignedBlob { body, signature };
    let Some(key) = server_public_key else {
        return Ok(TemplateStatus::Pending);
    };
    let d: FaceDecision = match blob.verify_json(key, FACE_DECISION_DOMAIN, "face decision") {
        Ok(d) => d,
        Err(Error::BadServerSignature(_) | Error::Encoding(_)) => {
            return Ok(TemplateStatus::Pending);
        }
        Err(e) => return Err(e),
    };
    if d.employee_id != employee_id || d.template_sha256 != template_sha256 {
        return Ok(TemplateStatus::Pending);
    }
    Ok(match d.decision {
        FaceDecisionKind::Approved => TemplateStatus::Approved,
        k => TemplateStatus::Refused {
            decision: k,
            reason: d.reason,
        },
    })
}
