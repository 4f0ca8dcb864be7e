//! Test harness for sync: servers on loopback over either backend, devices with real SQLite files, an
//! admin client, and a TCP proxy that can drop or rewrite answers.
//!
//! PostgreSQL runs only when `SIAP_TEST_POSTGRES_URL` is set (see `.ci/postgres.sh`); each test then gets
//! a fresh database. Without it, the PostgreSQL half of every test prints that it was skipped.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use siap_core::Device;
use siap_core::clock::MonotonicReading;
use siap_core::device::{ClockNow, DeviceClock, DeviceConfig};
use siap_core::ledger::Ledger;
use siap_core::sealed::MasterKey;
use siap_core::store::Store;
use siap_core::sync::ClientConfig;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Environment variable with an admin URL of a PostgreSQL server the tests may create databases on.
pub const POSTGRES_ENV: &str = "SIAP_TEST_POSTGRES_URL";

/// The administrator token of test servers.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the server's data directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server named by [`POSTGRES_ENV`].
    Postgres,
}

/// Whether this is a CI run (`CI` set and non-empty): then nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty())
}

/// The backends available here: SQLite always, PostgreSQL when configured (else says it is skipped;
/// in CI a missing PostgreSQL fails the test instead of passing vacuously).
pub fn backends(test: &str) -> Vec<Backend> {
    if std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty()) {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        assert!(
            !in_ci(),
            "{test}: CI is set but {POSTGRES_ENV} is not: the PostgreSQL half cannot be skipped in CI"
        );
        eprintln!("SKIPPED: {test} on PostgreSQL ({POSTGRES_ENV} is not set; run .ci/postgres.sh)");
        vec![Backend::Sqlite]
    }
}

/// Creates a fresh PostgreSQL database and returns its URL.
pub async fn fresh_postgres_db() -> anyhow::Result<String> {
    let admin = std::env::var(POSTGRES_ENV).context("no PostgreSQL URL")?;
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let name = format!("siap_t_{}", hex::encode(fastrand::u64(..).to_be_bytes()));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let query = admin
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    Ok(format!("{base}/{name}{query}"))
}

/// A server running in this process.
pub struct TestServer {
    /// Its data directory (key file, SQLite database).
    pub dir: PathBuf,
    /// Its configuration.
    pub cfg: siap_server::ServerConfig,
    /// The running server.
    pub running: Option<siap_server::Running>,
    /// Base URL.
    pub url: String,
    /// The server's public key.
    pub public_key: Vec<u8>,
}

impl TestServer {
    /// Starts a server on a free loopback port.
    pub async fn start(backend: Backend, dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(backend, dir, |_| {}).await
    }

    /// Starts a server on a free loopback port after `tweak` adjusted its configuration.
    pub async fn start_with(
        backend: Backend,
        dir: &Path,
        tweak: impl FnOnce(&mut siap_server::ServerConfig),
    ) -> anyhow::Result<Self> {
        let mut cfg = siap_server::ServerConfig::in_dir(dir, ADMIN_TOKEN);
        if backend == Backend::Postgres {
            cfg.database = fresh_postgres_db().await?;
        }
        tweak(&mut cfg);
        Self::run(cfg, dir).await
    }

    /// Starts a server with exactly `cfg` (e.g. again on the database of a stopped one).
    pub async fn run(cfg: siap_server::ServerConfig, dir: &Path) -> anyhow::Result<Self> {
        let running = siap_server::spawn(&cfg, "127.0.0.1:0".parse()?).await?;
        Ok(TestServer {
            dir: dir.to_path_buf(),
            url: format!("http://{}", running.addr),
            public_key: running.public_key.clone(),
            running: Some(running),
            cfg,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.running.as_ref().map_or_else(
            || "127.0.0.1:9".parse().unwrap_or_else(|_| unreachable!()),
            |r| r.addr,
        )
    }

    /// Stops the server.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.shutdown.send(());
            let _ = r.task.await;
        }
    }

    /// An admin client.
    pub fn admin(&self) -> Admin {
        Admin::at(&self.url)
    }
}

/// The administrator's HTTP client.
#[derive(Clone)]
pub struct Admin {
    /// Base URL.
    pub url: String,
    http: reqwest::Client,
}

