//! The foreign `PlatformSigner` seam from the Rust side: a panicking, failing or slow signer, and calls
//! from many threads. None of them may crash the process or corrupt the chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use siap_core::ledger::Signer as _;
use siap_core::ledger::SoftwareSigner;
use siap_ffi::{ClockReading, CoreConfig, PlatformClock, PlatformSigner, SiapCore, SiapError};

struct Clock;
impl PlatformClock for Clock {
    fn now(&self) -> ClockReading {
        ClockReading {
            monotonic_ms: 1,
            boot_id: "b".into(),
            wall_ms: 1,
        }
    }
}

fn config() -> (tempfile::TempDir, CoreConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CoreConfig {
        data_dir: dir.path().to_string_lossy().into_owned(),
        models_dir: None,
        server_url: None,
        server_public_key: None,
        master_key: vec![7; 32],
        require_liveness: true,
    };
    (dir, cfg)
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

/// A working key whose `sign` fails on demand and is slow.
struct Flaky {
    key: SoftwareSigner,
    fail: std::sync::atomic::AtomicBool,
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
            return Err(SiapError::Signer("user removed the screen lock".into()));
        }
        Ok(self.key.sign(&message).unwrap())
    }
}

#[test]
fn a_panicking_signer_becomes_an_error() {
    let (_d, cfg) = config();
    let err = SiapCore::open(cfg, Some(Arc::new(Panicking)), Arc::new(Clock))
        .err()
        .expect("open must fail");
    assert!(
        matches!(err, SiapError::Signer(ref m) if m.contains("panic")),
        "{err:?}"
    );
}

#[test]
fn failing_and_slow_signer_leaves_the_chain_intact_across_threads() {
    use siap_ffi::{AssetCondition, LocationFix};
    let (_d, cfg) = config();
    let flaky = Arc::new(Flaky {
        key: SoftwareSigner::generate().unwrap(),
        fail: false.into(),
        calls: AtomicUsize::new(0),
    });
    let core = SiapCore::open(cfg, Some(flaky.clone()), Arc::new(Clock)).unwrap();
    // No asset registered: every inspection fails before signing, as a typed error.
    let fix = LocationFix {
        latitude: -10.0,
        longitude: 123.0,
        accuracy_m: Some(5.0),
        time_ms: 1,
        provider: "gps".into(),
        is_mock: false,
    };
    let clock = ClockReading {
        monotonic_ms: 1,
        boot_id: "b".into(),
        wall_ms: 1,
    };
    let e = core.inspect(
        "A-1".into(),
        AssetCondition::Good,
        String::new(),
        vec![],
        fix,
        clock,
    );
    assert!(matches!(e, Err(SiapError::NotFound(_))), "{e:?}");
    // Slow signatures from 4 threads at once, then a failing one: status stays consistent.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = core.clone();
            std::thread::spawn(move || c.status().unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().records, 0);
    }
    flaky.fail.store(true, Ordering::SeqCst);
    assert_eq!(core.status().unwrap().records, 0);
}
