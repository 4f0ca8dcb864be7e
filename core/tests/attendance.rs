//! Attendance decisions end to end on a real SQLite file: every rejection reason is recorded as
//! evidence in the signed chain, and bad input writes nothing.

use std::sync::Arc;

use siap_core::attendance::{
    AttendancePolicy, CheckRequest, Decision, Direction, FaceEvidence, LivenessEvidence, Reason,
    check,
};
use siap_core::clock::{ClockStore, MonotonicReading};
use siap_core::device::{KeySource, open_ledger};
use siap_core::geo::{Fence, Fix, LatLon, Site};
use siap_core::ledger::Ledger;
use siap_core::liveness::LivenessDetails;
use siap_core::reference::{Employee, Reference};
use siap_core::sealed::MasterKey;
use siap_core::store::Store;

const T0: i64 = 1_800_000_000_000;
const OFFICE: LatLon = LatLon {
    lat: -8.5,
    lon: 124.0,
};

fn setup(dir: &std::path::Path) -> Ledger {
    let store = Arc::new(Store::open_dir(dir).unwrap());
    let refs = Reference(&store);
    refs.upsert_site(&Site {
        id: "office".into(),
        name: "Office".into(),
        fence: Fence::Circle {
            center: OFFICE,
            radius_m: 150.0,
        },
    })
    .unwrap();
    refs.upsert_employee(&Employee {
        id: "e1".into(),
        name: "A".into(),
        site_ids: vec!["office".into()],
    })
    .unwrap();
    refs.upsert_employee(&Employee {
        id: "e2".into(),
        name: "B".into(),
        site_ids: vec![],
    })
    .unwrap();
    ClockStore(&store).record(T0, &mono(0), &mono(100)).unwrap();
    open_ledger(store, &MasterKey::generate().unwrap(), KeySource::Software).unwrap()
}

fn mono(ms: i64) -> MonotonicReading {
    MonotonicReading {
        monotonic_ms: ms,
        boot_id: "boot".into(),
    }
}

fn face(matched: bool) -> FaceEvidence {
    FaceEvidence {
        similarity: if matched { 0.8 } else { 0.1 },
        threshold: 0.45,
        matched,
        quality_passed: true,
        quality_reasons: vec![],
        model_sha256: vec!["00".into()],
        crop_sha256: None,
        template: Some(siap_core::enrollment::TemplateRef {
            sha256: "ab".repeat(32),
            approved: true,
        }),
        liveness: Some(live(true)),
    }
}

fn live(passed: bool) -> LivenessEvidence {
    LivenessEvidence {
        passed,
        nonce: "00112233445566778899aabbccddeeff".into(),
        challenge: vec!["turn_left".into(), "look_up".into()],
        passive_score: None,
        details: LivenessDetails::default(),
        observations_sha256: None,
    }
}

fn req(employee: &str, north_m: f64, at_ms: i64, acc: f64) -> CheckRequest {
    let lat = OFFICE.lat + north_m / 111_195.0;
    CheckRequest {
        employee_id: employee.into(),
        direction: Direction::In,
        fix: Fix {
            lat,
            lon: OFFICE.lon,
            accuracy_m: Some(acc),
            time_ms: T0 + at_ms - 1_000,
            provider: "fused".into(),
            is_mock: false,
        },
        now: mono(at_ms),
        device_wall_ms: T0 + at_ms,
        face: Some(face(true)),
        face_crop: None,
        liveness_transcript: None,
    }
}