impl Admin {
    /// Same, against another base URL.
    pub fn at(url: &str) -> Self {
        siap_core::sync::client::install_crypto_provider();
        Admin {
            url: url.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends an admin request; returns status and body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b)?);
        }
        let resp = rb.send().await?;
        Ok((resp.status().as_u16(), resp.bytes().await?.to_vec()))
    }

    /// Sends raw bytes (a photo) with `PUT`; returns status and body.
    pub async fn put_bytes(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<(u16, Vec<u8>)> {
        let resp = self
            .http
            .put(format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.bytes().await?.to_vec()))
    }

    /// Sends and parses a JSON answer, failing on non-2xx.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let (s, b) = self.call(method, path, body).await?;
        anyhow::ensure!(
            (200..300).contains(&s),
            "admin {path}: {s} {}",
            String::from_utf8_lossy(&b)
        );
        Ok(serde_json::from_slice(&b)?)
    }

    /// Publishes site `id`: a circle of `radius_m` around (`lat`, `lon`).
    pub async fn put_site(
        &self,
        id: &str,
        (lat, lon): (f64, f64),
        radius_m: f64,
    ) -> anyhow::Result<()> {
        self.json(
            reqwest::Method::PUT,
            &format!("/v1/admin/sites/{id}"),
            Some(serde_json::json!({"name": id, "fence": {"type": "circle", "center": {"lat": lat, "lon": lon}, "radius_m": radius_m}})),
        )
        .await?;
        Ok(())
    }

    /// Publishes employee `id`, assigned to `sites`.
    pub async fn put_employee(&self, id: &str, sites: &[&str]) -> anyhow::Result<()> {
        self.json(
            reqwest::Method::PUT,
            &format!("/v1/admin/employees/{id}"),
            Some(serde_json::json!({"name": id, "site_ids": sites})),
        )
        .await?;
        Ok(())
    }

    /// Issues an enrollment code bound to an employee.
    pub async fn code_for_employee(&self, employee: &str) -> anyhow::Result<String> {
        let v = self
            .json(
                reqwest::Method::POST,
                "/v1/admin/enrollments",
                Some(serde_json::json!({"binding": {"type": "employee", "id": employee}})),
            )
            .await?;
        Ok(v["code"].as_str().context("no code")?.to_owned())
    }

    /// Approves an employee's face template for the device that enrolled it (as HR would, in the
    /// console). Returns the signed decision.
    pub async fn approve_face(
        &self,
        employee: &str,
        template_sha256: &str,
    ) -> anyhow::Result<serde_json::Value> {
        self.json(
            reqwest::Method::POST,
            &format!("/v1/admin/faces/{employee}/{template_sha256}/decision"),
            Some(serde_json::json!({"decision": "approved", "approver": "hr-test"})),
        )
        .await
    }

    /// Today's attendance report rows (UTC) of `device`, once none is `pending` any more but those in
    /// `still_pending` (the re-check worker has settled them). Fails after 30 s.
    pub async fn settled(
        &self,
        device: &str,
        still_pending: &[u64],
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let date = siap_core::time::civil_date(siap_core::time::wall_now_ms(), 0);
        for _ in 0..300 {
            let report = self
                .json(
                    reqwest::Method::GET,
                    &format!("/v1/admin/reports/attendance?date={date}&utc_offset_min=0"),
                    None,
                )
                .await?;
            let rows: Vec<serde_json::Value> = report
                .as_array()
                .context("report is not a list")?
                .iter()
                .filter(|r| r["device_id"] == device)
                .cloned()
                .collect();
            if rows.iter().all(|r| {
                r["decision"] != "pending"
                    || r["seq"]
                        .as_u64()
                        .is_some_and(|s| still_pending.contains(&s))
            }) {
                return Ok(rows);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::bail!("check-ins still pending after 30 s")
    }

    /// Issues an enrollment code bound to a permit application.
    pub async fn code_for_permit(&self, permit: &str) -> anyhow::Result<String> {
        let v = self
            .json(
                reqwest::Method::POST,
                "/v1/admin/enrollments",
                Some(serde_json::json!({"binding": {"type": "permit", "id": permit}})),
            )
            .await?;
        Ok(v["code"].as_str().context("no code")?.to_owned())
    }
}

/// A device clock for tests: the monotonic clock advances 1 ms per reading in boot "boot-1"; the
/// wall clock is the host's.
#[derive(Debug, Default)]
pub struct FakeMonotonic(pub std::sync::atomic::AtomicI64);

impl DeviceClock for FakeMonotonic {
    fn now(&self) -> siap_core::Result<ClockNow> {
        Ok(ClockNow {
            monotonic: MonotonicReading {
                monotonic_ms: self.0.fetch_add(1, Ordering::SeqCst),
                boot_id: "boot-1".into(),
            },
            wall_ms: siap_core::time::wall_now_ms(),
        })
    }
}

/// A simulated phone: the core's [`Device`] over a real store file, a software key and a sync client,
/// as the app opens it.
pub struct TestDevice {
    /// Its data directory.
    pub dir: PathBuf,
    /// The device (register, sync, check, inspect...).
    pub device: Arc<Device>,
    /// Its store (the device's own).
    pub store: Arc<Store>,
    /// Its ledger (the device's own).
    pub ledger: Ledger,
    /// The face template its check-ins name (see [`TestDevice::claim_enrollment`]).
    template: std::sync::Mutex<Option<String>>,
}

/// The fixed master key of test devices (so child processes can reopen the same device).
pub fn test_master_key() -> MasterKey {
    MasterKey::from_bytes(&[7u8; 32]).unwrap_or_else(|_| unreachable!())
}

/// Client settings for tests: short timeouts and backoff.
pub fn test_client_config(url: &str, server_public_key: &[u8]) -> ClientConfig {
    let mut cfg = ClientConfig::new(url, server_public_key.to_vec());
    cfg.connect_timeout = std::time::Duration::from_secs(2);
    cfg.request_timeout = std::time::Duration::from_secs(20);
    cfg.max_attempts = 3;
    cfg.backoff_base = std::time::Duration::from_millis(20);
    cfg.backoff_max = std::time::Duration::from_millis(200);
    cfg
}

impl TestDevice {
    /// Opens (or creates) a device in `dir`, syncing with `url`.
    pub fn open(dir: &Path, url: &str, server_public_key: &[u8]) -> anyhow::Result<Self> {
        Self::open_with(dir, test_client_config(url, server_public_key))
    }

    /// Same, with explicit client settings.
    pub fn open_with(dir: &Path, cfg: ClientConfig) -> anyhow::Result<Self> {
        let mut config = DeviceConfig::new(dir, test_master_key());
        config.server_public_key = Some(cfg.server_public_key.clone());
        config.sync = Some(cfg);
        let device = Device::open(config, None, Arc::new(FakeMonotonic::default()))?;
        Ok(TestDevice {
            dir: dir.to_path_buf(),
            store: device.store().clone(),
            ledger: device.ledger().clone(),
            device: Arc::new(device),
            template: std::sync::Mutex::new(None),
        })
    }

    /// Appends a `face.enrollment` record for `employee` as a phone's enrollment would (a random template
    /// hash, a passed liveness check, no crops: this harness tests sync and the server's rules, the
    /// face pipeline is tested with real photos elsewhere). Later check-ins of this device name that
    /// template. Returns (seq, template hash).
    pub fn claim_enrollment(&self, employee: &str) -> anyhow::Result<(u64, String)> {
        let nonce = format!("{:032x}", fastrand::u128(..));
        self.claim_enrollment_with(employee, Some(live_answer(true, &nonce)))
    }

    /// Like [`TestDevice::claim_enrollment`] with the liveness evidence `liveness` signed as is, and
    /// nothing marked refused: what a modified app signs when it skips or fakes the challenge.
    pub fn claim_enrollment_with(
        &self,
        employee: &str,
        liveness: Option<siap_core::liveness::LivenessEvidence>,
    ) -> anyhow::Result<(u64, String)> {
        use siap_core::clock::{MonotonicReading, TimeEvidence, TrustedTime};
        use siap_core::enrollment::{EnrollmentPayload, KIND_ENROLLMENT, PAYLOAD_VERSION};
        let template = format!("{:032x}{:032x}", fastrand::u128(..), fastrand::u128(..));
        let now = siap_core::time::wall_now_ms();
        let payload = EnrollmentPayload {
            v: PAYLOAD_VERSION,
            employee_id: employee.into(),
            template_sha256: template.clone(),
            model_sha256: vec![],
            photos: vec![],
            liveness,
            replaces: None,
            refused: vec![],
            time: TimeEvidence {
                device_wall_ms: now,
                monotonic: MonotonicReading {
                    monotonic_ms: 1,
                    boot_id: "boot-1".into(),
                },
                trusted: TrustedTime::Unanchored {
                    reason: siap_core::clock::Unanchored::NoAnchor,
                },
                skew_ms: None,
                clock_skew: false,
            },
        };
        let r = self
            .ledger
            .append(KIND_ENROLLMENT, &serde_json::to_vec(&payload)?)?;
        *self
            .template
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))? = Some(template.clone());
        Ok((r.seq, template))
    }

    /// Claims an enrollment for `employee`, syncs it, and has `admin` approve it: the honest path,
    /// after which this device's check-ins for `employee` name an approved template.
    pub async fn enroll_approved(&self, admin: &Admin, employee: &str) -> anyhow::Result<String> {
        let (_, template) = self.claim_enrollment(employee)?;
        anyhow::ensure!(self.device.sync().await?.is_complete(), "sync incomplete");
        admin.approve_face(employee, &template).await?;
        Ok(template)
    }

    /// Appends an attendance record as the attendance service would (the JSON shape the server's report
    /// reads: employee, site, decision, flags, time evidence), with the fix at (-6.2, 106.8).
    pub fn check_in(
        &self,
        employee: &str,
        site: &str,
        at_ms: i64,
        accepted: bool,
        flags: &[&str],
    ) -> anyhow::Result<u64> {
        self.check_in_at(employee, site, at_ms, accepted, flags, (-6.2, 106.8), None)
    }

    /// Like [`TestDevice::check_in`] with the fix at `(lat, lon)` and the liveness challenge `nonce`
    /// (a fresh random one when `None`): what a modified client signs is up to it (the decision, the
    /// site, "inside", a passed face and liveness), the fix and the nonce are what the server
    /// re-checks.
    #[allow(
        clippy::too_many_arguments,
        reason = "spells out each claim a modified client signs, at the call site"
    )]
    pub fn check_in_at(
        &self,
        employee: &str,
        site: &str,
        at_ms: i64,
        accepted: bool,
        flags: &[&str],
        (lat, lon): (f64, f64),
        nonce: Option<&str>,
    ) -> anyhow::Result<u64> {
        use siap_core::attendance::{AttendancePayload, Decision, Direction, PAYLOAD_VERSION};
        use siap_core::clock::{MonotonicReading, TimeEvidence, TrustedTime};
        use siap_core::geo::{Containment, Fix, GeoFlag, GeoVerdict};
        // The core's own payload type, as a phone writes it (decided elsewhere; this harness tests sync).
        let flags = flags
            .iter()
            .map(|f| serde_json::from_value::<GeoFlag>(serde_json::Value::from(*f)))
            .collect::<Result<Vec<_>, _>>()?;
        let payload = AttendancePayload {
            v: PAYLOAD_VERSION,
            employee_id: employee.into(),
            direction: Direction::In,
            decision: if accepted {
                Decision::Accepted
            } else {
                Decision::Rejected
            },
            reasons: vec![],
            geo: GeoVerdict {
                site_id: Some(site.into()),
                containment: Containment::Inside,
                distance_to_edge_m: Some(-20.0),
                accuracy_m: Some(8.0),
                flags,
            },
            fix: Fix {
                lat,
                lon,
                accuracy_m: Some(8.0),
                time_ms: at_ms,
                provider: "fused".into(),
                is_mock: false,
            },
            time: TimeEvidence {
                device_wall_ms: at_ms,
                monotonic: MonotonicReading {
                    monotonic_ms: 1_000,
                    boot_id: "boot-1".into(),
                },
                trusted: TrustedTime::Anchored {
                    estimate_ms: at_ms,
                    uncertainty_ms: 50,
                    anchor_age_ms: 1_000,
                },
                skew_ms: Some(0),
                clock_skew: false,
            },
            face: Some(siap_core::attendance::FaceEvidence {
                similarity: 0.9,
                threshold: 0.45,
                matched: true,
                quality_passed: true,
                quality_reasons: vec![],
                model_sha256: vec![],
                crop_sha256: None,
                template: self
                    .template
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .clone()
                    .map(|sha256| siap_core::enrollment::TemplateRef {
                        sha256,
                        approved: true,
                    }),
                liveness: Some(siap_core::liveness::LivenessEvidence {
                    passed: true,
                    nonce: nonce
                        .map_or_else(|| format!("{:032x}", fastrand::u128(..)), str::to_owned),
                    challenge: vec!["turn_left".into(), "look_up".into()],
                    passive_score: None,
                    details: siap_core::liveness::LivenessDetails::default(),
                    observations_sha256: None,
                }),
            }),
        };
        let r = self
            .ledger
            .append("attendance.check_in", &serde_json::to_vec(&payload)?)?;
        Ok(r.seq)
    }
}

