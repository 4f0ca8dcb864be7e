//! Face enrollments as the city governs them: every `face.enrollment` record a device uploads becomes
//! a row here, pending until an administrator decides; the decision is signed
//! ([`FACE_DECISION_DOMAIN`]) and published to that employee's devices, and the verdict counts a
//! check-in only when its template is approved for the device that recorded it.
//!
//! States: `pending` (waiting for a decision), `refused` (the device refused it: liveness failed or
//! missing, the live face not the photos'; or the server did, whatever the device signed: the device
//! is not bound to that employee, the city requires a passed liveness answer and there is none, the
//! answer's challenge nonce was already used by another record, or, with the face models, the
//! server's own re-run of the liveness check on the attempt's transcript fails or the live face is
//! not the photos' (see [`crate::recheck`]); nobody may approve it),
//! `approved`, `rejected`, `revoked` (approved once, withdrawn), `erased` (the employee's face data
//! was deleted on the device). Allowed decisions: pending → approved or
//! rejected; approved → revoked. Every decision stays in the row (who, when, why) and in the feed.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use siap_core::enrollment::{
    EnrollmentPayload, ErasurePayload, FACE_DECISION_DOMAIN, FaceDecision, FaceDecisionKind,
    KIND_ENROLLMENT, KIND_ERASURE, is_sha256_hex,
};
use siap_core::ledger::{Record, Signer};
use siap_core::signed::SignedBlob;
use siap_core::sync::protocol::{Binding, Change};

use crate::db::{Db, Sql, V};
use crate::error::ServerError;

/// One enrollment as an approver sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceEnrollment {
    /// Whose face it claims to be.
    pub employee_id: String,
    /// The template (hex SHA-256).
    pub template_sha256: String,
    /// The device that enrolled it, and its record.
    pub device_id: String,
    /// Seq of the `face.enrollment` record.
    pub seq: i64,
    /// `pending`, `refused`, `approved`, `rejected`, `revoked` or `erased`.
    pub status: String,
    /// Why the device (or the server) refused it.
    pub refused: Vec<String>,
    /// SHA-256 of the aligned face crops (blobs at `/v1/admin/blobs/{sha}`).
    pub crops: Vec<String>,
    /// The enrollment's liveness check passed (`None`: none was done).
    pub liveness_passed: Option<bool>,
    /// When the server received it.
    pub received_at_ms: i64,
    /// The last decision: who, when, why, and for which devices (`None`: any of the employee's).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at_ms: Option<i64>,
    /// Why.
    pub decision_reason: Option<String>,
    /// Devices the approval holds for.
    pub device_ids: Option<Vec<String>>,
    /// Cosine similarity of the server's own template of this enrollment (from its crops) with the
    /// employee's official photo (`PUT /v1/admin/employees/{id}/official-photo`); `None` until both
    /// exist. On the test photos: 0.94 for the employee's own enrollment, -0.06 for a colleague's.
    pub official_similarity: Option<f32>,
    /// The server re-ran the enrollment's liveness check on its transcript: `Some(true)` passed,
    /// `Some(false)` failed (the enrollment is then `refused`), `None` not (yet), or nothing to re-run.
    pub liveness_rechecked: Option<bool>,
}

/// An administrator's decision on one enrollment.
#[derive(Debug, Clone, Deserialize)]
pub struct DecisionRequest {
    /// `approved`, `rejected` or `revoked`.
    pub decision: FaceDecisionKind,
    /// Who decides (recorded and signed).
    pub approver: String,
    /// Why (required for a rejection or revocation).
    #[serde(default)]
    pub reason: String,
    /// Devices an approval holds for: absent, the enrolling device; `["*"]`: any device of the
    /// employee.
    #[serde(default)]
    pub device_ids: Option<Vec<String>>,
}

