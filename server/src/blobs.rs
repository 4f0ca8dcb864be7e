//! Blob (photo) upload: content-addressed by SHA-256, resumable by offset, idempotent, size-limited.
//!
//! A client asks how much the server holds, then sends chunks at that offset. When the last byte arrives
//! the server recomputes the SHA-256 over the whole content; a mismatch discards the partial upload. A
//! completed blob is never rewritten: sending it again is a no-op.

use siap_core::sync::protocol::{BlobStatus, MAX_BLOB_BYTES};

use crate::db::{Db, V};
use crate::error::ServerError;

/// Parses a lowercase hex SHA-256.
pub fn parse_sha(s: &str) -> Result<String, ServerError> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(s.to_owned())
    } else {
        Err(ServerError::BadRequest(
            "blob id must be 64 lowercase hex characters (SHA-256)".into(),
        ))
    }
}

/// How much of `sha` is stored.
pub async fn status(db: &Db, sha: String, now: i64) -> Result<BlobStatus, ServerError> {
    let s = sha.clone();
    let row = db
        .tx(move |tx| {
            tx.one(
                "SELECT received, complete FROM blobs WHERE sha256 = $1",
                &[V::T(s)],
            )
        })
        .await?;
    Ok(match row {
        Some(r) => BlobStatus {
            sha256: sha,
            received: r[0].i()?.max(0) as u64,
            complete: r[1].i()? != 0,
            server_time_ms: now,
        },
        None => BlobStatus {
            sha256: sha,
            received: 0,
            complete: false,
            server_time_ms: now,
        },
    })
}

/// Appends `chunk` at `offset` of a blob of `total` bytes.
#[allow(clippy::too_many_arguments)]
pub async fn put_chunk(
    db: &Db,
    sha: String,
    offset: u64,
    total: u64,
    mime: String,
    chunk: Vec<u8>,
    device_id: String,
    now: i64,
) -> Result<BlobStatus, ServerError> {
    if total == 0 || total > MAX_BLOB_BYTES {
        return Err(ServerError::TooLarge(format!(
            "blobs must be 1..={MAX_BLOB_BYTES} bytes"
        )));
    }
    if offset
        .checked_add(chunk.len() as u64)
        .is_none_or(|end| end > total)
        || chunk.is_empty()
    {
        return Err(ServerError::BadRequest(
            "chunk exceeds the declared total".into(),
        ));
    }
    let s = sha.clone();
    let (received, complete) = db
        .tx(move |tx| {
            let row = tx.one("SELECT received, complete, total FROM blobs WHERE sha256 = $1", &[V::T(s.clone())])?;
            let (received, complete, stored_total) = match &row {
                Some(r) => (r[0].i()? as u64, r[1].i()? != 0, r[2].i()? as u64),
                None => (0, false, total),
            };
            if complete {
                return Ok((received, true));
            }
            if stored_total != total {
                return Err(ServerError::Conflict("declared total differs from the upload in progress".into()));
            }
            if offset != received {
                return Err(ServerError::Conflict(format!("expected offset {received}")));
            }
            if row.is_none() {
                tx.exec(
                    "INSERT INTO blobs (sha256, mime, total, received, data, complete, device_id, created_at_ms) VALUES ($1, $2, $3, 0, $4, 0, $5, $6)",
                    &[V::T(s.clone()), V::T(mime), V::I(total as i64), V::B(Vec::new()), V::T(device_id), V::I(now)],
                )?;
            }
            let received = received + chunk.len() as u64;
            // Concatenate here: SQLite's `||` turns blobs into text.
            let mut data = tx.one("SELECT data FROM blobs WHERE sha256 = $1", &[V::T(s.clone())])?.ok_or(ServerError::NotFound("blob"))?[0].b()?;
            data.extend_from_slice(&chunk);
            tx.exec(
                "UPDATE blobs SET data = $1, received = $2 WHERE sha256 = $3",
                &[V::B(data), V::I(received as i64), V::T(s.clone())],
            )?;
            if received < total {
                return Ok((received, false));
            }
            let data = tx.one("SELECT data FROM blobs WHERE sha256 = $1", &[V::T(s.clone())])?.ok_or(ServerError::NotFound("blob"))?[0].b()?;
            let actual = hex::encode(crate::devices::sha256(&data));
            if actual != s {
                // Not what it claims to be: drop the partial upload (nothing unverified is kept).
                tx.exec("DELETE FROM blobs WHERE sha256 = $1 AND complete = 0", &[V::T(s)])?;
                return Err(ServerError::BadRecord { message: "blob content does not match its SHA-256".into(), acked_seq: 0 });
            }
            tx.exec("UPDATE blobs SET complete = 1, completed_at_ms = $1 WHERE sha256 = $2", &[V::I(now), V::T(s)])?;
            Ok((received, true))
        })
        .await?;
    Ok(BlobStatus {
        sha256: sha,
        received,
        complete,
        server_time_ms: now,
    })
}

/// A complete blob's MIME type and bytes.
pub async fn get(db: &Db, sha: String) -> Result<(String, Vec<u8>), ServerError> {
    let row = db
        .tx(move |tx| {
            tx.one(
                "SELECT mime, data FROM blobs WHERE sha256 = $1 AND complete = 1",
                &[V::T(sha)],
            )
        })
        .await?
        .ok_or(ServerError::NotFound("blob"))?;
    Ok((row[0].t()?, row[1].b()?))
}
