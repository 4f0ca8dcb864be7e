//! The ledger file format: one JSON record per line (JSON Lines), as exported by a device and read by
//! `siap ledger verify`. The same JSON shape is used on the wire.
//!
//! Reading is streamed with a bounded line reader: no line longer than [`MAX_LINE`] bytes is ever held
//! in memory, so a hostile file (say 1 GB without a newline) costs at most one line's worth of memory
//! before it is refused.

use std::io::{BufRead, Read, Write};

use super::record::Record;
use crate::{Error, Result};

/// Largest line accepted when reading, in bytes without the line ending (a record is at most 64 KiB of
/// payload, base64 plus fields).
pub const MAX_LINE: usize = 128 * 1024;

/// Writes `records` as JSON lines.
pub fn write_jsonl(out: &mut impl Write, records: &[Record]) -> Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Reads JSON lines written by [`write_jsonl`].
///
/// Blank lines are skipped; `\n` and `\r\n` line endings are accepted. Errors ([`Error::Encoding`], naming
/// the 1-based line number and never the line's content):
/// - a line longer than [`MAX_LINE`] bytes (refused as soon as the limit is passed, without reading the
///   rest of the line);
/// - a line that is not valid UTF-8 or not a JSON record;
/// - an input with no record at all (empty, or only blank lines): an empty export proves nothing.
pub fn read_jsonl(mut input: impl BufRead) -> Result<Vec<Record>> {
    // Room for the longest accepted line plus its "\r\n".
    let limit = MAX_LINE as u64 + 2;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = (&mut input).take(limit).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        // Without a line ending this is either the last line (shorter than the limit) or a line that
        // was cut at the limit: the latter is longer than MAX_LINE and refused here.
        if buf.len() > MAX_LINE {
            return Err(Error::Encoding(format!(
                "line {line_no} is longer than {MAX_LINE} bytes"
            )));
        }
        let line = std::str::from_utf8(&buf)
            .map_err(|_| Error::Encoding(format!("line {line_no} is not valid UTF-8")))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = serde_json::from_str(line).map_err(|e| {
            Error::Encoding(format!(
                "line {line_no}: {:?} error at column {}",
                e.classify(),
                e.column()
            ))
        })?;
        out.push(r);
    }
    if out.is_empty() {
        return Err(Error::Encoding(
            "no records: the input is empty or has only blank lines".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Cursor};
    use std::sync::Arc;

    use super::*;
    use crate::ledger::{Ledger, SoftwareSigner};
    use crate::store::Store;

    fn records(n: usize) -> Vec<Record> {
        let l = Ledger::new(
            Arc::new(Store::open_in_memory().unwrap()),
            Arc::new(SoftwareSigner::generate().unwrap()),
        )
        .unwrap();
        for i in 0..n {
            l.append("test.event", format!("{{\"i\":{i}}}").as_bytes())
                .unwrap();
        }
        l.all().unwrap()
    }

    fn encoding_message(r: Result<Vec<Record>>) -> String {
        match r {
            Err(Error::Encoding(m)) => m,
            other => panic!("expected an encoding error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_with_crlf_and_blank_lines() {
        let recs = records(2);
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &recs).unwrap();
        let text = String::from_utf8(buf).unwrap().replace('\n', "\r\n");
        let text = format!("\n  \n{text}\n\n");
        assert_eq!(read_jsonl(text.as_bytes()).unwrap(), recs);
        // The last line may lack its newline.
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &recs).unwrap();
        buf.pop();
        assert_eq!(read_jsonl(&buf[..]).unwrap(), recs);
    }

    #[test]
    fn empty_input_is_an_error() {
        for input in [&b""[..], b"\n", b"\n\n  \r\n\t\n"] {
            let m = encoding_message(read_jsonl(input));
            assert!(m.contains("no records"), "{m}");
        }
    }

    #[test]
    fn oversized_line_without_newline_is_refused_without_reading_it_all() {
        // 300 KB of one line, no newline: refused on line 1.
        let big = vec![b'a'; 300 * 1024];
        let mut cursor = Cursor::new(big);
        let m = encoding_message(read_jsonl(BufReader::new(&mut cursor)));
        assert!(m.contains("line 1 is longer than"), "{m}");
        // The reader stopped just past the limit (plus at most one BufReader fill).
        let consumed = cursor.position() as usize;
        assert!(
            consumed <= MAX_LINE + 2 + 8 * 1024,
            "read {consumed} bytes of an oversized line"
        );
    }

    #[test]
    fn oversized_line_after_good_lines_names_its_number() {
        let recs = records(1);
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &recs).unwrap();
        buf.extend(std::iter::repeat_n(b' ', MAX_LINE + 1));
        buf.extend_from_slice(b"x\n");
        let m = encoding_message(read_jsonl(&buf[..]));
        assert!(m.contains("line 2 is longer than"), "{m}");
    }

    #[test]
    fn a_line_of_exactly_max_line_is_not_refused_for_its_length() {
        let line = vec![b' '; MAX_LINE];
        let mut input = line.clone();
        input.extend_from_slice(b"\r\n");
        // Only blank, so it ends up as "no records", not "too long".
        let m = encoding_message(read_jsonl(&input[..]));
        assert!(m.contains("no records"), "{m}");
        let m = encoding_message(read_jsonl(&line[..]));
        assert!(m.contains("no records"), "{m}");
    }

    #[test]
    fn invalid_utf8_is_a_typed_error() {
        let m = encoding_message(read_jsonl(&b"{\"a\":\"\xff\xfe\"}\n"[..]));
        assert!(m.contains("line 1 is not valid UTF-8"), "{m}");
    }

    #[test]
    fn malformed_json_names_the_line_not_the_content() {
        let recs = records(1);
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &recs).unwrap();
        buf.extend_from_slice(b"{\"secret-name\": \n");
        let m = encoding_message(read_jsonl(&buf[..]));
        assert!(m.starts_with("line 2:"), "{m}");
        assert!(!m.contains("secret-name"), "{m}");
    }
}
