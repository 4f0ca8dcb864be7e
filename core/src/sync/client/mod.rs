//! The device's sync client: one [`SyncClient::sync`] call uploads pending records and blobs, pulls
//! signed changes and returns a report.
//!
//! Transport: reqwest over rustls with ring as the only crypto library (no OpenSSL, no aws-lc). The root
//! store is the bundled Mozilla set (`webpki-roots`), optionally plus the city's own CA: it behaves the
//! same on Android, iOS and desktop, needs no JNI set-up (the platform verifier does), and changes only
//! with an app update, which a government app controls. TLS protects the channel; authenticity of what
//! the server says rests on its signatures, which are checked against the configured server key
//! whatever the TLS layer trusts.
//!
//! Exactly-once: the outbox ack moves only after a verified signed acknowledgement, and the server
//! treats resent records as no-ops, so a timeout, a dropped connection or a killed app resends at worst.
//! Transient failures (network, 5xx, 408, 429) are retried with exponential backoff and full jitter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::apply::apply_page;
use super::outbox::{Outbox, SETTING_BINDING, SETTING_CONFIG, SETTING_DEVICE_TOKEN};
use super::protocol::{
    BlobStatus, ChangesPage, DEVICE_ID_HEADER, ErrorBody, MAX_BATCH_RECORDS, MAX_BLOB_CHUNK_BYTES,
    MAX_CHANGES_PAGE, MAX_RECORDS_BODY_BYTES, RegisterRequest, RegisterResponse,
    SERVER_TIME_HEADER, UploadAck, UploadRequest, UploadStatus,
};
use crate::clock::{ClockStore, MonotonicReading};
use crate::ledger::{ChainError, GENESIS_PREV_HASH, Ledger};
use crate::signed::{CHANGES_DOMAIN, RESPONSE_DOMAIN, SignedBlob};
use crate::{Error, Result};

/// The platform's monotonic clock (the shell supplies it on phones).
pub trait MonotonicClock: Send + Sync {
    /// A reading now.
    fn now(&self) -> MonotonicReading;
}

/// A monotonic clock for desktop use and tests: time since this value was created, one boot id.
#[derive(Debug)]
pub struct SystemMonotonic {
    start: Instant,
    boot_id: String,
}

impl SystemMonotonic {
    /// A clock whose boot session is `boot_id`.
    pub fn new(boot_id: impl Into<String>) -> Self {
        SystemMonotonic {
            start: Instant::now(),
            boot_id: boot_id.into(),
        }
    }
}

impl MonotonicClock for SystemMonotonic {
    fn now(&self) -> MonotonicReading {
        MonotonicReading {
            monotonic_ms: i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX),
            boot_id: self.boot_id.clone(),
        }
    }
}

/// How to reach the server and how hard to try.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `https://siap.example.go.id` (no trailing `/v1`).
    pub base_url: String,
    /// The server's signing public key (uncompressed P-256), built into the app.
    pub server_public_key: Vec<u8>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Attempts per request before giving up (>= 1).
    pub max_attempts: u32,
    /// First backoff delay.
    pub backoff_base: Duration,
    /// Largest backoff delay.
    pub backoff_max: Duration,
    /// Records per upload (capped at the protocol limit; the server's config may lower it).
    pub batch_size: usize,
    /// Extra trusted root certificates (DER), e.g. the city's own CA.
    pub extra_roots_der: Vec<Vec<u8>>,
}

impl ClientConfig {
    /// Defaults suited to phones on patchy networks.
    pub fn new(base_url: impl Into<String>, server_public_key: Vec<u8>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            server_public_key,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            batch_size: 500,
            extra_roots_der: Vec::new(),
        }
    }
}

/// Which part of a sync an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPhase {
    /// Uploading ledger records.
    Records,
    /// Uploading blobs (photos).
    Blobs,
    /// Pulling changes.
    Pull,
}

/// What one [`SyncClient::sync`] did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Records sent (including resends).
    pub sent: u64,
    /// Records newly acknowledged in this sync.
    pub acknowledged: u64,
    /// The server's acknowledged seq at the end.
    pub acked_seq: u64,
    /// Records still pending.
    pub pending: u64,
    /// Blobs uploaded (or found already complete on the server).
    pub blobs_uploaded: u32,
    /// Changes pulled and applied.
    pub pulled: u32,
    /// Permit updates ignored as stale.
    pub stale: u32,
    /// Pulled changes skipped because they failed validation (a bad fence, a non-finite asset...): nothing
    /// was stored for them; the rest of their page applied. Non-zero means the server published data the
    /// device cannot use.
    pub skipped: u32,
    /// Clock anchors stored.
    pub anchors: u32,
    /// Requests retried after a transient failure.
    pub retries: u32,
    /// What went wrong, per phase. Empty when everything is in sync.
    pub errors: Vec<(SyncPhase, Error)>,
}

impl SyncReport {
    /// Everything uploaded and pulled without error.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty() && self.pending == 0
    }
}

