//! Measures how a `siap-server` binary holds up under hostile load (issue 11's figures): slow clients,
//! a flood of half-open connections, 200 concurrent large uploads (server RSS), and fork spam against
//! another device's pull. It speaks only the HTTP protocol, so the same tool measures an old build and a
//! new one side by side.
//!
//! Usage: `siap-load SERVER_BINARY [POSTGRES_URL]` — starts the binary on loopback in a temp directory
//! (with the database URL if given), runs every scenario and prints one JSON object of figures
//! (`SIAP_LOAD_ONLY_UPLOADS=1`: only the concurrent uploads).

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use siap_core::ledger::{Ledger, Record, Signer as _, SoftwareSigner, record_hash};
use siap_core::store::Store;
use siap_core::sync::protocol::{DEVICE_ID_HEADER, RegisterRequest, UploadRequest};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const ADMIN: &str = "load-admin-token";

struct Server {
    child: Child,
    url: String,
    addr: std::net::SocketAddr,
    public_key: Vec<u8>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(bin: &str, dir: &std::path::Path, database: Option<&str>) -> anyhow::Result<Server> {
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("SIAP_ADMIN_TOKEN", ADMIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(db) = database {
        cmd.args(["--database-url", db]);
    }
    let mut child = cmd.spawn().context("cannot start the server binary")?;
    let out = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(out).read_line(&mut line)?;
    let parts: Vec<&str> = line.split_whitespace().collect();
    anyhow::ensure!(
        parts.len() >= 4 && parts[0] == "listening",
        "unexpected start line {line:?}"
    );
    let addr: std::net::SocketAddr = parts[1].parse()?;
    Ok(Server {
        child,
        url: format!("http://{addr}"),
        addr,
        public_key: hex::decode(parts[3])?,
    })
}

/// Resident and peak resident memory of a process, in MB.
fn rss_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Dev {
    ledger: Ledger,
    key: SoftwareSigner,
    token: String,
    _dir: tempfile::TempDir,
}

async fn device(s: &Server, http: &reqwest::Client, employee: &str) -> anyhow::Result<Dev> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open_dir(dir.path())?);
    let key = SoftwareSigner::generate()?;
    // A second handle on the same key: the ledger signs records, the tool signs forks.
    let sealing = siap_core::sealed::MasterKey::from_bytes(&[9u8; 32])?.sealing_key("load");
    let twin = SoftwareSigner::unseal(&sealing, &key.seal(&sealing)?)?;
    let ledger = Ledger::new(store, Arc::new(twin))?;
    let code: serde_json::Value = http
        .post(format!("{}/v1/admin/enrollments", s.url))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"binding": {"type": "employee", "id": employee}}))
        .send()
        .await?
        .json()
        .await?;
    let code = code["code"].as_str().context("no code")?.to_owned();
    let signed: serde_json::Value = http
        .post(format!("{}/v1/register", s.url))
        .json(&RegisterRequest {
            proof: ledger.prove_registration(&code, &s.public_key)?,
            enrollment_code: code,
            public_key: ledger.public_key().to_vec(),
        })
        .send()
        .await?
        .json()
        .await?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(signed["body"].as_str().context("registration refused")?)?;
    let r: siap_core::sync::protocol::RegisterResponse = serde_json::from_slice(&body)?;
    Ok(Dev {
        ledger,
        key,
        token: r.device_token,
        _dir: dir,
    })
}

/// The JSON body of `d`'s upload of `records`.
fn batch_body(d: &Dev, records: Vec<Record>) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(&UploadRequest {
        device_id: d.ledger.device_id().to_owned(),
        records,
    })?)
}

/// Posts an already serialised batch as `d`; returns the status.
async fn post_batch(
    url: &str,
    http: &reqwest::Client,
    d: &Dev,
    body: Vec<u8>,
) -> anyhow::Result<u16> {
    Ok(http
        .post(format!("{url}/v1/records"))
        .bearer_auth(&d.token)
        .header(DEVICE_ID_HEADER, d.ledger.device_id())
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_mins(5))
        .send()
        .await?
        .status()
        .as_u16())
}