/// A function rewriting answer bodies (a man in the middle).
pub type Rewrite = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// What the proxy does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward everything.
    Pass,
    /// Forward the request, read the whole answer from the server, then close the client connection
    /// without sending it (the server committed; the device never sees the ack).
    DropAnswers,
}

/// A TCP proxy in front of a server that can drop answers or rewrite bytes in them.
pub struct Proxy {
    /// Address to connect to.
    pub addr: SocketAddr,
    mode: Arc<std::sync::Mutex<ProxyMode>>,
    rewrite: Arc<std::sync::Mutex<Option<Rewrite>>>,
    drop_next: Arc<AtomicUsize>,
    /// Answers dropped so far.
    pub dropped: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts a proxy to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mode = Arc::new(std::sync::Mutex::new(ProxyMode::Pass));
        let rewrite: Arc<std::sync::Mutex<Option<Rewrite>>> = Arc::new(std::sync::Mutex::new(None));
        let dropped = Arc::new(AtomicUsize::new(0));
        let drop_next = Arc::new(AtomicUsize::new(0));
        let (m, rw, d, dn) = (
            mode.clone(),
            rewrite.clone(),
            dropped.clone(),
            drop_next.clone(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (m, rw, d, dn) = (m.clone(), rw.clone(), d.clone(), dn.clone());
                tokio::spawn(async move {
                    let _ = Box::pin(handle(client, upstream, m, rw, d, dn)).await;
                });
            }
        });
        Ok(Proxy {
            addr,
            mode,
            rewrite,
            drop_next,
            dropped,
        })
    }

    /// Base URL through the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the mode.
    pub fn set_mode(&self, mode: ProxyMode) {
        *self
            .mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mode;
    }

    /// Rewrites every answer body with `f` from now on (`None`: stop).
    pub fn set_rewrite(&self, f: Option<Rewrite>) {
        *self
            .rewrite
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = f;
    }

    /// Drops the next `n` answers (after the server handled the requests).
    pub fn drop_next(&self, n: usize) {
        self.drop_next.store(n, Ordering::SeqCst);
    }
}

