//! `siap ledger verify` on files that must not pass: empty exports, oversized lines, and truncated
//! exports caught by `--expect-head`; and on a good export with the right head, which must.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use siap_core::ledger::export::write_jsonl;
use siap_core::ledger::{Ledger, SoftwareSigner};
use siap_core::store::Store;

fn siap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siap"))
}

/// A device ledger with `n` records in `dir`: its public key (hex), records, and head hash (hex).
struct Export {
    key: String,
    records: Vec<siap_core::ledger::Record>,
    head_hash: String,
}

fn ledger_with(dir: &Path, n: usize) -> Export {
    let store = Store::open_dir(dir).unwrap();
    let ledger = Ledger::new(
        Arc::new(store),
        Arc::new(SoftwareSigner::generate().unwrap()),
    )
    .unwrap();
    for i in 0..n {
        ledger
            .append("test.event", format!("{{\"i\":{i}}}").as_bytes())
            .unwrap();
    }
    let head = ledger.head().unwrap().unwrap();
    Export {
        key: hex::encode(ledger.public_key()),
        records: ledger.all().unwrap(),
        head_hash: hex::encode(head.hash),
    }
}

fn write(dir: &Path, name: &str, records: &[siap_core::ledger::Record]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    write_jsonl(&mut f, records).unwrap();
    path
}

fn verify(file: &Path, key: &str, extra: &[&str]) -> Output {
    siap()
        .args(["ledger", "verify"])
        .arg(file)
        .args(["--public-key", key])
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn empty_and_blank_files_fail() {
    let dir = tempfile::tempdir().unwrap();
    let e = ledger_with(&dir.path().join("dev"), 1);
    for (name, content) in [("empty.jsonl", ""), ("blank.jsonl", "\n\n  \r\n")] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let out = verify(&path, &e.key, &[]);
        assert!(!out.status.success(), "{name}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("INVALID") && stderr.contains("no records"),
            "{name}: {}",
            text(&out)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("OK"));
    }
}

#[test]
fn an_oversized_line_fails_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let e = ledger_with(&dir.path().join("dev"), 1);
    let path = dir.path().join("big.jsonl");
    std::fs::write(&path, vec![b'{'; 300 * 1024]).unwrap();
    let out = verify(&path, &e.key, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1 is longer than"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_expected_head_passes() {
    let dir = tempfile::tempdir().unwrap();
    let e = ledger_with(&dir.path().join("dev"), 4);
    let file = write(dir.path(), "ledger.jsonl", &e.records);
    for expect in ["4".to_owned(), format!("4:{}", e.head_hash)] {
        let out = verify(&file, &e.key, &["--expect-head", &expect]);
        assert!(out.status.success(), "{expect}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("OK:"), "{}", text(&out));
        assert!(stdout.contains("head as expected"), "{}", text(&out));
        assert!(stdout.contains(&e.head_hash), "{}", text(&out));
    }
}

#[test]
fn a_truncated_export_fails_against_the_expected_head() {
    let dir = tempfile::tempdir().unwrap();
    let e = ledger_with(&dir.path().join("dev"), 4);
    let truncated = write(dir.path(), "truncated.jsonl", &e.records[..3]);
    // On its own a prefix is a valid, shorter chain ...
    let alone = verify(&truncated, &e.key, &[]);
    assert!(alone.status.success(), "{}", text(&alone));
    // ... which the expected head exposes, by seq and by hash.
    for expect in ["4".to_owned(), format!("4:{}", e.head_hash)] {
        let out = verify(&truncated, &e.key, &["--expect-head", &expect]);
        assert!(!out.status.success(), "{expect}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("INVALID") && stderr.contains("truncated"),
            "{}",
            text(&out)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("OK"));
    }
    // The right seq with another hash fails too.
    let full = write(dir.path(), "full.jsonl", &e.records);
    let wrong = format!("4:{}", "00".repeat(32));
    let out = verify(&full, &e.key, &["--expect-head", &wrong]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_malformed_expected_head_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = ledger_with(&dir.path().join("dev"), 1);
    let file = write(dir.path(), "ledger.jsonl", &e.records);
    for bad in ["x", "1:abc", "-1"] {
        let out = verify(&file, &e.key, &["--expect-head", bad]);
        assert!(!out.status.success(), "{bad}: {}", text(&out));
    }
}
