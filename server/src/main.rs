//! `siap-server`: runs the reference sync server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

/// SIAP reference sync server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Data directory (SQLite database and server key).
    #[arg(long, default_value = "siap-server-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://...`, or env `SIAP_DATABASE_URL`); SQLite in the data directory when absent.
    #[arg(long)]
    database_url: Option<String>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Administrator token (or env `SIAP_ADMIN_TOKEN`; else read from `<data-dir>/admin-token`, created on first start).
    #[arg(long)]
    admin_token: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir).context("cannot create the data directory")?;
    let admin_token = if let Some(t) = args
        .admin_token
        .or_else(|| std::env::var("SIAP_ADMIN_TOKEN").ok())
    {
        t
    } else {
        let p = args.data_dir.join("admin-token");
        if p.exists() {
            std::fs::read_to_string(&p)?.trim().to_owned()
        } else {
            let t = hex::encode(siap_server::devices::random_bytes::<24>()?);
            std::fs::write(&p, &t)?;
            eprintln!("admin token written to {}", p.display());
            t
        }
    };
    let mut cfg = siap_server::ServerConfig::in_dir(&args.data_dir, admin_token);
    if let Some(url) = args
        .database_url
        .or_else(|| std::env::var("SIAP_DATABASE_URL").ok())
    {
        cfg.database = url;
    }
    let running = siap_server::spawn(&cfg, args.listen).await?;
    // Machine-readable start line (tests and scripts read it).
    println!(
        "listening {} public_key {}",
        running.addr,
        hex::encode(&running.public_key)
    );
    tokio::signal::ctrl_c().await?;
    let _ = running.shutdown.send(());
    let _ = running.task.await;
    Ok(())
}