/// One request/answer exchange per connection (`Connection: close` is forced on the request).
async fn handle(
    mut client: tokio::net::TcpStream,
    upstream: SocketAddr,
    mode: Arc<std::sync::Mutex<ProxyMode>>,
    rewrite: Arc<std::sync::Mutex<Option<Rewrite>>>,
    dropped: Arc<AtomicUsize>,
    drop_next: Arc<AtomicUsize>,
) -> anyhow::Result<()> {
    let req = Box::pin(read_http_message(&mut client)).await?;
    let req = force_close(&req);
    let mut server = tokio::net::TcpStream::connect(upstream).await?;
    server.write_all(&req).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    let mode = *mode
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let drop_one = drop_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if mode == ProxyMode::DropAnswers || drop_one {
        dropped.fetch_add(1, Ordering::SeqCst);
        return Ok(()); // the client sees the connection close without an answer
    }
    let f = rewrite
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(f) = f
        && let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n")
    {
        let body = f(&answer[end + 4..]);
        let head = String::from_utf8_lossy(&answer[..end]).into_owned();
        let mut out = header_lines(&head, "content-length:");
        let _ = write!(out, "content-length: {}\r\n\r\n", body.len());
        answer = out.into_bytes();
        answer.extend_from_slice(&body);
    }
    client.write_all(&answer).await?;
    client.shutdown().await?;
    Ok(())
}

