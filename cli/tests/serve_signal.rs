//! `siap serve` stops the way a service manager stops it: on SIGTERM it stops accepting, lets the
//! request in flight finish, logs why it stopped (JSON lines on standard error), and exits 0.

#![cfg(unix)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_drains_the_request_in_flight_and_exits_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_siap"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(tmp.path())
        .env("SIAP_ADMIN_TOKEN", "signal-test-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .strip_prefix("listening ")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no start line: {line:?}"))
        .to_owned();

    // A request whose body is half sent when the signal arrives.
    let body = br#"{"enrollment_code":"NOPE","public_key":"AA=="}"#;
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        conn,
        "POST /v1/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    std::thread::sleep(Duration::from_millis(300));
    // No new connection is taken once draining started.
    let refused = match TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)) {
        Err(_) => true,
        Ok(mut c) => {
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(c, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            let mut buf = [0u8; 64];
            matches!(c.read(&mut buf), Ok(0) | Err(_))
        }
    };
    assert!(refused, "a new connection was served while draining");
    conn.write_all(&body[10..]).unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 4"),
        "the request in flight got no answer: {answer:?}"
    );

    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let events: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["signal"] == "SIGTERM" && e["level"] == "INFO"),
        "{err}"
    );
    assert!(events.iter().any(|e| e["message"] == "stopped"), "{err}");
    assert!(
        events
            .iter()
            .any(|e| e["route"] == "/v1/register" && e["status"].as_u64().is_some_and(|s| s >= 400)),
        "{err}"
    );
    assert!(!err.contains("signal-test-token"), "{err}");
}
