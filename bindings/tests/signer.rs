//! The foreign seams from the Rust side: a panicking, failing, slow or blocking signer, a failing
//! clock, calls from many tasks at once, and cancellation. None of them may crash the process, lose
//! the platform's reason, or corrupt the chain.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use siap_core::ledger::Signer as _;
use siap_core::ledger::SoftwareSigner;
use siap_core::reference::{Asset, Reference};
use siap_core::store::Store;
use siap_ffi::{
    AssetCondition, ClockReading, CoreConfig, LocationFix, Photo, PlatformClock, PlatformSigner,
    SiapCore, SiapError,
};

/// A clock that can be told to fail.
#[derive(Default)]
struct Clock {
    broken: AtomicBool,
}
impl PlatformClock for Clock {
    fn now(&self) -> Result<ClockReading, SiapError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(SiapError::Clock {
                reason: "elapsedRealtime unavailable".into(),
            });
        }
        Ok(ClockReading {
            monotonic_ms: 1_000,
            boot_id: "b".into(),
            wall: SystemTime::now(),
        })
    }
}

/// A data directory with one asset to inspect (reference data normally arrives by sync).
fn config() -> (tempfile::TempDir, CoreConfig) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    Reference(&store)
        .upsert_asset(&Asset {
            id: "A-1".into(),
            name: "Bridge".into(),
            category: "bridge".into(),
            location: siap_core::geo::LatLon {
                lat: -10.0,
                lon: 123.0,
            },
            radius_m: 50.0,
        })
        .unwrap();
    let cfg = CoreConfig {
        data_dir: dir.path().to_string_lossy().into_owned(),
        models_dir: None,
        server_url: None,
        server_public_key: None,
        master_key: vec![7; 32],
        require_liveness: true,
        require_enrollment_liveness: true,
    };
    (dir, cfg)
}

fn fix() -> LocationFix {
    LocationFix {
        latitude: -10.0,
        longitude: 123.0,
        accuracy_m: Some(5.0),
        time: SystemTime::now(),
        provider: "gps".into(),
        is_mock: false,
    }
}

async fn inspect(core: &SiapCore, asset: &str) -> Result<u64, SiapError> {
    let photo = Photo::Bytes {
        bytes: vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 1],
    };
    core.inspect(
        asset.into(),
        AssetCondition::Good,
        String::new(),
        vec![photo],
        fix(),
    )
    .await
    .map(|r| r.seq)
}

struct Panicking;
impl PlatformSigner for Panicking {
    fn public_key(&self) -> Result<Vec<u8>, SiapError> {
        panic!("bug in the platform glue")
    }
    fn sign(&self, _: Vec<u8>) -> Result<Vec<u8>, SiapError> {
        panic!("bug in the platform glue")
    }
}

/// A working key whose `sign` is slow and fails on demand with the platform's typed error.
struct Flaky {
    key: Arc<SoftwareSigner>,
    fail: AtomicBool,
    calls: AtomicUsize,
}
impl PlatformSigner for Flaky {
    fn public_key(&self) -> Result<Vec<u8>, SiapError> {
        Ok(self.key.public_key().unwrap())
    }
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, SiapError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        if self.fail.load(Ordering::SeqCst) {
            return Err(SiapError::Signer {
                reason: "user removed the screen lock".into(),
            });
        }
        Ok(self.key.sign(&message).unwrap())
    }
}

