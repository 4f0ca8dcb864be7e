//! What a city's IT team sees of a running server, on both databases: `/metrics` counting requests,
//! records and the server's verdicts by reason (and the PostgreSQL pool), a request id on every answer,
//! and one structured log event per request that names the route template, status and latency, and
//! nothing personal (no token, employee id, device id, coordinates).

use std::sync::{Arc, Mutex};

use siap_tests::sync_support::{ADMIN_TOKEN, Backend, Scene, backends, scene};

/// 2025-11-05 08:00 WIB.
const AT: i64 = 1_762_304_400_000;

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect()
    }
}

/// The value of the sample `name` (with its labels, as written) in an OpenMetrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn observed(backend: Backend, logs: &Capture) {
    let tmp = tempfile::tempdir().unwrap();
    let Scene {
        server,
        admin,
        phone,
    } = scene(backend, tmp.path(), "maria").await.unwrap();
    phone.enroll_approved(&admin, "maria").await.unwrap();
    // One check-in of her own, one "for" a colleague the phone is not bound to.
    let at = (-6.200_17, 106.800_31);
    phone
        .check_in_at("maria", "s1", AT, true, &[], at, None)
        .unwrap();
    phone
        .check_in_at("yohanes", "s1", AT + 60_000, true, &[], at, None)
        .unwrap();
    assert!(phone.device.sync().await.unwrap().is_complete());

    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{}/metrics", server.url))
        .header("X-Request-Id", "scrape-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "scrape-1");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    // Registration, the enrollment, and the two check-ins went through the records route.
    assert!(
        sample(
            &text,
            "siap_http_requests_total{route=\"/v1/records\",status=\"200\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "siap_records_ingested_total").is_some_and(|n| n >= 3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "siap_verdict_reasons_total{reason=\"not_bound\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "siap_verdicts_total{decision=\"accepted\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("siap_http_request_duration_seconds_bucket{le="),
        "{text}"
    );
    let pool = sample(&text, "siap_db_pool_connections{state=\"open\"}");
    match backend {
        Backend::Postgres => assert!(pool.is_some_and(|n| n >= 1.0), "{text}"),
        Backend::Sqlite => assert_eq!(pool, None, "{text}"),
    }
    // An id that is not a plain token is replaced, never echoed (it would go into the logs).
    let resp = http
        .get(format!("{}/healthz", server.url))
        .header("X-Request-Id", "lat=-6.2 lon=106.8")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );

    // One event per request, with the route template, never the path or anything personal.
    let lines = logs.lines();
    let requests: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["message"] == "request").collect();
    assert!(
        requests.iter().any(|l| l["route"] == "/v1/records"
            && l["status"] == 200
            && l["method"] == "POST"
            && l["latency_ms"].as_f64().is_some_and(|v| v >= 0.0)
            && l["request_id"].as_str().is_some_and(|s| !s.is_empty())),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l["route"] == "/v1/admin/employees/{id}" && l["status"] == 200),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l["route"] == "/metrics" && l["request_id"] == "scrape-1")
    );
    let all = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    for secret in [
        ADMIN_TOKEN,
        "maria",
        "yohanes",
        "6.20017",
        "106.80031",
        phone.ledger.device_id(),
    ] {
        assert!(!all.contains(secret), "the logs carry {secret:?}");
    }
    let fields = [
        "timestamp",
        "level",
        "target",
        "message",
        "request_id",
        "method",
        "route",
        "status",
        "latency_ms",
    ];
    for l in &requests {
        let keys: Vec<&String> = l.as_object().unwrap().keys().collect();
        assert!(
            keys.iter().all(|k| fields.contains(&k.as_str())),
            "{keys:?}"
        );
    }
}

#[tokio::test]
async fn metrics_and_request_logs_on_both_databases() {
    let logs = Capture::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_writer(move || sink.clone())
        .init();
    for b in backends("metrics_and_request_logs_on_both_databases") {
        observed(b, &logs).await;
        logs.0.lock().unwrap().clear();
    }
}
