//! SIAP reference sync server: registers devices, verifies and stores what they send (records exactly
//! once, in order; photos content-addressed), publishes signed changes, and reports to supervisors.
//!
//! - [`db`]: one query layer over SQLite (default) and PostgreSQL;
//! - [`devices`]: enrollment codes, registration, device authentication;
//! - [`ingest`]: record upload with the core's chain verification;
//! - [`blobs`]: resumable, content-addressed photo upload;
//! - [`changes`]: the signed changes feed and what administrators publish into it;
//! - [`report`]: attendance, flagged records, forks, stale devices;
//! - [`http`]: the axum API (described by `openapi.json`);
//! - [`error`]: typed errors and their JSON answers.
//!
//! The server keeps no state of its own besides the database and its signing key, so several instances
//! can share one PostgreSQL database behind a load balancer.

pub mod blobs;
pub mod changes;
pub mod db;
pub mod devices;
pub mod error;
pub mod http;
pub mod ingest;
pub mod launch;
pub mod report;

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
}

impl ServerConfig {
    /// A configuration keeping everything in `data_dir` (SQLite `server.db`, key `server-key.pk8`).
    pub fn in_dir(data_dir: &Path, admin_token: impl Into<String>) -> Self {
        ServerConfig {
            database: data_dir.join("server.db").to_string_lossy().into_owned(),
            key_file: data_dir.join("server-key.pk8"),
            admin_token: admin_token.into(),
            device_config: DeviceConfig::default(),
        }
    }
}

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
    Ok(AppState {
        db,
        signer: Arc::new(signer) as Arc<dyn Signer>,
        public_key,
        admin_token_hash: devices::sha256(cfg.admin_token.as_bytes()),
        device_config: cfg.device_config.clone(),
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
    let app = router(st);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        public_key,
        shutdown: tx,
        task,
    })
}
