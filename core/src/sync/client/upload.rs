//! What the device owes the server, sent: ledger records in bounded batches whose acknowledgements are
//! signed and checked against the device's own chain before the outbox moves, then blobs (photos) in
//! resumable chunks. Kept apart from the pull because the exactly-once rules live here.

use super::{SyncClient, SyncReport};
use crate::ledger::{ChainError, GENESIS_PREV_HASH};
use crate::signed::{RESPONSE_DOMAIN, SignedBlob};
use crate::sync::outbox::{Outbox, SETTING_CONFIG};
use crate::sync::protocol::{
    BlobStatus, DEVICE_ID_HEADER, DeviceConfig, MAX_BATCH_RECORDS, MAX_BLOB_CHUNK_BYTES,
    MAX_RECORDS_BODY_BYTES, UploadAck, UploadRequest, UploadStatus,
};
use crate::{Error, Result};

impl SyncClient {
    /// Records per upload: the configured size, capped by the protocol and by the server's config.
    async fn batch_limit(&self) -> usize {
        let from_server = self
            .blocking(|l| l.store().setting(SETTING_CONFIG))
            .await
            .ok()
            .flatten()
            .and_then(|s| serde_json::from_str::<DeviceConfig>(&s).ok())
            .map_or(usize::MAX, |c| c.batch_size.max(1) as usize);
        self.cfg
            .batch_size
            .clamp(1, MAX_BATCH_RECORDS)
            .min(from_server)
    }

    /// Sends the records above the outbox ack, batch by batch, and moves the ack after each verified
    /// acknowledgement.
    pub(super) async fn upload_records(&self, report: &mut SyncReport) -> Result<()> {
        let token = self.token().await?;
        let limit = self.batch_limit().await;
        let mut from = self.blocking(|l| Outbox(l.store()).acked_seq()).await?;
        loop {
            let mut records = self.blocking(move |l| l.records_after(from, limit)).await?;
            if records.is_empty() {
                return Ok(());
            }
            // Keep the body well under the server's limit (base64 grows payloads by a third).
            let mut size = 0usize;
            let keep = records
                .iter()
                .take_while(|r| {
                    size += r.payload.len() * 4 / 3 + r.signature.len() * 2 + r.kind.len() + 300;
                    size <= MAX_RECORDS_BODY_BYTES / 2
                })
                .count()
                .max(1);
            records.truncate(keep);
            let last_sent = records.last().map_or(from, |r| r.seq);
            let body = serde_json::to_vec(&UploadRequest {
                device_id: self.ledger.device_id().to_owned(),
                records,
            })?;
            report.sent += keep as u64;
            let a = self
                .send(report, || {
                    self.http
                        .post(self.url("/v1/records"))
                        .bearer_auth(&token)
                        .header(DEVICE_ID_HEADER, self.ledger.device_id())
                        .header("content-type", "application/json")
                        .body(body.clone())
                })
                .await?;
            let signed: SignedBlob = serde_json::from_slice(&a.body)?;
            let ack: UploadAck = signed.verify_json(
                &self.cfg.server_public_key,
                RESPONSE_DOMAIN,
                "acknowledgement",
            )?;
            self.check_ack(&ack).await?;
            let acked = ack.acked_seq;
            let before = self
                .blocking(move |l| {
                    let outbox = Outbox(l.store());
                    let before = outbox.acked_seq()?;
                    outbox.ack(acked)?;
                    Ok(before)
                })
                .await?;
            report.acknowledged += ack.acked_seq.saturating_sub(before);
            match ack.status {
                UploadStatus::Fork => {
                    return Err(Error::Chain(ChainError::Fork {
                        seq: ack.expected_seq,
                    }));
                }
                UploadStatus::Ok | UploadStatus::Gap => {}
            }
            if ack.acked_seq <= from && ack.status == UploadStatus::Gap && ack.acked_seq == from {
                // The server expects what we sent and still reports a gap: it would loop forever.
                return Err(Error::Chain(ChainError::Gap {
                    expected: ack.expected_seq,
                    found: from + 1,
                }));
            }
            if ack.acked_seq < last_sent && ack.status == UploadStatus::Ok {
                return Err(Error::ServerRejected {
                    status: 200,
                    message: "server acknowledged less than it stored".into(),
                });
            }
            // A server restored from a backup may acknowledge less than we have: resend from there.
            from = ack.acked_seq;
        }
    }

