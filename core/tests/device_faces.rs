//! `Device`'s face calls with the real models on the real photos of `../shared/faces`: enrollment
//! from files, kiosk identification, a selfie check accepted and an impostor's rejected, a liveness
//! session refused before any frame for someone not enrolled, a session used up by one check,
//! cancelled enrollment leaving nothing behind, and erasure.

mod face_common;

use std::sync::Arc;

use siap_core::Device;
use siap_core::attendance::{Decision, Direction, Reason};
use siap_core::device::{Cancel, Check, DeviceConfig, FaceInput, ImageInput, SystemClock};
use siap_core::face::default_models_dir;
use siap_core::geo::{Fence, Fix, LatLon, Site};
use siap_core::reference::{Employee, Reference};
use siap_core::sealed::MasterKey;
use siap_core::{Error, time};

fn device(dir: &std::path::Path) -> Device {
    let mut cfg = DeviceConfig::new(dir, MasterKey::from_bytes(&[9u8; 32]).unwrap());
    cfg.models_dir = Some(default_models_dir());
    cfg.policy.require_liveness = false;
    let d = Device::open(cfg, None, Arc::new(SystemClock::new("boot-t"))).unwrap();
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
    for id in ["e1", "e2"] {
        refs.upsert_employee(&Employee {
            id: id.into(),
            name: "Test".into(),
            site_ids: vec!["office".into()],
        })
        .unwrap();
    }
    d
}

fn check(employee: &str, face: Option<FaceInput>, lat: f64) -> Check {
    Check {
        employee_id: employee.into(),
        direction: Direction::In,
        face,
        fix: Fix {
            lat,
            lon: 123.5895,
            accuracy_m: Some(8.0),
            time_ms: time::wall_now_ms() - 500,
            provider: "fused".into(),
            is_mock: false,
        },
    }
}

#[test]
fn enroll_identify_check_and_erase_on_real_photos() {
    let Some(faces) = face_common::faces_dir() else {
        return;
    };
    let file = |rel: &str| ImageInput::File(faces.join(rel));
    let tmp = tempfile::tempdir().unwrap();
    let d = device(tmp.path());
    assert!(d.status().unwrap().face_ready);
    let never = Cancel::never();

    // Cancelled before the save: nothing is enrolled.
    let cancel = Cancel::new();
    cancel.cancel();
    let obama: Vec<_> = ["obama/1.jpg", "obama/2.jpg", "obama/3.jpg"]
        .iter()
        .map(|p| file(p))
        .collect();
    assert!(matches!(
        d.enroll("e1", &obama, &cancel),
        Err(Error::Cancelled)
    ));
    assert!(matches!(
        d.start_liveness("e1"),
        Err(Error::NotFound {
            what: "face template"
        })
    ));

    d.enroll("e1", &obama, &never).unwrap();
    // Kiosk: in a photo of two people, the enrolled one is named and the other is unknown.
    let who = d
        .identify(&file("multi/obama_and_biden.jpg"), &never)
        .unwrap();
    assert!(who.faces.len() >= 2);
    let named: Vec<_> = who.faces.iter().filter_map(|f| f.id.as_deref()).collect();
    assert_eq!(named, vec!["e1"]);

    let ok = d
        .check(
            check("e1", Some(FaceInput::Selfie(file("obama/4.jpg"))), -10.1636),
            &never,
        )
        .unwrap();
    assert_eq!(
        ok.payload.decision,
        Decision::Accepted,
        "{:?}",
        ok.payload.reasons
    );
    let impostor = d
        .check(
            check(
                "e1",
                Some(FaceInput::Selfie(file("biden/1.jpg"))),
                -10.16361,
            ),
            &never,
        )
        .unwrap();
    assert_eq!(impostor.payload.reasons, vec![Reason::FaceMismatch]);

    // A liveness session: bound to its employee, used up by one check (even a rejected one).
    let session = d.start_liveness("e1").unwrap();
    assert!(matches!(
        d.check(
            check("e2", Some(FaceInput::Liveness(session.clone())), -10.16362),
            &never
        ),
        Err(Error::NotFound { .. } | Error::InvalidInput { .. })
    ));
    let frame = file("obama/4.jpg").decode().unwrap();
    let t0 = d.now().unwrap().monotonic.monotonic_ms;
    for i in 1..=5 {
        let f = session.push_frame(&frame, t0 + 100 * i).unwrap();
        assert_eq!(f.faces, 1);
    }
    let spoof = d
        .check(
            check("e1", Some(FaceInput::Liveness(session.clone())), -10.16363),
            &never,
        )
        .unwrap();
    assert_eq!(spoof.payload.decision, Decision::Rejected);
    assert!(spoof.payload.reasons.contains(&Reason::LivenessFailed));
    assert!(matches!(
        d.check(
            check("e1", Some(FaceInput::Liveness(session)), -10.16364),
            &never
        ),
        Err(Error::InvalidInput { .. })
    ));

    assert!(d.delete_face("e1").unwrap());
    assert!(!d.delete_face("e1").unwrap());
    assert!(matches!(
        d.check(
            check(
                "e1",
                Some(FaceInput::Selfie(file("obama/4.jpg"))),
                -10.16365
            ),
            &never
        ),
        Err(Error::NotFound {
            what: "face template"
        })
    ));
}