#[test]
fn decisions_and_reasons_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let l = setup(dir.path());
    let p = AttendancePolicy::default();
    let ok = check(&l, &p, &req("e1", 10.0, 60_000, 8.0)).unwrap();
    assert_eq!((ok.payload.decision, ok.seq), (Decision::Accepted, 1));

    let far = check(&l, &p, &req("e1", 900.0, 120_000, 8.0)).unwrap();
    assert_eq!(far.payload.reasons, vec![Reason::OutsideFence]);

    let mut mock = req("e1", 11.0, 180_000, 8.0);
    mock.fix.is_mock = true;
    assert_eq!(
        check(&l, &p, &mock).unwrap().payload.reasons,
        vec![Reason::MockLocation]
    );

    // The exact same position and accuracy bits again (a replayed location; real GNSS never repeats).
    let again = check(&l, &p, &req("e1", 10.0, 240_000, 8.0)).unwrap();
    assert!(
        again.payload.reasons.contains(&Reason::RepeatedFix),
        "{:?}",
        again.payload.reasons
    );

    let mut skewed = req("e1", 12.0, 300_000, 8.0);
    skewed.device_wall_ms -= 3_600_000; // phone clock set back an hour
    skewed.fix.time_ms -= 3_600_000;
    let s = check(&l, &p, &skewed).unwrap();
    assert!(
        s.payload.reasons.contains(&Reason::ClockSkew),
        "{:?}",
        s.payload.reasons
    );
    assert!(s.payload.time.clock_skew);

    let mut imposter = req("e1", 13.0, 360_000, 8.0);
    imposter.face = Some(face(false));
    assert_eq!(
        check(&l, &p, &imposter).unwrap().payload.reasons,
        vec![Reason::FaceMismatch]
    );
    // A still photo without liveness, and a failed liveness check.
    let mut still = req("e1", 13.5, 380_000, 8.0);
    still.face.as_mut().unwrap().liveness = None;
    assert_eq!(
        check(&l, &p, &still).unwrap().payload.reasons,
        vec![Reason::LivenessMissing]
    );
    let mut spoof = req("e1", 13.7, 400_000, 8.0);
    spoof.face.as_mut().unwrap().liveness = Some(live(false));
    assert_eq!(
        check(&l, &p, &spoof).unwrap().payload.reasons,
        vec![Reason::LivenessFailed]
    );
    let selfie_only = AttendancePolicy {
        require_liveness: false,
        ..AttendancePolicy::default()
    };
    let mut still = req("e1", 13.9, 410_000, 8.0);
    still.face.as_mut().unwrap().liveness = None;
    assert!(check(&l, &selfie_only, &still).unwrap().accepted());
    // A face matched against a template the city has not approved (or none named): not counted.
    let mut unapproved = req("e1", 13.95, 415_000, 8.0);
    if let Some(t) = unapproved.face.as_mut().and_then(|f| f.template.as_mut()) {
        t.approved = false;
    }
    assert_eq!(
        check(&l, &p, &unapproved).unwrap().payload.reasons,
        vec![Reason::EnrollmentPending]
    );
    let mut no_face = req("e1", 14.0, 420_000, 8.0);
    no_face.face = None;
    assert_eq!(
        check(&l, &p, &no_face).unwrap().payload.reasons,
        vec![Reason::FaceMissing]
    );

    assert_eq!(
        check(&l, &p, &req("e2", 15.0, 480_000, 8.0))
            .unwrap()
            .payload
            .reasons,
        vec![Reason::NoAssignedSite]
    );
    assert_eq!(
        check(&l, &p, &req("e1", 16.0, 540_000, 140.0))
            .unwrap()
            .payload
            .reasons,
        vec![Reason::LocationUndecidable]
    );

    // Every attempt is in the chain, which verifies.
    assert_eq!(l.verify().unwrap().unwrap().seq, 13);
}

#[test]
fn bad_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let l = setup(dir.path());
    let p = AttendancePolicy::default();
    let mut nan = req("e1", 0.0, 1_000, 5.0);
    nan.fix.lat = f64::NAN;
    assert!(matches!(
        check(&l, &p, &nan),
        Err(siap_core::Error::InvalidInput { .. })
    ));
    assert!(matches!(
        check(&l, &p, &req("nobody", 0.0, 1_000, 5.0)),
        Err(siap_core::Error::NotFound { .. })
    ));
    assert!(check(&l, &p, &req("", 0.0, 1_000, 5.0)).is_err());
    assert_eq!(l.head().unwrap(), None);
    // Error messages carry no coordinates or ids.
    let msg = check(&l, &p, &nan).unwrap_err().to_string();
    assert!(!msg.contains("124") && !msg.contains("e1"), "{msg}");
}
