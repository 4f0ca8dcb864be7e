//! Scenario 3 and the crop half of scenario 5: the server re-checks the face itself. A real phone
//! (real models, real photos of `../shared/faces`) enrolls, is approved, and checks in honestly; then a
//! modified client signs "accepted, matched" for a check-in whose face crop is someone else's, pastes
//! the honest check-in's crop into a later check-in, and leaves the crop out. The server, with the face
//! models, embeds each crop against the template it computed from the approved enrollment's crops:
//! only the honest check-in counts, and it is `pending` until the server has confirmed it. Before
//! that, HR is helped to tell a colleague's face enrolled under the employee's id from the employee's
//! own: the server compares each enrollment's crops with the official photo. Both databases.

#[path = "../../core/tests/face_common/photos.rs"]
mod photos;

use std::time::Duration;

use reqwest::Method;
use siap_core::Device;
use siap_core::attendance::{AttendancePayload, Decision, Direction, KIND_CHECK_IN};
use siap_core::device::{Cancel, Check, FaceInput, ImageInput};
use siap_tests::sync_support::{Admin, Backend, FaceScene, backends, face_scene, office_fix};

/// What a modified app signs: `payload` as given, appended to the device's own chain.
fn forge(device: &Device, payload: &AttendancePayload) -> u64 {
    device
        .ledger()
        .append(KIND_CHECK_IN, &serde_json::to_vec(payload).unwrap())
        .unwrap()
        .seq
}

