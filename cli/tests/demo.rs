//! The README's main command, end to end: `siap demo` runs, and its exported ledger verifies with
//! `siap ledger verify`; a tampered copy does not.

use std::process::Command;

fn siap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_siap"))
}

#[test]
fn demo_runs_and_its_ledger_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = siap()
        .args(["demo", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "Accepted",
        "OutsideFence",
        "MockLocation",
        "LivenessFailed",
        "chain verified",
        "refused (bad signature)",
        "verdict_disputed",
        "[\"not_bound\", \"enrollment_pending\"]",
        "EnrollmentPending",
        "HR approves Maria's template",
        "Maria's face Approved",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks {expected:?}:\n{stdout}"
        );
    }
    let line = stdout
        .lines()
        .find(|l| l.contains("--public-key "))
        .expect("demo prints the verify command");
    let arg = |flag: &str| {
        line.split(flag)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {flag} in {line}"))
            .to_owned()
    };
    let key = arg("--public-key ");
    let head = arg("--expect-head ");
    let file = dir.path().join("ledger.jsonl");
    let ok = siap()
        .args(["ledger", "verify"])
        .arg(&file)
        .args(["--public-key", &key, "--expect-head", &head])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("OK:"));

    // Swap two records: the verification fails and says where.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.swap(1, 2);
    std::fs::write(&file, lines.join("\n")).unwrap();
    let bad = siap()
        .args(["ledger", "verify"])
        .arg(&file)
        .args(["--public-key", &key])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("INVALID"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // A malformed key is a clear error, not a panic.
    let badkey = siap()
        .args(["ledger", "verify"])
        .arg(&file)
        .args(["--public-key", "zz"])
        .output()
        .unwrap();
    assert!(!badkey.status.success());
}
