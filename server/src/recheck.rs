//! The server's own face and liveness check: a check-in the server would otherwise accept waits
//! (`pending`) until the server has embedded the aligned face crop the phone uploaded with it and
//! compared it with the template the city approved, computed by the server itself from that
//! enrollment's crops; and, for a live check-in, re-run the liveness check on the attempt's transcript
//! ([`siap_core::liveness::Transcript`]) the record names.
//!
//! Why a worker and not ingest: the crops arrive as blobs after the records (a phone uploads records
//! first, then photos, possibly days later on a bad connection), and an embedding costs tens of
//! milliseconds of CPU that must not hold the ingest transaction or the request. The worker wakes when
//! a blob completes (and every few seconds), takes a batch of pending check-ins whose crop is there,
//! and settles each one: `accepted`, or `rejected` with
//!
//! - `face_recheck_mismatch`: the crop is not the approved face (a modified app that signed `matched`
//!   for someone else's face);
//! - `replayed_evidence`: the crop was already the evidence of another check-in (a recorded check-in
//!   pasted into a later one), or is one of an enrollment's crops (which match its template by
//!   construction);
//! - `face_crop_unreadable`: the blob is not a 112x112 JPEG face crop;
//! - `liveness_recheck_failed`: the check, re-run on the transcript under the server's own policy for
//!   the challenge the record signed at the record's time, fails (a verdict flipped to `passed`); the
//!   check's reasons are kept with the re-check (`liveness_reasons`);
//! - `liveness_observations_mismatch`: the transcript answers another challenge, nonce or passive score
//!   than the record signed (another attempt's observations);
//! - `liveness_observations_unreadable`: the blob is not a transcript;
//! - `crop_not_in_attempt`: the crop is not the frame the transcript says was verified (a colleague's
//!   head answered the challenge while the app signed a photo of the employee);
//! - `replayed_evidence` also for a transcript another check-in named first.
//!
//! What this cannot tell is whether a camera produced the observations: an app rewritten to synthesise
//! a consistent head movement passes. Sampled full frames and hardware attestation close that.
//!
//! The same worker computes the template of each pending enrollment once its crops are in, and its
//! similarity to the employee's official photo ([`crate::official`]), for the approver; and re-runs
//! the enrollment's liveness check on its transcript, refusing the enrollment (`liveness_recheck_failed`,
//! `liveness_observations_mismatch`, `live_face_mismatch`: the live face is not the photos') so that
//! nobody can approve it. An enrollment whose transcript has not been re-checked cannot be approved
//! yet ([`crate::faces::decide`]).
//!
//! A check-in that names no crop is rejected at ingest (`face_crop_missing`). Until settled, a
//! check-in is reported as `pending`, never as accepted. A rejection of a check-in the device accepted
//! is flagged `verdict_disputed`, like every other disagreement.

use std::sync::Arc;
use std::time::Duration;

use siap_core::attendance::AttendancePayload;
use siap_core::clock::MonotonicReading;
use siap_core::enrollment::EnrollmentPayload;
use siap_core::face::{FaceEngine, Template, crop};
use siap_core::liveness::{CROP_IN_ATTEMPT, LivenessEvidence, LivenessPolicy, Recheck, Transcript};

use crate::blobs;
use crate::db::V;
use crate::error::ServerError;
use crate::http::AppState;

/// Check-ins settled per round.
const BATCH: i64 = 32;

/// How long the worker sleeps when nothing woke it.
const IDLE: Duration = Duration::from_secs(2);

/// Runs the worker until the task is aborted.
pub async fn run(st: AppState, engine: Arc<FaceEngine>, wake: Arc<tokio::sync::Notify>) {
    loop {
        // A full batch: there may be more. An error (a database hiccup) is retried after the pause:
        // nothing is half-written, each step is one transaction.
        if let Err(e) = prepare_enrollments(&st, &engine).await {
            tracing::warn!(error = %e, "face re-check: enrollment templates not prepared, retrying");
        }
        match settle_batch(&st, &engine).await {
            Ok(n) if n as i64 >= BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "face re-check round failed, retrying"),
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(IDLE) => {}
        }
    }
}

