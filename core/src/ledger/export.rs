//! The ledger file format: one JSON record per line (JSON Lines), as exported by a device and read by
//! `siap ledger verify`. The same JSON shape is used on the wire.

use std::io::{BufRead, Write};

use super::record::Record;
use crate::{Error, Result};

/// Largest line accepted when reading (a record is at most 64 KiB of payload, base64 plus fields).
const MAX_LINE: usize = 128 * 1024;

/// Writes `records` as JSON lines.
pub fn write_jsonl(out: &mut impl Write, records: &[Record]) -> Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Reads JSON lines written by [`write_jsonl`]. Blank lines are skipped; a malformed line is an
/// [`Error::Encoding`] naming the line number.
pub fn read_jsonl(input: impl BufRead) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > MAX_LINE {
            return Err(Error::Encoding(format!(
                "line {} is longer than {MAX_LINE} bytes",
                i + 1
            )));
        }
        let r: Record = serde_json::from_str(&line).map_err(|e| {
            Error::Encoding(format!(
                "line {}: {:?} error at column {}",
                i + 1,
                e.classify(),
                e.column()
            ))
        })?;
        out.push(r);
    }
    Ok(out)
}
