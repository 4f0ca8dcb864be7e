//! The device without a JVM: opening, status, checks decided by its policy and its own clock,
//! inspections, cancellation and a failing platform clock. Face calls with real models are in
//! `core/tests/device_faces.rs`.

use std::sync::Mutex;

use super::*;
use crate::attendance::{Decision, Reason};
use crate::clock::MonotonicReading;
use crate::geo::{Fence, LatLon, Site};
use crate::reference::{Asset, Employee, Reference};

/// A clock the test sets; `None` makes it fail like a broken platform callback.
struct TestClock(Mutex<Option<ClockNow>>);

impl TestClock {
    fn at(ms: i64) -> Arc<Self> {
        Arc::new(TestClock(Mutex::new(Some(reading(ms)))))
    }
    fn set(&self, now: Option<ClockNow>) {
        *self.0.lock().unwrap() = now;
    }
}

fn reading(ms: i64) -> ClockNow {
    ClockNow {
        monotonic: MonotonicReading {
            monotonic_ms: ms,
            boot_id: "boot-1".into(),
        },
        wall_ms: 1_800_000_000_000 + ms,
    }
}

impl DeviceClock for TestClock {
    fn now(&self) -> Result<ClockNow> {
        self.0
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| Error::Clock("clock service unavailable".into()))
    }
}

fn open(dir: &std::path::Path, clock: Arc<TestClock>, require_face: bool) -> Device {
    let mut cfg = DeviceConfig::new(dir, MasterKey::from_bytes(&[3u8; 32]).unwrap());
    cfg.policy.require_face = require_face;
    let d = Device::open(cfg, None, clock).unwrap();
    let refs = Reference(d.store());
    refs.upsert_site(&Site {
        id: "office".into(),
        name: "Office".into(),
        fence: Fence::Circle {
            center: LatLon {
                lat: -10.1635,
                lon: 123.5895,
            },
            radius_m: 150.0,
        },
    })
    .unwrap();
    refs.upsert_employee(&Employee {
        id: "e1".into(),
        name: "Test".into(),
        site_ids: vec!["office".into()],
    })
    .unwrap();
    refs.upsert_asset(&Asset {
        id: "A-1".into(),
        name: "Bridge".into(),
        category: "bridge".into(),
        location: LatLon {
            lat: -10.1635,
            lon: 123.5895,
        },
        radius_m: 60.0,
    })
    .unwrap();
    d
}

fn fix(wall_ms: i64) -> Fix {
    Fix {
        lat: -10.1636,
        lon: 123.5895,
        accuracy_m: Some(8.0),
        time_ms: wall_ms - 500,
        provider: "fused".into(),
        is_mock: false,
    }
}

fn check(employee: &str, wall_ms: i64) -> Check {
    Check {
        employee_id: employee.into(),
        direction: Direction::In,
        #[cfg(feature = "face")]
        face: None,
        fix: fix(wall_ms),
    }
}

#[test]
fn status_counts_records_and_pending_and_the_key_persists() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000);
    let id = {
        let d = open(dir.path(), clock.clone(), false);
        let s = d.status().unwrap();
        assert_eq!((s.records, s.pending_records), (0, 0));
        assert!(!s.face_ready && !s.registered);
        assert_eq!(s.public_key.len(), 65);
        d.check(check("e1", reading(1_000).wall_ms), &Cancel::never())
            .unwrap();
        let s = d.status().unwrap();
        assert_eq!((s.records, s.pending_records), (1, 1));
        s.device_id
    };
    let d = open(dir.path(), clock, false);
    assert_eq!(d.status().unwrap().device_id, id);
}

#[test]
fn a_check_reads_the_device_clock_and_fails_closed_without_a_face() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(5_000);
    // The default policy requires a face; this device has no models: the check is recorded, rejected.
    let d = open(dir.path(), clock.clone(), true);
    let o = d
        .check(check("e1", reading(5_000).wall_ms), &Cancel::never())
        .unwrap();
    assert_eq!(o.payload.decision, Decision::Rejected);
    assert_eq!(o.payload.reasons, vec![Reason::FaceMissing]);
    assert_eq!(o.payload.time.monotonic, reading(5_000).monotonic);
    assert_eq!(o.payload.time.device_wall_ms, reading(5_000).wall_ms);
}

#[test]
fn a_failing_clock_or_a_cancelled_call_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000);
    let d = open(dir.path(), clock.clone(), false);
    let wall = reading(1_000).wall_ms;
    clock.set(None);
    let e = d.check(check("e1", wall), &Cancel::never()).unwrap_err();
    assert!(
        matches!(&e, Error::Clock(m) if m.contains("unavailable")),
        "{e}"
    );
    clock.set(Some(reading(1_000)));
    let cancel = Cancel::new();
    cancel.cancel();
    assert!(matches!(
        d.check(check("e1", wall), &cancel),
        Err(Error::Cancelled)
    ));
    let photo = PhotoInput::Bytes(vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);
    let inspection = Inspection {
        asset_id: "A-1".into(),
        condition: Condition::MinorDamage,
        notes: "crack".into(),
        photos: vec![photo],
        fix: fix(wall),
    };
    assert!(matches!(
        d.inspect(inspection.clone(), &cancel),
        Err(Error::Cancelled)
    ));
    assert_eq!(d.status().unwrap().records, 0);
    let o = d.inspect(inspection, &Cancel::never()).unwrap();
    assert_eq!(o.payload.photos.len(), 1);
    assert_eq!(d.status().unwrap().records, 1);
}

#[test]
fn an_inspection_photo_that_is_not_an_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path(), TestClock::at(1_000), false);
    let e = d
        .inspect(
            Inspection {
                asset_id: "A-1".into(),
                condition: Condition::Good,
                notes: String::new(),
                photos: vec![PhotoInput::Bytes(b"%PDF-1.7".to_vec())],
                fix: fix(reading(1_000).wall_ms),
            },
            &Cancel::never(),
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidInput { field: "photo", .. }),
        "{e}"
    );
    assert_eq!(d.status().unwrap().records, 0);
}

#[test]
fn permits_need_the_city_key_and_unknown_ids_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path(), TestClock::at(1_000), false);
    assert!(matches!(d.permits(), Err(Error::NotReady(_))));
    let mut cfg = DeviceConfig::new(
        tempfile::tempdir().unwrap().keep(),
        MasterKey::from_bytes(&[3u8; 32]).unwrap(),
    );
    cfg.server_public_key = Some(
        crate::ledger::SoftwareSigner::generate()
            .unwrap()
            .public_key()
            .unwrap(),
    );
    let d = Device::open(cfg, None, TestClock::at(1_000)).unwrap();
    assert!(d.permits().unwrap().is_empty());
    assert!(matches!(d.permit("PBG-1"), Err(Error::NotFound { .. })));
}

#[test]
fn bad_configuration_is_a_typed_error() {
    let cfg = DeviceConfig::new("", MasterKey::from_bytes(&[3u8; 32]).unwrap());
    assert!(matches!(
        Device::open(cfg, None, TestClock::at(0)),
        Err(Error::InvalidInput {
            field: "data_dir",
            ..
        })
    ));
    let mut cfg = DeviceConfig::new(
        tempfile::tempdir().unwrap().keep(),
        MasterKey::from_bytes(&[3u8; 32]).unwrap(),
    );
    cfg.server_public_key = Some(vec![4u8; 10]);
    assert!(Device::open(cfg, None, TestClock::at(0)).is_err());
}