/// One pending check-in.
struct Pending {
    device_id: String,
    seq: i64,
    employee_id: String,
    template_sha256: String,
    crop_sha256: String,
    observations_sha256: Option<String>,
}

/// The outcome of one re-check.
struct Settled {
    decision: &'static str,
    reasons: Vec<String>,
    similarity: Option<f32>,
    /// Why the server's own liveness verdict failed (its reason codes), when it did.
    liveness_reasons: Vec<String>,
}

impl Settled {
    fn rejected(reason: &str) -> Settled {
        Settled {
            decision: "rejected",
            reasons: vec![reason.to_owned()],
            similarity: None,
            liveness_reasons: Vec::new(),
        }
    }
}

/// Settles the pending check-ins whose evidence is complete. Returns how many were looked at.
pub async fn settle_batch(st: &AppState, engine: &Arc<FaceEngine>) -> Result<usize, ServerError> {
    let rows = st
        .db
        .tx(|tx| {
            tx.query(
                "SELECT device_id, seq, employee_id, template_sha256, crop_sha256, observations_sha256 FROM face_rechecks
                 WHERE status = 'pending' ORDER BY COALESCE(checked_at_ms, 0), queued_at_ms, device_id, seq
                 LIMIT $1",
                &[V::I(BATCH)],
            )
        })
        .await?;
    let pending: Vec<Pending> = rows
        .iter()
        .map(|r| {
            Ok(Pending {
                device_id: r[0].t()?,
                seq: r[1].i()?,
                employee_id: r[2].t()?,
                template_sha256: r[3].t()?,
                crop_sha256: r[4].t()?,
                observations_sha256: r[5].opt_t()?,
            })
        })
        .collect::<Result<_, ServerError>>()?;
    let n = pending.len();
    for p in pending {
        let done = match recheck(st, engine, &p).await {
            Ok(Some(s)) => settle(st, &p, s).await,
            // Still waiting for its crop, its transcript or the enrollment's: to the back of the
            // queue, so that check-ins of a phone that went offline mid-upload never hold up everyone
            // else's.
            Ok(None) => waiting(st, &p).await,
            Err(e) => Err(e),
        };
        // One check-in that cannot be settled now (an unreadable blob file, a database hiccup) goes
        // to the back of the queue too, instead of ending the round for everyone behind it.
        if let Err(e) = done {
            tracing::warn!(error = %e, "face re-check of one check-in failed, retrying later");
            let _ = waiting(st, &p).await;
        }
    }
    Ok(n)
}

/// Whether another check-in was queued first naming `sha` in `column` (the first one keeps it; any
/// later one is a replay).
async fn named_first_by_another(
    st: &AppState,
    p: &Pending,
    column: &'static str,
    sha: &str,
) -> Result<bool, ServerError> {
    let (sha, device, seq) = (sha.to_owned(), p.device_id.clone(), p.seq);
    let first = st
        .db
        .tx(move |tx| {
            tx.one(
                &format!(
                    "SELECT device_id, seq FROM face_rechecks WHERE {column} = $1
                     ORDER BY queued_at_ms, device_id, seq LIMIT 1"
                ),
                &[V::T(sha)],
            )
        })
        .await?;
    Ok(match first {
        Some(r) => r[0].t()? != device || r[1].i()? != seq,
        None => false,
    })
}

