//! The official photo of an employee (from the city's HR system), kept only as a face embedding, so
//! that an approver sees how close each enrollment's crops are to the person HR knows.
//!
//! The photo itself is not stored: only its SHA-256 (to show which photo was used) and the embedding
//! of its one face. Similarities are stored per enrollment (`official_similarity_bp`, basis points)
//! by the re-check worker when it has the enrollment's own template, and recomputed here when a new
//! official photo arrives.

use std::sync::Arc;

use serde::Serialize;
use siap_core::face::{FaceEngine, FaceImage, Template};

use crate::db::V;
use crate::error::ServerError;
use crate::http::AppState;

/// What an upload did.
#[derive(Debug, Clone, Serialize)]
pub struct OfficialPhoto {
    /// Whose.
    pub employee_id: String,
    /// SHA-256 of the uploaded photo (the photo is not kept).
    pub photo_sha256: String,
    /// Enrollments of this employee compared with it now.
    pub enrollments_compared: usize,
}

/// Reads the face of `photo` (JPEG or PNG, exactly one face passing the quality gate) and stores its
/// embedding as `employee_id`'s official face; compares it with the enrollments whose template the
/// server has computed.
pub async fn store(
    st: &AppState,
    employee_id: String,
    photo: Vec<u8>,
    now: i64,
) -> Result<OfficialPhoto, ServerError> {
    siap_core::sync::validate::check_id("employee_id", &employee_id)
        .map_err(|e| ServerError::BadRequest(e.to_string()))?;
    let engine = engine(st)?;
    let photo_sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &photo));
    let embedding = tokio::task::spawn_blocking(move || -> Result<Vec<f32>, ServerError> {
        let img = FaceImage::decode(&photo)
            .map_err(|_| ServerError::BadRequest("not a readable JPEG or PNG photo".into()))?;
        let s = engine.sample(&img).map_err(ServerError::from)?;
        match s.embedding {
            Some(e) if s.quality.passed => Ok(e),
            _ => Err(ServerError::BadRequest(format!(
                "the photo's face does not pass the quality gate: {:?}",
                s.quality.issues
            ))),
        }
    })
    .await
    .map_err(|_| ServerError::Internal("official photo task failed".into()))??;
    let bytes: Vec<u8> = embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
    let (e, sha) = (employee_id.clone(), photo_sha256.clone());
    let compared = st
        .db
        .tx(move |tx| {
            tx.exec(
                "INSERT INTO official_faces (employee_id, photo_sha256, embedding, updated_at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (employee_id) DO UPDATE SET photo_sha256 = excluded.photo_sha256,
                   embedding = excluded.embedding, updated_at_ms = excluded.updated_at_ms",
                &[V::T(e.clone()), V::T(sha), V::B(bytes), V::I(now)],
            )?;
            let rows = tx.query(
                "SELECT template_sha256, server_template FROM face_enrollments
                 WHERE employee_id = $1 AND server_template IS NOT NULL",
                &[V::T(e.clone())],
            )?;
            let mut n = 0;
            for r in rows {
                let Ok(t) = Template::from_bytes(&r[1].b()?) else { continue };
                tx.exec(
                    "UPDATE face_enrollments SET official_similarity_bp = $1 WHERE employee_id = $2 AND template_sha256 = $3",
                    &[V::I(basis_points(t.similarity(&embedding))), V::T(e.clone()), V::T(r[0].t()?)],
                )?;
                n += 1;
            }
            Ok(n)
        })
        .await?;
    Ok(OfficialPhoto {
        employee_id,
        photo_sha256,
        enrollments_compared: compared,
    })
}

/// The similarity of `template` (an enrollment's server template) with `employee_id`'s official face,
/// in basis points; `None` without an official photo.
pub fn similarity_bp(
    tx: &mut dyn crate::db::Sql,
    employee_id: &str,
    template: &Template,
) -> Result<Option<i64>, ServerError> {
    let Some(row) = tx.one(
        "SELECT embedding FROM official_faces WHERE employee_id = $1",
        &[V::T(employee_id.to_owned())],
    )?
    else {
        return Ok(None);
    };
    let embedding: Vec<f32> = row[0]
        .b()?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if embedding.len() != siap_core::face::DIM {
        return Ok(None);
    }
    Ok(Some(basis_points(template.similarity(&embedding))))
}

/// A similarity in basis points (the database stores integers).
pub fn basis_points(similarity: f32) -> i64 {
    (f64::from(similarity) * 10_000.0).round() as i64
}

fn engine(st: &AppState) -> Result<Arc<FaceEngine>, ServerError> {
    st.faces.clone().ok_or_else(|| {
        ServerError::Conflict("this server runs without face models (--face-models)".into())
    })
}