#[test]
fn a_panicking_signer_becomes_an_error() {
    let (_d, cfg) = config();
    let err = SiapCore::open(cfg, Some(Arc::new(Panicking)), Arc::new(Clock::default()))
        .expect_err("open must fail");
    assert!(
        matches!(err, SiapError::Signer { ref reason } if reason.contains("panic")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_slow_signer_keeps_its_reason_and_the_chain_intact_across_tasks() {
    let (dir, cfg) = config();
    let flaky = Arc::new(Flaky {
        key: Arc::new(SoftwareSigner::generate().unwrap()),
        fail: false.into(),
        calls: AtomicUsize::new(0),
    });
    let core = SiapCore::open(cfg, Some(flaky.clone()), Arc::new(Clock::default())).unwrap();
    // An unknown asset is a typed error, before anything is signed.
    let e = inspect(&core, "A-404").await;
    assert!(matches!(e, Err(SiapError::NotFound { .. })), "{e:?}");
    // Slow signatures from 8 tasks at once: 8 records, one chain.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = core.clone();
            tokio::spawn(async move { inspect(&c, "A-1").await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
    // The key stops working: the platform's reason comes back, typed, and nothing is written.
    flaky.fail.store(true, Ordering::SeqCst);
    let e = inspect(&core, "A-1").await.unwrap_err();
    assert!(
        matches!(&e, SiapError::Signer { reason } if reason == "user removed the screen lock"),
        "{e:?}"
    );
    assert_eq!(core.status().unwrap().records, 8);
    drop(core);
    let store = Arc::new(Store::open_dir(dir.path()).unwrap());
    let ledger = siap_core::ledger::Ledger::new(store, flaky.key.clone()).unwrap();
    assert_eq!(ledger.verify().unwrap().map(|h| h.seq), Some(8));
}

#[tokio::test]
async fn a_failing_clock_is_a_typed_error_with_its_reason_and_writes_nothing() {
    let (_d, cfg) = config();
    let clock = Arc::new(Clock::default());
    let core = SiapCore::open(cfg, None, clock.clone()).unwrap();
    clock.broken.store(true, Ordering::SeqCst);
    let e = inspect(&core, "A-1").await.unwrap_err();
    assert!(
        matches!(&e, SiapError::Clock { reason } if reason == "elapsedRealtime unavailable"),
        "{e:?}"
    );
    assert_eq!(core.status().unwrap().records, 0);
    clock.broken.store(false, Ordering::SeqCst);
    assert_eq!(inspect(&core, "A-1").await.unwrap(), 1);
}

/// A signer that waits for a user (a `BiometricPrompt`) until the test lets it go.
struct WaitsForUser {
    key: SoftwareSigner,
    signing: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}
impl PlatformSigner for WaitsForUser {
    fn public_key(&self) -> Result<Vec<u8>, SiapError> {
        Ok(self.key.public_key().unwrap())
    }
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, SiapError> {
        let _ = self.signing.lock().unwrap().send(());
        self.release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| SiapError::Signer {
                reason: "the test never released the prompt".into(),
            })?;
        Ok(self.key.sign(&message).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_stays_usable_while_the_signer_waits_for_the_user() {
    let (_d, cfg) = config();
    let (signing_tx, signing_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let signer = Arc::new(WaitsForUser {
        key: SoftwareSigner::generate().unwrap(),
        signing: Mutex::new(signing_tx),
        release: Mutex::new(release_rx),
    });
    let core = SiapCore::open(cfg, Some(signer), Arc::new(Clock::default())).unwrap();
    let c = core.clone();
    let pending = tokio::spawn(async move { inspect(&c, "A-1").await });
    tokio::task::spawn_blocking(move || signing_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the signer was never called");
    // The signature is pending: the status screen reads the database meanwhile (the store's lock is
    // not held while signing) and async calls still run (the executor is not blocked).
    let c = core.clone();
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || c.status()),
    )
    .await
    .expect("status() blocked behind the signer")
    .unwrap()
    .unwrap();
    assert_eq!(status.records, 0);
    release_tx.send(()).unwrap();
    assert_eq!(pending.await.unwrap().unwrap(), 1);
    assert_eq!(core.status().unwrap().records, 1);
}

/// A clock that, once armed, holds the call reading it until the test releases it.
struct GatedClock {
    armed: AtomicBool,
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}
impl PlatformClock for GatedClock {
    fn now(&self) -> Result<ClockReading, SiapError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            let _ = self.entered.lock().unwrap().send(());
            let _ = self
                .release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30));
        }
        Clock::default().now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_stops_before_writing() {
    let (_d, cfg) = config();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let clock = Arc::new(GatedClock {
        armed: true.into(),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    let signer = Arc::new(Flaky {
        key: Arc::new(SoftwareSigner::generate().unwrap()),
        fail: false.into(),
        calls: AtomicUsize::new(0),
    });
    let core = SiapCore::open(cfg, Some(signer.clone()), clock).unwrap();
    let c = core.clone();
    let call = tokio::spawn(async move { inspect(&c, "A-1").await });
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the clock was never read");
    // The app cancels (its coroutine is cancelled: the call's future is dropped) while the work is
    // on its worker thread; then the work gets its clock reading and reaches its next checkpoint.
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    release_tx.send(()).unwrap();
    // Without the cancellation the work would sign and write within a few ms.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        signer.calls.load(Ordering::SeqCst),
        0,
        "a cancelled call went on to sign"
    );
    assert_eq!(core.status().unwrap().records, 0);
    // The next call works.
    assert_eq!(inspect(&core, "A-1").await.unwrap(), 1);
}
