//! HTTP transport of the sync client, kept apart from what is sent so that the retry, timeout and TLS
//! rules are the same for every request and can be read in one place.
//!
//! - the reqwest client over rustls with ring and the bundled roots (plus the city's CA, if any);
//! - [`SyncClient::send`]: one request with retries (network errors, 5xx, 408, 429) and full-jitter
//!   exponential backoff, a clock anchor stored from every answer that carries the server-time header,
//!   and any other non-success answer mapped to [`Error::ServerRejected`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use super::{ClientConfig, SyncClient, SyncReport};
use crate::clock::ClockStore;
use crate::sync::protocol::{ErrorBody, SERVER_TIME_HEADER};
use crate::{Error, Result};

/// A successful or final answer: its status and whole body.
pub(super) struct Answer {
    status: StatusCode,
    pub(super) body: Vec<u8>,
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

/// The HTTP client for `cfg`: ring installed as the process provider, TLS roots, timeouts, pool.
pub(super) fn http_client(cfg: &ClientConfig) -> Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(&cfg.extra_roots_der)?)
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.request_timeout)
        // Shorter than the server's idle keep-alive limit (30 s), so a pooled connection is never
        // reused just as the server closes it ("connection closed before message completed").
        .pool_idle_timeout(Duration::from_secs(10))
        // The protocol never redirects: a redirect can only be a downgrade (https -> http) or a detour.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Network(format!("cannot build HTTP client: {e}")))
}

impl SyncClient {
    /// `path` (starting with `/v1/...`) under the configured base URL.
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.base_url.trim_end_matches('/'), path)
    }

    /// Sends a request with retries; stores a clock anchor from every answer; maps 4xx to
    /// [`Error::ServerRejected`].
    pub(super) async fn send(
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
                                if self
                                    .blocking(move |l| {
                                        ClockStore(l.store()).record(t, &sent, &received)
                                    })
                                    .await
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

/// A non-success answer as [`Error::ServerRejected`], with the server's error body when it has one.
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