/// The sync client of one device.
pub struct SyncClient {
    http: reqwest::Client,
    cfg: ClientConfig,
    ledger: Ledger,
    clock: Arc<dyn MonotonicClock>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("base_url", &self.cfg.base_url)
            .field("device_id", &self.ledger.device_id())
            .finish_non_exhaustive()
    }
}

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

/// Installs ring as rustls's process-wide crypto provider (idempotent).
pub fn install_crypto_provider() {
    // Err means a provider is already installed (by us or the host app): fine either way.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn tls_config(extra_roots_der: &[Vec<u8>]) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots_der {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|_| Error::invalid("extra_roots_der", "not a usable DER certificate"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::Crypto("TLS configuration rejected"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl SyncClient {
    /// A client for `ledger`'s device.
    pub fn new(cfg: ClientConfig, ledger: Ledger, clock: Arc<dyn MonotonicClock>) -> Result<Self> {
        crate::ledger::signer::check_public_key(&cfg.server_public_key)?;
        if cfg.max_attempts == 0 {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        if !(cfg.base_url.starts_with("https://") || cfg.base_url.starts_with("http://")) {
            return Err(Error::invalid("base_url", "must be an http(s) URL"));
        }
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(&cfg.extra_roots_der)?)
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            // Shorter than the server's idle keep-alive limit (30 s), so a pooled connection is never
            // reused just as the server closes it ("connection closed before message completed").
            .pool_idle_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Network(format!("cannot build HTTP client: {e}")))?;
        Ok(SyncClient {
            http,
            cfg,
            ledger,
            clock,
        })
    }

    /// The ledger this client syncs.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.base_url.trim_end_matches('/'), path)
    }

    fn token(&self) -> Result<String> {
        self.ledger
            .store()
            .setting(SETTING_DEVICE_TOKEN)?
            .ok_or(Error::NotReady("device is not registered with the server"))
    }

    /// Registers this device with a one-time enrollment code.
    pub async fn register(&self, enrollment_code: &str) -> Result<RegisterResponse> {
        let req = RegisterRequest {
            enrollment_code: enrollment_code.to_owned(),
            public_key: self.ledger.public_key().to_vec(),
            proof: self
                .ledger
                .prove_registration(enrollment_code, &self.cfg.server_public_key)?,
        };
        let body = serde_json::to_vec(&req)?;
        let mut report = SyncReport::default();
        let a = self
            .send(&mut report, || {
                self.http
                    .post(self.url("/v1/register"))
                    .header("content-type", "application/json")
                    .body(body.clone())
            })
            .await?;
        let signed: SignedBlob = serde_json::from_slice(&a.body)?;
        let r: RegisterResponse =
            signed.verify_json(&self.cfg.server_public_key, RESPONSE_DOMAIN, "registration")?;
        if r.kind != "register"
            || r.device_id != self.ledger.device_id()
            || r.public_key != self.ledger.public_key()
            || r.server_public_key != self.cfg.server_public_key
        {
            return Err(Error::BadServerSignature("registration"));
        }
        let store = self.ledger.store();
        store.set_setting(SETTING_DEVICE_TOKEN, &r.device_token)?;
        store.set_setting(SETTING_CONFIG, &serde_json::to_string(&r.config)?)?;
        store.set_setting(SETTING_BINDING, &serde_json::to_string(&r.binding)?)?;
        Ok(r)
    }

    /// Uploads pending records and blobs, pulls changes, and reports. Returns `Err` only when the device
    /// is not registered; everything else is in the report.
    pub async fn sync(&self) -> Result<SyncReport> {
        self.token()?;
        let mut report = SyncReport::default();
        // Records must be durable before the server may acknowledge them.
        if let Err(e) = self.ledger.store().checkpoint() {
            report.errors.push((SyncPhase::Records, e));
        }
        if let Err(e) = self.upload_records(&mut report).await {
            let _ = Outbox(self.ledger.store()).note_error(&e.to_string());
            report.errors.push((SyncPhase::Records, e));
        }
        if let Err(e) = self.upload_blobs(&mut report).await {
            report.errors.push((SyncPhase::Blobs, e));
        }
        if let Err(e) = self.pull(&mut report).await {
            report.errors.push((SyncPhase::Pull, e));
        }
        let outbox = Outbox(self.ledger.store());
        report.acked_seq = outbox.acked_seq()?;
        report.pending = outbox.pending_records()?;
        Ok(report)
    }

    fn batch_limit(&self) -> usize {
        let from_server = self
            .ledger
            .store()
            .setting(SETTING_CONFIG)
            .ok()
            .flatten()
            .and_then(|s| serde_json::from_str::<super::protocol::DeviceConfig>(&s).ok())
            .map_or(usize::MAX, |c| c.batch_size.max(1) as usize);
        self.cfg
            .batch_size
            .clamp(1, MAX_BATCH_RECORDS)
            .min(from_server)
    }

    async fn upload_records(&self, report: &mut SyncReport) -> Result<()> {
        let outbox = Outbox(self.ledger.store());
        let token = self.token()?;
        let limit = self.batch_limit();
        let mut from = outbox.acked_seq()?;
        loop {
            let mut records = self.ledger.records_after(from, limit)?;
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
            self.check_ack(&ack)?;
            let before = outbox.acked_seq()?;
            outbox.ack(ack.acked_seq)?;
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
    fn check_ack(&self, ack: &UploadAck) -> Result<()> {
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
        match self.ledger.get(ack.acked_seq)? {
            Some(r) if r.hash == ack.acked_hash => Ok(()),
            Some(_) => Err(Error::Chain(ChainError::Fork { seq: ack.acked_seq })),
            None => Err(Error::Chain(ChainError::Gap {
                expected: self.ledger.head()?.map_or(1, |h| h.seq + 1),
                found: ack.acked_seq,
            })),
        }
    }

    async fn upload_blobs(&self, report: &mut SyncReport) -> Result<()> {
        let outbox = Outbox(self.ledger.store());
        let token = self.token()?;
        for blob in outbox.pending_blobs()? {
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
                let data = outbox.blob_data(&blob.sha256)?;
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
            outbox.mark_blob_uploaded(&blob.sha256)?;
            report.blobs_uploaded += 1;
        }
        Ok(())
    }

    async fn pull(&self, report: &mut SyncReport) -> Result<()> {
        let outbox = Outbox(self.ledger.store());
        let token = self.token()?;
        loop {
            let since = outbox.cursor()?;
            let url = self.url(&format!(
                "/v1/changes?since={since}&limit={MAX_CHANGES_PAGE}"
            ));
            let a = self
                .send(report, || {
                    self.http
                        .get(&url)
                        .bearer_auth(&token)
                        .header(DEVICE_ID_HEADER, self.ledger.device_id())
                })
                .await?;
            let signed: SignedBlob = serde_json::from_slice(&a.body)?;
            let page: ChangesPage =
                signed.verify_json(&self.cfg.server_public_key, CHANGES_DOMAIN, "changes")?;
            if page.device_id != self.ledger.device_id()
                || page.since != since
                || page.next_cursor < since
                || page
                    .changes
                    .iter()
                    .any(|c| c.cursor <= since || c.cursor > page.next_cursor)
            {
                return Err(Error::BadServerSignature("changes"));
            }
            let counts = apply_page(self.ledger.store(), &self.cfg.server_public_key, &page)?;
            report.pulled += counts.applied;
            report.stale += counts.stale;
            report.skipped += counts.skipped;
            if !page.more || page.next_cursor == since {
                return Ok(());
            }
        }
    }

    /// Sends a request with retries; stores a clock anchor from every answer; maps 4xx to
    /// [`Error::ServerRejected`].
    async fn send(
        &self,
        report: &mut SyncReport,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let sent = self.clock.now();
            let outcome = match build().send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let time = resp
                        .headers()
                        .get(SERVER_TIME_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i64>().ok());
                    match resp.bytes().await {
                        Ok(body) => {
                            if let Some(t) = time {
                                let received = self.clock.now();
                                // An unusable anchor (clock readings out of order) is just not stored.
                                if ClockStore(self.ledger.store())
                                    .record(t, &sent, &received)
                                    .is_ok()
                                {
                                    report.anchors += 1;
                                }
                            }
                            Ok(Answer {
                                status,
                                body: body.to_vec(),
                            })
                        }
                        Err(e) => Err(Error::Network(describe(&e))),
                    }
                }
                Err(e) => Err(Error::Network(describe(&e))),
            };
            let retryable = match &outcome {
                Err(_) => true,
                Ok(a) => {
                    a.status.is_server_error()
                        || a.status == StatusCode::TOO_MANY_REQUESTS
                        || a.status == StatusCode::REQUEST_TIMEOUT
                }
            };
            if !retryable {
                let a = outcome?;
                if a.status.is_success() {
                    return Ok(a);
                }
                return Err(rejection(&a));
            }
            if attempt >= self.cfg.max_attempts {
                return match outcome {
                    Err(e) => Err(e),
                    Ok(a) => Err(rejection(&a)),
                };
            }
            report.retries += 1;
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// Full jitter: uniform in `[0, min(max, base * 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .cfg
            .backoff_base
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(self.cfg.backoff_max);
        let ms = u64::try_from(exp.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(fastrand::u64(0..=ms))
    }
}

fn rejection(a: &Answer) -> Error {
    let message = serde_json::from_slice::<ErrorBody>(&a.body).map_or_else(
        |_| "unexpected answer".to_owned(),
        |b| format!("{}: {}", b.error, b.message),
    );
    Error::ServerRejected {
        status: a.status.as_u16(),
        message,
    }
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest's messages include the URL (no personal data, but noisy): keep the category.
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer".into()
    } else {
        "request failed".into()
    }
}

fn mime_token(mime: &str) -> String {
    mime.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '+'))
        .collect()
}
