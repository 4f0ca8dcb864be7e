//! Starting the server from a command line: the options and the start-up both `siap-server` and
//! `siap serve` use, so that the admin token, the database choice and the start line cannot drift apart.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

/// Command-line options of the server. Each one also has a key in the configuration file
/// ([`crate::config_file`]); the option wins.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML; or env `SIAP_CONFIG`), see `server/siap-server.example.toml`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database, server key, admin token); default `siap-server-data`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (`postgres://...`, or env `SIAP_DATABASE_URL`); SQLite in the data directory
    /// when absent.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Listen address; default `127.0.0.1:8787`.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Administrator token (or env `SIAP_ADMIN_TOKEN`; else read from `<data-dir>/admin-token`,
    /// created on first start with mode 0600).
    #[arg(long)]
    pub admin_token: Option<String>,
    /// Directory of the face models (or env `SIAP_FACE_MODELS`): the server then re-checks every
    /// check-in's face itself, and reports it `pending` until it has. Without it, the phone's face
    /// verdict is believed (see README, "Trust model").
    #[arg(long)]
    pub face_models: Option<PathBuf>,
    /// Accept face enrollments without a passed liveness answer (turns the city's policy
    /// `require_enrollment_liveness` off): only for test benches and demos whose camera cannot answer
    /// a challenge. A face enrolled from photos of someone is the cheapest attack on face check-in.
    #[arg(long)]
    pub allow_enrollment_without_liveness: bool,
    /// Log format on standard error: one JSON object per line (default), or text. The filter is
    /// `SIAP_LOG` (tracing's syntax, default `info`: one line per request, start and stop).
    #[arg(long, value_enum)]
    pub log_format: Option<crate::ops::LogFormat>,
}

/// What the options, the environment and the configuration file resolve to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The server's configuration.
    pub cfg: crate::ServerConfig,
    /// Where to listen.
    pub listen: SocketAddr,
    /// How to log.
    pub log_format: crate::ops::LogFormat,
}

/// Resolves the options over their environment variables, the configuration file and the defaults
/// (see [`crate::config_file`]). Creates the data directory.
pub fn resolve(args: &ServeArgs) -> anyhow::Result<Resolved> {
    let file = match args.config.clone().or_else(|| {
        std::env::var_os("SIAP_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }) {
        Some(p) => crate::config_file::FileConfig::read(&p)?,
        None => crate::config_file::FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("siap-server-data"));
    std::fs::create_dir_all(&data_dir).context("cannot create the data directory")?;
    let mut cfg = crate::ServerConfig::in_dir(&data_dir, admin_token(args, &data_dir)?);
    if let Some(url) = args
        .database_url
        .clone()
        .or_else(|| std::env::var("SIAP_DATABASE_URL").ok())
        .or_else(|| file.database_url.clone())
    {
        cfg.database = url;
    }
    cfg.face_models = args
        .face_models
        .clone()
        .or_else(|| {
            std::env::var_os("SIAP_FACE_MODELS")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| file.face_models.clone());
    if let Some(days) = file.face_retention_days {
        cfg.face_retention_days = days;
    }
    if let Some(n) = file.max_heavy_requests {
        cfg.max_heavy_requests = n;
    }
    file.device.apply(&mut cfg.device_config);
    if args.allow_enrollment_without_liveness {
        cfg.device_config.require_enrollment_liveness = false;
    }
    Ok(Resolved {
        cfg,
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8787))),
        log_format: args
            .log_format
            .or(file.log_format)
            .unwrap_or(crate::ops::LogFormat::Json),
    })
}

/// The admin token: the option, else `SIAP_ADMIN_TOKEN`, else the token file of the data directory
/// (created with a fresh random token on first start).
fn admin_token(args: &ServeArgs, data_dir: &std::path::Path) -> anyhow::Result<String> {
    if let Some(t) = args
        .admin_token
        .clone()
        .or_else(|| std::env::var("SIAP_ADMIN_TOKEN").ok())
    {
        return Ok(t);
    }
    let p = data_dir.join("admin-token");
    if p.exists() {
        return Ok(std::fs::read_to_string(&p)?.trim().to_owned());
    }
    let t = hex::encode(crate::devices::random_bytes::<24>()?);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    std::io::Write::write_all(&mut opts.open(&p)?, t.as_bytes())?;
    eprintln!("admin token written to {}", p.display());
    Ok(t)
}

/// Runs the server until Ctrl-C. Prints the machine-readable start line
/// `listening <addr> public_key <hex>` (tests and scripts read it).
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let Resolved {
        cfg,
        listen,
        log_format,
    } = resolve(&args)?;
    crate::ops::init_logs(log_format);
    let running = crate::spawn(&cfg, listen).await?;
    println!(
        "listening {} public_key {}",
        running.addr,
        hex::encode(&running.public_key)
    );
    tracing::info!(addr = %running.addr, database = backend(&cfg.database), "listening");
    let signal = stop_signal().await?;
    tracing::info!(signal, "stopping: draining requests in flight");
    let _ = running.shutdown.send(());
    let _ = running.task.await;
    tracing::info!("stopped");
    Ok(())
}

/// Creates (or resets the password and role of) the administrator `name` in the database the
/// options name, with the password read as one line from `password` (standard input: never an
/// argument, which `ps` would show). The way to name the first city administrator.
pub async fn create_admin(
    args: &ServeArgs,
    name: &str,
    role: crate::admins::Role,
    password: &mut dyn std::io::BufRead,
) -> anyhow::Result<()> {
    let cfg = resolve(args)?.cfg;
    let mut line = String::new();
    password.read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    let db = crate::db::Db::open(&cfg.database).await?;
    let row = crate::admins::put(
        &db,
        name.to_owned(),
        crate::admins::AdminBody {
            role,
            password: Some(line),
            disabled: false,
            opd: None,
        },
        crate::http::now_ms(),
    )
    .await?;
    println!("administrator {} ({})", row.name, row.role.as_str());
    Ok(())
}

/// Which database kind a spec names (never the spec: a URL may carry a password).
fn backend(spec: &str) -> &'static str {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        "postgres"
    } else {
        "sqlite"
    }
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM (systemd, containers) and names it.
async fn stop_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT").map_err(Into::into),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("interrupt")
    }
}
