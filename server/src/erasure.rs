//! Biometric data on the server is personal data of a specific kind (Indonesia's personal data
//! protection law, UU 27/2022): face crops are kept only as long as they serve, and an employee's
//! face data can be erased on request.
//!
//! - [`erase`]: an administrator erases an employee's face data: approved templates are revoked (a
//!   signed decision their devices pull), every enrollment is marked `erased` with who and why, the
//!   server's templates and the official-photo embedding are dropped, and every face crop (enrollment
//!   and check-in) and every liveness transcript (which holds the attempt's face embeddings) is
//!   deleted. Check-ins still waiting for the face re-check are settled as
//!   `rejected` (`face_erased`). The records keep the crops' hashes, so every chain still verifies.
//! - [`expire`]: the retention period: crops and liveness transcripts of settled check-ins, and crops
//!   of enrollments that were
//!   refused, rejected, revoked or erased, are deleted once older than the city's retention period.
//!   The crops of an approved enrollment stay while it is approved (an approver may need them).
//!
//! Rows go first, in one transaction; files after the commit. A crash in between leaves files no row
//! points at (unreachable, never served), not rows pointing at missing files.

use std::sync::Arc;

use serde::Serialize;
use siap_core::attendance::{AttendancePayload, KIND_CHECK_IN, KIND_CHECK_OUT};
use siap_core::enrollment::{FACE_DECISION_DOMAIN, FaceDecision, FaceDecisionKind};
use siap_core::ledger::Signer;
use siap_core::signed::SignedBlob;
use siap_core::sync::protocol::Change;

use crate::blobstore::BlobStore;
use crate::db::{Db, Sql, V};
use crate::error::ServerError;

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    /// Whose data.
    pub employee_id: String,
    /// Enrollments marked erased.
    pub enrollments: usize,
    /// Approved templates revoked (a signed decision was published).
    pub revoked: usize,
    /// Face crops deleted.
    pub crops_deleted: usize,
}

/// An administrator's erasure request.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ErasureRequest {
    /// Who erases (recorded, and signed into the revocations).
    pub approver: String,
    /// Why (the employee's request, leaving the service...).
    pub reason: String,
}

/// Erases `employee_id`'s face data (see the [module documentation](self)).
pub async fn erase(
    db: &Db,
    store: Arc<dyn BlobStore>,
    signer: Arc<dyn Signer>,
    employee_id: String,
    req: ErasureRequest,
    now: i64,
) -> Result<Erased, ServerError> {
    siap_core::sync::validate::check_id("employee_id", &employee_id)
        .map_err(|e| ServerError::BadRequest(e.to_string()))?;
    if req.reason.trim().is_empty() {
        return Err(ServerError::BadRequest("an erasure needs a reason".into()));
    }
    // The revocations it may sign must be valid: checked before anything is written.
    FaceDecision {
        employee_id: employee_id.clone(),
        template_sha256: "0".repeat(64),
        decision: FaceDecisionKind::Revoked,
        device_ids: None,
        approver: req.approver.trim().to_owned(),
        reason: req.reason.clone(),
        at_ms: now,
    }
    .validate()
    .map_err(|e| ServerError::BadRequest(e.to_string()))?;
    let (out, crops) = db
        .tx(move |tx| {
            let rows = tx.query(
                "SELECT template_sha256, status, crops, device_ids, observations_sha256 FROM face_enrollments WHERE employee_id = $1",
                &[V::T(employee_id.clone())],
            )?;
            let mut crops: Vec<String> = Vec::new();
            let (mut enrollments, mut revoked) = (0, 0);
            for r in &rows {
                crops.extend(serde_json::from_str::<Vec<String>>(&r[2].t()?).unwrap_or_default());
                crops.extend(r[4].opt_t()?);
                let status = r[1].t()?;
                if status == "erased" {
                    continue;
                }
                enrollments += 1;
                if status == "approved" {
                    let decision = FaceDecision {
                        employee_id: employee_id.clone(),
                        template_sha256: r[0].t()?,
                        decision: FaceDecisionKind::Revoked,
                        device_ids: r[3].opt_t()?.and_then(|d| serde_json::from_str(&d).ok()),
                        approver: req.approver.trim().to_owned(),
                        reason: req.reason.clone(),
                        at_ms: now,
                    };
                    decision
                        .validate()
                        .map_err(|e| ServerError::BadRequest(e.to_string()))?;
                    let signed =
                        SignedBlob::sign_json(signer.as_ref(), FACE_DECISION_DOMAIN, &decision)?;
                    crate::changes::add_change(
                        tx,
                        "face",
                        &employee_id,
                        None,
                        &Change::FaceDecision { signed },
                        now,
                    )?;
                    revoked += 1;
                }
            }
            tx.exec(
                "UPDATE face_enrollments SET status = 'erased', server_template = NULL, official_similarity_bp = NULL,
                    decided_by = $1, decided_at_ms = $2, decision_reason = $3
                 WHERE employee_id = $4 AND status <> 'erased'",
                &[
                    V::T(req.approver.trim().to_owned()),
                    V::I(now),
                    V::T(req.reason.clone()),
                    V::T(employee_id.clone()),
                ],
            )?;
            tx.exec(
                "DELETE FROM official_faces WHERE employee_id = $1",
                &[V::T(employee_id.clone())],
            )?;
            crops.extend(check_in_crops(tx, &employee_id)?);
            // Check-ins still waiting for their face check can never have it now.
            tx.exec(
                "UPDATE records SET server_decision = 'rejected', server_reasons = '[\"face_erased\"]'
                 WHERE employee_id = $1 AND server_decision = 'pending'",
                &[V::T(employee_id.clone())],
            )?;
            tx.exec(
                "UPDATE face_rechecks SET status = 'done', checked_at_ms = $1 WHERE employee_id = $2 AND status = 'pending'",
                &[V::I(now), V::T(employee_id.clone())],
            )?;
            crops.sort();
            crops.dedup();
            let deleted = delete_rows(tx, &crops)?;
            Ok((
                Erased {
                    employee_id: employee_id.clone(),
                    enrollments,
                    revoked,
                    crops_deleted: deleted.len(),
                },
                deleted,
            ))
        })
        .await?;
    remove_files(store, crops).await;
    Ok(out)
}