/// The server's similarity of enrollment `template` (of e1) with the official photo, once computed.
async fn official_similarity(admin: &Admin, template: &str) -> f32 {
    for _ in 0..300 {
        let list = admin
            .json(Method::GET, "/v1/admin/faces?employee_id=e1", None)
            .await
            .unwrap();
        if let Some(s) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["template_sha256"] == template)
            .and_then(|e| e["official_similarity"].as_f64())
        {
            return s as f32;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no similarity to the official photo after 30 s");
}

async fn the_server_rechecks_the_face(backend: Backend, faces: &std::path::Path) {
    let tmp = tempfile::tempdir().unwrap();
    // This city allows still selfies (no camera video here); the face is what is re-checked.
    let FaceScene {
        server,
        admin,
        phone,
    } = face_scene(backend, tmp.path(), false).await.unwrap();
    assert!(phone.sync().await.unwrap().is_complete());
    let photo = |rel: &str| ImageInput::File(faces.join(rel));
    let never = Cancel::never();

    // HR's official photo of e1 (kept by the server as an embedding only); a photo without a usable
    // face is refused.
    let (status, body) = admin
        .put_bytes(
            "/v1/admin/employees/e1/official-photo",
            std::fs::read(faces.join("obama/4.jpg")).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _) = admin
        .put_bytes(
            "/v1/admin/employees/e1/official-photo",
            b"not a photo".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(status, 400);

    // A colleague enrolls his own face under e1's id: HR sees it is far from the official photo.
    let buddy = phone
        .enroll(
            "e1",
            &[
                "kit_harington/1.jpg",
                "kit_harington/2.jpg",
                "kit_harington/3.jpg",
            ]
            .map(photo),
            None,
            &never,
        )
        .unwrap();
    assert!(phone.sync().await.unwrap().is_complete());
    let far = official_similarity(&admin, &buddy.payload.template_sha256).await;
    assert!(
        far < 0.3,
        "a colleague's face scored {far} against the official photo"
    );
    admin
        .json(
            Method::POST,
            &format!(
                "/v1/admin/faces/e1/{}/decision",
                buddy.payload.template_sha256
            ),
            Some(serde_json::json!({"decision": "rejected", "approver": "hr", "reason": "not e1's face"})),
        )
        .await
        .unwrap();

    // Enrolled on the phone (three crops uploaded), close to the official photo, approved by HR, the
    // approval pulled.
    let enrolled = phone
        .enroll(
            "e1",
            &["obama/1.jpg", "obama/2.jpg", "obama/3.jpg"].map(photo),
            None,
            &never,
        )
        .unwrap();
    assert!(phone.sync().await.unwrap().is_complete());
    let close = official_similarity(&admin, &enrolled.payload.template_sha256).await;
    assert!(
        close > siap_core::face::DEFAULT_THRESHOLD,
        "e1's own face scored {close} against the official photo"
    );
    eprintln!("official photo: e1's enrollment {close:.3}, the colleague's {far:.3}");
    admin
        .approve_face("e1", &enrolled.payload.template_sha256)
        .await
        .unwrap();
    assert!(phone.sync().await.unwrap().is_complete());

    let check = |face: &str, north: f64| Check {
        employee_id: "e1".into(),
        direction: Direction::In,
        face: Some(FaceInput::Selfie(photo(face))),
        fix: office_fix(north),
    };
    let honest = phone.check(check("obama/4.jpg", 0.0), &never).unwrap();
    assert!(honest.accepted(), "{:?}", honest.payload.reasons);
    let impostor = phone.check(check("biden/1.jpg", 0.00002), &never).unwrap();
    assert!(!impostor.accepted());

    // A modified app: the impostor's check-in signed as accepted and matched (his crop uploaded with
    // it); the honest crop pasted into a later check-in; a check-in without its crop.
    let mut claims_match = impostor.payload.clone();
    claims_match.decision = Decision::Accepted;
    claims_match.reasons.clear();
    if let Some(f) = claims_match.face.as_mut() {
        f.similarity = 0.91;
        f.matched = true;
    }
    let mismatch = forge(&phone, &claims_match);
    let mut pasted = honest.payload.clone();
    pasted.fix = office_fix(0.00004);
    let replay = forge(&phone, &pasted);
    let mut cropless = honest.payload.clone();
    cropless.fix = office_fix(0.00006);
    if let Some(f) = cropless.face.as_mut() {
        f.crop_sha256 = None;
    }
    let no_crop = forge(&phone, &cropless);
    // ... and one naming a crop of the approved enrollment itself (already on the server): it would
    // match by construction.
    let mut enrolled_crop = honest.payload.clone();
    enrolled_crop.fix = office_fix(0.00008);
    if let Some(f) = enrolled_crop.face.as_mut() {
        f.crop_sha256 = Some(enrolled.payload.photos[1].crop_sha256.clone());
    }
    let from_enrollment = forge(&phone, &enrolled_crop);
    assert!(phone.sync().await.unwrap().is_complete());

    let rows = admin
        .settled(phone.ledger().device_id(), &[])
        .await
        .unwrap();
    let row = |seq: u64| {
        rows.iter()
            .find(|r| r["seq"] == seq)
            .unwrap_or_else(|| panic!("no row #{seq} in {rows:?}"))
    };
    let verdict = |seq: u64| {
        let r = row(seq);
        (
            r["decision"].as_str().unwrap().to_owned(),
            r["server_reasons"].clone(),
        )
    };
    assert_eq!(
        verdict(honest.seq),
        ("accepted".into(), serde_json::json!([]))
    );
    assert_eq!(
        verdict(impostor.seq),
        (
            "rejected".into(),
            serde_json::json!(["face_mismatch", "device_rejected"])
        )
    );
    assert_eq!(
        verdict(mismatch),
        (
            "rejected".into(),
            serde_json::json!(["face_recheck_mismatch"])
        )
    );
    assert_eq!(
        verdict(replay),
        ("rejected".into(), serde_json::json!(["replayed_evidence"]))
    );
    assert_eq!(
        verdict(no_crop),
        ("rejected".into(), serde_json::json!(["face_crop_missing"]))
    );
    assert_eq!(
        verdict(from_enrollment),
        ("rejected".into(), serde_json::json!(["replayed_evidence"]))
    );
    for seq in [mismatch, replay, no_crop, from_enrollment] {
        assert!(
            row(seq)["flags"]
                .as_array()
                .unwrap()
                .contains(&"verdict_disputed".into()),
            "{:?}",
            row(seq)
        );
    }
    // Exactly one check-in counts.
    let counted = rows.iter().filter(|r| r["decision"] == "accepted").count();
    assert_eq!(counted, 1, "{rows:?}");

    // Retention: once past the city's period, the crops of settled check-ins and of the rejected
    // enrollment are deleted; the approved enrollment's crops stay.
    let blob = |sha: String| {
        let admin = admin.clone();
        async move {
            admin
                .call(Method::GET, &format!("/v1/admin/blobs/{sha}"), None)
                .await
                .unwrap()
                .0
        }
    };
    let honest_crop = honest
        .payload
        .face
        .as_ref()
        .unwrap()
        .crop_sha256
        .clone()
        .unwrap();
    let own_crop = enrolled.payload.photos[0].crop_sha256.clone();
    let buddy_crop = buddy.payload.photos[0].crop_sha256.clone();
    assert_eq!(blob(honest_crop.clone()).await, 200);
    let st = siap_server::state(&server.cfg).await.unwrap();
    let expired = siap_server::erasure::expire(&st.db, st.blobs.clone(), i64::MAX)
        .await
        .unwrap();
    assert!(expired >= 4, "{expired} crops expired");
    assert_eq!(blob(honest_crop).await, 404);
    assert_eq!(blob(buddy_crop).await, 404);
    assert_eq!(blob(own_crop.clone()).await, 200);

    // Erasure on request: the approved template is revoked (signed, pulled by the phone), every crop
    // is deleted, the records and their chain stay.
    let (status, _) = admin
        .call(
            Method::POST,
            "/v1/admin/faces/e1/erase",
            Some(serde_json::json!({"approver": "dpo", "reason": ""})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "an erasure needs a reason");
    let erased = admin
        .json(
            Method::POST,
            "/v1/admin/faces/e1/erase",
            Some(serde_json::json!({"approver": "dpo", "reason": "the employee's request"})),
        )
        .await
        .unwrap();
    assert_eq!(erased["revoked"], 1, "{erased}");
    assert_eq!(blob(own_crop).await, 404);
    assert!(phone.sync().await.unwrap().is_complete());
    assert!(matches!(
        phone.face_status("e1").unwrap(),
        Some((
            _,
            siap_core::enrollment::decisions::TemplateStatus::Refused {
                decision: siap_core::enrollment::FaceDecisionKind::Revoked,
                ..
            }
        ))
    ));
    let faces = admin
        .json(Method::GET, "/v1/admin/faces?employee_id=e1", None)
        .await
        .unwrap();
    assert!(
        faces
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "erased" && e["official_similarity"].is_null()),
        "{faces}"
    );
    // Every record is still there and its chain verifies (the crops' hashes stay in the records).
    let kept = admin
        .verified_records(phone.ledger().device_id())
        .await
        .unwrap();
    assert_eq!(kept.len() as u64, phone.status().unwrap().records);
}

#[tokio::test]
async fn the_server_rechecks_the_face_on_both_databases() {
    let Some(faces) = photos::faces_dir() else {
        return;
    };
    for b in backends("the_server_rechecks_the_face_on_both_databases") {
        the_server_rechecks_the_face(b, &faces).await;
    }
}