/// Stores the enrollment and erasure records of an uploaded batch, inside the ingest transaction.
pub fn record(
    tx: &mut dyn Sql,
    records: &[Record],
    binding: &Binding,
    reference: &mut crate::verdict::Reference,
    now: i64,
) -> Result<(), ServerError> {
    for r in records {
        if r.kind == KIND_ENROLLMENT {
            // An unreadable payload is kept as a record (evidence) and simply not offered for approval.
            let Ok(p) = serde_json::from_slice::<EnrollmentPayload>(&r.payload) else {
                continue;
            };
            if !is_sha256_hex(&p.template_sha256)
                || siap_core::sync::validate::check_id("employee_id", &p.employee_id).is_err()
            {
                continue;
            }
            let mut refused = p.refused.clone();
            let mut refuse = |why: &str| {
                if !refused.iter().any(|r| r == why) {
                    refused.push(why.into());
                }
            };
            if !matches!(binding, Binding::Employee(e) if *e == p.employee_id) {
                refuse("not_bound");
            }
            // The city's rule, held here whatever the app signed: a modified app can skip the
            // challenge and leave `refused` empty, but not make the server count that as a pass.
            match &p.liveness {
                None if reference.policy().require_enrollment_liveness => {
                    refuse("liveness_missing");
                }
                Some(l) if !l.passed && reference.policy().require_enrollment_liveness => {
                    refuse("liveness_failed");
                }
                _ => {}
            }
            if let Some(l) = &p.liveness
                && reference.replayed(&l.nonce, &r.device_id, r.seq)
            {
                refuse("replayed_challenge");
            }
            // The server re-runs the enrollment's liveness check on its transcript (see
            // [`crate::recheck`]): a passed answer without one is a claim it cannot check.
            let observations = p
                .liveness
                .as_ref()
                .and_then(|l| l.observations_sha256.clone())
                .filter(|o| is_sha256_hex(o));
            if reference.rechecks()
                && p.liveness.as_ref().is_some_and(|l| l.passed)
                && observations.is_none()
            {
                refuse("liveness_observations_missing");
            }
            let status = if refused.is_empty() {
                "pending"
            } else {
                "refused"
            };
            let crops: Vec<&str> = p
                .photos
                .iter()
                .map(|c| c.crop_sha256.as_str())
                .filter(|c| is_sha256_hex(c))
                .collect();
            tx.exec(
                "INSERT INTO face_enrollments (employee_id, template_sha256, device_id, seq, status, refused, crops,
                    liveness_passed, received_at_ms, observations_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (employee_id, template_sha256) DO NOTHING",
                &[
                    V::T(p.employee_id.clone()),
                    V::T(p.template_sha256.clone()),
                    V::T(r.device_id.clone()),
                    V::I(r.seq as i64),
                    V::T(status.into()),
                    V::T(json(&refused)),
                    V::T(json(&crops)),
                    p.liveness.as_ref().map_or(V::NullI, |l| V::I(i64::from(l.passed))),
                    V::I(now),
                    observations.map_or(V::NullT, V::T),
                ],
            )?;
        } else if r.kind == KIND_ERASURE {
            let Ok(p) = serde_json::from_slice::<ErasurePayload>(&r.payload) else {
                continue;
            };
            if let Some(t) = p.template_sha256.filter(|t| is_sha256_hex(t)) {
                // Only the device that enrolled a template can say it erased it.
                tx.exec(
                    "UPDATE face_enrollments SET status = 'erased', decided_at_ms = $1
                     WHERE employee_id = $2 AND template_sha256 = $3 AND device_id = $4",
                    &[
                        V::I(now),
                        V::T(p.employee_id),
                        V::T(t),
                        V::T(r.device_id.clone()),
                    ],
                )?;
            }
        }
    }
    Ok(())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

/// One approved template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The template (hex SHA-256).
    pub template_sha256: String,
    /// The devices it holds for; `None`: any device bound to the employee.
    pub device_ids: Option<Vec<String>>,
}

impl Approval {
    /// Whether a check-in by `device` matched against `template` counts under this approval.
    pub fn allows(&self, template: &str, device: &str) -> bool {
        self.template_sha256 == template
            && self
                .device_ids
                .as_ref()
                .is_none_or(|d| d.iter().any(|x| x == device))
    }
}

/// Approved templates per employee.
pub type Approved = HashMap<String, Vec<Approval>>;

/// The approved templates of `employees`.
pub fn approved(tx: &mut dyn Sql, employees: &BTreeSet<String>) -> Result<Approved, ServerError> {
    let mut out = Approved::new();
    let ids: Vec<&String> = employees.iter().collect();
    for chunk in ids.chunks(300) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let params: Vec<V> = chunk.iter().map(|e| V::T((*e).clone())).collect();
        for row in tx.query(
            &format!(
                "SELECT employee_id, template_sha256, device_ids FROM face_enrollments
                 WHERE status = 'approved' AND employee_id IN ({})",
                marks.join(", ")
            ),
            &params,
        )? {
            let devices = row[2]
                .opt_t()?
                .and_then(|d| serde_json::from_str::<Vec<String>>(&d).ok());
            out.entry(row[0].t()?).or_default().push(Approval {
                template_sha256: row[1].t()?,
                device_ids: devices,
            });
        }
    }
    Ok(out)
}

const COLUMNS: &str =
    "employee_id, template_sha256, device_id, seq, status, refused, crops, liveness_passed,
    received_at_ms, decided_by, decided_at_ms, decision_reason, device_ids, official_similarity_bp,
    observations_sha256, liveness_rechecked";

fn from_row(r: &[V]) -> Result<FaceEnrollment, ServerError> {
    let list = |v: &V| -> Result<Vec<String>, ServerError> {
        Ok(serde_json::from_str(&v.t()?).unwrap_or_default())
    };
    Ok(FaceEnrollment {
        employee_id: r[0].t()?,
        template_sha256: r[1].t()?,
        device_id: r[2].t()?,
        seq: r[3].i()?,
        status: r[4].t()?,
        refused: list(&r[5])?,
        crops: list(&r[6])?,
        liveness_passed: r[7].opt_i()?.map(|v| v != 0),
        received_at_ms: r[8].i()?,
        decided_by: r[9].opt_t()?,
        decided_at_ms: r[10].opt_i()?,
        decision_reason: r[11].opt_t()?,
        device_ids: r[12].opt_t()?.and_then(|d| serde_json::from_str(&d).ok()),
        official_similarity: r[13].opt_i()?.map(|bp| bp as f32 / 10_000.0),
        liveness_rechecked: r[15].opt_i()?.map(|v| v != 0),
    })
}

