//! The sync client against a small in-process fake server: a whole registration and sync (records in
//! several batches, a blob in two chunks, a changes page, clock anchors) never touches the store on the
//! thread that drives the async runtime, and the client and its futures can move between threads.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ClientConfig, SyncClient, SystemMonotonic};
use crate::ledger::{GENESIS_PREV_HASH, Ledger, Signer, SoftwareSigner, device_id_for};
use crate::signed::{CHANGES_DOMAIN, RESPONSE_DOMAIN, SignedBlob};
use crate::store::Store;
use crate::store::executor_guard::forbid_store_on_this_thread;
use crate::sync::outbox::Outbox;
use crate::sync::protocol::{
    Binding, BlobStatus, Change, ChangeEntry, ChangesPage, DeviceConfig, MAX_BLOB_CHUNK_BYTES,
    RegisterRequest, RegisterResponse, SERVER_TIME_HEADER, UploadAck, UploadRequest, UploadStatus,
};

/// Records per upload the fake server hands out at registration, so a sync takes several batches.
const SERVER_BATCH: u32 = 2;

/// The server side of the protocol, just enough of it: signs its answers with its own key.
struct FakeServer {
    key: SoftwareSigner,
    /// Highest seq and hash received per device.
    acked: Mutex<(u64, [u8; 32])>,
    /// Blob bytes by hex SHA-256.
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    /// The one device this server talks to, learnt at its registration.
    device_id: Mutex<String>,
}

impl FakeServer {
    /// Serves on a loopback port from a plain thread; returns the server and its base URL.
    fn start() -> (Arc<Self>, String) {
        let server = Arc::new(FakeServer {
            key: SoftwareSigner::generate().unwrap(),
            acked: Mutex::new((0, GENESIS_PREV_HASH)),
            blobs: Mutex::new(HashMap::new()),
            device_id: Mutex::new(String::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let s = server.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let _ = s.handle(&mut conn);
            }
        });
        (server, url)
    }

    fn public_key(&self) -> Vec<u8> {
        self.key.public_key().unwrap()
    }

    /// One request per connection (`connection: close`).
    fn handle(&self, conn: &mut TcpStream) -> std::io::Result<()> {
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request = lines.next().unwrap_or_default().split(' ');
        let method = request.next().unwrap_or_default().to_owned();
        let target = request.next().unwrap_or_default().to_owned();
        let len: usize = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = conn.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = &buf[head_end..head_end + len];
        let (status, answer) = self.answer(&method, &target, body);
        let now = crate::time::wall_now_ms();
        write!(
            conn,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             {SERVER_TIME_HEADER}: {now}\r\nconnection: close\r\n\r\n",
            answer.len()
        )?;
        conn.write_all(&answer)?;
        conn.flush()
    }

    fn signed(&self, domain: &str, value: &impl serde::Serialize) -> Vec<u8> {
        serde_json::to_vec(&SignedBlob::sign_json(&self.key, domain, value).unwrap()).unwrap()
    }

    fn answer(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let now = crate::time::wall_now_ms();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match (method, path) {
            ("POST", "/v1/register") => {
                let req: RegisterRequest = serde_json::from_slice(body).unwrap();
                let device_id = device_id_for(&req.public_key);
                device_id.clone_into(&mut self.device_id.lock().unwrap());
                let r = RegisterResponse {
                    kind: "register".into(),
                    device_id,
                    public_key: req.public_key,
                    device_token: "token".into(),
                    binding: Binding::Employee("e1".into()),
                    config: DeviceConfig {
                        batch_size: SERVER_BATCH,
                        ..DeviceConfig::default()
                    },
                    server_public_key: self.public_key(),
                    server_time_ms: now,
                };
                (200, self.signed(RESPONSE_DOMAIN, &r))
            }
            ("POST", "/v1/records") => {
                let req: UploadRequest = serde_json::from_slice(body).unwrap();
                let mut acked = self.acked.lock().unwrap();
                let stored = req.records.len() as u32;
                if let Some(last) = req.records.last() {
                    *acked = (last.seq, last.hash);
                }
                let ack = UploadAck {
                    kind: "ack".into(),
                    device_id: req.device_id,
                    acked_seq: acked.0,
                    acked_hash: acked.1,
                    expected_seq: acked.0 + 1,
                    stored,
                    duplicates: 0,
                    status: UploadStatus::Ok,
                    server_time_ms: now,
                };
                (200, self.signed(RESPONSE_DOMAIN, &ack))
            }
            ("GET" | "PUT", p) if p.starts_with("/v1/blobs/") => {
                let hex = p.trim_start_matches("/v1/blobs/").to_owned();
                let mut blobs = self.blobs.lock().unwrap();
                let held = blobs.entry(hex.clone()).or_default();
                if method == "PUT" {
                    assert_eq!(param("offset"), held.len() as u64, "chunks out of order");
                    held.extend_from_slice(body);
                }
                let status = BlobStatus {
                    complete: method == "PUT" && held.len() as u64 == param("total"),
                    received: held.len() as u64,
                    sha256: hex,
                    server_time_ms: now,
                };
                (200, serde_json::to_vec(&status).unwrap())
            }
            ("GET", "/v1/changes") => {
                let since = param("since");
                let changes = if since == 0 {
                    vec![ChangeEntry {
                        cursor: 1,
                        change: Change::Schedule {
                            id: "s1".into(),
                            body: serde_json::json!({"mon": ["07:30", "16:00"]}),
                        },
                    }]
                } else {
                    Vec::new()
                };
                let page = ChangesPage {
                    device_id: self.device_id.lock().unwrap().clone(),
                    since,
                    next_cursor: since.max(1),
                    more: false,
                    changes,
                    server_time_ms: now,
                };
                (200, self.signed(CHANGES_DOMAIN, &page))
            }
            _ => (
                404,
                br#"{"error":"not_found","message":"no such route"}"#.to_vec(),
            ),
        }
    }
}

