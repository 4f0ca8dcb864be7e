//! The first city administrator is named by a command, with the password on standard input (never
//! an argument `ps` would show): `siap-server create-admin NAME --role ROLE`. The account then signs
//! in; a short password is refused and nothing is created.

use std::io::Write as _;
use std::process::{Command, Stdio};

fn create(dir: &std::path::Path, name: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_siap-server"))
        .args(["--data-dir"])
        .arg(dir)
        .args(["create-admin", name, "--role", "city_admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn the_first_administrator_is_named_by_a_command() {
    let tmp = tempfile::tempdir().unwrap();
    let short = create(tmp.path(), "it.root", "short");
    assert!(!short.status.success());
    let ok = create(tmp.path(), "it.root", "correct horse battery staple");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "administrator it.root (city_admin)"
    );
    let db = siap_server::db::Db::open(&tmp.path().join("server.db").to_string_lossy())
        .await
        .unwrap();
    let listed = siap_server::admins::list(&db).await.unwrap();
    assert_eq!(listed.len(), 1);
    let session = siap_server::admins::login(
        &db,
        "it.root".into(),
        "correct horse battery staple".into(),
        siap_core::time::wall_now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(session.role, siap_server::admins::Role::CityAdmin);
    assert!(
        siap_server::admins::login(&db, "it.root".into(), "short".into(), 0)
            .await
            .is_err()
    );
}
