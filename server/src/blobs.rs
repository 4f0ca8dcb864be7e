//! Blob (photo) upload: content-addressed by SHA-256, resumable by offset, idempotent, size-limited.
//!
//! A client asks how much the server holds, then sends chunks at that offset. Each device's upload in
//! progress is its own (`blob_uploads` keyed by hash *and* device), so a device that declares a wrong
//! total for a hash cannot block another device uploading the real photo. Bytes go to the
//! [`BlobStore`](crate::blobstore::BlobStore) (files by default), never into the database: a chunk is
//! written and made durable, then the database records the new offset with a conditional update. When
//! the last byte arrives the whole content is hashed; a mismatch discards the partial upload. A
//! completed blob is never rewritten: sending it again is a no-op. Uploads untouched for
//! [`PARTIAL_TTL_MS`] expire.
//!
//! Blobs are served to administrators with an image type from a whitelist (anything else is
//! `application/octet-stream`), `X-Content-Type-Options: nosniff`, and as an attachment, so an uploaded
//! file can never run as HTML or script in the console's origin.

use std::sync::Arc;

use siap_core::sync::protocol::{BlobStatus, MAX_BLOB_BYTES};

use crate::blobstore::BlobStore;
use crate::db::{Db, V};
use crate::error::ServerError;

/// An upload in progress expires after a week without a new chunk.
pub const PARTIAL_TTL_MS: i64 = 7 * 86_400_000;

/// The types blobs are served as; anything else is served as `application/octet-stream`.
pub const SERVED_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "image/heic"];

/// The type a blob is served with: its declared type if whitelisted, else `application/octet-stream`.
pub fn served_type(declared: &str) -> &'static str {
    let base = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    SERVED_TYPES
        .iter()
        .find(|t| **t == base)
        .copied()
        .unwrap_or("application/octet-stream")
}

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

/// How much of `sha` this device's upload holds (or that it is complete).
pub async fn status(
    db: &Db,
    sha: String,
    device_id: String,
    now: i64,
) -> Result<BlobStatus, ServerError> {
    let s = sha.clone();
    let (received, complete) = db
        .tx(move |tx| {
            if let Some(r) = tx.one(
                "SELECT total FROM blobs WHERE sha256 = $1 AND complete = 1",
                &[V::T(s.clone())],
            )? {
                return Ok((r[0].i()?.max(0) as u64, true));
            }
            let r = tx.one(
                "SELECT received FROM blob_uploads WHERE sha256 = $1 AND device_id = $2 AND updated_at_ms >= $3",
                &[V::T(s), V::T(device_id), V::I(now.saturating_sub(PARTIAL_TTL_MS))],
            )?;
            Ok((r.map_or(Ok(0), |r| r[0].i())?.max(0) as u64, false))
        })
        .await?;
    Ok(BlobStatus {
        sha256: sha,
        received,
        complete,
        server_time_ms: now,
    })
}

/// One chunk of an upload.
#[derive(Debug)]
pub struct Chunk {
    /// Blob hash (hex).
    pub sha: String,
    /// Where the chunk starts.
    pub offset: u64,
    /// Declared size of the whole blob.
    pub total: u64,
    /// Declared type.
    pub mime: String,
    /// The bytes (as read from the request, not copied).
    pub data: axum::body::Bytes,
}