    /// Checks that a (verified) ack is for this device and names a record this device really has.
    async fn check_ack(&self, ack: &UploadAck) -> Result<()> {
        if ack.kind != "ack" || ack.device_id != self.ledger.device_id() {
            return Err(Error::BadServerSignature("acknowledgement"));
        }
        if ack.acked_seq == 0 {
            return if ack.acked_hash == GENESIS_PREV_HASH {
                Ok(())
            } else {
                Err(Error::BadServerSignature("acknowledgement"))
            };
        }
        let seq = ack.acked_seq;
        // The stored hash at the acked seq, or else where this device's chain ends.
        let ours = self
            .blocking(move |l| match l.get(seq)? {
                Some(r) => Ok(Ok(r.hash)),
                None => Ok(Err(l.head()?.map_or(1, |h| h.seq + 1))),
            })
            .await?;
        match ours {
            Ok(hash) if hash == ack.acked_hash => Ok(()),
            Ok(_) => Err(Error::Chain(ChainError::Fork { seq })),
            Err(expected) => Err(Error::Chain(ChainError::Gap {
                expected,
                found: seq,
            })),
        }
    }

    /// Uploads every pending blob from where the server says it stopped, then marks it uploaded.
    pub(super) async fn upload_blobs(&self, report: &mut SyncReport) -> Result<()> {
        let token = self.token().await?;
        let pending = self.blocking(|l| Outbox(l.store()).pending_blobs()).await?;
        for blob in pending {
            let hex = hex::encode(blob.sha256);
            let url = self.url(&format!("/v1/blobs/{hex}"));
            let a = self
                .send(report, || {
                    self.http
                        .get(&url)
                        .bearer_auth(&token)
                        .header(DEVICE_ID_HEADER, self.ledger.device_id())
                })
                .await?;
            let mut status: BlobStatus = serde_json::from_slice(&a.body)?;
            if !status.complete {
                let sha256 = blob.sha256;
                let data = self
                    .blocking(move |l| Outbox(l.store()).blob_data(&sha256))
                    .await?;
                let total = data.len() as u64;
                let mut rounds = 0usize;
                while !status.complete {
                    rounds += 1;
                    if rounds > data.len() / MAX_BLOB_CHUNK_BYTES + 3 {
                        return Err(Error::ServerRejected {
                            status: 200,
                            message: "blob upload makes no progress".into(),
                        });
                    }
                    let start = usize::try_from(status.received)
                        .ok()
                        .filter(|s| *s <= data.len())
                        .ok_or_else(|| Error::ServerRejected {
                            status: 200,
                            message: "server claims more blob bytes than exist".into(),
                        })?;
                    let end = (start + MAX_BLOB_CHUNK_BYTES).min(data.len());
                    let chunk = data[start..end].to_vec();
                    let put = format!(
                        "{url}?offset={start}&total={total}&mime={}",
                        mime_token(&blob.mime)
                    );
                    let a = self
                        .send(report, || {
                            self.http
                                .put(&put)
                                .bearer_auth(&token)
                                .header(DEVICE_ID_HEADER, self.ledger.device_id())
                                .header("content-type", "application/octet-stream")
                                .body(chunk.clone())
                        })
                        .await?;
                    status = serde_json::from_slice(&a.body)?;
                }
            }
            let sha256 = blob.sha256;
            self.blocking(move |l| Outbox(l.store()).mark_blob_uploaded(&sha256))
                .await?;
            report.blobs_uploaded += 1;
        }
        Ok(())
    }
}

/// The MIME type reduced to characters safe in a query string without escaping.
fn mime_token(mime: &str) -> String {
    mime.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '+'))
        .collect()
}