fn client(url: &str, server_key: Vec<u8>) -> (SyncClient, Ledger) {
    let ledger = Ledger::new(
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSigner::generate().unwrap()),
    )
    .unwrap();
    let mut cfg = ClientConfig::new(url, server_key);
    cfg.max_attempts = 1;
    cfg.request_timeout = Duration::from_secs(20);
    let c = SyncClient::new(cfg, ledger.clone(), Arc::new(SystemMonotonic::new("boot"))).unwrap();
    (c, ledger)
}

#[test]
fn a_whole_sync_never_touches_the_store_on_the_executor_thread() {
    let (server, url) = FakeServer::start();
    let (client, ledger) = client(&url, server.public_key());
    for i in 0..5 {
        ledger
            .append("test.event", format!("{{\"i\":{i}}}").as_bytes())
            .unwrap();
    }
    let photo: Vec<u8> = (0..MAX_BLOB_CHUNK_BYTES + 1000).map(|i| i as u8).collect();
    let sha = Outbox(ledger.store())
        .put_blob("image/jpeg", &photo)
        .unwrap();

    // One executor thread: this one, on which the store is forbidden. Blocking work goes to the pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (registered, report) = forbid_store_on_this_thread(|| {
        rt.block_on(async {
            let registered = client.register("ABCD-EFGH").await;
            (registered, client.sync().await)
        })
    });
    let registered = registered.unwrap();
    assert_eq!(registered.device_id, ledger.device_id());
    let report = report.unwrap();
    assert!(report.is_complete(), "{:?}", report.errors);
    assert_eq!(report.acknowledged, 5);
    assert_eq!(report.acked_seq, 5);
    assert_eq!(report.sent, 5, "batches of {SERVER_BATCH}, nothing resent");
    assert_eq!(report.blobs_uploaded, 1);
    assert_eq!(report.pulled, 1);
    // 3 record batches + blob status + 2 chunks + 1 changes page, each answer with a time header.
    assert_eq!(report.anchors, 7);
    assert_eq!(server.blobs.lock().unwrap()[&hex::encode(sha)], photo);
    assert!(Outbox(ledger.store()).pending_blobs().unwrap().is_empty());
    assert!(ledger.store().setting("schedule.s1").unwrap().is_some());

    // Nothing new: a second sync sends nothing and still completes.
    let again = forbid_store_on_this_thread(|| rt.block_on(client.sync())).unwrap();
    assert!(again.is_complete(), "{:?}", again.errors);
    assert_eq!((again.sent, again.acked_seq), (0, 5));
}

#[test]
fn an_unregistered_device_is_told_so_without_the_executor_touching_the_store() {
    let (server, url) = FakeServer::start();
    let (client, _) = client(&url, server.public_key());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = forbid_store_on_this_thread(|| rt.block_on(client.sync())).unwrap_err();
    assert!(matches!(err, crate::Error::NotReady(_)), "{err}");
}

#[test]
fn store_calls_also_work_outside_a_runtime() {
    let (server, url) = FakeServer::start();
    let (client, ledger) = client(&url, server.public_key());
    ledger.store().set_setting("k", "v").unwrap();
    // Polled by hand, no tokio context: the helper runs the call in place.
    let fut = client.blocking(|l| l.store().setting("k"));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => assert_eq!(v.unwrap().as_deref(), Some("v")),
        std::task::Poll::Pending => panic!("no runtime, yet the call did not run in place"),
    }
}

#[test]
fn a_panicking_store_call_is_an_error_not_a_panic() {
    let (server, url) = FakeServer::start();
    let (client, _) = client(&url, server.public_key());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r: crate::Result<()> = rt.block_on(client.blocking(|_| panic!("bug in a store call")));
    assert!(matches!(r, Err(crate::Error::Io(_))), "{r:?}");
}

#[test]
fn the_client_and_its_futures_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<SyncClient>();
    let (server, url) = FakeServer::start();
    let (client, _) = client(&url, server.public_key());
    send(&client.sync());
    send(&client.register("ABCD-EFGH"));
}
