//! The outbox: what the device still owes the server, kept in the device store.
//!
//! Records are never deleted; the outbox only remembers the highest seq the server acknowledged
//! (`outbox.acked_seq`), so everything above it is pending. The ack only ever moves forward, and it moves
//! in its own transaction after the server's signed acknowledgement was verified: a crash before that
//! simply resends records the server already has, which it treats as no-ops. Blobs carry their own
//! `uploaded_at_ms`.

use rusqlite::{OptionalExtension, params};

use crate::store::Store;
use crate::{Error, Result};

/// Settings key: the bearer token the server gave this device at registration.
pub const SETTING_DEVICE_TOKEN: &str = "sync.device_token";
/// Settings key: the changes-feed cursor.
pub const SETTING_CURSOR: &str = "sync.cursor";
/// Settings key: the JSON of the device configuration received at registration.
pub const SETTING_CONFIG: &str = "sync.config";
/// Settings key: the JSON of the binding (employee or permit) received at registration.
pub const SETTING_BINDING: &str = "sync.binding";

/// A pending blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBlob {
    /// SHA-256 of the content.
    pub sha256: [u8; 32],
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub len: u64,
}

/// The outbox of one device store.
#[derive(Debug, Clone, Copy)]
pub struct Outbox<'a>(pub &'a Store);

impl Outbox<'_> {
    /// Highest seq acknowledged by the server.
    pub fn acked_seq(&self) -> Result<u64> {
        self.0.with_conn(|c| {
            let v: i64 = c.query_row("SELECT acked_seq FROM outbox WHERE id = 1", [], |r| {
                r.get(0)
            })?;
            Ok(v.max(0) as u64)
        })
    }

    /// Moves the ack forward to `seq` (never backwards) and clears the last error.
    pub fn ack(&self, seq: u64) -> Result<()> {
        let seq = i64::try_from(seq).map_err(|_| Error::invalid("acked_seq", "too large"))?;
        self.0.with_tx(|tx| {
            tx.execute(
                "UPDATE outbox SET acked_seq = MAX(acked_seq, ?1), last_attempt_ms = ?2, last_error = NULL WHERE id = 1",
                params![seq, crate::time::wall_now_ms()],
            )?;
            Ok(())
        })
    }

    /// Remembers the outcome of a failed attempt (shown to the user; no personal data).
    pub fn note_error(&self, message: &str) -> Result<()> {
        self.0.with_conn(|c| {
            c.execute(
                "UPDATE outbox SET last_attempt_ms = ?1, last_error = ?2 WHERE id = 1",
                params![crate::time::wall_now_ms(), message],
            )?;
            Ok(())
        })
    }

    /// The last error, if the last attempt failed.
    pub fn last_error(&self) -> Result<Option<String>> {
        self.0.with_conn(|c| {
            Ok(
                c.query_row("SELECT last_error FROM outbox WHERE id = 1", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    /// Number of records above the ack.
    pub fn pending_records(&self) -> Result<u64> {
        self.0.with_conn(|c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM ledger WHERE seq > (SELECT acked_seq FROM outbox WHERE id = 1)",
                [],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
    }

    /// Blobs not yet uploaded, oldest first.
    pub fn pending_blobs(&self) -> Result<Vec<PendingBlob>> {
        self.0.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT sha256, mime, length(data) FROM blobs WHERE uploaded_at_ms IS NULL ORDER BY created_at_ms, sha256",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
            })?;
            rows.map(|row| {
                let (sha, mime, len) = row?;
                let sha256: [u8; 32] = sha
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::CorruptDatabase("blob hash is not 32 bytes".into()))?;
                Ok(PendingBlob { sha256, mime, len: len.max(0) as u64 })
            })
            .collect()
        })
    }

    /// A blob's bytes.
    pub fn blob_data(&self, sha256: &[u8; 32]) -> Result<Vec<u8>> {
        self.0
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT data FROM blobs WHERE sha256 = ?1",
                    [&sha256[..]],
                    |r| r.get(0),
                )
                .optional()?)
            })?
            .ok_or(Error::NotFound { what: "blob" })
    }

    /// Marks a blob as stored on the server.
    pub fn mark_blob_uploaded(&self, sha256: &[u8; 32]) -> Result<()> {
        self.0.with_conn(|c| {
            c.execute(
                "UPDATE blobs SET uploaded_at_ms = ?1 WHERE sha256 = ?2 AND uploaded_at_ms IS NULL",
                params![crate::time::wall_now_ms(), &sha256[..]],
            )?;
            Ok(())
        })
    }

    /// Stores a blob content-addressed (idempotent); returns its SHA-256.
    pub fn put_blob(&self, mime: &str, data: &[u8]) -> Result<[u8; 32]> {
        if data.len() as u64 > super::protocol::MAX_BLOB_BYTES {
            return Err(Error::invalid("blob", "larger than the upload limit"));
        }
        let mut sha = [0u8; 32];
        sha.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
        self.0.with_conn(|c| {
            c.execute(
                "INSERT OR IGNORE INTO blobs (sha256, mime, data, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![&sha[..], mime, data, crate::time::wall_now_ms()],
            )?;
            Ok(())
        })?;
        Ok(sha)
    }

    /// The changes-feed cursor.
    pub fn cursor(&self) -> Result<u64> {
        Ok(self
            .0
            .setting(SETTING_CURSOR)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_only_moves_forward_and_blobs_are_content_addressed() {
        let s = Store::open_in_memory().unwrap();
        let o = Outbox(&s);
        assert_eq!(o.acked_seq().unwrap(), 0);
        o.ack(5).unwrap();
        o.ack(3).unwrap();
        assert_eq!(o.acked_seq().unwrap(), 5);
        let a = o.put_blob("image/jpeg", b"photo").unwrap();
        let b = o.put_blob("image/jpeg", b"photo").unwrap();
        assert_eq!(a, b);
        assert_eq!(o.pending_blobs().unwrap().len(), 1);
        o.mark_blob_uploaded(&a).unwrap();
        assert!(o.pending_blobs().unwrap().is_empty());
    }
}
