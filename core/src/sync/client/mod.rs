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
//!
//! This module holds the public face (configuration, report, clock seam, [`SyncClient`] with
//! registration and the `sync` sequence); the work is split by job:
//!
//! - `transport`: the HTTP client and its TLS set-up, one request with retries, backoff, clock anchors
//!   and the mapping of answers to errors;
//! - `upload`: ledger records (batched, acknowledged by signed acks) and blobs (resumable chunks);
//! - `pull`: the signed changes feed, verified and applied page by page.
//!
//! The store is SQLite behind one connection lock, and the signer may be a hardware keystore: both
//! block. Every store access and signature of the client goes through `SyncClient::blocking`, which
//! runs it on tokio's blocking pool, so the executor's threads only ever wait on the network and a slow
//! disk or a busy store never stalls the app's other async work.

mod pull;
#[cfg(test)]
mod tests;
mod transport;
mod upload;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use transport::install_crypto_provider;

use super::outbox::{Outbox, SETTING_BINDING, SETTING_CONFIG, SETTING_DEVICE_TOKEN};
use super::protocol::{RegisterRequest, RegisterResponse};
use crate::clock::MonotonicReading;
use crate::ledger::Ledger;
use crate::signed::{RESPONSE_DOMAIN, SignedBlob};
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
        let http = transport::http_client(&cfg)?;
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

    /// Runs `f` (store reads and writes, signing) with a clone of the ledger on tokio's blocking pool,
    /// never on an executor thread. A panic in `f` becomes an error, not a panic of the caller. Outside
    /// a tokio runtime there is no executor to protect, and `f` runs in place.
    pub(super) async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Ledger) -> Result<T> + Send + 'static,
    {
        let ledger = self.ledger.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return f(&ledger);
        };
        runtime
            .spawn_blocking(move || f(&ledger))
            .await
            .unwrap_or_else(|e| {
                let why = if e.is_panic() {
                    "panicked"
                } else {
                    "was cancelled by the runtime shutting down"
                };
                Err(Error::Io(std::io::Error::other(format!(
                    "the sync client's blocking task (store or signer) {why}"
                ))))
            })
    }

    /// The bearer token the server issued at registration.
    async fn token(&self) -> Result<String> {
        self.blocking(|l| {
            l.store()
                .setting(SETTING_DEVICE_TOKEN)?
                .ok_or(Error::NotReady("device is not registered with the server"))
        })
        .await
    }

    /// Registers this device with a one-time enrollment code.
    pub async fn register(&self, enrollment_code: &str) -> Result<RegisterResponse> {
        let code = enrollment_code.to_owned();
        let server_key = self.cfg.server_public_key.clone();
        // A platform signer may take a while (or wait for the user): not on an executor thread.
        let proof = self
            .blocking(move |l| l.prove_registration(&code, &server_key))
            .await?;
        let req = RegisterRequest {
            enrollment_code: enrollment_code.to_owned(),
            public_key: self.ledger.public_key().to_vec(),
            proof,
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
        let token = r.device_token.clone();
        let config = serde_json::to_string(&r.config)?;
        let binding = serde_json::to_string(&r.binding)?;
        self.blocking(move |l| {
            let store = l.store();
            store.set_setting(SETTING_DEVICE_TOKEN, &token)?;
            store.set_setting(SETTING_CONFIG, &config)?;
            store.set_setting(SETTING_BINDING, &binding)
        })
        .await?;
        Ok(r)
    }

    /// Uploads pending records and blobs, pulls changes, and reports. Returns `Err` only when the device
    /// is not registered; everything else is in the report.
    pub async fn sync(&self) -> Result<SyncReport> {
        self.token().await?;
        let mut report = SyncReport::default();
        // Records must be durable before the server may acknowledge them.
        if let Err(e) = self.blocking(|l| l.store().checkpoint()).await {
            report.errors.push((SyncPhase::Records, e));
        }
        if let Err(e) = self.upload_records(&mut report).await {
            let message = e.to_string();
            let _ = self
                .blocking(move |l| Outbox(l.store()).note_error(&message))
                .await;
            report.errors.push((SyncPhase::Records, e));
        }
        if let Err(e) = self.upload_blobs(&mut report).await {
            report.errors.push((SyncPhase::Blobs, e));
        }
        if let Err(e) = self.pull(&mut report).await {
            report.errors.push((SyncPhase::Pull, e));
        }
        report.acked_seq = self.blocking(|l| Outbox(l.store()).acked_seq()).await?;
        report.pending = self
            .blocking(|l| Outbox(l.store()).pending_records())
            .await?;
        Ok(report)
    }
}
