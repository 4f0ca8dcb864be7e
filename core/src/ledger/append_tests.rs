//! Append tests: the signer runs without the store's lock held, concurrent appends through clones form
//! one gapless chain, a head moved by another writer while signing is noticed, and `append_with` /
//! `append_batch` stay all-or-nothing.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use super::*;
use crate::Error;
use crate::store::Store;

/// How long a probe waits for the store before calling it held by the signing thread.
const PROBE_WAIT: Duration = Duration::from_secs(3);

/// A software signer that, before signing, runs a hook (once or every time).
struct HookSigner {
    inner: SoftwareSigner,
    hook: OnceLock<Box<dyn Fn() -> crate::Result<()> + Send + Sync>>,
    calls: AtomicUsize,
}

impl HookSigner {
    fn new() -> Arc<Self> {
        Arc::new(HookSigner {
            inner: SoftwareSigner::generate().unwrap(),
            hook: OnceLock::new(),
            calls: AtomicUsize::new(0),
        })
    }

    fn set_hook(&self, f: impl Fn() -> crate::Result<()> + Send + Sync + 'static) {
        assert!(self.hook.set(Box::new(f)).is_ok(), "hook set twice");
    }
}

impl Signer for HookSigner {
    fn public_key(&self) -> crate::Result<Vec<u8>> {
        self.inner.public_key()
    }

    fn sign(&self, message: &[u8]) -> crate::Result<Vec<u8>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(hook) = self.hook.get() {
            hook()?;
        }
        self.inner.sign(message)
    }
}

/// Runs `f` on another thread and waits for it, as a status screen or a second writer would run while a
/// record is being signed. Fails (instead of hanging) if `f` does not finish within [`PROBE_WAIT`]: the
/// store was held by the thread that is signing.
fn on_another_thread(f: impl FnOnce() -> crate::Result<()> + Send + 'static) -> crate::Result<()> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PROBE_WAIT).unwrap_or_else(|_| {
        Err(Error::Signer(
            "the store stayed locked while the record was being signed".into(),
        ))
    })
}

/// Reads the store from another thread (see [`on_another_thread`]).
fn read_store_from_another_thread(store: &Arc<Store>) -> crate::Result<()> {
    let store = Arc::clone(store);
    on_another_thread(move || {
        store.with_conn(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM ledger", [], |r| r.get::<_, i64>(0))?)
        })?;
        Ok(())
    })
}

fn hooked_ledger() -> (Ledger, Arc<HookSigner>) {
    let signer = HookSigner::new();
    let ledger = Ledger::new(Arc::new(Store::open_in_memory().unwrap()), signer.clone()).unwrap();
    (ledger, signer)
}

#[test]
fn the_signer_runs_without_the_store_lock() {
    let (ledger, signer) = hooked_ledger();
    let store = Arc::clone(ledger.store());
    signer.set_hook(move || read_store_from_another_thread(&store));

    let one = ledger.append("test.event", b"{}");
    assert!(one.is_ok(), "append signed under the store lock: {one:?}");
    let with = ledger.append_with("test.event", b"{}", |tx, r| {
        tx.execute(
            "INSERT INTO settings (key, value) VALUES ('also', ?1)",
            [r.seq.to_string()],
        )?;
        Ok(())
    });
    assert!(
        with.is_ok(),
        "append_with signed under the store lock: {with:?}"
    );
    let batch = ledger.append_batch(&[("test.event", b"1"), ("test.event", b"2")]);
    assert!(
        batch.is_ok(),
        "append_batch signed under the store lock: {batch:?}"
    );
    let proof = ledger.prove_registration("ABCD-EFGH", ledger.public_key());
    assert!(
        proof.is_ok(),
        "registration proof signed under the store lock: {proof:?}"
    );

    assert_eq!(signer.calls.load(Ordering::SeqCst), 5);
    assert_eq!(ledger.verify().unwrap().unwrap().seq, 4);
    assert_eq!(
        ledger.store().setting("also").unwrap().as_deref(),
        Some("2")
    );
}