/// Re-checks one check-in; `None` while its evidence is incomplete.
async fn recheck(
    st: &AppState,
    engine: &Arc<FaceEngine>,
    p: &Pending,
) -> Result<Option<Settled>, ServerError> {
    // An enrollment's crop is the face the template was made from: named by a check-in, it would
    // match by construction (a modified app on a phone holding the employee's approved template).
    let pattern = format!("%\"{}\"%", p.crop_sha256);
    let enrolled = st
        .db
        .tx(move |tx| {
            tx.one(
                "SELECT 1 FROM face_enrollments WHERE crops LIKE $1 LIMIT 1",
                &[V::T(pattern)],
            )
        })
        .await?
        .is_some();
    // A crop or a liveness transcript is the evidence of one check-in: a later one naming it pastes a
    // recorded attempt (the transcript's hash is signed in the record, so a replay names the same).
    let mut replayed =
        enrolled || named_first_by_another(st, p, "crop_sha256", &p.crop_sha256).await?;
    if let Some(o) = &p.observations_sha256 {
        replayed = replayed || named_first_by_another(st, p, "observations_sha256", o).await?;
    }
    if replayed {
        return Ok(Some(Settled::rejected("replayed_evidence")));
    }
    let Some(jpeg) = blob(st, &p.crop_sha256).await? else {
        return Ok(None);
    };
    let transcript = match &p.observations_sha256 {
        Some(o) => match blob(st, o).await? {
            Some(t) => Some(t),
            None => return Ok(None),
        },
        None => None,
    };
    let Some(template) = server_template(st, engine, &p.employee_id, &p.template_sha256).await?
    else {
        return Ok(None);
    };
    let payload: Option<AttendancePayload> = record_payload(st, &p.device_id, p.seq).await?;
    let threshold = engine.config().threshold;
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || -> Result<Option<Settled>, ServerError> {
        let Ok(rgb) = crop::decode(&jpeg) else {
            return Ok(Some(Settled::rejected("face_crop_unreadable")));
        };
        let embedding = engine.embed_aligned(&rgb).map_err(ServerError::from)?;
        let similarity = template.similarity(&embedding);
        let mut settled = Settled {
            decision: "accepted",
            reasons: Vec::new(),
            similarity: Some(similarity),
            liveness_reasons: Vec::new(),
        };
        if similarity < threshold {
            settled.reasons.push("face_recheck_mismatch".into());
        }
        if let Some(t) = transcript {
            liveness_recheck(&t, payload.as_ref(), &embedding, &mut settled);
        }
        if !settled.reasons.is_empty() {
            settled.decision = "rejected";
        }
        Ok(Some(settled))
    })
    .await
    .map_err(|_| ServerError::Internal("face re-check task failed".into()))?
}

/// The server's own liveness verdict on a check-in: the check re-run on the uploaded transcript, and
/// the crop tied to the attempt's verified frame.
fn liveness_recheck(
    blob: &[u8],
    payload: Option<&AttendancePayload>,
    crop_embedding: &[f32],
    settled: &mut Settled,
) {
    let named =
        payload.and_then(|p| Some((p.face.as_ref()?.liveness.as_ref()?, &p.time.monotonic)));
    let rerun = rerun_liveness(blob, named);
    settled.reasons.extend(rerun.reasons);
    settled.liveness_reasons = rerun.check_reasons;
    if let Some(t) = rerun.transcript
        && t.verified_similarity(crop_embedding)
            .is_none_or(|s| s < CROP_IN_ATTEMPT)
    {
        settled.reasons.push("crop_not_in_attempt".into());
    }
}

/// What re-running the liveness check on a transcript found.
struct Rerun {
    /// The transcript, when it could be read.
    transcript: Option<Transcript>,
    /// The server's reasons (empty: the re-run passed).
    reasons: Vec<String>,
    /// The check's own reason codes, when the re-run failed.
    check_reasons: Vec<String>,
}

/// Re-runs the liveness check on the transcript `blob` for the attempt a record `named` (its signed
/// liveness evidence and its monotonic time), under the server's own policy.
fn rerun_liveness(blob: &[u8], named: Option<(&LivenessEvidence, &MonotonicReading)>) -> Rerun {
    let fail = |reason: &str, transcript| Rerun {
        transcript,
        reasons: vec![reason.to_owned()],
        check_reasons: Vec::new(),
    };
    let Some((evidence, now)) = named else {
        return fail("liveness_observations_mismatch", None);
    };
    let Ok(transcript) = Transcript::decode(blob) else {
        return fail("liveness_observations_unreadable", None);
    };
    match transcript.recheck(evidence, now, &LivenessPolicy::default()) {
        Ok(Recheck::Verdict(v)) if v.passed => Rerun {
            transcript: Some(transcript),
            reasons: Vec::new(),
            check_reasons: Vec::new(),
        },
        Ok(Recheck::Verdict(v)) => Rerun {
            transcript: Some(transcript),
            reasons: vec!["liveness_recheck_failed".into()],
            check_reasons: v
                .reasons
                .iter()
                .map(|r| r.kind().as_str().to_owned())
                .collect(),
        },
        Ok(Recheck::Mismatch) => fail("liveness_observations_mismatch", Some(transcript)),
        Err(_) => fail("liveness_observations_unreadable", Some(transcript)),
    }
}