async fn read_http_message(s: &mut tokio::net::TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    loop {
        let n = s.read(&mut tmp).await?;
        anyhow::ensure!(n > 0, "client closed");
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).await?;
                anyhow::ensure!(n > 0, "client closed mid-body");
                buf.extend_from_slice(&tmp[..n]);
            }
            return Ok(buf);
        }
    }
}

/// The header lines of `head`, each ended by CRLF, without those starting with `drop` (lower case).
fn header_lines(head: &str, drop: &str) -> String {
    let mut out = String::new();
    for l in head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with(drop))
    {
        out.push_str(l);
        out.push_str("\r\n");
    }
    out
}

fn force_close(req: &[u8]) -> Vec<u8> {
    let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
        return req.to_vec();
    };
    let head = String::from_utf8_lossy(&req[..end]);
    let mut out = header_lines(&head, "connection:");
    out.push_str("connection: close\r\n\r\n");
    let mut v = out.into_bytes();
    v.extend_from_slice(&req[end + 4..]);
    v
}

impl Admin {
    /// All records the server stored for `device_id`, verified with the core's chain code.
    pub async fn verified_records(
        &self,
        device_id: &str,
    ) -> anyhow::Result<Vec<siap_core::ledger::Record>> {
        let mut all = Vec::new();
        let mut pk;
        loop {
            #[derive(serde::Deserialize)]
            struct Page {
                public_key: String,
                records: Vec<siap_core::ledger::Record>,
            }
            let (s, b) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/v1/admin/devices/{device_id}/records?after={}", all.len()),
                    None,
                )
                .await?;
            anyhow::ensure!(s == 200, "records: {s}");
            let v: Page = serde_json::from_slice(&b)?;
            pk = hex::decode(v.public_key)?;
            let page = v.records;
            if page.is_empty() {
                break;
            }
            all.extend(page);
        }
        if !all.is_empty() {
            siap_core::ledger::verify_chain(&pk, &all)?;
        }
        Ok(all)
    }
}

