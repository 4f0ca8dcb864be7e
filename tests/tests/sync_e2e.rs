//! End-to-end sync: devices and a real server on loopback with real SQLite files (and PostgreSQL when
//! `SIAP_TEST_POSTGRES_URL` is set).

use std::sync::Arc;

use base64::Engine as _;
use reqwest::Method;
use siap_core::ledger::{SoftwareSigner, record_hash};
use siap_core::permit::PermitCache;
use siap_core::sync::Outbox;
use siap_tests::sync_support::{Backend, Proxy, TestDevice, TestServer, backends, post_records};

const DAY0: i64 = 20_394; // 2025-11-03, days since epoch
fn wib_ms(day: i64, hour: i64) -> i64 {
    day * 86_400_000 + (hour - 7) * 3_600_000
}

async fn registered(
    server: &TestServer,
    url: &str,
    dir: &std::path::Path,
    employee: &str,
) -> TestDevice {
    let dev = TestDevice::open(dir, url, &server.public_key).unwrap();
    let code = server.admin().code_for_employee(employee).await.unwrap();
    dev.device.register(&code).await.unwrap();
    dev
}

async fn week_offline(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("server"))
        .await
        .unwrap();
    let admin = server.admin();
    admin.json(Method::PUT, "/v1/admin/sites/s1", Some(serde_json::json!({"name": "Balai Kota", "fence": {"type": "circle", "center": {"lat": -6.9, "lon": 107.6}, "radius_m": 80}}))).await.unwrap();
    let mut devices = Vec::new();
    for i in 0..5 {
        let e = format!("e{i}");
        admin
            .json(
                Method::PUT,
                &format!("/v1/admin/employees/{e}"),
                Some(serde_json::json!({"name": "x", "site_ids": ["s1"]})),
            )
            .await
            .unwrap();
        devices.push(registered(&server, &server.url, &tmp.path().join(&e), &e).await);
    }
    // A week offline: check-in each day, one flagged, plus a backlog of other records and a photo.
    for (i, d) in devices.iter().enumerate() {
        for day in 0..7 {
            d.check_in(
                &format!("e{i}"),
                "s1",
                wib_ms(DAY0 + day, 8),
                true,
                if day == 3 { &["mock_location"] } else { &[] },
            )
            .unwrap();
        }
        for k in 0..120 {
            d.ledger
                .append(
                    "inspection.report",
                    format!("{{\"asset_id\":\"a{k}\"}}").as_bytes(),
                )
                .unwrap();
        }
        Outbox(&d.store)
            .put_blob("image/jpeg", &vec![i as u8; 1_500_000])
            .unwrap();
    }
    let reports = futures_join(&devices).await;
    for (d, r) in devices.iter().zip(&reports) {
        assert!(r.is_complete(), "{:?}", r.errors);
        assert_eq!(r.acked_seq, 127);
        assert_eq!(r.blobs_uploaded, 1);
        assert!(r.pulled >= 6, "pulled {}", r.pulled);
        let stored = admin.verified_records(d.ledger.device_id()).await.unwrap();
        assert_eq!(
            stored,
            d.ledger.all().unwrap(),
            "every record once, byte for byte"
        );
    }
    // Syncing again sends nothing new.
    let again = devices[0].device.sync().await.unwrap();
    assert_eq!(again.sent, 0);
    let day = admin
        .json(
            Method::GET,
            "/v1/admin/reports/attendance?date=2025-11-06",
            None,
        )
        .await
        .unwrap();
    assert_eq!(day.as_array().map(Vec::len), Some(5), "{day}");
}

async fn futures_join(devices: &[TestDevice]) -> Vec<siap_core::sync::SyncReport> {
    let mut out = Vec::new();
    let futs: Vec<_> = devices.iter().map(|d| d.device.sync()).collect();
    let mut set = Vec::new();
    for f in futs {
        set.push(f);
    }
    // Run them concurrently on this task.
    let results = join_all(set).await;
    for r in results {
        out.push(r.unwrap());
    }
    out
}