async fn upload(
    s: &Server,
    http: &reqwest::Client,
    d: &Dev,
    records: Vec<Record>,
) -> anyhow::Result<u16> {
    post_batch(&s.url, http, d, batch_body(d, records)?).await
}

/// 60 clients sending headers at one byte a second for `secs`: how many the server still holds.
async fn slow_clients(s: &Server, secs: u64) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            let Ok(mut c) = tokio::net::TcpStream::connect(addr).await else {
                return false;
            };
            let line = b"GET /v1/time HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
            let end = Instant::now() + Duration::from_secs(secs);
            let mut i = 0;
            while Instant::now() < end {
                let b = line.get(i).copied().unwrap_or(b'a');
                i += 1;
                if c.write_all(&[b]).await.is_err() {
                    return false;
                }
                let mut buf = [0u8; 256];
                // Closed, or answered (an error) and then closed: no longer held.
                if tokio::time::timeout(Duration::from_secs(1), c.read(&mut buf))
                    .await
                    .is_ok()
                {
                    return false;
                }
            }
            true
        }));
    }
    let mut open = 0;
    for t in tasks {
        open += usize::from(t.await.unwrap_or(false));
    }
    open
}

/// 1,100 half-open connections from 127.0.0.1, then the time an honest request from 127.0.0.2 takes
/// (None: it failed within 10 s).
async fn half_open_flood(s: &Server) -> Option<f64> {
    let mut held = Vec::new();
    for _ in 0..1100 {
        if let Ok(Ok(mut c)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(s.addr),
        )
        .await
        {
            let _ = c.write_all(b"POST /v1/time HTTP/1.1\r\nHost: x\r\n").await;
            held.push(c);
        }
    }
    let http = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().ok()?)
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let t = Instant::now();
    let ok = http
        .get(format!("{}/v1/time", s.url))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    drop(held);
    ok.then(|| t.elapsed().as_secs_f64() * 1000.0)
}

