//! The server's answers match its OpenAPI document: every answer's status is documented for its route,
//! JSON answers carry the documented required properties (recursively), and every answer has the
//! server-time header.

use reqwest::Method;
use serde_json::Value;
use siap_tests::sync_support::{ADMIN_TOKEN, Backend, TestServer};

fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap_or_default()],
        None => s,
    }
}

fn check(doc: &Value, schema: &Value, v: &Value, at: &str) {
    let s = resolve(doc, schema);
    match s["type"].as_str() {
        Some("object") => {
            assert!(v.is_object(), "{at}: expected an object, got {v}");
            for req in s["required"].as_array().into_iter().flatten() {
                let k = req.as_str().unwrap();
                assert!(v.get(k).is_some(), "{at}: missing required property {k}");
            }
            for (k, ps) in s["properties"].as_object().into_iter().flatten() {
                if let Some(x) = v.get(k)
                    && !(x.is_null() && ps["nullable"] == true)
                {
                    check(doc, ps, x, &format!("{at}.{k}"));
                }
            }
        }
        Some("array") => {
            for (i, x) in v
                .as_array()
                .unwrap_or_else(|| panic!("{at}: expected an array"))
                .iter()
                .enumerate()
            {
                check(doc, &s["items"], x, &format!("{at}[{i}]"));
            }
        }
        Some("string") => assert!(v.is_string(), "{at}: expected a string"),
        Some("integer") => assert!(v.is_i64() || v.is_u64(), "{at}: expected an integer"),
        Some("number") => assert!(v.is_number(), "{at}: expected a number"),
        Some("boolean") => assert!(v.is_boolean(), "{at}: expected a boolean"),
        _ => {}
    }
}

async fn call(
    doc: &Value,
    url: &str,
    method: Method,
    template: &str,
    path: &str,
    body: Option<Value>,
    auth: bool,
) -> (u16, Value) {
    let mut rb = reqwest::Client::new().request(method.clone(), format!("{url}{path}"));
    if auth {
        rb = rb.bearer_auth(ADMIN_TOKEN);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    assert!(
        resp.headers().contains_key("x-siap-server-time"),
        "{path}: no server time"
    );
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    let bytes = resp.bytes().await.unwrap();
    let op = &doc["paths"][template][method.as_str().to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {template} not documented");
    let key = status.to_string();
    let range = format!("{}XX", status / 100);
    let r = op["responses"]
        .get(&key)
        .or_else(|| op["responses"].get(&range))
        .unwrap_or_else(|| panic!("{method} {path}: status {status} not documented"));
    let mut v = Value::Null;
    if ctype.starts_with("application/json") {
        v = serde_json::from_slice(&bytes).unwrap();
        let schema = &r["content"]["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "{method} {path}: JSON answer without a documented schema"
        );
        check(doc, schema, &v, &format!("{method} {path}"));
    }
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_the_openapi_document() {
    siap_core::sync::client::install_crypto_provider();
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(Backend::Sqlite, tmp.path())
        .await
        .unwrap();
    let url = &server.url;
    let doc: Value = reqwest::get(format!("{url}/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(siap_server::http::OPENAPI).unwrap()
    );
    let d = &doc;
    call(d, url, Method::GET, "/v1/time", "/v1/time", None, false).await;
    let (s, _) = call(
        d,
        url,
        Method::POST,
        "/v1/admin/enrollments",
        "/v1/admin/enrollments",
        Some(serde_json::json!({"binding": {"type": "employee", "id": "e1"}})),
        true,
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        call(
            d,
            url,
            Method::POST,
            "/v1/admin/enrollments",
            "/v1/admin/enrollments",
            None,
            false
        )
        .await
        .0,
        401
    );
    call(
        d,
        url,
        Method::POST,
        "/v1/register",
        "/v1/register",
        Some(serde_json::json!({"enrollment_code": "NOPE", "public_key": "AA=="})),
        false,
    )
    .await;
    call(
        d,
        url,
        Method::PUT,
        "/v1/admin/sites/{id}",
        "/v1/admin/sites/s1",
        Some(serde_json::json!({"name": "x", "fence": {}})),
        true,
    )
    .await;
    call(d, url, Method::PUT, "/v1/admin/assets/{id}", "/v1/admin/assets/a1", Some(serde_json::json!({"name": "x", "category": "road", "lat": 1.0, "lon": 2.0, "radius_m": 30.0})), true).await;
    assert_eq!(call(d, url, Method::PUT, "/v1/admin/assets/{id}", "/v1/admin/assets/a1", Some(serde_json::json!({"name": "x", "category": "road", "lat": 100.0, "lon": 2.0, "radius_m": 30.0})), true).await.0, 400);
    call(d, url, Method::PUT, "/v1/admin/permits/{id}", "/v1/admin/permits/P1", Some(serde_json::json!({"permit_type": "PBG", "status": "submitted", "official_fee_idr": 1, "deadline_ms": siap_core::time::wall_now_ms() + 1000, "office": "x"})), true).await;
    call(
        d,
        url,
        Method::GET,
        "/v1/admin/devices",
        "/v1/admin/devices",
        None,
        true,
    )
    .await;
    call(
        d,
        url,
        Method::GET,
        "/v1/admin/reports/attendance",
        "/v1/admin/reports/attendance?date=2026-11-28",
        None,
        true,
    )
    .await;
    call(
        d,
        url,
        Method::GET,
        "/v1/admin/reports/flagged",
        "/v1/admin/reports/flagged",
        None,
        true,
    )
    .await;
    call(
        d,
        url,
        Method::GET,
        "/v1/admin/reports/forks",
        "/v1/admin/reports/forks",
        None,
        true,
    )
    .await;
    call(
        d,
        url,
        Method::GET,
        "/v1/admin/reports/stale-devices",
        "/v1/admin/reports/stale-devices?days=3",
        None,
        true,
    )
    .await;
    assert_eq!(
        call(
            d,
            url,
            Method::GET,
            "/v1/changes",
            "/v1/changes",
            None,
            false
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(
            d,
            url,
            Method::POST,
            "/v1/records",
            "/v1/records",
            Some(serde_json::json!({})),
            false
        )
        .await
        .0,
        401
    );
    // Oversized body: refused from its declared length with a JSON 413.
    let big = vec![b' '; 300 * 1024];
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/register"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "too_large");
}
