//! The server attacked the way a hostile device, a guesser or a flaky network would (issue 11), on
//! SQLite and PostgreSQL: every test here failed on the server before the hardening.

use std::time::Duration;

use reqwest::Method;
use siap_core::ledger::{Record, Signer, SoftwareSigner, record_hash};
use siap_core::sync::protocol::{DEVICE_ID_HEADER, RegisterRequest};
use siap_tests::sync_support::{Admin, Backend, TestDevice, TestServer, backends, post_records};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const EMPLOYEE: &str = "199001012020011001";

/// A registration request sent by hand; returns status and the JSON error (or signed answer).
async fn register_raw(
    url: &str,
    code: &str,
    public_key: &[u8],
    proof: Vec<u8>,
    from: Option<&str>,
) -> (u16, serde_json::Value) {
    siap_core::sync::client::install_crypto_provider();
    let mut b = reqwest::Client::builder();
    if let Some(ip) = from {
        b = b.local_address(ip.parse::<std::net::IpAddr>().unwrap());
    }
    let resp = b
        .build()
        .unwrap()
        .post(format!("{url}/v1/register"))
        .json(&RegisterRequest {
            enrollment_code: code.into(),
            public_key: public_key.to_vec(),
            proof,
        })
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

fn new_key() -> SoftwareSigner {
    SoftwareSigner::generate().unwrap()
}

fn prove(key: &SoftwareSigner, code: &str, server_key: &[u8]) -> Vec<u8> {
    let m = siap_core::sync::protocol::registration_message(
        code,
        &key.public_key().unwrap(),
        server_key,
    );
    key.sign(&m).unwrap()
}

async fn code(admin: &Admin, body: serde_json::Value) -> String {
    admin
        .json(Method::POST, "/v1/admin/enrollments", Some(body))
        .await
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn device_row(admin: &Admin, device_id: &str) -> serde_json::Value {
    admin
        .json(Method::GET, "/v1/admin/devices", None)
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == device_id)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

async fn registered(server: &TestServer, dir: &std::path::Path, employee: &str) -> TestDevice {
    let dev = TestDevice::open(dir, &server.url, &server.public_key).unwrap();
    let code = server.admin().code_for_employee(employee).await.unwrap();
    dev.device.register(&code).await.unwrap();
    dev
}

/// A validly signed record `seq` of `dev`'s key after `prev` (what a rooted phone can produce).
fn forge(dev: &TestDevice, seq: u64, prev: [u8; 32], kind: &str, payload: &[u8]) -> Record {
    let key = dev.software_key();
    let hash = record_hash(dev.ledger.device_id(), seq, &prev, kind, payload);
    Record {
        device_id: dev.ledger.device_id().to_owned(),
        seq,
        prev_hash: prev,
        kind: kind.into(),
        payload: payload.to_vec(),
        hash,
        signature: key.sign(&hash).unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------------
// 1. Registration proves possession of the key; a registered device is not re-bound by a code.

async fn possession(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("s"))
        .await
        .unwrap();
    let admin = server.admin();
    let victim = registered(&server, &tmp.path().join("v"), EMPLOYEE).await;
    let victim_pk = victim.ledger.public_key().to_vec();

    // The attacker holds a valid code and the victim's public key, but not its private key.
    let attacker = new_key();
    let c = code(
        &admin,
        serde_json::json!({"binding": {"type": "employee", "id": "attacker"}}),
    )
    .await;
    let (s, _) = register_raw(
        &server.url,
        &c,
        &victim_pk,
        prove(&attacker, &c, &server.public_key),
        None,
    )
    .await;
    assert_eq!(
        s, 403,
        "a proof by another key must not register the victim's key"
    );
    let (s, _) = register_raw(&server.url, &c, &victim_pk, Vec::new(), None).await;
    assert_eq!(s, 403, "no proof, no registration");
    // A proof made for another server (or another code) is not accepted here either.
    let (s, _) = register_raw(
        &server.url,
        &c,
        &attacker.public_key().unwrap(),
        prove(&attacker, &c, &victim_pk),
        None,
    )
    .await;
    assert_eq!(s, 403);

    // Even with the victim's own key (a colleague who copied it), a second code cannot re-bind it.
    let thief = victim.software_key();
    let (s, body) = register_raw(
        &server.url,
        &c,
        &victim_pk,
        prove(&thief, &c, &server.public_key),
        None,
    )
    .await;
    assert_eq!(s, 409, "{body}");
    // The victim is untouched: its token still works and its binding is unchanged.
    victim
        .check_in(EMPLOYEE, "s1", siap_core::time::wall_now_ms(), true, &[])
        .unwrap();
    let report = victim.device.sync().await.unwrap();
    assert_eq!(report.acknowledged, 1);
    assert_eq!(
        device_row(&admin, victim.ledger.device_id()).await["binding_id"],
        EMPLOYEE
    );
    // The refused code was rolled back, not burnt: its rightful new device can still use it.
    let newcomer = new_key();
    let (s, _) = register_raw(
        &server.url,
        &c,
        &newcomer.public_key().unwrap(),
        prove(&newcomer, &c, &server.public_key),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // Re-binding is an administrator's act: a code issued for this device only.
    let rebind = code(&admin, serde_json::json!({"binding": {"type": "employee", "id": "E-NEW"}, "rebind_device_id": victim.ledger.device_id()})).await;
    let other = new_key();
    let (s, _) = register_raw(
        &server.url,
        &rebind,
        &other.public_key().unwrap(),
        prove(&other, &rebind, &server.public_key),
        None,
    )
    .await;
    assert_eq!(s, 403, "a re-bind code works for its device only");
    victim.device.register(&rebind).await.unwrap();
    let row = device_row(&admin, victim.ledger.device_id()).await;
    assert_eq!(row["binding_id"], "E-NEW");
    assert!(
        row["review_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["reason"].as_str().unwrap().starts_with("re-bound"))
    );
    // Its chain continues across the re-bind.
    victim
        .check_in("E-NEW", "s1", siap_core::time::wall_now_ms(), true, &[])
        .unwrap();
    assert_eq!(victim.device.sync().await.unwrap().acknowledged, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_proves_possession_and_never_rebinds_by_code() {
    for b in backends("registration_proves_possession_and_never_rebinds_by_code") {
        possession(b).await;
    }
}

// ---------------------------------------------------------------------------------------------------
// 2. One code, many parallel redemptions: exactly one wins.

async fn single_use(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("s"))
        .await
        .unwrap();
    let c = code(
        &server.admin(),
        serde_json::json!({"binding": {"type": "employee", "id": EMPLOYEE}}),
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (url, c, spk) = (server.url.clone(), c.clone(), server.public_key.clone());
        tasks.push(tokio::spawn(async move {
            let k = new_key();
            register_raw(
                &url,
                &c,
                &k.public_key().unwrap(),
                prove(&k, &c, &spk),
                None,
            )
            .await
            .0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == 200 || s == 403 || s == 429, "unexpected status {s}");
        ok += usize::from(s == 200);
    }
    assert_eq!(
        ok, 1,
        "a one-time code was redeemed {ok} times ({backend:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_time_codes_are_single_use_under_concurrency() {
    for b in backends("one_time_codes_are_single_use_under_concurrency") {
        for _ in 0..3 {
            single_use(b).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// 3. Guessing codes is throttled per source and per prefix; honest users elsewhere are not.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_guessing_is_throttled_without_locking_out_others() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(Backend::Sqlite, &tmp.path().join("s"))
        .await
        .unwrap();
    let guesser = new_key();
    let pk = guesser.public_key().unwrap();
    let mut first_429 = None;
    for i in 0..40 {
        // Distinct prefixes so that only the per-source limit applies.
        let guess = format!(
            "{}{:07}",
            ["A", "B", "C", "D", "E", "F", "G", "H"][i % 8],
            i * 7919
        );
        let (s, _) = register_raw(
            &server.url,
            &guess,
            &pk,
            prove(&guesser, &guess, &server.public_key),
            Some("127.0.0.1"),
        )
        .await;
        if s == 429 {
            first_429.get_or_insert(i);
        } else {
            assert_eq!(s, 403);
        }
    }
    assert_eq!(
        first_429,
        Some(20),
        "the 21st failure from one source is throttled"
    );
    let resp = reqwest::Client::builder()
        .local_address("127.0.0.1".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
        .post(format!("{}/v1/register", server.url))
        .json(&RegisterRequest {
            enrollment_code: "ZZZ".into(),
            public_key: pk.clone(),
            proof: prove(&guesser, "ZZZ", &server.public_key),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());

    // Another address behind the same city hall is not affected, and an honest code still works.
    let c = code(
        &server.admin(),
        serde_json::json!({"binding": {"type": "employee", "id": EMPLOYEE}}),
    )
    .await;
    let honest = new_key();
    let (s, _) = register_raw(
        &server.url,
        &c,
        &honest.public_key().unwrap(),
        prove(&honest, &c, &server.public_key),
        Some("127.0.0.2"),
    )
    .await;
    assert_eq!(s, 200);

    // Per prefix: guesses for one prefix spread over many sources are throttled after 10.
    let mut statuses = Vec::new();
    for i in 0..12u8 {
        let guess = format!("QQQ{i:07}");
        let ip = format!("127.0.1.{}", i + 1);
        statuses.push(
            register_raw(
                &server.url,
                &guess,
                &pk,
                prove(&guesser, &guess, &server.public_key),
                Some(&ip),
            )
            .await
            .0,
        );
    }
    assert_eq!(&statuses[..10], &[403; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
}

// ---------------------------------------------------------------------------------------------------
// 4. The PostgreSQL pool heals after its connections are terminated.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_heals_after_connections_are_killed() {
    if !backends("postgres_pool_heals_after_connections_are_killed").contains(&Backend::Postgres) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(Backend::Postgres, &tmp.path().join("s"))
        .await
        .unwrap();
    let dev = registered(&server, &tmp.path().join("d"), EMPLOYEE).await;
    let db_name = server
        .cfg
        .database
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let admin_url = std::env::var(siap_tests::sync_support::POSTGRES_ENV).unwrap();
    let (pg, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut total = 0;
    for round in 0..3 {
        for _ in 0..5 {
            dev.check_in(EMPLOYEE, "s1", siap_core::time::wall_now_ms(), true, &[])
                .unwrap();
        }
        total += 5;
        let killed = pg
            .query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&db_name])
            .await
            .unwrap()
            .len();
        assert!(
            killed > 0 || round > 0,
            "the server held no connection to kill"
        );
        // The first request may meet a dead connection (503); the client retries and the pool
        // replaces it. Nothing hangs and nothing is lost.
        let started = std::time::Instant::now();
        let mut synced = None;
        for _ in 0..5 {
            let attempt = tokio::time::timeout(Duration::from_secs(30), dev.device.sync())
                .await
                .expect("sync hung after the connections were terminated");
            match attempt {
                Ok(r) => {
                    synced = Some(r);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        assert!(
            synced.is_some(),
            "the pool did not heal within {:?}",
            started.elapsed()
        );
        let stored = server
            .admin()
            .verified_records(dev.ledger.device_id())
            .await
            .unwrap();
        assert_eq!(stored.len(), total, "records lost or duplicated");
    }
}

// ---------------------------------------------------------------------------------------------------
// 5. Slow clients are cut off; a flood from one address does not lock out another.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_half_open_clients_are_bounded() {
    siap_core::sync::client::install_crypto_provider();
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(Backend::Sqlite, &tmp.path().join("s"), |c| {
        c.limits.header_timeout = Duration::from_secs(2);
        c.limits.request_timeout = Duration::from_secs(3);
        c.limits.max_connections_per_source = 100;
    })
    .await
    .unwrap();
    let addr = server.addr();
    // 60 clients sending their headers one byte a second: all closed by the header timeout.
    let mut slow = Vec::new();
    for _ in 0..60 {
        slow.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let started = std::time::Instant::now();
            for b in b"GET /v1/time HTTP/1.1\r\nHost: x\r\nX-Slow: 1111111111111111111111\r\n" {
                if s.write_all(&[*b]).await.is_err() {
                    return started.elapsed();
                }
                let mut buf = [0u8; 512];
                // Closed, or an error answer and then closed.
                if tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf))
                    .await
                    .is_ok()
                {
                    return started.elapsed();
                }
            }
            Duration::MAX
        }));
    }
    for t in slow {
        let closed_after = t.await.unwrap();
        assert!(
            closed_after < Duration::from_secs(6),
            "slow client kept for {closed_after:?}"
        );
    }
    // A body sent one byte a second: the request deadline answers 408.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    loop {
        let _ = s.write_all(b" ").await;
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => assert!(
                started.elapsed() < Duration::from_secs(10),
                "slow body never cut"
            ),
        }
    }
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // 1,100 half-open connections from one address: another address is still served at once. Client
    // and server share this process's descriptors (two per loopback connection): with a low limit, hold
    // as many as it allows and keep room for the honest client.
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|x| x.starts_with("Max open files"))
                .and_then(|x| x.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(4096);
    let flood = 1100.min(limit.saturating_sub(300) / 2);
    let mut held = Vec::new();
    for _ in 0..flood {
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            held.push(s);
        }
    }
    let t = std::time::Instant::now();
    let resp = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("{}/v1/time", server.url))
        .send()
        .await
        .expect("an honest client was locked out by a flood from another address");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(t.elapsed() < Duration::from_secs(2));
    drop(held);
}

// ---------------------------------------------------------------------------------------------------
// 7. Photos are files; a device cannot squat another device's upload.

async fn blobs(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("s"))
        .await
        .unwrap();
    let honest = registered(&server, &tmp.path().join("a"), "e1").await;
    let squatter = registered(&server, &tmp.path().join("b"), "e2").await;
    let photo: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let sha = hex::encode(ring_sha(&photo));
    let http = reqwest::Client::new();
    let put = |dev: &TestDevice, offset: usize, total: usize, data: Vec<u8>, mime: &str| {
        let token = dev
            .store
            .setting(siap_core::sync::outbox::SETTING_DEVICE_TOKEN)
            .unwrap()
            .unwrap();
        http.put(format!(
            "{}/v1/blobs/{sha}?offset={offset}&total={total}&mime={mime}",
            server.url
        ))
        .bearer_auth(token)
        .header(DEVICE_ID_HEADER, dev.ledger.device_id())
        .body(data)
        .send()
    };
    // The squatter claims the hash first with a wrong total and junk.
    let r = put(&squatter, 0, 10, vec![0; 10], "text/html")
        .await
        .unwrap();
    assert!(r.status().as_u16() == 422 || r.status().is_success());
    let r = put(&squatter, 0, 400_000, vec![0; 1000], "text/html")
        .await
        .unwrap();
    assert!(r.status().is_success());
    // The honest device uploads in two chunks regardless.
    let r = put(
        &honest,
        0,
        photo.len(),
        photo[..200_000].to_vec(),
        "image/jpeg",
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = put(
        &honest,
        200_000,
        photo.len(),
        photo[200_000..].to_vec(),
        "image/jpeg",
    )
    .await
    .unwrap();
    let st: serde_json::Value = r.json().await.unwrap();
    assert_eq!(st["complete"], true);
    // Served back exactly, as an image, with nosniff; stored as a file, not in the database.
    let resp = http
        .get(format!("{}/v1/admin/blobs/{sha}", server.url))
        .bearer_auth(siap_tests::sync_support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), photo);
    let file = server
        .cfg
        .blob_dir
        .join("objects")
        .join(&sha[..2])
        .join(&sha);
    assert_eq!(std::fs::read(&file).unwrap(), photo);
    // A completed blob is never rewritten, even by the squatter.
    let r = put(&squatter, 0, photo.len(), vec![1; photo.len()], "image/png")
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(std::fs::read(&file).unwrap(), photo);

    // An HTML upload is stored but never served as HTML.
    let page = b"<html><script>alert(1)</script></html>".to_vec();
    let psha = hex::encode(ring_sha(&page));
    let token = honest
        .store
        .setting(siap_core::sync::outbox::SETTING_DEVICE_TOKEN)
        .unwrap()
        .unwrap();
    let r = http
        .put(format!(
            "{}/v1/blobs/{psha}?offset=0&total={}&mime=text/html",
            server.url,
            page.len()
        ))
        .bearer_auth(token)
        .header(DEVICE_ID_HEADER, honest.ledger.device_id())
        .body(page)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let resp = http
        .get(format!("{}/v1/admin/blobs/{psha}", server.url))
        .bearer_auth(siap_tests::sync_support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}

fn ring_sha(data: &[u8]) -> Vec<u8> {
    siap_server::devices::sha256(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_are_files_owned_per_device_and_served_safely() {
    for b in backends("photos_are_files_owned_per_device_and_served_safely") {
        blobs(b).await;
    }
}

// ---------------------------------------------------------------------------------------------------
// 8 and 10. Forks: inside a batch, de-duplicated, paged; duplicates in a batch are not a reason to
// flag; every reason is kept.

async fn forks(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("s"))
        .await
        .unwrap();
    let admin = server.admin();
    let dev = registered(&server, &tmp.path().join("d"), EMPLOYEE).await;
    let now = siap_core::time::wall_now_ms();
    for i in 0..3 {
        dev.check_in(EMPLOYEE, "s1", now + i, true, &[]).unwrap();
    }
    let recs = dev.ledger.all().unwrap();
    // An exact duplicate inside one batch is a resend, not tampering.
    let (s, ack) = post_records(
        &server,
        &dev,
        &dev,
        vec![recs[0].clone(), recs[0].clone(), recs[1].clone()],
    )
    .await;
    assert_eq!(
        (s, ack["status"].as_str(), ack["acked_seq"].as_u64()),
        (200, Some("ok"), Some(2)),
        "{ack}"
    );
    assert_eq!(
        device_row(&admin, dev.ledger.device_id()).await["review"],
        false
    );

    // A fork inside one batch: record 3 and a different, validly signed record 3.
    let fork3 = forge(
        &dev,
        3,
        recs[1].hash,
        "attendance.check_in",
        b"{\"rewritten\":true}",
    );
    let (s, ack) = post_records(&server, &dev, &dev, vec![recs[2].clone(), fork3.clone()]).await;
    assert_eq!((s, ack["status"].as_str()), (200, Some("fork")), "{ack}");
    assert_eq!(
        ack["acked_seq"].as_u64(),
        Some(3),
        "the genuine record is stored"
    );
    let forks: serde_json::Value = admin
        .json(Method::GET, "/v1/admin/reports/forks", None)
        .await
        .unwrap();
    assert_eq!(
        forks.as_array().unwrap().len(),
        1,
        "the fork is kept as evidence, not lost as a gap"
    );
    assert_eq!(forks[0]["seq"], 3);

    // The same fork again, and a second one: de-duplicated by hash; counted; paged.
    let fork2 = forge(
        &dev,
        2,
        recs[0].hash,
        "attendance.check_in",
        b"{\"other\":1}",
    );
    for _ in 0..3 {
        let (s, ack) = post_records(&server, &dev, &dev, vec![fork3.clone(), fork2.clone()]).await;
        assert_eq!((s, ack["status"].as_str()), (200, Some("fork")));
    }
    let all: serde_json::Value = admin
        .json(Method::GET, "/v1/admin/reports/forks", None)
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let first = all[0]["id"].as_i64().unwrap();
    let page: serde_json::Value = admin
        .json(
            Method::GET,
            &format!("/v1/admin/reports/forks?after={first}&limit=1"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["seq"], 2);

    // A record that breaks the record rules (kind character set) is refused by the server too.
    let bad = forge(&dev, 4, recs[2].hash, "Attendance CheckIn", b"{}");
    let (s, err) = post_records(&server, &dev, &dev, vec![bad]).await;
    assert_eq!(s, 422, "{err}");
    let too_big = forge(
        &dev,
        4,
        recs[2].hash,
        "attendance.check_in",
        &vec![b' '; 70 * 1024],
    );
    let (s, _) = post_records(&server, &dev, &dev, vec![too_big]).await;
    assert_eq!(s, 422);

    // Every reason is recorded, not only the first.
    let row = device_row(&admin, dev.ledger.device_id()).await;
    assert_eq!(row["review"], true);
    assert_eq!(row["fork_count"], 2);
    let reasons: Vec<String> = row["review_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(reasons.iter().any(|r| r.starts_with("fork")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("record rules")),
        "{reasons:?}"
    );
    let fork_reason = row["review_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reason"].as_str().unwrap().starts_with("fork"))
        .unwrap();
    assert_eq!(fork_reason["count"], 4);
    // The stored chain is intact.
    assert_eq!(
        admin
            .verified_records(dev.ledger.device_id())
            .await
            .unwrap(),
        recs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forks_inside_batches_are_evidence_deduplicated_and_paged() {
    for b in backends("forks_inside_batches_are_evidence_deduplicated_and_paged") {
        forks(b).await;
    }
}

// ---------------------------------------------------------------------------------------------------
// 9. What an admin publishes is validated; a bad stored change does not break pulls.

async fn publishing(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("s"))
        .await
        .unwrap();
    let admin = server.admin();
    let dev = registered(&server, &tmp.path().join("d"), EMPLOYEE).await;
    let mut nested = serde_json::json!(1);
    // Deep enough to break a device's page parser (serde_json stops at 128), shallow enough to pass
    // the admin request's own parser.
    for _ in 0..120 {
        nested = serde_json::json!([nested]);
    }
    let (s, _) = admin
        .call(
            Method::PUT,
            "/v1/admin/schedules/sch1",
            Some(serde_json::json!({"days": nested})),
        )
        .await
        .unwrap();
    assert_eq!(s, 400, "a deeply nested schedule is refused");
    for fence in [
        serde_json::json!({}),
        serde_json::json!({"type": "circle", "center": {"lat": 1000.0, "lon": 0.0}, "radius_m": 50}),
        serde_json::json!({"type": "circle", "lat": -6.9, "lon": 107.6, "radius_m": 80}),
        serde_json::json!({"type": "circle", "center": {"lat": -6.9, "lon": 107.6}, "radius_m": -5}),
        serde_json::json!({"type": "polygon", "vertices": [{"lat": 0.0, "lon": 0.0}, {"lat": 0.0, "lon": 0.0}]}),
    ] {
        let (s, body) = admin
            .call(
                Method::PUT,
                "/v1/admin/sites/bad",
                Some(serde_json::json!({"name": "x", "fence": fence})),
            )
            .await
            .unwrap();
        assert_eq!(
            s,
            400,
            "invalid fence accepted: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let (s, _) = admin.call(Method::PUT, "/v1/admin/sites/s1", Some(serde_json::json!({"name": "Balai Kota", "fence": {"type": "circle", "center": {"lat": -6.9, "lon": 107.6}, "radius_m": 80}}))).await.unwrap();
    assert_eq!(s, 200);
    let (s, _) = admin
        .call(
            Method::POST,
            "/v1/admin/enrollments",
            Some(serde_json::json!({"binding": {"type": "employee", "id": ""}})),
        )
        .await
        .unwrap();
    assert_eq!(s, 400, "an empty binding id is refused");
    let report = dev.device.sync().await.unwrap();
    assert_eq!(report.pulled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_data_is_validated_with_the_device_types() {
    for b in backends("published_data_is_validated_with_the_device_types") {
        publishing(b).await;
    }
}

/// A change stored by an older server that no longer parses (a nested schedule) is skipped by the
/// pull instead of failing every device from cursor 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_stored_change_is_skipped_by_pulls() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = TestServer::start(Backend::Sqlite, &tmp.path().join("s"))
        .await
        .unwrap();
    let dev = registered(&server, &tmp.path().join("d"), EMPLOYEE).await;
    server.admin().call(Method::PUT, "/v1/admin/sites/s1", Some(serde_json::json!({"name": "Balai Kota", "fence": {"type": "circle", "center": {"lat": -6.9, "lon": 107.6}, "radius_m": 80}}))).await.unwrap();
    server.stop().await;
    let mut body = String::from("{\"entity\":\"schedule\",\"id\":\"x\",\"body\":");
    body.push_str(&"[".repeat(300));
    body.push_str(&"]".repeat(300));
    body.push('}');
    let conn = rusqlite_open(&server.cfg.database);
    conn.execute(
        "INSERT INTO changes (cursor, entity, entity_id, permit_id, body, created_at_ms) VALUES (2, 'schedule', 'x', NULL, ?1, 0)",
        [body.into_bytes()],
    )
    .unwrap();
    drop(conn);
    let server = TestServer::run(server.cfg.clone(), &tmp.path().join("s"))
        .await
        .unwrap();
    let dev = TestDevice::open(&dev.dir, &server.url, &server.public_key).unwrap();
    let report = dev.device.sync().await.unwrap();
    assert_eq!(
        report.pulled, 1,
        "the good site arrives, the unreadable change is skipped"
    );
}

fn rusqlite_open(path: &str) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

// ---------------------------------------------------------------------------------------------------
// 11, 13, 14. Event times, overflow, file modes, CSV.

async fn times(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(backend, &tmp.path().join("s"))
        .await
        .unwrap();
    let admin = server.admin();
    let dev = registered(&server, &tmp.path().join("d"), EMPLOYEE).await;
    let year_9999 = 253_402_214_400_000;
    dev.check_in(EMPLOYEE, "s1", year_9999, true, &[]).unwrap();
    dev.check_in(EMPLOYEE, "s1", -5, true, &[]).unwrap();
    dev.check_in(EMPLOYEE, "s1", siap_core::time::wall_now_ms(), true, &[])
        .unwrap();
    // A NUL inside a signed payload's text (PostgreSQL text refuses it) must not block the device.
    dev.check_in(
        "nul\u{0}id",
        "s\u{0}1",
        siap_core::time::wall_now_ms(),
        true,
        &[],
    )
    .unwrap();
    let report = dev.device.sync().await.unwrap();
    assert_eq!(report.acknowledged, 4);
    let flagged: serde_json::Value = admin
        .json(Method::GET, "/v1/admin/reports/flagged", None)
        .await
        .unwrap();
    let flags_of = |seq: u64| -> Vec<String> {
        flagged
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["seq"] == seq)
            .map(|r| {
                r["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Only the time flags are this test's business (the server's verdict adds `verdict_disputed`: these
    // records name no employee the server assigns to a site).
    let time_flags = |seq: u64| -> Vec<String> {
        flags_of(seq)
            .into_iter()
            .filter(|f| f.starts_with("event_time"))
            .collect()
    };
    assert_eq!(time_flags(1), vec!["event_time_in_future".to_owned()]);
    assert_eq!(time_flags(2), vec!["event_time_implausible".to_owned()]);
    assert!(time_flags(3).is_empty());
    for days in ["9223372036854775807", "-1", "106752"] {
        let (s, _) = admin
            .call(
                Method::GET,
                &format!("/v1/admin/reports/stale-devices?days={days}"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(s, 400, "days={days}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implausible_event_times_are_flagged_and_query_numbers_checked() {
    for b in backends("implausible_event_times_are_flagged_and_query_numbers_checked") {
        times(b).await;
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(Backend::Sqlite, &tmp.path().join("s"))
        .await
        .unwrap();
    let _dev = registered(&server, &tmp.path().join("d"), EMPLOYEE).await;
    for f in ["server.db", "server.db-wal"] {
        let mode = std::fs::metadata(tmp.path().join("s").join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f} has mode {mode:o}");
    }
    let mode = std::fs::metadata(&server.cfg.blob_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn csv_cells_cannot_become_formulas() {
    for evil in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
        let cell = siap_server::report::csv_field(evil);
        assert!(cell.starts_with("\"'"), "{evil:?} -> {cell}");
    }
    assert_eq!(siap_server::report::csv_field("a\"b"), "\"a\"\"b\"");
}

/// Found by the OpenAPI fuzz step: every error is the API's JSON body (also the framework's own
/// rejections), a wrong method is 405, and a NUL in an id is a 400, not a database error (503 on
/// PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_and_bad_ids_are_400() {
    for backend in backends("every_error_is_json_and_bad_ids_are_400") {
        let tmp = tempfile::tempdir().unwrap();
        let server = TestServer::start(backend, &tmp.path().join("s"))
            .await
            .unwrap();
        let admin = server.admin();
        let (s, body) = admin.call(Method::GET, "/readyz", None).await.unwrap();
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
        for (method, path, want) in [
            (Method::DELETE, "/v1/time", 405),
            (Method::GET, "/v1/admin/devices/%FF/records", 400),
            (Method::GET, "/v1/admin/devices/a%00b/records", 400),
            (Method::GET, "/v1/admin/devices/x/records?after=-1", 400),
            (Method::GET, "/nowhere", 404),
        ] {
            let (s, body) = admin.call(method, path, None).await.unwrap();
            assert_eq!(s, want, "{path}");
            let v: serde_json::Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| panic!("{path}: not JSON: {}", String::from_utf8_lossy(&body)));
            assert!(
                v["error"].is_string() && v["message"].is_string(),
                "{path}: {v}"
            );
        }
    }
}

/// A registration whose answer is lost (the server committed, the phone never saw its token) must not
/// leave the device registered but tokenless: the client's retry with the same code gets a fresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_registration_answer_is_retried_safely() {
    for backend in backends("a_lost_registration_answer_is_retried_safely") {
        let tmp = tempfile::tempdir().unwrap();
        let server = TestServer::start(backend, &tmp.path().join("s"))
            .await
            .unwrap();
        let proxy = siap_tests::sync_support::Proxy::start(server.addr())
            .await
            .unwrap();
        let dev =
            TestDevice::open(&tmp.path().join("d"), &proxy.url(), &server.public_key).unwrap();
        let c = server.admin().code_for_employee(EMPLOYEE).await.unwrap();
        proxy.drop_next(1);
        dev.device.register(&c).await.unwrap();
        assert_eq!(proxy.dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
        dev.check_in(EMPLOYEE, "s1", siap_core::time::wall_now_ms(), true, &[])
            .unwrap();
        assert_eq!(dev.device.sync().await.unwrap().acknowledged, 1);
        // The used code still gives nothing to another key.
        let other = new_key();
        let (s, _) = register_raw(
            &server.url,
            &c,
            &other.public_key().unwrap(),
            prove(&other, &c, &server.public_key),
            None,
        )
        .await;
        assert_eq!(s, 403);
    }
}
