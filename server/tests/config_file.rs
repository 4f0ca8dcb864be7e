//! The configuration file sets the listen address, the data directory, retention, log format and the
//! device policy the server signs for phones; a command-line option wins over it; `siap-server
//! --config FILE` starts where the file says.

use std::io::BufRead as _;
use std::process::{Command, Stdio};

use clap::Parser;
use siap_server::launch::{ServeArgs, resolve};
use siap_server::ops::LogFormat;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn args(extra: &[&str]) -> ServeArgs {
    Cli::parse_from(std::iter::once("siap-server").chain(extra.iter().copied())).serve
}

#[test]
fn the_file_sets_the_server_and_the_device_policy_and_an_option_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("siap.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\nlog_format = \"text\"\nface_retention_days = 30\n\
             [device]\nrequire_liveness = false\nbatch_size = 77\n"
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let r = resolve(&args(&["--config", path])).unwrap();
    assert_eq!(r.listen.port(), 0);
    assert_eq!(r.log_format, LogFormat::Text);
    assert_eq!(
        std::path::Path::new(&r.cfg.database),
        data.join("server.db")
    );
    assert_eq!(r.cfg.face_retention_days, 30);
    assert_eq!(r.cfg.device_config.batch_size, 77);
    assert!(!r.cfg.device_config.require_liveness);
    // Keys the file leaves out keep the safe defaults.
    assert!(r.cfg.device_config.require_face && r.cfg.device_config.require_enrollment_liveness);

    let r = resolve(&args(&[
        "--config",
        path,
        "--listen",
        "127.0.0.1:9",
        "--log-format",
        "json",
        "--allow-enrollment-without-liveness",
    ]))
    .unwrap();
    assert_eq!((r.listen.port(), r.log_format), (9, LogFormat::Json));
    assert!(!r.cfg.device_config.require_enrollment_liveness);

    std::fs::write(&file, "[device]\nrequire_livenes = false\n").unwrap();
    let e = format!("{:#}", resolve(&args(&["--config", path])).unwrap_err());
    assert!(e.contains("require_livenes"), "{e}");
}

#[test]
fn siap_server_starts_where_the_file_says() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("siap.toml");
    std::fs::write(
        &file,
        format!("listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_siap-server"))
        .arg("--config")
        .arg(&file)
        .env("SIAP_ADMIN_TOKEN", "config-test-token")
        .env("SIAP_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening 127.0.0.1:"), "{line:?}");
    assert!(data.join("server.db").exists());
}