/// The signed payload of record (`device`, `seq`) as `T` (`None` if it does not parse: an
/// unreadable check-in was judged `unreadable` at ingest and never queued, so this is only defence in
/// depth).
async fn record_payload<T: serde::de::DeserializeOwned>(
    st: &AppState,
    device: &str,
    seq: i64,
) -> Result<Option<T>, ServerError> {
    let device = device.to_owned();
    let row = st
        .db
        .tx(move |tx| {
            tx.one(
                "SELECT payload FROM records WHERE device_id = $1 AND seq = $2",
                &[V::T(device), V::I(seq)],
            )
        })
        .await?;
    Ok(row
        .map(|r| r[0].b())
        .transpose()?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// A complete blob's bytes, `None` while it has not been uploaded.
async fn blob(st: &AppState, sha: &str) -> Result<Option<Vec<u8>>, ServerError> {
    match blobs::get(&st.db, st.blobs.clone(), sha.to_owned()).await {
        Ok((_, data)) => Ok(Some(data)),
        Err(ServerError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `columns` of one enrollment.
async fn enrollment(
    st: &AppState,
    employee: &str,
    template: &str,
    columns: &'static str,
) -> Result<Option<crate::db::Row>, ServerError> {
    let (e, t) = (employee.to_owned(), template.to_owned());
    st.db
        .tx(move |tx| {
            tx.one(
                &format!(
                    "SELECT {columns} FROM face_enrollments WHERE employee_id = $1 AND template_sha256 = $2"
                ),
                &[V::T(e), V::T(t)],
            )
        })
        .await
}

/// The server's own template of an approved enrollment (see [`enrollment_template`]); `None` while
/// it cannot be computed, or when the template is not approved (any more).
async fn server_template(
    st: &AppState,
    engine: &Arc<FaceEngine>,
    employee: &str,
    template: &str,
) -> Result<Option<Template>, ServerError> {
    let row = enrollment(st, employee, template, "status").await?;
    if row.map(|r| r[0].t()).transpose()?.as_deref() != Some("approved") {
        return Ok(None);
    }
    enrollment_template(st, engine, employee, template).await
}

/// The server's own template of an enrollment: the mean of the embeddings of its crops, computed once
/// (when every crop is there) and stored, with its similarity to the employee's official photo when
/// there is one. `None` until then.
pub async fn enrollment_template(
    st: &AppState,
    engine: &Arc<FaceEngine>,
    employee: &str,
    template: &str,
) -> Result<Option<Template>, ServerError> {
    let Some(row) = enrollment(st, employee, template, "crops, server_template").await? else {
        return Ok(None);
    };
    if let V::B(bytes) = &row[1] {
        return Ok(Template::from_bytes(bytes).ok());
    }
    let crops: Vec<String> = serde_json::from_str(&row[0].t()?).unwrap_or_default();
    let mut jpegs = Vec::with_capacity(crops.len());
    for c in &crops {
        match blob(st, c).await? {
            Some(j) => jpegs.push(j),
            None => return Ok(None),
        }
    }
    let engine = engine.clone();
    let made = tokio::task::spawn_blocking(move || -> Result<Option<Template>, ServerError> {
        let mut embeddings = Vec::with_capacity(jpegs.len());
        for j in &jpegs {
            let Ok(rgb) = crop::decode(j) else { continue };
            embeddings.push(engine.embed_aligned(&rgb).map_err(ServerError::from)?);
        }
        if embeddings.is_empty() {
            return Ok(None);
        }
        Ok(Template::from_embeddings(engine.embedding_model_sha256(), embeddings).ok())
    })
    .await
    .map_err(|_| ServerError::Internal("face template task failed".into()))??;
    let Some(made) = made else { return Ok(None) };
    let (e, t, keep) = (employee.to_owned(), template.to_owned(), made.clone());
    st.db
        .tx(move |tx| {
            let official = crate::official::similarity_bp(tx, &e, &keep)?;
            tx.exec(
                "UPDATE face_enrollments SET server_template = $1, official_similarity_bp = $2
                 WHERE employee_id = $3 AND template_sha256 = $4",
                &[
                    V::B(keep.to_bytes()),
                    official.map_or(V::NullI, V::I),
                    V::T(e),
                    V::T(t),
                ],
            )
        })
        .await?;
    Ok(Some(made))
}

/// Prepares pending enrollments for the approver: computes the template of each whose crops have all
/// arrived (and its similarity to the official photo), and re-runs the liveness check of each whose
/// transcript has arrived. Returns how many were looked at. One enrollment that fails (an unreadable
/// blob file) is logged and left for the next round, not the end of this one.
async fn prepare_enrollments(
    st: &AppState,
    engine: &Arc<FaceEngine>,
) -> Result<usize, ServerError> {
    let rows = st
        .db
        .tx(|tx| {
            tx.query(
                "SELECT employee_id, template_sha256 FROM face_enrollments
                 WHERE status = 'pending' AND ((server_template IS NULL AND crops <> '[]')
                    OR (observations_sha256 IS NOT NULL AND liveness_rechecked IS NULL))
                 ORDER BY received_at_ms LIMIT $1",
                &[V::I(BATCH)],
            )
        })
        .await?;
    for r in &rows {
        let (employee, template) = (r[0].t()?, r[1].t()?);
        let done = match enrollment_template(st, engine, &employee, &template).await {
            Ok(Some(t)) => {
                enrollment_liveness(st, &employee, &template, &t, engine.config().threshold).await
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "enrollment re-check failed, retrying later");
        }
    }
    Ok(rows.len())
}

/// Re-runs an enrollment's liveness check on its transcript, once it has arrived, and ties the live
/// face to the enrollment's photos: the verified frame's embedding against the server's template of
/// the crops (`live_face_mismatch` below `threshold`: a colleague's head answered the challenge for
/// photos of the employee). A failure refuses the enrollment; nobody can approve it.
async fn enrollment_liveness(
    st: &AppState,
    employee: &str,
    template: &str,
    server_template: &Template,
    threshold: f32,
) -> Result<(), ServerError> {
    let Some(row) = enrollment(
        st,
        employee,
        template,
        "observations_sha256, device_id, seq, liveness_rechecked",
    )
    .await?
    else {
        return Ok(());
    };
    let (Some(observations), None) = (row[0].opt_t()?, row[3].opt_i()?) else {
        return Ok(());
    };
    let Some(blob) = blob(st, &observations).await? else {
        return Ok(());
    };
    let payload: Option<EnrollmentPayload> = record_payload(st, &row[1].t()?, row[2].i()?).await?;
    let server_template = server_template.clone();
    let reasons = tokio::task::spawn_blocking(move || {
        let named = payload
            .as_ref()
            .and_then(|p| Some((p.liveness.as_ref()?, &p.time.monotonic)));
        let rerun = rerun_liveness(&blob, named);
        let mut reasons = rerun.reasons;
        if let Some(t) = rerun.transcript
            && t.verified
                .as_ref()
                .is_none_or(|v| server_template.similarity(&v.embedding) < threshold)
        {
            reasons.push("live_face_mismatch".to_owned());
        }
        reasons
    })
    .await
    .map_err(|_| ServerError::Internal("enrollment re-check task failed".into()))?;
    let (e, t) = (employee.to_owned(), template.to_owned());
    st.db
        .tx(move |tx| {
            let Some(row) = tx.one(
                "SELECT refused FROM face_enrollments WHERE employee_id = $1 AND template_sha256 = $2
                 AND status = 'pending' AND liveness_rechecked IS NULL",
                &[V::T(e.clone()), V::T(t.clone())],
            )?
            else {
                return Ok(());
            };
            let mut refused: Vec<String> = serde_json::from_str(&row[0].t()?).unwrap_or_default();
            refused.extend(reasons.iter().cloned());
            let passed = reasons.is_empty();
            tx.exec(
                "UPDATE face_enrollments SET liveness_rechecked = $1, refused = $2, status = $3
                 WHERE employee_id = $4 AND template_sha256 = $5 AND status = 'pending'",
                &[
                    V::I(i64::from(passed)),
                    V::T(serde_json::to_string(&refused).unwrap_or_else(|_| "[]".into())),
                    V::T(if passed { "pending" } else { "refused" }.into()),
                    V::T(e),
                    V::T(t),
                ],
            )?;
            Ok(())
        })
        .await
}

/// Marks `p` looked at now (while pending, `checked_at_ms` is the last attempt).
async fn waiting(st: &AppState, p: &Pending) -> Result<(), ServerError> {
    let (device, seq, now) = (p.device_id.clone(), p.seq, crate::http::now_ms());
    st.db
        .tx(move |tx| {
            tx.exec(
                "UPDATE face_rechecks SET checked_at_ms = $1 WHERE device_id = $2 AND seq = $3 AND status = 'pending'",
                &[V::I(now), V::T(device), V::I(seq)],
            )?;
            Ok(())
        })
        .await
}

/// Stores the outcome: the re-check row, and the record's server verdict (still `pending`, so a
/// record settled twice by two workers is written once).
async fn settle(st: &AppState, p: &Pending, s: Settled) -> Result<(), ServerError> {
    let (decision, reasons) = (s.decision, s.reasons.clone());
    let (device, seq) = (p.device_id.clone(), p.seq);
    let now = crate::http::now_ms();
    let counted = st
        .db
        .tx(move |tx| {
            let row = tx.one(
                "SELECT flags, decision, flagged FROM records WHERE device_id = $1 AND seq = $2 AND server_decision = 'pending'",
                &[V::T(device.clone()), V::I(seq)],
            )?;
            let Some(row) = row else { return Ok(false) };
            let mut flags: Vec<String> = serde_json::from_str(&row[0].t()?).unwrap_or_default();
            let device_accepted = row[1].opt_t()?.as_deref() == Some("accepted");
            let disputed = s.decision != "accepted" && device_accepted;
            if disputed {
                flags.push("verdict_disputed".into());
                flags.sort();
                flags.dedup();
            }
            let flagged = i64::from(disputed).max(row[2].i()?);
            tx.exec(
                "UPDATE records SET server_decision = $1, server_reasons = $2, flags = $3, flagged = $4
                 WHERE device_id = $5 AND seq = $6 AND server_decision = 'pending'",
                &[
                    V::T(s.decision.into()),
                    V::T(serde_json::to_string(&s.reasons).unwrap_or_else(|_| "[]".into())),
                    V::T(serde_json::to_string(&flags).unwrap_or_else(|_| "[]".into())),
                    V::I(flagged),
                    V::T(device.clone()),
                    V::I(seq),
                ],
            )?;
            tx.exec(
                "UPDATE face_rechecks SET status = 'done', similarity_bp = $1, checked_at_ms = $2, liveness_reasons = $3
                 WHERE device_id = $4 AND seq = $5",
                &[
                    s.similarity
                        .map_or(V::NullI, |x| V::I((f64::from(x) * 10_000.0).round() as i64)),
                    V::I(now),
                    V::T(serde_json::to_string(&s.liveness_reasons).unwrap_or_else(|_| "[]".into())),
                    V::T(device),
                    V::I(seq),
                ],
            )?;
            Ok(true)
        })
        .await?;
    // Counted once: a record another worker settled first is not counted again.
    if counted {
        st.metrics.recheck(decision, &reasons);
    }
    Ok(())
}