/// The states an enrollment can be in.
pub const STATUSES: &[&str] = &[
    "pending", "refused", "approved", "rejected", "revoked", "erased",
];

fn check_employee(id: &str) -> Result<(), ServerError> {
    siap_core::sync::validate::check_id("employee_id", id)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

/// Enrollments, newest first, optionally of one status and/or one employee (at most 500).
pub async fn list(
    db: &Db,
    status: Option<String>,
    employee_id: Option<String>,
) -> Result<Vec<FaceEnrollment>, ServerError> {
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ServerError::BadRequest(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    if let Some(e) = &employee_id {
        check_employee(e)?;
    }
    db.tx(move |tx| {
        let rows = tx.query(
            &format!(
                "SELECT {COLUMNS} FROM face_enrollments
                 WHERE ($1 = '' OR status = $1) AND ($2 = '' OR employee_id = $2)
                 ORDER BY received_at_ms DESC, employee_id LIMIT 500"
            ),
            &[
                V::T(status.unwrap_or_default()),
                V::T(employee_id.unwrap_or_default()),
            ],
        )?;
        rows.iter().map(|r| from_row(r)).collect()
    })
    .await
}

/// Decides on one enrollment: checks the transition, signs the [`FaceDecision`], stores it in the
/// row and publishes it to the employee's devices. Returns the signed decision. Where the server
/// re-checks (`rechecks`: it has the face models), an enrollment whose liveness transcript it has not
/// re-checked yet cannot be approved (409): the approver would be approving the phone's claim.
pub async fn decide(
    db: &Db,
    signer: std::sync::Arc<dyn Signer>,
    employee_id: String,
    template_sha256: String,
    req: DecisionRequest,
    rechecks: bool,
    now: i64,
) -> Result<SignedBlob, ServerError> {
    check_employee(&employee_id)?;
    if !is_sha256_hex(&template_sha256) {
        return Err(ServerError::NotFound("face enrollment"));
    }
    if req.decision != FaceDecisionKind::Approved && req.reason.trim().is_empty() {
        return Err(ServerError::BadRequest(
            "a rejection or revocation needs a reason".into(),
        ));
    }
    db.tx(move |tx| {
        let row = tx
            .one(
                &format!("SELECT {COLUMNS} FROM face_enrollments WHERE employee_id = $1 AND template_sha256 = $2"),
                &[V::T(employee_id.clone()), V::T(template_sha256.clone())],
            )?
            .ok_or(ServerError::NotFound("face enrollment"))?;
        let current = from_row(&row)?;
        let allowed = matches!(
            (current.status.as_str(), req.decision),
            ("pending", FaceDecisionKind::Approved | FaceDecisionKind::Rejected)
                | ("approved", FaceDecisionKind::Revoked)
        );
        if !allowed {
            return Err(ServerError::Conflict(format!(
                "an enrollment that is {} cannot be {}",
                current.status,
                req.decision.code()
            )));
        }
        let unchecked = rechecks && row[14].opt_t()?.is_some() && current.liveness_rechecked.is_none();
        if req.decision == FaceDecisionKind::Approved && unchecked {
            return Err(ServerError::Conflict(
                "the server has not re-checked this enrollment's liveness yet (its transcript may not be uploaded yet)"
                    .into(),
            ));
        }
        let device_ids = match req.device_ids {
            None => Some(vec![current.device_id.clone()]),
            Some(ids) if ids.len() == 1 && ids[0] == "*" => None,
            Some(ids) => Some(ids),
        };
        let decision = FaceDecision {
            employee_id: employee_id.clone(),
            template_sha256: template_sha256.clone(),
            decision: req.decision,
            device_ids: device_ids.clone(),
            approver: req.approver.trim().to_owned(),
            reason: req.reason.clone(),
            at_ms: now,
        };
        decision
            .validate()
            .map_err(|e| ServerError::BadRequest(format!("{e}")))?;
        let signed = SignedBlob::sign_json(signer.as_ref(), FACE_DECISION_DOMAIN, &decision)?;
        tx.exec(
            "UPDATE face_enrollments SET status = $1, decided_by = $2, decided_at_ms = $3, decision_reason = $4,
                device_ids = $5 WHERE employee_id = $6 AND template_sha256 = $7",
            &[
                V::T(req.decision.code().into()),
                V::T(decision.approver.clone()),
                V::I(now),
                V::T(req.reason),
                V::opt_text(device_ids.map(|d| json(&d)).as_deref()),
                V::T(employee_id.clone()),
                V::T(template_sha256),
            ],
        )?;
        crate::changes::add_change(
            tx,
            "face",
            &employee_id,
            None,
            &Change::FaceDecision {
                signed: signed.clone(),
            },
            now,
        )?;
        Ok(signed)
    })
    .await
}
