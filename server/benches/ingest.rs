//! Server benchmarks: signature + chain verification per record, ingest throughput with 20 devices
//! uploading at once (SQLite, and PostgreSQL when `SIAP_TEST_POSTGRES_URL` is set), and a 10,000-record
//! backlog from one device through the real sync client over loopback.

#![allow(clippy::unwrap_used, clippy::many_single_char_names)] // a benchmark: failing loudly is the right outcome

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use siap_core::device::{KeySource, open_ledger};
use siap_core::ledger::{Ledger, Record, verify_continuation};
use siap_core::sealed::MasterKey;
use siap_core::store::Store;
use siap_core::sync::protocol::{DEVICE_ID_HEADER, UploadRequest};
use siap_core::sync::{ClientConfig, SyncClient, SystemMonotonic};

const ADMIN: &str = "bench-admin";

/// A device with `records` check-ins of employee e1. `realistic`: the core's own payload, with a face,
/// a passed liveness answer (a fresh nonce each) and a fix inside site s1, so that the server's verdict
/// does all its work (binding, fence, policy, nonce); otherwise a payload the server cannot read, which
/// it stores without judging it (the reference point for the verdict's cost).
fn device(records: usize, realistic: bool) -> Ledger {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let l = open_ledger(store, &MasterKey::generate().unwrap(), KeySource::Software).unwrap();
    let payloads: Vec<Vec<u8>> = (0..records)
        .map(|i| {
            if realistic {
                check_in(i)
            } else {
                br#"{"employee_id":"e1","site_id":"s1","decision":{"accepted":true},"flags":[],"time":{"device_wall_ms":1800000000000}}"#.to_vec()
            }
        })
        .collect();
    let entries: Vec<(&str, &[u8])> = payloads
        .iter()
        .map(|p| ("attendance.check_in", p.as_slice()))
        .collect();
    l.append_batch(&entries).unwrap();
    l
}

fn check_in(i: usize) -> Vec<u8> {
    use siap_core::attendance::{AttendancePayload, Decision, Direction, FaceEvidence};
    use siap_core::clock::{MonotonicReading, TimeEvidence, TrustedTime};
    use siap_core::geo::{Containment, Fix, GeoVerdict};
    use siap_core::liveness::{LivenessDetails, LivenessEvidence};
    let at = 1_762_304_400_000 + i as i64 * 1_000;
    serde_json::to_vec(&AttendancePayload {
        v: 1,
        employee_id: "e1".into(),
        direction: Direction::In,
        decision: Decision::Accepted,
        reasons: vec![],
        geo: GeoVerdict {
            site_id: Some("s1".into()),
            containment: Containment::Inside,
            distance_to_edge_m: Some(-20.0),
            accuracy_m: Some(8.0),
            flags: vec![],
        },
        fix: Fix {
            lat: -6.2,
            lon: 106.8,
            accuracy_m: Some(8.0),
            time_ms: at,
            provider: "fused".into(),
            is_mock: false,
        },
        time: TimeEvidence {
            device_wall_ms: at,
            monotonic: MonotonicReading {
                monotonic_ms: 1_000,
                boot_id: "b".into(),
            },
            trusted: TrustedTime::Anchored {
                estimate_ms: at,
                uncertainty_ms: 50,
                anchor_age_ms: 1_000,
            },
            skew_ms: Some(0),
            clock_skew: false,
        },
        face: Some(FaceEvidence {
            similarity: 0.9,
            threshold: 0.45,
            matched: true,
            quality_passed: true,
            quality_reasons: vec![],
            model_sha256: vec![],
            crop_sha256: None,
            template: Some(siap_core::enrollment::TemplateRef {
                sha256: "ab".repeat(32),
                approved: true,
            }),
            liveness: Some(LivenessEvidence {
                passed: true,
                nonce: format!("{:032x}", fastrand::u128(..)),
                challenge: vec!["turn_left".into(), "look_up".into()],
                passive_score: None,
                details: LivenessDetails::default(),
                observations_sha256: None,
            }),
        }),
    })
    .unwrap()
}

fn verification(c: &mut Criterion) {
    let l = device(1000, false);
    let records = l.all().unwrap();
    let pk = l.public_key().to_vec();
    c.bench_function("verify_chain_1000_records", |b| {
        b.iter(|| verify_continuation(&pk, None, &records).unwrap());
    });
}