/// Posts `records` as `dev`'s batch with `token_of`'s credentials (a different device to test
/// impersonation); returns the status and the ack body (unwrapped from its signature) or error JSON.
pub async fn post_records(
    server: &TestServer,
    dev: &TestDevice,
    token_of: &TestDevice,
    records: Vec<siap_core::ledger::Record>,
) -> (u16, serde_json::Value) {
    let token = token_of
        .store
        .setting(siap_core::sync::outbox::SETTING_DEVICE_TOKEN)
        .expect("post_records")
        .expect("post_records");
    siap_core::sync::client::install_crypto_provider();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/records", server.url))
        .bearer_auth(token)
        .header(
            siap_core::sync::protocol::DEVICE_ID_HEADER,
            token_of.ledger.device_id(),
        )
        .json(&siap_core::sync::protocol::UploadRequest {
            device_id: dev.ledger.device_id().to_owned(),
            records,
        })
        .send()
        .await
        .expect("post_records");
    let status = resp.status().as_u16();
    let v: serde_json::Value = resp.json().await.expect("post_records");
    let v = match v.get("body").and_then(|b| b.as_str()) {
        Some(b) => serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b)
                .expect("post_records"),
        )
        .expect("post_records"),
        None => v,
    };
    (status, v)
}

impl TestDevice {
    /// The device's software key, unsealed from its store (tests sign forks and hand-made records
    /// with it, as a rooted phone could).
    pub fn software_key(&self) -> siap_core::ledger::SoftwareSigner {
        let sealed: Vec<u8> = self
            .store
            .with_conn(|c| Ok(c.query_row("SELECT sealed_key FROM device", [], |r| r.get(0))?))
            .unwrap_or_default();
        siap_core::ledger::SoftwareSigner::unseal(
            &test_master_key().sealing_key("device-key"),
            &sealed,
        )
        .unwrap_or_else(|_| panic!("the test device has no software key"))
    }
}

