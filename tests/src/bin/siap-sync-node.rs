//! A child process for crash tests: `serve` runs a sync server, `sync` runs a device's sync loop. The
//! tests kill these processes (SIGKILL) at awkward moments and check that nothing was lost or duplicated.
//!
//! Usage:
//!   siap-sync-node serve DATA_DIR LISTEN_ADDR [DATABASE]
//!   siap-sync-node sync DEVICE_DIR URL SERVER_PUBLIC_KEY_HEX

use anyhow::Context as _;
use siap_tests::sync_support::{ADMIN_TOKEN, TestDevice, test_client_config};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match args.get(1).map(String::as_str) {
        Some("serve") => rt.block_on(async {
            let dir = std::path::PathBuf::from(args.get(2).context("data dir")?);
            let mut cfg = siap_server::ServerConfig::in_dir(&dir, ADMIN_TOKEN);
            if let Some(db) = args.get(4) {
                cfg.database.clone_from(db);
            }
            let running =
                siap_server::spawn(&cfg, args.get(3).context("listen address")?.parse()?).await?;
            println!(
                "listening {} public_key {}",
                running.addr,
                hex::encode(&running.public_key)
            );
            let _ = running.task.await;
            Ok(())
        }),
        Some("sync") => rt.block_on(async {
            let dir = std::path::PathBuf::from(args.get(2).context("device dir")?);
            let url = args.get(3).context("url")?;
            let pk = hex::decode(args.get(4).context("server key")?)?;
            let mut cfg = test_client_config(url, &pk);
            cfg.batch_size = 50;
            let dev = TestDevice::open_with(&dir, cfg)?;
            loop {
                let r = dev.device.sync().await?;
                println!(
                    "synced acked={} pending={} errors={}",
                    r.acked_seq,
                    r.pending,
                    r.errors.len()
                );
                if r.is_complete() {
                    return Ok(());
                }
            }
        }),
        _ => anyhow::bail!("usage: siap-sync-node serve DIR ADDR [DB] | sync DIR URL PK_HEX"),
    }
}
