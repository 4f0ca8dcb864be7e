//! PostgreSQL stopped and started under a running server (issue 11, item 4). In its own test binary:
//! stopping the shared test PostgreSQL would break the tests running in parallel in any other binary's
//! process (cargo runs test binaries one after another).

use std::time::Duration;

use reqwest::Method;
use siap_tests::sync_support::{Backend, TestDevice, TestServer, backends};

const EMPLOYEE: &str = "199001012020011001";

async fn registered(server: &TestServer, dir: &std::path::Path, employee: &str) -> TestDevice {
    let dev = TestDevice::open(dir, &server.url, &server.public_key).unwrap();
    let code = server.admin().code_for_employee(employee).await.unwrap();
    dev.device.register(&code).await.unwrap();
    dev
}

/// With `SIAP_TEST_POSTGRES_CTL` (a script taking `stop`/`start`, set by `cargo xtask test`): while
/// PostgreSQL is down, requests fail fast with 503; after it is back, syncing succeeds with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_fails_fast_then_recovers() {
    if !backends("postgres_restart_fails_fast_then_recovers").contains(&Backend::Postgres) {
        return;
    }
    let Ok(ctl) = std::env::var("SIAP_TEST_POSTGRES_CTL") else {
        assert!(
            !siap_tests::sync_support::in_ci(),
            "CI must provide SIAP_TEST_POSTGRES_CTL"
        );
        eprintln!(
            "SKIPPED: postgres_restart_fails_fast_then_recovers (SIAP_TEST_POSTGRES_CTL not set)"
        );
        return;
    };
    let pg = |what: &str| {
        let s = std::process::Command::new("bash")
            .arg(&ctl)
            .arg(what)
            .status()
            .unwrap();
        assert!(s.success(), "pg {what} failed");
    };
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(Backend::Postgres, &tmp.path().join("s"))
        .await
        .unwrap();
    let dev = registered(&server, &tmp.path().join("d"), EMPLOYEE).await;
    for _ in 0..3 {
        dev.check_in(EMPLOYEE, "s1", siap_core::time::wall_now_ms(), true, &[])
            .unwrap();
    }
    dev.device.sync().await.unwrap();
    pg("stop");
    for _ in 0..3 {
        dev.check_in(EMPLOYEE, "s1", siap_core::time::wall_now_ms(), true, &[])
            .unwrap();
    }
    let t = std::time::Instant::now();
    let (s, body) = server
        .admin()
        .call(Method::GET, "/v1/admin/devices", None)
        .await
        .unwrap();
    let waited = t.elapsed();
    let (ready, _) = server
        .admin()
        .call(Method::GET, "/readyz", None)
        .await
        .unwrap();
    pg("start");
    assert_eq!(ready, 503, "not ready while the database is down");
    assert_eq!(s, 503, "{}", String::from_utf8_lossy(&body));
    assert!(waited < Duration::from_secs(15), "failing took {waited:?}");
    let mut ok = false;
    for _ in 0..20 {
        if dev.device.sync().await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(ok, "sync did not recover after PostgreSQL came back");
    let (ready, _) = server
        .admin()
        .call(Method::GET, "/readyz", None)
        .await
        .unwrap();
    assert_eq!(ready, 200);
    assert_eq!(
        server
            .admin()
            .verified_records(dev.ledger.device_id())
            .await
            .unwrap()
            .len(),
        6
    );
}
