//! SIAP reference sync server: registers devices, verifies and stores what they send (records exactly
//! once, in order; photos content-addressed), publishes signed changes, and reports to supervisors.
//!
//! - [`db`]: one query layer over SQLite (default) and PostgreSQL;
//! - [`devices`]: enrollment codes, registration, device authentication;
//! - [`ingest`]: record upload with the core's chain verification;
//! - [`blobs`]: resumable, content-addressed photo upload; [`blobstore`]: where the bytes live (files);
//! - [`changes`]: the signed changes feed and what administrators publish into it;
//! - [`verdict`]: the server's own verdict on each check-in; [`faces`]: face enrollments and the
//!   city's decisions on them; [`official`]: HR's official photos, as embeddings for approvers;
//!   [`recheck`]: the worker that re-embeds each check-in's face crop; [`erasure`]: retention and
//!   erasure of face data;
//! - [`report`]: attendance, flagged records, forks, stale devices;
//! - [`http`]: the axum API (described by `openapi.json`); [`listen`]: the connection loop with
//!   timeouts and caps; [`throttle`]: registration guessing limits; [`ops`]: request logs and
//!   metrics;
//! - [`error`]: typed errors and their JSON answers.
//!
//! The server keeps no state of its own besides the database and its signing key, so several instances
//! can share one PostgreSQL database behind a load balancer.

pub mod admin_http;
pub mod admins;
pub mod audit;
pub mod blobs;
pub mod blobstore;
pub mod changes;
pub mod config_file;
pub mod db;
pub mod devices;
pub mod erasure;
pub mod error;
pub mod faces;
pub mod http;
pub mod ingest;
pub mod launch;
pub mod listen;
pub mod official;
pub mod opd;
pub mod ops;
pub mod recheck;
pub mod report;
pub mod throttle;
pub mod verdict;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use siap_core::ledger::{Signer, SoftwareSigner};
use siap_core::sync::protocol::DeviceConfig;

pub use error::ServerError;
pub use http::{AppState, router};

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// A `postgres://` URL or a SQLite file path.
    pub database: String,
    /// PKCS#8 file of the server's signing key (created if missing).
    pub key_file: PathBuf,
    /// The administrator's bearer token.
    pub admin_token: String,
    /// Configuration handed to devices.
    pub device_config: DeviceConfig,
    /// Directory of photo files (content-addressed).
    pub blob_dir: PathBuf,
    /// Connection limits and timeouts.
    pub limits: listen::Limits,
    /// Large bodies (record batches, photo chunks) read at once, at most.
    pub max_heavy_requests: usize,
    /// Directory of the face models: when set, the server re-checks every check-in's face itself
    /// ([`recheck`]); a missing or altered model is an error at start.
    pub face_models: Option<PathBuf>,
    /// How long face crops of settled check-ins and of refused enrollments are kept
    /// ([`erasure::expire`]).
    pub face_retention_days: u32,
}

impl ServerConfig {
    /// A configuration keeping everything in `data_dir` (SQLite `server.db`, key `server-key.pk8`).
    pub fn in_dir(data_dir: &Path, admin_token: impl Into<String>) -> Self {
        ServerConfig {
            database: data_dir.join("server.db").to_string_lossy().into_owned(),
            key_file: data_dir.join("server-key.pk8"),
            admin_token: admin_token.into(),
            device_config: DeviceConfig::default(),
            blob_dir: data_dir.join("blobs"),
            limits: listen::Limits::default(),
            max_heavy_requests: 8,
            face_models: None,
            face_retention_days: DEFAULT_FACE_RETENTION_DAYS,
        }
    }
}

/// Face crops are kept 90 days by default: long enough to settle a dispute over a month's
/// attendance and its allowance, short enough not to keep a face archive.
pub const DEFAULT_FACE_RETENTION_DAYS: u32 = 90;