/// Writes `chunk` for `device_id`.
pub async fn put_chunk(
    db: &Db,
    store: Arc<dyn BlobStore>,
    chunk: Chunk,
    device_id: String,
    now: i64,
) -> Result<BlobStatus, ServerError> {
    let Chunk {
        sha,
        offset,
        total,
        mime,
        data,
    } = chunk;
    if total == 0 || total > MAX_BLOB_BYTES {
        return Err(ServerError::TooLarge(format!(
            "blobs must be 1..={MAX_BLOB_BYTES} bytes"
        )));
    }
    let end = offset
        .checked_add(data.len() as u64)
        .filter(|end| *end <= total && !data.is_empty())
        .ok_or_else(|| ServerError::BadRequest("chunk exceeds the declared total".into()))?;
    let done = |received| BlobStatus {
        sha256: sha.clone(),
        received,
        complete: received == total,
        server_time_ms: now,
    };
    let (s, d, m) = (sha.clone(), device_id.clone(), mime.clone());
    // 1. Where this device's upload stands.
    let complete = db
        .tx(move |tx| {
            if let Some(r) = tx.one(
                "SELECT total FROM blobs WHERE sha256 = $1 AND complete = 1",
                &[V::T(s.clone())],
            )? {
                return Ok(Some(r[0].i()?.max(0) as u64));
            }
            let row = tx.one(
                "SELECT received, total, updated_at_ms FROM blob_uploads WHERE sha256 = $1 AND device_id = $2",
                &[V::T(s.clone()), V::T(d.clone())],
            )?;
            let (received, stored_total) = match row {
                Some(r) if r[2].i()? >= now.saturating_sub(PARTIAL_TTL_MS) => {
                    (r[0].i()?.max(0) as u64, r[1].i()?.max(0) as u64)
                }
                // No upload, or an expired one: start again from zero.
                _ => {
                    tx.exec(
                        "DELETE FROM blob_uploads WHERE sha256 = $1 AND device_id = $2",
                        &[V::T(s.clone()), V::T(d.clone())],
                    )?;
                    tx.exec(
                        "INSERT INTO blob_uploads (sha256, device_id, mime, total, received, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, 0, $5, $5)",
                        &[V::T(s), V::T(d), V::T(m), V::I(total as i64), V::I(now)],
                    )?;
                    (0, total)
                }
            };
            if stored_total != total {
                return Err(ServerError::Conflict(
                    "declared total differs from the upload in progress".into(),
                ));
            }
            if offset != received {
                return Err(ServerError::Conflict(format!("expected offset {received}")));
            }
            Ok(None)
        })
        .await?;
    if let Some(total) = complete {
        return Ok(BlobStatus {
            sha256: sha,
            received: total,
            complete: true,
            server_time_ms: now,
        });
    }
    // 2. The bytes, durable before the offset moves.
    let (st, s, d) = (store.clone(), sha.clone(), device_id.clone());
    tokio::task::spawn_blocking(move || st.write_chunk(&d, &s, offset, &data))
        .await
        .map_err(|_| ServerError::Internal("blob write task failed".into()))??;
    let (s, d) = (sha.clone(), device_id.clone());
    let moved = db
        .tx(move |tx| {
            tx.exec(
                "UPDATE blob_uploads SET received = $1, updated_at_ms = $2 WHERE sha256 = $3 AND device_id = $4 AND received = $5",
                &[V::I(end as i64), V::I(now), V::T(s), V::T(d), V::I(offset as i64)],
            )
        })
        .await?;
    if moved == 0 {
        return Err(ServerError::Conflict(
            "a concurrent chunk moved this upload; ask for its status".into(),
        ));
    }
    if end < total {
        return Ok(done(end));
    }
    // 3. Last byte: hash the whole content, then publish it.
    let (st, s, d) = (store, sha.clone(), device_id.clone());
    let matches = tokio::task::spawn_blocking(move || st.finish(&d, &s))
        .await
        .map_err(|_| ServerError::Internal("blob hash task failed".into()))??;
    let (s, d) = (sha.clone(), device_id.clone());
    db.tx(move |tx| {
        tx.exec(
            "DELETE FROM blob_uploads WHERE sha256 = $1 AND device_id = $2",
            &[V::T(s.clone()), V::T(d.clone())],
        )?;
        if matches {
            tx.exec(
                "INSERT INTO blobs (sha256, mime, total, received, data, complete, device_id, created_at_ms, completed_at_ms, location)
                 VALUES ($1, $2, $3, $3, $4, 1, $5, $6, $6, 'fs') ON CONFLICT (sha256) DO NOTHING",
                &[V::T(s), V::T(mime), V::I(total as i64), V::B(Vec::new()), V::T(d), V::I(now)],
            )?;
        }
        Ok(())
    })
    .await?;
    if !matches {
        // Not what it claims to be: the partial upload is gone (nothing unverified is kept).
        return Err(ServerError::BadRecord {
            message: "blob content does not match its SHA-256".into(),
            acked_seq: 0,
        });
    }
    Ok(done(total))
}

/// A complete blob's declared MIME type and bytes.
pub async fn get(
    db: &Db,
    store: Arc<dyn BlobStore>,
    sha: String,
) -> Result<(String, Vec<u8>), ServerError> {
    let s = sha.clone();
    let row = db
        .tx(move |tx| {
            tx.one(
                "SELECT mime, location, data FROM blobs WHERE sha256 = $1 AND complete = 1",
                &[V::T(s)],
            )
        })
        .await?
        .ok_or(ServerError::NotFound("blob"))?;
    let mime = row[0].t()?;
    if row[1].t()? == "db" {
        // Stored inside the database by a server before schema version 2.
        return Ok((mime, row[2].b()?));
    }
    let data = tokio::task::spawn_blocking(move || store.read(&sha))
        .await
        .map_err(|_| ServerError::Internal("blob read task failed".into()))??;
    Ok((mime, data))
}

/// Deletes expired uploads in progress (metadata and bytes). Returns how many.
pub async fn expire_partials(
    db: &Db,
    store: Arc<dyn BlobStore>,
    now: i64,
) -> Result<usize, ServerError> {
    let cutoff = now.saturating_sub(PARTIAL_TTL_MS);
    let rows = db
        .tx(move |tx| {
            let rows = tx.query(
                "SELECT sha256, device_id FROM blob_uploads WHERE updated_at_ms < $1",
                &[V::I(cutoff)],
            )?;
            tx.exec(
                "DELETE FROM blob_uploads WHERE updated_at_ms < $1",
                &[V::I(cutoff)],
            )?;
            Ok(rows)
        })
        .await?;
    let n = rows.len();
    tokio::task::spawn_blocking(move || {
        for r in rows {
            if let (Ok(s), Ok(d)) = (r[0].t(), r[1].t()) {
                let _ = store.discard(&d, &s);
            }
        }
    })
    .await
    .map_err(|_| ServerError::Internal("blob expiry task failed".into()))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_image_types_are_served_as_such() {
        assert_eq!(served_type("image/jpeg"), "image/jpeg");
        assert_eq!(served_type("IMAGE/PNG; x=y"), "image/png");
        assert_eq!(served_type("text/html"), "application/octet-stream");
        assert_eq!(served_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(served_type(""), "application/octet-stream");
    }
}