#[test]
fn clones_appending_from_many_threads_form_one_chain() {
    const THREADS: usize = 6;
    const EACH: usize = 20;
    let (ledger, signer) = hooked_ledger();
    // Every signature yields the CPU, so the threads really interleave between head read and insert.
    signer.set_hook(|| {
        thread::yield_now();
        Ok(())
    });
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let l = ledger.clone();
            thread::spawn(move || {
                for i in 0..EACH {
                    let p = format!("{{\"t\":{t},\"i\":{i}}}");
                    if i % 5 == 4 {
                        let q = format!("{{\"t\":{t},\"i\":{i},\"b\":1}}");
                        l.append_batch(&[
                            ("test.event", p.as_bytes()),
                            ("test.event", q.as_bytes()),
                        ])
                        .unwrap();
                    } else {
                        l.append("test.event", p.as_bytes()).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let per_thread = EACH + EACH / 5;
    let head = ledger.verify().unwrap().unwrap();
    assert_eq!(head.seq, (THREADS * per_thread) as u64);
    let all = ledger.all().unwrap();
    let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=head.seq).collect::<Vec<_>>(),
        "gaps or duplicates"
    );
    let mut payloads: Vec<&[u8]> = all.iter().map(|r| &r.payload[..]).collect();
    payloads.sort_unstable();
    payloads.dedup();
    assert_eq!(payloads.len(), all.len(), "a record was written twice");
    // A batch's records are adjacent: no other append lands between them.
    for pair in all.windows(2) {
        if pair[1].payload.ends_with(b",\"b\":1}") {
            let first = String::from_utf8_lossy(&pair[0].payload).into_owned();
            assert_eq!(
                format!("{},\"b\":1}}", first.trim_end_matches('}')).as_bytes(),
                &pair[1].payload[..]
            );
        }
    }
}

#[test]
fn a_head_moved_by_another_writer_while_signing_is_signed_again() {
    let signer = HookSigner::new();
    let store = Arc::new(Store::open_in_memory().unwrap());
    let mine = Ledger::new(store.clone(), signer.clone()).unwrap();
    // A separate ledger value over the same store: it does not share `mine`'s append lock, as another
    // process on the same file would not.
    let other = Ledger::new(store, signer.clone()).unwrap();
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    signer.set_hook(move || {
        if !f.swap(true, Ordering::SeqCst) {
            let o = other.clone();
            on_another_thread(move || o.append("test.other", b"{}").map(drop))?;
        }
        Ok(())
    });
    let r = mine.append("test.mine", b"{}").unwrap();
    assert_eq!(r.seq, 2, "signed again on top of the other writer's record");
    let all = mine.all().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].kind, "test.other");
    assert_eq!(all[1], r);
    assert_eq!(mine.verify().unwrap().unwrap().seq, 2);
    // First signature (dropped), the other writer's, and the one that was kept.
    assert_eq!(signer.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn a_head_that_keeps_moving_gives_a_busy_error_and_writes_nothing_of_ours() {
    let signer = HookSigner::new();
    let store = Arc::new(Store::open_in_memory().unwrap());
    let mine = Ledger::new(store.clone(), signer.clone()).unwrap();
    let other = Ledger::new(store, signer.clone()).unwrap();
    let busy = Arc::new(AtomicBool::new(false));
    let b = busy.clone();
    signer.set_hook(move || {
        // Only the signatures of `mine` (made on this test's thread) move the head.
        if !b.load(Ordering::SeqCst) {
            b.store(true, Ordering::SeqCst);
            let o = other.clone();
            let r = on_another_thread(move || o.append("test.other", b"{}").map(drop));
            b.store(false, Ordering::SeqCst);
            r?;
        }
        Ok(())
    });
    let err = mine.append("test.mine", b"{}").unwrap_err();
    assert!(
        matches!(&err, Error::Storage(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)),
        "{err}"
    );
    let all = mine.all().unwrap();
    assert!(all.iter().all(|r| r.kind == "test.other"));
    assert_eq!(all.len(), 3);
    mine.verify().unwrap();
}

#[test]
fn append_with_and_batches_stay_all_or_nothing() {
    let (ledger, signer) = hooked_ledger();
    ledger.append("test.event", b"0").unwrap();

    // `also` fails: neither the record nor its rows are written.
    let err = ledger
        .append_with("test.event", b"1", |tx, _| {
            tx.execute("INSERT INTO settings (key, value) VALUES ('x', 'y')", [])?;
            Err(Error::invalid("x", "refused"))
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidInput { field: "x", .. }),
        "{err}"
    );
    assert_eq!(ledger.head().unwrap().unwrap().seq, 1);
    assert_eq!(ledger.store().setting("x").unwrap(), None);

    // The second of three signatures fails: none of the batch is written.
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    signer.set_hook(move || {
        if n2.fetch_add(1, Ordering::SeqCst) == 1 {
            Err(Error::Signer("user cancelled".into()))
        } else {
            Ok(())
        }
    });
    let err = ledger
        .append_batch(&[
            ("test.event", b"a"),
            ("test.event", b"b"),
            ("test.event", b"c"),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::Signer(_)), "{err}");
    assert_eq!(ledger.head().unwrap().unwrap().seq, 1);

    // The ledger carries on from where it was.
    assert_eq!(ledger.append("test.event", b"2").unwrap().seq, 2);
    assert!(ledger.append_batch(&[]).unwrap().is_empty());
    assert_eq!(ledger.verify().unwrap().unwrap().seq, 2);
}

#[test]
fn a_panicking_signer_does_not_wedge_later_appends() {
    let (ledger, signer) = hooked_ledger();
    let armed = Arc::new(AtomicBool::new(true));
    let a = armed.clone();
    signer.set_hook(move || {
        assert!(!a.swap(false, Ordering::SeqCst), "platform signer blew up");
        Ok(())
    });
    let l = ledger.clone();
    assert!(
        thread::spawn(move || l.append("test.event", b"1"))
            .join()
            .is_err()
    );
    assert_eq!(ledger.append("test.event", b"2").unwrap().seq, 1);
    ledger.verify().unwrap();
}
