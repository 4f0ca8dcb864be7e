//! Crash tests with child processes: the server killed and restarted in the middle of an upload, and the
//! device process killed in the middle of a sync. Nothing lost, nothing duplicated.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};

use siap_core::sync::Outbox;
use siap_tests::sync_support::{
    Admin, Backend, TestDevice, backends, fresh_postgres_db, test_client_config,
};

const NODE: &str = env!("CARGO_BIN_EXE_siap-sync-node");

fn serve(dir: &std::path::Path, listen: &str, db: Option<&str>) -> (Child, String, Vec<u8>) {
    let mut cmd = Command::new(NODE);
    cmd.arg("serve").arg(dir).arg(listen).stdout(Stdio::piped());
    if let Some(db) = db {
        cmd.arg(db);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts[0], "listening", "{line}");
    (child, parts[1].to_owned(), hex::decode(parts[3]).unwrap())
}

async fn db_for(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_db().await.unwrap()),
    }
}

async fn server_killed(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let db = db_for(backend).await;
    let (mut srv, addr, pk) = serve(&tmp.path().join("s"), "127.0.0.1:0", db.as_deref());
    let url = format!("http://{addr}");
    let mut cfg = test_client_config(&url, &pk);
    cfg.batch_size = 20;
    cfg.max_attempts = 1;
    let dev = TestDevice::open_with(&tmp.path().join("d"), cfg).unwrap();
    let code = Admin::at(&url).code_for_employee("e1").await.unwrap();
    dev.device.register(&code).await.unwrap();
    let payload = vec![b'x'; 20_000];
    for _ in 0..400 {
        dev.ledger.append("inspection.report", &payload).unwrap();
    }
    let store = dev.store.clone();
    let sync = tokio::spawn(async move { dev.device.sync().await.unwrap() });
    while Outbox(&store).acked_seq().unwrap() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    srv.kill().unwrap();
    srv.wait().unwrap();
    let r = sync.await.unwrap();
    assert!(
        !r.errors.is_empty() && r.pending > 0,
        "the kill interrupted the upload"
    );
    let (mut srv, _, _) = serve(&tmp.path().join("s"), &addr, db.as_deref());
    let dev = TestDevice::open(&tmp.path().join("d"), &url, &pk).unwrap();
    let r = dev.device.sync().await.unwrap();
    assert!(r.is_complete(), "{:?}", r.errors);
    assert_eq!(
        Admin::at(&url)
            .verified_records(dev.ledger.device_id())
            .await
            .unwrap(),
        dev.ledger.all().unwrap()
    );
    srv.kill().unwrap();
    let _ = srv.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_and_restarted_mid_upload() {
    for b in backends("server_killed_and_restarted_mid_upload") {
        server_killed(b).await;
    }
}

async fn device_killed(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let db = db_for(backend).await;
    let (mut srv, addr, pk) = serve(&tmp.path().join("s"), "127.0.0.1:0", db.as_deref());
    let url = format!("http://{addr}");
    let dir = tmp.path().join("d");
    let device_id = {
        let dev = TestDevice::open(&dir, &url, &pk).unwrap();
        let code = Admin::at(&url).code_for_employee("e1").await.unwrap();
        dev.device.register(&code).await.unwrap();
        let payload = vec![b'y'; 20_000];
        for _ in 0..400 {
            dev.ledger.append("inspection.report", &payload).unwrap();
        }
        dev.ledger.device_id().to_owned()
    };
    let admin = Admin::at(&url);
    let mut child = Command::new(NODE)
        .arg("sync")
        .arg(&dir)
        .arg(&url)
        .arg(hex::encode(&pk))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let devices = admin
            .json(reqwest::Method::GET, "/v1/admin/devices", None)
            .await
            .unwrap();
        if devices[0]["acked_seq"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let dev = TestDevice::open(&dir, &url, &pk).unwrap();
    assert!(
        Outbox(&dev.store).pending_records().unwrap() > 0,
        "killed mid-sync"
    );
    let r = dev.device.sync().await.unwrap();
    assert!(r.is_complete(), "{:?}", r.errors);
    assert_eq!(
        admin.verified_records(&device_id).await.unwrap(),
        dev.ledger.all().unwrap()
    );
    srv.kill().unwrap();
    let _ = srv.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_killed_mid_sync() {
    for b in backends("device_killed_mid_sync") {
        device_killed(b).await;
    }
}
