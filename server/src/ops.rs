//! What a city's IT team runs the server by, beside the `/healthz` and `/readyz` probes
//! ([`crate::http`]): one structured log event per request, and Prometheus metrics.
//!
//! - **Logs** (`tracing`): every request gets a request id (the caller's `X-Request-Id` when it is a
//!   plain token, else a fresh one, echoed in the answer) and one event with the method, the route
//!   *template* (`/v1/blobs/{sha}`, never the path itself), the status and the latency. Nothing else
//!   of the request is logged: no query strings, bodies, tokens, coordinates, names or face data.
//!   The format (JSON or text) and the filter are chosen at start ([`LogFormat`], `SIAP_LOG`).
//! - **`/metrics`** (OpenMetrics text, `prometheus-client`): requests by route and status, latency by
//!   route (the sync routes' latency is the sync latency), records ingested, the server's verdicts by
//!   decision and by reason (verification failures), blob bytes received, and the PostgreSQL pool's
//!   connections. Counts only: no label carries an id, a name or a place.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::db::Db;
use crate::http::AppState;

/// The request id header (read from the caller when it is a plain token, always answered).
pub const REQUEST_ID: &str = "x-request-id";

/// How log events are written (to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (for a log collector).
    Json,
    /// Human-readable lines.
    Text,
}

/// Installs the process-wide log subscriber: `format`, filtered by `SIAP_LOG` (tracing's filter syntax,
/// default `info`). A second call (tests starting several servers) keeps the first.
pub fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Decision {
    decision: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolState {
    state: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The server's metrics (one registry per server).
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: Family<Route, Histogram, fn() -> Histogram>,
    records: Counter,
    decisions: Family<Decision, Counter>,
    reasons: Family<Reason, Counter>,
    rechecks: Family<Decision, Counter>,
    recheck_reasons: Family<Reason, Counter>,
    blob_bytes: Counter,
    pool: Family<PoolState, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// An empty set of metrics, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("siap");
        let requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        let latency = Family::<Route, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route template (the sync routes: sync latency)",
            latency.clone(),
        );
        let records = Counter::default();
        registry.register(
            "records_ingested",
            "Device records verified and stored (duplicates not counted)",
            records.clone(),
        );
        let decisions = Family::<Decision, Counter>::default();
        registry.register(
            "verdicts",
            "The server's own verdicts on attendance records at ingest, by decision",
            decisions.clone(),
        );
        let reasons = Family::<Reason, Counter>::default();
        registry.register(
            "verdict_reasons",
            "Reasons of the server's verdicts at ingest (verification failures), by reason",
            reasons.clone(),
        );
        let rechecks = Family::<Decision, Counter>::default();
        registry.register(
            "rechecks",
            "Check-ins settled by the server's own face and liveness re-check, by decision",
            rechecks.clone(),
        );
        let recheck_reasons = Family::<Reason, Counter>::default();
        registry.register(
            "recheck_reasons",
            "Reasons of the re-check's rejections (face mismatch, liveness re-check failed, replay...)",
            recheck_reasons.clone(),
        );
        let blob_bytes = Counter::default();
        registry.register(
            "blob_bytes_received",
            "Photo and crop bytes received in upload chunks",
            blob_bytes.clone(),
        );
        let pool = Family::<PoolState, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "PostgreSQL pool connections, by state (absent on SQLite)",
            pool.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            records,
            decisions,
            reasons,
            rechecks,
            recheck_reasons,
            blob_bytes,
            pool,
        }
    }

    /// Counts `n` records stored by an upload.
    pub fn records_ingested(&self, n: u64) {
        self.records.inc_by(n);
    }

    /// Counts the server's verdicts of one upload: (decision, reasons) per attendance record.
    pub fn verdicts(&self, verdicts: &[(String, Vec<String>)]) {
        for (decision, reasons) in verdicts {
            self.decisions
                .get_or_create(&Decision {
                    decision: decision.clone(),
                })
                .inc();
            for r in reasons {
                self.reasons
                    .get_or_create(&Reason { reason: r.clone() })
                    .inc();
            }
        }
    }

    /// Counts one check-in settled by the re-check worker, with its reasons.
    pub fn recheck(&self, decision: &str, reasons: &[String]) {
        self.rechecks
            .get_or_create(&Decision {
                decision: decision.to_owned(),
            })
            .inc();
        for r in reasons {
            self.recheck_reasons
                .get_or_create(&Reason { reason: r.clone() })
                .inc();
        }
    }

    /// Counts `n` blob bytes received.
    pub fn blob_bytes(&self, n: u64) {
        self.blob_bytes.inc_by(n);
    }

    fn request(&self, route: &str, status: StatusCode, seconds: f64) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.to_owned(),
                status: status.as_str().to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&Route {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The OpenMetrics text of every metric, the pool's read now.
    fn render(&self, db: &Db) -> String {
        if let Some((size, available)) = db.pool_status() {
            let set = |state: &str, v: usize| {
                self.pool
                    .get_or_create(&PoolState {
                        state: state.to_owned(),
                    })
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            };
            set("open", size);
            set("idle", available);
            set("in_use", size.saturating_sub(available));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A caller's request id when it is a plain token (letters, digits, `-`, `_`, `.`; 1 to 64), so that
/// it can be logged as is.
fn plain_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
    .then(|| s.to_owned())
}

/// The middleware: request id, one log event, the request metrics.
pub async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(plain_id)
        .unwrap_or_else(|| format!("{:016x}", fastrand::u64(..)));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut resp = next.run(req).await;
    let elapsed = start.elapsed();
    let status = resp.status();
    st.metrics.request(&route, status, elapsed.as_secs_f64());
    tracing::info!(
        target: "siap_server::http",
        request_id = %id,
        method = %method,
        route = %route,
        status = status.as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// `GET /metrics`: OpenMetrics text.
pub async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.metrics.render(&st.db);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_request_ids_are_kept() {
        let ok = HeaderValue::from_static("abc-123_X.y");
        assert_eq!(plain_id(&ok).as_deref(), Some("abc-123_X.y"));
        for bad in ["", "a b", "a\"b", "x=1&lat=-6.2"] {
            assert_eq!(
                plain_id(&HeaderValue::from_str(bad).unwrap()),
                None,
                "{bad}"
            );
        }
        assert_eq!(
            plain_id(&HeaderValue::from_str(&"a".repeat(65)).unwrap()),
            None
        );
    }

    #[test]
    fn metrics_render_as_openmetrics() {
        let m = Metrics::new();
        m.request("/v1/records", StatusCode::OK, 0.012);
        m.records_ingested(3);
        m.verdicts(&[("rejected".into(), vec!["outside_fence".into()])]);
        m.blob_bytes(5000);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        assert!(
            out.contains("siap_http_requests_total{route=\"/v1/records\",status=\"200\"} 1"),
            "{out}"
        );
        assert!(out.contains("siap_records_ingested_total 3"), "{out}");
        assert!(
            out.contains("siap_verdict_reasons_total{reason=\"outside_fence\"} 1"),
            "{out}"
        );
        assert!(out.contains("siap_blob_bytes_received_total 5000"), "{out}");
        assert!(out.ends_with("# EOF\n"), "{out}");
    }
}