/// The liveness evidence of one challenge answer (`turn_left`, with `nonce`), passed or not, as a
/// device signs it.
pub fn live_answer(passed: bool, nonce: &str) -> siap_core::liveness::LivenessEvidence {
    siap_core::liveness::LivenessEvidence {
        passed,
        nonce: nonce.into(),
        challenge: vec!["turn_left".into()],
        passive_score: None,
        details: siap_core::liveness::LivenessDetails::default(),
        observations_sha256: None,
    }
}

/// The start of most server scenarios: a server, the site `s1` at (-6.2, 106.8) with a 100 m fence,
/// `employee` assigned to it, and a phone (in `dir/m`) registered for that employee.
pub struct Scene {
    /// The server.
    pub server: TestServer,
    /// Its administrator.
    pub admin: Admin,
    /// The employee's phone.
    pub phone: TestDevice,
}

/// Sets up a [`Scene`] on `backend` in `dir`.
pub async fn scene(backend: Backend, dir: &Path, employee: &str) -> anyhow::Result<Scene> {
    let server = TestServer::start(backend, &dir.join("server")).await?;
    let admin = server.admin();
    admin.put_site("s1", (-6.2, 106.8), 100.0).await?;
    admin.put_employee(employee, &["s1"]).await?;
    let phone = TestDevice::open(&dir.join("m"), &server.url, &server.public_key)?;
    let code = admin.code_for_employee(employee).await?;
    phone.device.register(&code).await?;
    Ok(Scene {
        server,
        admin,
        phone,
    })
}

/// Where the face scenarios' office is (Kupang).
pub const OFFICE: (f64, f64) = (-10.1635, 123.5895);

/// A fresh fix `north` degrees north of [`OFFICE`], 8 m accuracy, half a second old.
pub fn office_fix(north: f64) -> siap_core::geo::Fix {
    siap_core::geo::Fix {
        lat: OFFICE.0 + north,
        lon: OFFICE.1,
        accuracy_m: Some(8.0),
        time_ms: siap_core::time::wall_now_ms() - 500,
        provider: "fused".into(),
        is_mock: false,
    }
}

/// The start of the face scenarios: a server that re-checks faces and liveness itself (the real face
/// models), the site `office` at [`OFFICE`] with a 150 m fence, `e1` assigned to it, and a real phone
/// (real models, in `dir/phone`) registered for `e1`. Enrollment from still photos is allowed on both
/// sides (no camera video here), and the phone lets a still selfie through without a challenge;
/// `server_requires_liveness` is the city's policy for check-ins.
pub struct FaceScene {
    /// The server.
    pub server: TestServer,
    /// Its administrator.
    pub admin: Admin,
    /// The phone.
    pub phone: Device,
}

/// Starts a [`FaceScene`].
pub async fn face_scene(
    backend: Backend,
    dir: &Path,
    server_requires_liveness: bool,
) -> anyhow::Result<FaceScene> {
    use siap_core::face::default_models_dir;
    let server = TestServer::start_with(backend, &dir.join("server"), |cfg| {
        cfg.face_models = Some(default_models_dir());
        cfg.device_config.require_liveness = server_requires_liveness;
        cfg.device_config.require_enrollment_liveness = false;
    })
    .await?;
    let admin = server.admin();
    admin.put_site("office", OFFICE, 150.0).await?;
    admin.put_employee("e1", &["office"]).await?;
    let mut cfg = DeviceConfig::new(dir.join("phone"), test_master_key());
    cfg.server_public_key = Some(server.public_key.clone());
    cfg.sync = Some(test_client_config(&server.url, &server.public_key));
    cfg.models_dir = Some(default_models_dir());
    cfg.policy.require_liveness = false;
    cfg.policy.require_enrollment_liveness = false;
    let phone = Device::open(cfg, None, Arc::new(FakeMonotonic::default()))?;
    phone
        .register(&admin.code_for_employee("e1").await?)
        .await?;
    Ok(FaceScene {
        server,
        admin,
        phone,
    })
}