async fn register(url: &str, http: &reqwest::Client, l: &Ledger, server_key: &[u8]) -> String {
    let code: serde_json::Value = http
        .post(format!("{url}/v1/admin/enrollments"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"binding": {"type": "employee", "id": "e1"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signed: siap_core::signed::SignedBlob = http
        .post(format!("{url}/v1/register"))
        .json(&siap_core::sync::protocol::RegisterRequest {
            enrollment_code: code["code"].as_str().unwrap().into(),
            public_key: l.public_key().to_vec(),
            proof: l
                .prove_registration(code["code"].as_str().unwrap(), server_key)
                .unwrap(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r: siap_core::sync::protocol::RegisterResponse =
        serde_json::from_slice(&signed.body).unwrap();
    r.device_token
}

/// 20 devices x `per_device` records, batches of 500, all at once (see [`device`] for `realistic`).
/// Returns records/s.
async fn ingest_once(database: Option<String>, per_device: usize, realistic: bool) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = siap_server::ServerConfig::in_dir(tmp.path(), ADMIN);
    if let Some(db) = database {
        cfg.database = db;
    }
    let running = siap_server::spawn(&cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", running.addr);
    siap_core::sync::client::install_crypto_provider();
    let http = reqwest::Client::new();
    for (path, body) in [
        (
            "/v1/admin/sites/s1",
            serde_json::json!({"name": "Balai Kota", "fence": {"type": "circle", "center": {"lat": -6.2, "lon": 106.8}, "radius_m": 100}}),
        ),
        (
            "/v1/admin/employees/e1",
            serde_json::json!({"name": "x", "site_ids": ["s1"]}),
        ),
    ] {
        let r = http
            .put(format!("{url}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let mut jobs = Vec::new();
    for _ in 0..20 {
        let l = device(per_device, realistic);
        let token = register(&url, &http, &l, &running.public_key).await;
        let bodies: Vec<Vec<u8>> = l
            .all()
            .unwrap()
            .chunks(500)
            .map(|c: &[Record]| {
                serde_json::to_vec(&UploadRequest {
                    device_id: l.device_id().into(),
                    records: c.to_vec(),
                })
                .unwrap()
            })
            .collect();
        jobs.push((l.device_id().to_owned(), token, bodies));
    }
    let start = Instant::now();
    let mut handles = Vec::new();
    for (id, token, bodies) in jobs {
        let (http, url) = (http.clone(), url.clone());
        handles.push(tokio::spawn(async move {
            for b in bodies {
                let r = http
                    .post(format!("{url}/v1/records"))
                    .bearer_auth(&token)
                    .header(DEVICE_ID_HEADER, &id)
                    .body(b)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let rate = (20 * per_device) as f64 / start.elapsed().as_secs_f64();
    let _ = running.shutdown.send(());
    rate
}

async fn fresh_pg() -> Option<String> {
    let admin = std::env::var("SIAP_TEST_POSTGRES_URL").ok()?;
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let name = format!("siap_bench_{}", fastrand::u32(..));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .ok()?;
    Some(format!("{}/{name}", admin.rsplit_once('/')?.0))
}

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("ingest_20_devices");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    // The same load twice in one run: unreadable payloads the server stores without judging, then
    // real check-ins it judges (binding, fence, policy, nonce): the difference is the verdict's cost.
    for (name, realistic) in [
        ("sqlite_20x1000_unjudged", false),
        ("sqlite_20x1000_check_ins", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let rate = rt.block_on(ingest_once(None, 1000, realistic));
                    eprintln!("{name}: {rate:.0} records/s");
                    total += Duration::from_secs_f64(20_000.0 / rate);
                }
                total
            });
        });
    }
    if std::env::var("SIAP_TEST_POSTGRES_URL").is_ok() {
        g.bench_function("postgres_20x1000_check_ins", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A database that cannot be created must not silently measure SQLite instead.
                    let db = rt.block_on(fresh_pg());
                    assert!(
                        db.is_some(),
                        "cannot create a PostgreSQL database for the bench"
                    );
                    let rate = rt.block_on(ingest_once(db, 1000, true));
                    eprintln!("postgres ingest of check-ins: {rate:.0} records/s");
                    total += Duration::from_secs_f64(20_000.0 / rate);
                }
                total
            });
        });
    } else {
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty()),
            "CI is set but SIAP_TEST_POSTGRES_URL is not: the PostgreSQL ingest bench cannot be skipped"
        );
        eprintln!("SKIPPED: PostgreSQL ingest (SIAP_TEST_POSTGRES_URL is not set)");
    }
    g.finish();
}

fn backlog(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("backlog");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("one_device_10000_records_sync", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let tmp = tempfile::tempdir().unwrap();
                    let cfg = siap_server::ServerConfig::in_dir(tmp.path(), ADMIN);
                    let running = siap_server::spawn(&cfg, "127.0.0.1:0".parse().unwrap())
                        .await
                        .unwrap();
                    let url = format!("http://{}", running.addr);
                    siap_core::sync::client::install_crypto_provider();
                    let l = device(10_000, false);
                    let token =
                        register(&url, &reqwest::Client::new(), &l, &running.public_key).await;
                    l.store()
                        .set_setting(siap_core::sync::outbox::SETTING_DEVICE_TOKEN, &token)
                        .unwrap();
                    let client = SyncClient::new(
                        ClientConfig::new(&url, running.public_key.clone()),
                        l,
                        Arc::new(SystemMonotonic::new("b")),
                    )
                    .unwrap();
                    let start = Instant::now();
                    let r = client.sync().await.unwrap();
                    let t = start.elapsed();
                    assert!(r.is_complete(), "{:?}", r.errors);
                    eprintln!("10,000-record backlog: {t:?}");
                    let _ = running.shutdown.send(());
                    t
                });
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, verification, ingest, backlog);
criterion_main!(benches);
