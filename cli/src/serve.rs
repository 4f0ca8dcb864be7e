//! `siap serve`: runs the reference sync server (SQLite in a data directory by default, PostgreSQL
//! with `--database-url`). The integrator wires [`ServeArgs`] into the command enum in `main.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

/// Arguments of `siap serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Data directory (SQLite database, server key, admin token).
    #[arg(long, default_value = "siap-server-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://...`); SQLite in the data directory when absent.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Administrator token (else `SIAP_ADMIN_TOKEN`, else `<data-dir>/admin-token`, created on first start).
    #[arg(long)]
    pub admin_token: Option<String>,
}

/// Runs the server until Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        std::fs::create_dir_all(&args.data_dir).context("cannot create the data directory")?;
        let token = match args
            .admin_token
            .or_else(|| std::env::var("SIAP_ADMIN_TOKEN").ok())
        {
            Some(t) => t,
            None => {
                let p = args.data_dir.join("admin-token");
                if p.exists() {
                    std::fs::read_to_string(&p)?.trim().to_owned()
                } else {
                    let t = hex::encode(siap_server::devices::random_bytes::<24>()?);
                    std::fs::write(&p, &t)?;
                    eprintln!("admin token written to {}", p.display());
                    t
                }
            }
        };
        let mut cfg = siap_server::ServerConfig::in_dir(&args.data_dir, token);
        if let Some(url) = args.database_url {
            cfg.database = url;
        }
        let running = siap_server::spawn(&cfg, args.listen).await?;
        println!(
            "listening {} public_key {}",
            running.addr,
            hex::encode(&running.public_key)
        );
        tokio::signal::ctrl_c().await?;
        let _ = running.shutdown.send(());
        let _ = running.task.await;
        Ok(())
    })
}