/// Deletes the face crops that have outlived `cutoff_ms` (see the [module documentation](self)).
/// Returns how many.
pub async fn expire(
    db: &Db,
    store: Arc<dyn BlobStore>,
    cutoff_ms: i64,
) -> Result<usize, ServerError> {
    let crops = db
        .tx(move |tx| {
            let mut crops: Vec<String> = Vec::new();
            for r in tx.query(
                "SELECT f.crop_sha256 FROM face_rechecks f JOIN blobs b ON b.sha256 = f.crop_sha256
                 WHERE f.status = 'done' AND f.checked_at_ms < $1 LIMIT 5000",
                &[V::I(cutoff_ms)],
            )? {
                crops.push(r[0].t()?);
            }
            // Liveness transcripts hold the attempt's face embeddings: kept no longer than the crops.
            for r in tx.query(
                "SELECT f.observations_sha256 FROM face_rechecks f JOIN blobs b ON b.sha256 = f.observations_sha256
                 WHERE f.status = 'done' AND f.checked_at_ms < $1 LIMIT 5000",
                &[V::I(cutoff_ms)],
            )? {
                crops.push(r[0].t()?);
            }
            for r in tx.query(
                "SELECT crops, observations_sha256 FROM face_enrollments
                 WHERE status IN ('refused', 'rejected', 'revoked', 'erased') AND received_at_ms < $1",
                &[V::I(cutoff_ms)],
            )? {
                crops.extend(serde_json::from_str::<Vec<String>>(&r[0].t()?).unwrap_or_default());
                crops.extend(r[1].opt_t()?);
            }
            // An approved enrollment keeps its crops, even when a settled check-in shares one.
            let mut kept = std::collections::HashSet::new();
            for r in tx.query(
                "SELECT crops FROM face_enrollments WHERE status IN ('pending', 'approved')",
                &[],
            )? {
                kept.extend(serde_json::from_str::<Vec<String>>(&r[0].t()?).unwrap_or_default());
            }
            crops.retain(|c| !kept.contains(c));
            crops.sort();
            crops.dedup();
            delete_rows(tx, &crops)
        })
        .await?;
    let n = crops.len();
    remove_files(store, crops).await;
    Ok(n)
}

/// The crops named by `employee_id`'s check-ins.
fn check_in_crops(tx: &mut dyn Sql, employee_id: &str) -> Result<Vec<String>, ServerError> {
    let mut out = Vec::new();
    for r in tx.query(
        "SELECT payload FROM records WHERE employee_id = $1 AND kind IN ($2, $3)",
        &[
            V::T(employee_id.to_owned()),
            V::T(KIND_CHECK_IN.into()),
            V::T(KIND_CHECK_OUT.into()),
        ],
    )? {
        let Ok(p) = serde_json::from_slice::<AttendancePayload>(&r[0].b()?) else {
            continue;
        };
        let Some(face) = p.face else { continue };
        out.extend(face.crop_sha256);
        // The liveness transcript holds the attempt's face embeddings: biometric data too.
        out.extend(face.liveness.and_then(|l| l.observations_sha256));
    }
    Ok(out)
}

/// Deletes the blob rows of `crops` that exist; returns the hashes deleted.
fn delete_rows(tx: &mut dyn Sql, crops: &[String]) -> Result<Vec<String>, ServerError> {
    let mut deleted = Vec::new();
    for c in crops {
        if !siap_core::enrollment::is_sha256_hex(c) {
            continue;
        }
        if tx.exec("DELETE FROM blobs WHERE sha256 = $1", &[V::T(c.clone())])? > 0 {
            deleted.push(c.clone());
        }
    }
    Ok(deleted)
}

/// Deletes the files of `crops` (after their rows are gone); a failure leaves an unreachable file.
async fn remove_files(store: Arc<dyn BlobStore>, crops: Vec<String>) {
    let _ = tokio::task::spawn_blocking(move || {
        for c in &crops {
            let _ = store.remove(c);
        }
    })
    .await;
}