/// Loads the server key from `path`, generating it (readable by the owner only) on first start.
pub fn load_or_create_key(path: &Path) -> Result<SoftwareSigner, ServerError> {
    let io = |_: std::io::Error| {
        ServerError::Internal("cannot read or write the server key file".into())
    };
    if path.exists() {
        let der = std::fs::read(path).map_err(io)?;
        return SoftwareSigner::from_pkcs8(&der).map_err(|_| {
            ServerError::Internal("server key file is not a P-256 PKCS#8 key".into())
        });
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let rng = ring::rand::SystemRandom::new();
    let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .map_err(|_| ServerError::Internal("key generation failed".into()))?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let _ = std::fs::remove_file(&tmp);
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(doc.as_ref()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    SoftwareSigner::from_pkcs8(doc.as_ref())
        .map_err(|_| ServerError::Internal("generated key unusable".into()))
}

/// Opens the database and key and builds the handler state.
pub async fn state(cfg: &ServerConfig) -> Result<AppState, ServerError> {
    let signer = load_or_create_key(&cfg.key_file)?;
    let public_key = signer.public_key()?;
    let db = db::Db::open(&cfg.database).await?;
    let dir = cfg.blob_dir.clone();
    let blobs = tokio::task::spawn_blocking(move || blobstore::FsBlobStore::open(&dir))
        .await
        .map_err(|_| ServerError::Internal("blob store open task failed".into()))??;
    let faces = match cfg.face_models.clone() {
        Some(dir) => Some(Arc::new(
            tokio::task::spawn_blocking(move || {
                siap_core::face::FaceEngine::open(&dir, siap_core::face::FaceConfig::default())
            })
            .await
            .map_err(|_| ServerError::Internal("face model load task failed".into()))??,
        )),
        None => None,
    };
    Ok(AppState {
        db,
        signer: Arc::new(signer) as Arc<dyn Signer>,
        public_key,
        admin_token_hash: devices::sha256(cfg.admin_token.as_bytes()),
        device_config: cfg.device_config.clone(),
        blobs: Arc::new(blobs),
        throttle: Arc::new(throttle::RegistrationThrottle::default()),
        login_throttle: Arc::new(admin_http::login_throttle()),
        heavy: Arc::new(tokio::sync::Semaphore::new(cfg.max_heavy_requests.max(1))),
        faces,
        recheck_wake: Arc::new(tokio::sync::Notify::new()),
        metrics: Arc::new(ops::Metrics::new()),
    })
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The server's public key (what apps are configured with).
    pub public_key: Vec<u8>,
    /// Stops the server.
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    /// Completes when the server stopped.
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `addr` and serves in a background task.
pub async fn spawn(cfg: &ServerConfig, addr: SocketAddr) -> Result<Running, ServerError> {
    let st = state(cfg).await?;
    let public_key = st.public_key.clone();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|_| ServerError::Internal("cannot bind the listen address".into()))?;
    let addr = listener
        .local_addr()
        .map_err(|_| ServerError::Internal("no local address".into()))?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let limits = cfg.limits;
    let sweeper = tokio::spawn(sweep_partials(
        st.clone(),
        cfg.blob_dir.clone(),
        cfg.face_retention_days,
    ));
    let rechecker = st
        .faces
        .clone()
        .map(|engine| tokio::spawn(recheck::run(st.clone(), engine, st.recheck_wake.clone())));
    let app = router(st).layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let app = app.layer(axum::middleware::map_response(json_timeout));
    let task = tokio::spawn(async move {
        listen::serve(listener, app, limits, async move {
            let _ = rx.await;
        })
        .await;
        sweeper.abort();
        if let Some(r) = rechecker {
            r.abort();
        }
    });
    Ok(Running {
        addr,
        public_key,
        shutdown: tx,
        task,
    })
}

/// The request deadline answers 408 with an empty body; give it the API's JSON error like every other.
async fn json_timeout(resp: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if resp.status() == axum::http::StatusCode::REQUEST_TIMEOUT
        && resp
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_none()
    {
        return ServerError::Timeout.into_response();
    }
    resp
}

/// Expires photo uploads abandoned for a week, hourly: their database rows and bytes, and orphaned
/// partial files (written but never recorded, e.g. a crash between the two).
async fn sweep_partials(st: AppState, blob_dir: PathBuf, face_retention_days: u32) {
    let mut tick = tokio::time::interval(std::time::Duration::from_hours(1));
    loop {
        tick.tick().await;
        let now = http::now_ms();
        let _ = blobs::expire_partials(&st.db, st.blobs.clone(), now).await;
        let cutoff = now - i64::from(face_retention_days) * 86_400_000;
        let _ = erasure::expire(&st.db, st.blobs.clone(), cutoff).await;
        let cutoff = std::time::SystemTime::now()
            - std::time::Duration::from_millis(blobs::PARTIAL_TTL_MS.unsigned_abs());
        let dir = blob_dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            blobstore::FsBlobStore::open(&dir).map(|s| s.sweep_partials(cutoff))
        })
        .await;
    }
}
