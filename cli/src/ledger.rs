//! `siap ledger verify FILE --public-key KEY`: checks a device's exported chain end to end.

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Subcommand;
use siap_core::ledger::{device_id_for, export::read_jsonl, verify_chain};

/// Ledger subcommands.
#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Verify a JSON Lines ledger export against the device's public key.
    Verify {
        /// The exported file (one record per line).
        file: PathBuf,
        /// The device's public key: uncompressed P-256 point, hex or base64.
        #[arg(long)]
        public_key: String,
    },
}

/// Runs a ledger subcommand.
pub fn run(cmd: LedgerCommand) -> anyhow::Result<()> {
    match cmd {
        LedgerCommand::Verify { file, public_key } => {
            let key = parse_key(&public_key)?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let records = read_jsonl(BufReader::new(f))?;
            match verify_chain(&key, &records) {
                Ok(head) => {
                    println!(
                        "OK: {} records from device {}, chain intact (head seq {})",
                        records.len(),
                        device_id_for(&key),
                        head.map_or(0, |h| h.seq)
                    );
                    Ok(())
                }
                Err(e) => bail!("INVALID: {e}"),
            }
        }
    }
}

/// Accepts a public key as hex or base64.
pub fn parse_key(s: &str) -> anyhow::Result<Vec<u8>> {
    let s = s.trim();
    let key = hex::decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(s))
        .context("public key is neither hex nor base64")?;
    siap_core::ledger::signer::check_public_key(&key)?;
    Ok(key)
}
