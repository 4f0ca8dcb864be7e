//! Crash safety of `append`: a child process appends as fast as it can and is killed at a random
//! moment, over and over, against the same database file. After every kill the chain must verify: each
//! record is either there, complete and verifiable, or absent.
//!
//! The child is this test binary run as `--ignored --exact crash_child_appender`: an ignored entry point,
//! not a test, so a normal run lists it as ignored instead of passing it without checking anything.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use siap_core::device::{KeySource, open_ledger};
use siap_core::sealed::MasterKey;
use siap_core::store::Store;

const CHILD_ENV: &str = "SIAP_CRASH_CHILD_DIR";
const KEY_ENV: &str = "SIAP_CRASH_CHILD_KEY";

fn open(dir: &Path, key: &MasterKey) -> siap_core::ledger::Ledger {
    let store = Arc::new(Store::open_dir(dir).expect("open store"));
    open_ledger(store, key, KeySource::Software).expect("open ledger")
}

/// The child process of `killing_the_process_mid_append_never_breaks_the_chain`: appends until killed.
/// Not a test: run on its own (without the parent's environment) it fails.
#[test]
#[ignore = "child process of killing_the_process_mid_append_never_breaks_the_chain, which runs it"]
fn crash_child_appender() {
    let dir = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!(
            "crash_child_appender is the child process of \
             killing_the_process_mid_append_never_breaks_the_chain (it needs {CHILD_ENV} and {KEY_ENV}); \
             run that test instead"
        )
    });
    let key =
        MasterKey::from_bytes(&hex::decode(std::env::var(KEY_ENV).unwrap()).unwrap()).unwrap();
    let ledger = open(Path::new(&dir), &key);
    let payload = vec![b'x'; 2000];
    for i in 0u64.. {
        if i % 3 == 0 {
            ledger
                .append_batch(&[("crash.batch", &payload[..]), ("crash.batch", b"{}")])
                .unwrap();
        } else {
            ledger.append("crash.single", &payload).unwrap();
        }
    }
}

#[test]
fn killing_the_process_mid_append_never_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate().unwrap();
    // Create the device first so every child continues the same chain.
    drop(open(dir.path(), &key));
    let exe = std::env::current_exe().unwrap();
    let mut last = 0;
    let mut grew = 0;
    for round in 0..12u64 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env(KEY_ENV, hex::encode(key.as_bytes()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Vary the moment of the kill: 150..~600 ms after start (open takes part of it).
        std::thread::sleep(Duration::from_millis(150 + (round * 37) % 450));
        child.kill().unwrap(); // SIGKILL: no destructors, no rollback by the process itself
        child.wait().unwrap();

        let ledger = open(dir.path(), &key);
        let head = ledger
            .verify()
            .expect("chain verifies after a kill")
            .map_or(0, |h| h.seq);
        assert!(head >= last, "records were lost: {head} < {last}");
        if head > last {
            grew += 1;
        }
        last = head;
    }
    assert!(
        grew >= 6,
        "the child appended in only {grew} of 12 rounds: the test did not exercise kills mid-append"
    );
    println!("survived 12 kills; chain length {last}");
}