async fn join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, d) in futs.iter_mut().zip(done.iter_mut()) {
            if d.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *d = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter().map(|d| d.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_offline_for_a_week_sync_concurrently() {
    for b in backends("devices_offline_for_a_week_sync_concurrently") {
        week_offline(b).await;
    }
}

async fn adversarial(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("server"))
        .await
        .unwrap();
    let admin = server.admin();
    let a = registered(&server, &server.url, &tmp.path().join("a"), "ea").await;
    let b = registered(&server, &server.url, &tmp.path().join("b"), "eb").await;
    for i in 0..3 {
        a.check_in("ea", "s1", wib_ms(DAY0, 8 + i), true, &[])
            .unwrap();
    }
    let recs = a.ledger.all().unwrap();

    // Tampered payload: hash no longer matches.
    let mut t = recs.clone();
    t[0].payload[5] ^= 1;
    let (s, v) = post_records(&server, &a, &a, t).await;
    assert_eq!(s, 422, "{v}");
    // Forged signature: another key signs a record claiming to be A's.
    let forger = SoftwareSigner::generate().unwrap();
    let mut f = recs[..1].to_vec();
    f[0].signature = siap_core::ledger::Signer::sign(&forger, &f[0].hash).unwrap();
    assert_eq!(post_records(&server, &a, &a, f).await.0, 422);
    // B replays A's batch under its own credentials.
    assert_eq!(post_records(&server, &a, &b, recs.clone()).await.0, 403);
    assert_eq!(post_records(&server, &b, &b, recs.clone()).await.0, 422);
    assert!(
        admin
            .verified_records(a.ledger.device_id())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        admin
            .verified_records(b.ledger.device_id())
            .await
            .unwrap()
            .is_empty()
    );

    // Honest upload, resend, gap.
    let (s, ack) = post_records(&server, &a, &a, recs.clone()).await;
    assert_eq!(
        (s, ack["acked_seq"].as_u64(), ack["stored"].as_u64()),
        (200, Some(3), Some(3))
    );
    let (_, ack) = post_records(&server, &a, &a, recs.clone()).await;
    assert_eq!(
        (ack["stored"].as_u64(), ack["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    a.check_in("ea", "s1", wib_ms(DAY0, 12), true, &[]).unwrap();
    a.check_in("ea", "s1", wib_ms(DAY0, 13), true, &[]).unwrap();
    let (_, ack) = post_records(&server, &a, &a, vec![a.ledger.get(5).unwrap().unwrap()]).await;
    assert_eq!(
        (ack["status"].as_str(), ack["expected_seq"].as_u64()),
        (Some("gap"), Some(4))
    );

    // Fork: a validly signed different record 2 (the device rewrote its history).
    let key = a.software_key();
    let mut fork = recs[1].clone();
    fork.payload = b"{\"employee_id\":\"ea\",\"rewritten\":true}".to_vec();
    fork.hash = record_hash(
        &fork.device_id,
        fork.seq,
        &fork.prev_hash,
        &fork.kind,
        &fork.payload,
    );
    fork.signature = siap_core::ledger::Signer::sign(&key, &fork.hash).unwrap();
    let (s, ack) = post_records(&server, &a, &a, vec![fork]).await;
    assert_eq!((s, ack["status"].as_str()), (200, Some("fork")));
    let forks = admin
        .json(Method::GET, "/v1/admin/reports/forks", None)
        .await
        .unwrap();
    assert_eq!(forks.as_array().unwrap().len(), 1);
    let review = admin
        .json(Method::GET, "/v1/admin/devices?review=true", None)
        .await
        .unwrap();
    assert!(
        review
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device_id"] == a.ledger.device_id())
    );
    // The stored chain is untouched.
    assert_eq!(
        admin.verified_records(a.ledger.device_id()).await.unwrap(),
        recs
    );
    // Bad requests get JSON errors.
    let (s, body) = admin
        .call(Method::GET, "/v1/admin/reports/attendance?date=nope", None)
        .await
        .unwrap();
    assert_eq!(s, 400);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"],
        "bad_request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_forged_replayed_and_forked_records_are_never_silently_accepted() {
    for b in backends("tampered_forged_replayed_and_forked_records_are_never_silently_accepted") {
        adversarial(b).await;
    }
}

async fn dropped_ack(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("server"))
        .await
        .unwrap();
    let proxy = Proxy::start(server.addr()).await.unwrap();
    let dev = registered(&server, &proxy.url(), &tmp.path().join("d"), "e1").await;
    for h in 0..40 {
        dev.check_in("e1", "s1", wib_ms(DAY0, h % 24), true, &[])
            .unwrap();
    }
    // The server commits the first upload; its answer never reaches the device; the retry is a no-op.
    proxy.drop_next(1);
    let r = dev.device.sync().await.unwrap();
    assert!(r.is_complete(), "{:?}", r.errors);
    assert!(r.retries >= 1);
    assert_eq!(proxy.dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        server
            .admin()
            .verified_records(dev.ledger.device_id())
            .await
            .unwrap(),
        dev.ledger.all().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_after_commit_does_not_duplicate() {
    for b in backends("connection_dropped_after_commit_does_not_duplicate") {
        dropped_ack(b).await;
    }
}

async fn mitm_permit(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("server"))
        .await
        .unwrap();
    let admin = server.admin();
    let proxy = Proxy::start(server.addr()).await.unwrap();
    admin.json(Method::PUT, "/v1/admin/permits/P-1", Some(serde_json::json!({"permit_type": "PBG", "status": "submitted", "official_fee_idr": 150_000, "deadline_ms": siap_core::time::wall_now_ms() + 14 * 86_400_000, "office": "DPMPTSP"}))).await.unwrap();
    let dev = TestDevice::open(&tmp.path().join("c"), &proxy.url(), &server.public_key).unwrap();
    let code = admin.code_for_permit("P-1").await.unwrap();
    dev.device.register(&code).await.unwrap();
    let r = dev.device.sync().await.unwrap();
    assert!(r.is_complete(), "{:?}", r.errors);
    let cache = PermitCache::new(&dev.store, &server.public_key);
    assert_eq!(cache.get("P-1", 0).unwrap().document.version, 1);

    admin
        .json(
            Method::PUT,
            "/v1/admin/permits/P-1",
            Some(serde_json::json!({"status": "in_review"})),
        )
        .await
        .unwrap();
    // The man in the middle turns "in_review" into "issued" and lowers the fee, re-encoding everything.
    let evil = SoftwareSigner::generate().unwrap();
    for resign in [false, true] {
        let evil_key = SoftwareSigner::from_pkcs8(&[]).err().map(|_| ());
        let _ = evil_key;
        let k = Arc::new(SoftwareSigner::generate().unwrap());
        let _ = &evil;
        proxy.set_rewrite(Some(Arc::new(move |body: &[u8]| {
            tamper_page(body, resign.then_some(k.as_ref()))
        })));
        let r = dev.device.sync().await.unwrap();
        assert!(
            r.errors
                .iter()
                .any(|(_, e)| matches!(e, siap_core::Error::BadServerSignature(_))),
            "{:?}",
            r.errors
        );
        let v = cache.get("P-1", 0).unwrap();
        assert_eq!(
            (v.document.version, v.document.official_fee_idr),
            (1, 150_000),
            "refused, cache unchanged"
        );
    }
    proxy.set_rewrite(None);
    let r = dev.device.sync().await.unwrap();
    assert!(r.is_complete(), "{:?}", r.errors);
    assert_eq!(cache.get("P-1", 0).unwrap().document.version, 2);
}

fn tamper_page(body: &[u8], resign: Option<&SoftwareSigner>) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Ok(mut outer) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    let Some(page_b64) = outer["body"].as_str() else {
        return body.to_vec();
    };
    let mut page: serde_json::Value =
        serde_json::from_slice(&b64.decode(page_b64).unwrap()).unwrap();
    if let Some(changes) = page["changes"].as_array_mut() {
        for c in changes {
            if let Some(inner) = c["change"]["signed"]["body"].as_str() {
                let mut doc: serde_json::Value =
                    serde_json::from_slice(&b64.decode(inner).unwrap()).unwrap();
                doc["status"] = "issued".into();
                doc["official_fee_idr"] = 0.into();
                c["change"]["signed"]["body"] =
                    b64.encode(serde_json::to_vec(&doc).unwrap()).into();
            }
        }
    }
    let page_bytes = serde_json::to_vec(&page).unwrap();
    outer["body"] = b64.encode(&page_bytes).into();
    if let Some(k) = resign {
        let s =
            siap_core::signed::SignedBlob::sign(k, siap_core::signed::CHANGES_DOMAIN, page_bytes)
                .unwrap();
        outer["signature"] = b64.encode(s.signature).into();
    }
    serde_json::to_vec(&outer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn man_in_the_middle_altering_a_permit_is_refused() {
    for b in backends("man_in_the_middle_altering_a_permit_is_refused") {
        mitm_permit(b).await;
    }
}
