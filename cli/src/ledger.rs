//! `siap ledger verify FILE --public-key KEY [--expect-head SEQ[:HASH]]`: checks a device's exported
//! chain end to end.
//!
//! A chain that verifies proves that nothing inside it was edited, reordered or dropped, but a file cut
//! after any record is still a valid (shorter) chain. `--expect-head` closes that gap: given the head the
//! device or the server reports (its seq, and optionally its hash), a truncated export fails.

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Subcommand;
use siap_core::ledger::{ChainHead, device_id_for, export::read_jsonl, verify_chain};

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
        /// The head the chain must end at: `SEQ` or `SEQ:HASH` (HASH: 64 hex characters). Catches a
        /// truncated export, which is otherwise a valid, shorter chain.
        #[arg(long, value_name = "SEQ[:HASH]", value_parser = parse_expected_head)]
        expect_head: Option<ExpectedHead>,
    },
}

/// The head a verified chain must end at (`--expect-head`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedHead {
    /// The head's seq.
    pub seq: u64,
    /// The head's hash, when given.
    pub hash: Option<[u8; 32]>,
}

/// Parses `SEQ` or `SEQ:HASH` (HASH: 64 hex characters).
pub fn parse_expected_head(s: &str) -> Result<ExpectedHead, String> {
    let s = s.trim();
    let (seq, hash) = match s.split_once(':') {
        Some((seq, hash)) => (seq, Some(hash)),
        None => (s, None),
    };
    let seq: u64 = seq
        .parse()
        .map_err(|_| "SEQ must be a non-negative integer".to_owned())?;
    let hash = hash
        .map(|h| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out)
                .map_err(|_| "HASH must be 64 hex characters".to_owned())?;
            Ok::<_, String>(out)
        })
        .transpose()?;
    Ok(ExpectedHead { seq, hash })
}

/// Checks a verified head against the expected one; the error says how they differ.
pub fn check_head(head: Option<ChainHead>, expected: ExpectedHead) -> anyhow::Result<()> {
    let seq = head.map_or(0, |h| h.seq);
    if seq != expected.seq {
        let hint = if seq < expected.seq {
            " (the export is truncated or incomplete)"
        } else {
            " (the export has records after the expected head)"
        };
        bail!(
            "INVALID: chain ends at seq {seq}, expected head seq {}{hint}",
            expected.seq
        );
    }
    if let (Some(want), Some(h)) = (expected.hash, head)
        && h.hash != want
    {
        bail!(
            "INVALID: head seq {seq} has hash {}, expected {}",
            hex::encode(h.hash),
            hex::encode(want)
        );
    }
    if expected.hash.is_some() && head.is_none() {
        bail!("INVALID: the chain is empty, so it has no head hash to compare");
    }
    Ok(())
}

/// Runs a ledger subcommand.
pub fn run(cmd: LedgerCommand) -> anyhow::Result<()> {
    match cmd {
        LedgerCommand::Verify {
            file,
            public_key,
            expect_head,
        } => {
            let key = parse_key(&public_key)?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let records = read_jsonl(BufReader::new(f))
                .with_context(|| format!("INVALID: cannot read {}", file.display()))?;
            let head = match verify_chain(&key, &records) {
                Ok(head) => head,
                Err(e) => bail!("INVALID: {e}"),
            };
            if let Some(expected) = expect_head {
                check_head(head, expected)?;
            }
            println!(
                "OK: {} records from device {}, chain intact (head seq {}, hash {}){}",
                records.len(),
                device_id_for(&key),
                head.map_or(0, |h| h.seq),
                head.map_or_else(|| "none".to_owned(), |h| hex::encode(h.hash)),
                if expect_head.is_some() {
                    ", head as expected"
                } else {
                    ""
                }
            );
            Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seq_and_seq_with_hash() {
        assert_eq!(
            parse_expected_head("12").unwrap(),
            ExpectedHead {
                seq: 12,
                hash: None
            }
        );
        let h = "ab".repeat(32);
        assert_eq!(
            parse_expected_head(&format!("3:{h}")).unwrap(),
            ExpectedHead {
                seq: 3,
                hash: Some([0xab; 32])
            }
        );
        for bad in ["", "x", "-1", "3:", "3:abc", &format!("3:{h}00"), "3:zz"] {
            assert!(parse_expected_head(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn head_comparison() {
        let head = Some(ChainHead {
            seq: 5,
            hash: [7; 32],
        });
        let ok = ExpectedHead { seq: 5, hash: None };
        assert!(check_head(head, ok).is_ok());
        assert!(
            check_head(
                head,
                ExpectedHead {
                    seq: 5,
                    hash: Some([7; 32])
                }
            )
            .is_ok()
        );
        let short = check_head(head, ExpectedHead { seq: 6, hash: None }).unwrap_err();
        assert!(short.to_string().contains("truncated"), "{short}");
        let wrong = check_head(
            head,
            ExpectedHead {
                seq: 5,
                hash: Some([8; 32]),
            },
        )
        .unwrap_err();
        assert!(wrong.to_string().contains("expected"), "{wrong}");
        assert!(
            check_head(
                None,
                ExpectedHead {
                    seq: 0,
                    hash: Some([0; 32])
                }
            )
            .is_err()
        );
    }
}