/// 200 devices each uploading one ~7.5 MB batch at once: server RSS peak and after.
async fn concurrent_uploads(s: &Server, pid: u32) -> anyhow::Result<serde_json::Value> {
    // Idle connections are closed by a hardened server after 15 s: never reuse one that old.
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .build()?;
    let mut devs = Vec::new();
    for i in 0..200 {
        devs.push(device(s, &http, &format!("u{i}")).await?);
    }
    let payload = vec![b'x'; 40 * 1024];
    let mut batches = Vec::new();
    for d in &devs {
        let entries: Vec<(&str, &[u8])> = (0..140)
            .map(|_| ("load.blob", payload.as_slice()))
            .collect();
        batches.push(d.ledger.append_batch(&entries)?);
    }
    let (rss_before, _) = rss_mb(pid);
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let peak = Arc::new(std::sync::Mutex::new(0.0f64));
    let (sm, pk) = (sampling.clone(), peak.clone());
    let sampler = tokio::spawn(async move {
        while sm.load(std::sync::atomic::Ordering::SeqCst) {
            let (now, _) = rss_mb(pid);
            {
                let mut p = pk.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                *p = p.max(now);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    // Bodies are serialised before the first connection opens, so that the client's own CPU work does
    // not delay its headers (client and server share two cores here).
    let bodies: Vec<Vec<u8>> = devs
        .iter()
        .zip(batches)
        .map(|(d, records)| batch_body(d, records))
        .collect::<anyhow::Result<_>>()?;
    let t = Instant::now();
    let devs = Arc::new(devs);
    let mut tasks = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let (http, devs, url) = (http.clone(), devs.clone(), s.url.clone());
        tasks.push(tokio::spawn(async move {
            post_batch(&url, &http, &devs[i], body).await
        }));
    }
    let mut codes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for t in tasks {
        let c = match t.await {
            Ok(Ok(c)) => c.to_string(),
            Ok(Err(e)) => {
                let e = format!("{e:#}");
                format!("error: {}", e.chars().take(120).collect::<String>())
            }
            Err(_) => "task failed".into(),
        };
        *codes.entry(c).or_default() += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    let _ = sampler.await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_after, hwm) = rss_mb(pid);
    let peak = *peak
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(serde_json::json!({
        "uploads": 200, "batch_mb": 7.5, "seconds": secs, "status_counts": codes,
        "rss_before_mb": rss_before, "rss_peak_sampled_mb": peak, "rss_hwm_mb": hwm, "rss_after_mb": rss_after,
    }))
}

/// One device sends 11,000 validly signed forks of its record 1 in batches of 1,000 while another
/// device pulls: how long the spam took and the slowest pull.
async fn fork_spam(s: &Server) -> anyhow::Result<serde_json::Value> {
    let http = reqwest::Client::new();
    let spammer = device(s, &http, "spam").await?;
    let other = device(s, &http, "other").await?;
    let first = spammer.ledger.append("load.x", b"{}")?;
    upload(s, &http, &spammer, vec![first.clone()]).await?;
    let id = spammer.ledger.device_id().to_owned();
    let forks: Vec<Record> = (0..11_000u32)
        .map(|i| {
            let payload = format!("{{\"n\":{i}}}").into_bytes();
            let hash = record_hash(&id, 1, &first.prev_hash, "load.x", &payload);
            Record {
                device_id: id.clone(),
                seq: 1,
                prev_hash: first.prev_hash,
                kind: "load.x".into(),
                payload,
                hash,
                signature: spammer.key.sign(&hash).unwrap_or_default(),
            }
        })
        .collect();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (d2, url, token, oid) = (
        done.clone(),
        s.url.clone(),
        other.token.clone(),
        other.ledger.device_id().to_owned(),
    );
    let puller = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut worst = 0.0f64;
        while !d2.load(std::sync::atomic::Ordering::SeqCst) {
            let t = Instant::now();
            let _ = http
                .get(format!("{url}/v1/changes?since=0"))
                .bearer_auth(&token)
                .header(DEVICE_ID_HEADER, &oid)
                .timeout(Duration::from_mins(2))
                .send()
                .await;
            worst = worst.max(t.elapsed().as_secs_f64());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        worst
    });
    let t = Instant::now();
    let mut slowest_batch = 0.0f64;
    for chunk in forks.chunks(1000) {
        let b = Instant::now();
        upload(s, &http, &spammer, chunk.to_vec()).await?;
        slowest_batch = slowest_batch.max(b.elapsed().as_secs_f64());
    }
    let total = t.elapsed().as_secs_f64();
    // One more upload after the spam: what an honest resend costs now.
    let b = Instant::now();
    upload(s, &http, &spammer, forks[..1].to_vec()).await?;
    let after = b.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let worst_pull = puller.await.unwrap_or(f64::NAN);
    let t = Instant::now();
    let status = http
        .get(format!("{}/v1/admin/reports/forks", s.url))
        .bearer_auth(ADMIN)
        .timeout(Duration::from_mins(2))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    Ok(serde_json::json!({
        "forks_sent": 11_000, "spam_seconds": total, "slowest_batch_s": slowest_batch,
        "one_more_fork_s": after, "worst_other_device_pull_s": worst_pull,
        "forks_report_s": t.elapsed().as_secs_f64(), "forks_report_status": status,
    }))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .context("usage: siap-load SERVER_BINARY [POSTGRES_URL]")?;
    let database = args.get(2).map(String::as_str);
    siap_core::sync::client::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let tmp = tempfile::tempdir()?;
        if std::env::var_os("SIAP_LOAD_ONLY_UPLOADS").is_some() {
            let s = start(bin, &tmp.path().join("b"), database)?;
            let pid = s.child.id();
            println!("{}", concurrent_uploads(&s, pid).await?);
            return Ok(());
        }
        let s = start(bin, &tmp.path().join("a"), database)?;
        let slow_open = slow_clients(&s, 40).await;
        let flood_ms = half_open_flood(&s).await;
        drop(s);
        let s = start(bin, &tmp.path().join("b"), database)?;
        let pid = s.child.id();
        let uploads = concurrent_uploads(&s, pid).await?;
        drop(s);
        let s = start(bin, &tmp.path().join("c"), database)?;
        let forks = fork_spam(&s).await?;
        println!(
            "{}",
            serde_json::json!({
                "slow_clients_still_open_after_40s": slow_open,
                "honest_request_during_1100_half_open_ms": flood_ms,
                "concurrent_uploads": uploads,
                "fork_spam": forks,
            })
        );
        Ok(())
    })
}
