//! `Device`'s face calls with the real models on the real photos of `../shared/faces`: enrollment
//! from files, pending until the city's signed approval, kiosk identification, a selfie check
//! accepted and an impostor's rejected, a liveness session refused before any frame for someone not
//! enrolled, a session used up by one check, cancelled enrollment leaving nothing behind, erasure;
//! and enrollment as the city governs it: no enrollment without liveness, a photo held up to the
//! camera refused at enrollment, forged or misdirected decisions ignored, a rejection shown.

mod face_common;

use std::sync::Arc;

use siap_core::Device;
use siap_core::attendance::{Decision, Direction, Reason};
use siap_core::device::{Cancel, Check, DeviceConfig, FaceInput, ImageInput, SystemClock};
use siap_core::enrollment::decisions::TemplateStatus;
use siap_core::enrollment::{FACE_DECISION_DOMAIN, FaceDecision, FaceDecisionKind};
use siap_core::face::default_models_dir;
use siap_core::geo::{Fence, Fix, LatLon, Site};
use siap_core::ledger::{Signer, SoftwareSigner};
use siap_core::liveness::{CROP_IN_ATTEMPT, LivenessPolicy, Recheck, Transcript};
use siap_core::reference::{Employee, Reference};
use siap_core::sealed::MasterKey;
use siap_core::signed::SignedBlob;
use siap_core::sync::apply::apply_page;
use siap_core::sync::protocol::{Change, ChangeEntry, ChangesPage};
use siap_core::{Error, time};

/// The city's server key, standing in for the server that signs decisions.
fn city() -> &'static SoftwareSigner {
    static K: std::sync::OnceLock<SoftwareSigner> = std::sync::OnceLock::new();
    K.get_or_init(|| SoftwareSigner::generate().unwrap())
}

/// The city's decision on `template`, signed by `key`, as the device pulls it in a page.
fn decide(
    d: &Device,
    key: &SoftwareSigner,
    employee: &str,
    template: &str,
    decision: FaceDecisionKind,
    device_ids: Option<Vec<String>>,
) {
    let doc = FaceDecision {
        employee_id: employee.into(),
        template_sha256: template.into(),
        decision,
        device_ids,
        approver: "hr".into(),
        reason: "checked against the personnel photo".into(),
        at_ms: time::wall_now_ms(),
    };
    let signed = SignedBlob::sign_json(key, FACE_DECISION_DOMAIN, &doc).unwrap();
    let page = ChangesPage {
        device_id: d.ledger().device_id().to_owned(),
        since: 0,
        next_cursor: 1,
        more: false,
        changes: vec![ChangeEntry {
            cursor: 1,
            change: Change::FaceDecision { signed },
        }],
        server_time_ms: time::wall_now_ms(),
    };
    apply_page(d.store(), &city().public_key().unwrap(), &page).unwrap();
}

fn status(d: &Device, employee: &str) -> Option<TemplateStatus> {
    d.face_status(employee).unwrap().map(|(_, s)| s)
}

fn device(dir: &std::path::Path) -> Device {
    device_with(dir, false)
}

fn device_with(dir: &std::path::Path, require_liveness: bool) -> Device {
    let mut cfg = DeviceConfig::new(dir, MasterKey::from_bytes(&[9u8; 32]).unwrap());
    cfg.models_dir = Some(default_models_dir());
    cfg.server_public_key = Some(city().public_key().unwrap());
    cfg.policy.require_liveness = require_liveness;
    cfg.policy.require_enrollment_liveness = require_liveness;
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
        d.enroll("e1", &obama, None, &cancel),
        Err(Error::Cancelled)
    ));
    assert_eq!(d.status().unwrap().records, 0);
    assert!(matches!(
        d.start_liveness("e1"),
        Err(Error::NotFound {
            what: "face template"
        })
    ));

    // Enrolled, recorded with its crops, and pending: the face matches, the check does not count.
    let enrolled = d.enroll("e1", &obama, None, &never).unwrap();
    assert!(enrolled.stored());
    assert_eq!(enrolled.status, Some(TemplateStatus::Pending));
    assert_eq!(enrolled.payload.photos.len(), 3);
    let pending = d
        .check(
            check(
                "e1",
                Some(FaceInput::Selfie(file("obama/4.jpg"))),
                -10.16359,
            ),
            &never,
        )
        .unwrap();
    assert_eq!(pending.payload.reasons, vec![Reason::EnrollmentPending]);
    // A decision signed by another key, or approving it for another phone, changes nothing.
    let template = enrolled.payload.template_sha256.clone();
    let forger = SoftwareSigner::generate().unwrap();
    decide(
        &d,
        &forger,
        "e1",
        &template,
        FaceDecisionKind::Approved,
        None,
    );
    decide(
        &d,
        city(),
        "e1",
        &template,
        FaceDecisionKind::Approved,
        Some(vec!["another-phone".into()]),
    );
    assert_eq!(status(&d, "e1"), Some(TemplateStatus::Pending));
    decide(
        &d,
        city(),
        "e1",
        &template,
        FaceDecisionKind::Approved,
        Some(vec![d.ledger().device_id().to_owned()]),
    );
    assert_eq!(status(&d, "e1"), Some(TemplateStatus::Approved));
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
    // The attempt's transcript is stored with the record, which names it: the server re-runs the check
    // on it and gets the device's verdict, and the uploaded crop is the frame it says was verified.
    let face = spoof.payload.face.as_ref().unwrap();
    let evidence = face.liveness.clone().unwrap();
    let blob = |sha: &str| {
        let key: [u8; 32] = hex::decode(sha).unwrap().try_into().unwrap();
        siap_core::sync::Outbox(d.store()).blob_data(&key).unwrap()
    };
    let transcript =
        Transcript::decode(&blob(evidence.observations_sha256.as_deref().unwrap())).unwrap();
    assert_eq!(transcript.frames.len(), 5);
    let Ok(Recheck::Verdict(again)) = transcript.recheck(
        &evidence,
        &spoof.payload.time.monotonic,
        &LivenessPolicy::default(),
    ) else {
        panic!("the transcript is the attempt the record names");
    };
    let mut expected = again.to_evidence();
    expected.observations_sha256 = evidence.observations_sha256.clone();
    assert_eq!(expected, evidence);
    let crop = siap_core::face::crop::decode(&blob(face.crop_sha256.as_deref().unwrap())).unwrap();
    let server_embedding = face_common::engine().embed_aligned(&crop).unwrap();
    assert!(
        transcript
            .verified_similarity(&server_embedding)
            .is_some_and(|s| s >= CROP_IN_ATTEMPT)
    );
    assert!(matches!(
        d.check(
            check("e1", Some(FaceInput::Liveness(session)), -10.16364),
            &never
        ),
        Err(Error::InvalidInput { .. })
    ));

    let before = d.status().unwrap().records;
    assert!(d.delete_face("e1").unwrap());
    assert!(!d.delete_face("e1").unwrap());
    // The erasure is a signed record (the server marks the template erased); a second one had
    // nothing to erase and records nothing.
    assert_eq!(d.status().unwrap().records, before + 1);
    assert_eq!(status(&d, "e1"), None);
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

#[test]
fn enrollment_needs_a_live_face_and_the_citys_word() {
    use siap_core::face::FaceImage;
    use siap_core::liveness::attack::{HeldPicture, Rgb, held_picture_frames};
    use siap_core::liveness::synth::Rng;

    let Some(faces) = face_common::faces_dir() else {
        return;
    };
    let file = |rel: &str| ImageInput::File(faces.join(rel));
    let tmp = tempfile::tempdir().unwrap();
    // The city's default policy: liveness at enrollment and at every check.
    let d = device_with(tmp.path(), true);
    let never = Cancel::never();
    let photos: Vec<_> = ["obama/1.jpg", "obama/2.jpg", "obama/3.jpg"]
        .iter()
        .map(|p| file(p))
        .collect();

    // Photos alone: refused and recorded (the attempt is evidence), nothing stored.
    let bare = d.enroll("e1", &photos, None, &never).unwrap();
    assert_eq!(bare.payload.refused, vec!["liveness_missing".to_owned()]);
    assert!(!bare.stored() && bare.status.is_none());
    assert_eq!(status(&d, "e1"), None);

    // A photo of the person held up to the camera and tilted in time with the challenge.
    let session = d.start_enrollment("e1").unwrap();
    assert!(matches!(
        d.enroll("e2", &photos, Some(&session), &never),
        Err(Error::InvalidInput { .. })
    ));
    let session = d.start_enrollment("e1").unwrap();
    let img = file("obama/4.jpg").decode().unwrap();
    let face = d
        .identify(&file("obama/4.jpg"), &never)
        .unwrap()
        .faces
        .first()
        .map(|f| f.detection.bbox)
        .unwrap();
    let picture = Rgb::new(img.width(), img.height(), img.rgb().to_vec()).unwrap();
    let frames = held_picture_frames(
        &picture,
        face,
        &session.challenge().steps,
        &HeldPicture::default(),
        10.0,
        &mut Rng::new(7),
    )
    .unwrap();
    let t0 = d.now().unwrap().monotonic.monotonic_ms;
    for (t, frame) in frames {
        let frame = FaceImage::from_rgb8(frame.width, frame.height, frame.data).unwrap();
        session.push_frame(&frame, t0 + 300 + t).unwrap();
    }
    let held = d.enroll("e1", &photos, Some(&session), &never).unwrap();
    assert!(
        held.payload.refused.contains(&"liveness_failed".to_owned()),
        "{:?}",
        held.payload.refused
    );
    assert!(held.payload.liveness.as_ref().is_some_and(|l| !l.passed));
    // The attempt's transcript is stored with the record: the server re-runs the check on it and
    // finds what the phone found.
    let evidence = held.payload.liveness.clone().unwrap();
    let key: [u8; 32] = hex::decode(evidence.observations_sha256.as_deref().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let blob = siap_core::sync::Outbox(d.store()).blob_data(&key).unwrap();
    let Ok(Recheck::Verdict(again)) = Transcript::decode(&blob).unwrap().recheck(
        &evidence,
        &held.payload.time.monotonic,
        &LivenessPolicy::default(),
    ) else {
        panic!("the transcript is the attempt the enrollment names");
    };
    assert!(!again.passed);
    assert_eq!(again.reasons, evidence.details.reasons);
    assert_eq!(status(&d, "e1"), None);
    assert!(matches!(
        d.start_liveness("e1"),
        Err(Error::NotFound { .. })
    ));
    // The session is used up, and a check's session cannot enroll.
    assert!(matches!(
        d.enroll("e1", &photos, Some(&session), &never),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(d.status().unwrap().records, 2);
}
