//! Scenario 3's liveness half and scenario 5's transcript half: the server re-runs the liveness check
//! itself. A check-in's liveness evidence names the SHA-256 of the attempt's transcript (challenge,
//! every frame's observations, the passive score), uploaded as a blob beside its face crop; the server,
//! with the face models, runs the same pure check on it, for the challenge the record signed, at the
//! record's time, and holds the uploaded crop to the frame the transcript says was verified.
//!
//! A real phone (real models, real photos of `../shared/faces`) enrolls and is approved. Its check-ins
//! are then signed the way a modified app would sign them, each with the face crop of a real photo of
//! the employee, and the liveness part varied:
//!
//! - honest: a live head's transcript (a synthetic 3-D head, with the real crop's embeddings): accepted;
//! - the verdict flipped to `passed` over a held-up photo's transcript: `liveness_recheck_failed`,
//!   with the server's own reasons (those the check gave the photo before the app flipped it);
//! - the honest answer pasted into a later check-in (`replayed_challenge`), or its transcript named
//!   under a fresh nonce (`replayed_evidence`);
//! - another attempt's transcript: `liveness_observations_mismatch`;
//! - a passed answer with no transcript: `liveness_observations_missing`;
//! - the employee's crop with a transcript of someone else's head (a colleague answers the challenge,
//!   the app signs a photo of the employee): `crop_not_in_attempt`;
//! - a check-in whose transcript never arrived stays `pending`, never accepted;
//! - a selfie without any challenge, from an app build that skips it: `liveness_missing`.
//!
//! Every rejection of a check-in the device "accepted" is `verdict_disputed`; exactly one check-in
//! counts.
//!
//! Enrollments the app signs as passed are re-checked the same way before anyone can approve them: a
//! held-up photo's transcript is refused (`liveness_recheck_failed`), a colleague's live head
//! answering for the employee's photos is refused (`live_face_mismatch`), one whose transcript has not
//! arrived cannot be approved yet (409), an honest one can. The transcripts hold embeddings, so retention deletes them with the crops. Both databases.
//!
//! Why synthetic heads: a device draws a 2-4 movement challenge at random, and the real videos of
//! `../shared/liveness-real` answer one movement each. The real videos' transcripts are re-checked
//! against the device's verdict in `core/tests/liveness_real.rs` (identical on all 11).

#[path = "../../core/tests/face_common/photos.rs"]
mod photos;

use reqwest::Method;
use siap_core::Device;
use siap_core::attendance::{AttendancePayload, Decision, Direction, FaceEvidence, KIND_CHECK_IN};
use siap_core::clock::MonotonicReading;
use siap_core::device::{Cancel, Check, FaceInput, ImageInput};
use siap_core::face::{FaceConfig, FaceEngine, FaceImage, crop, default_models_dir};
use siap_core::liveness::synth::{self, Identity, Presenter, Rng, SequenceSpec};
use siap_core::liveness::{
    Challenge, ChallengeConfig, LivenessEvidence, LivenessPolicy, Movement, TRANSCRIPT_MIME,
    Transcript, VerifiedFrame, check,
};
use siap_core::sync::Outbox;
use siap_tests::sync_support::{
    Backend, FaceScene, backends, face_scene, office_fix, test_master_key,
};

/// A face crop of the employee as the app signs it: `photo` verified on the phone against e1's
/// approved template, the crop's JPEG stored for upload (variant `k`: its top rows a shade lighter, so
/// that each check-in has a crop of its own), with the crop's embedding.
fn capture(
    engine: &FaceEngine,
    phone: &Device,
    photo: &std::path::Path,
    k: usize,
) -> (FaceEvidence, Vec<f32>) {
    let img = FaceImage::decode(&std::fs::read(photo).unwrap()).unwrap();
    let (mut evidence, jpeg) =
        siap_core::attendance::verify_face(engine, phone.store(), &test_master_key(), "e1", &img)
            .unwrap();
    let mut rgb = crop::decode(&jpeg.unwrap()).unwrap();
    // The top rows a shade lighter: another JPEG, the same face.
    for v in rgb.iter_mut().take(112 * 3 * 4) {
        *v = v.saturating_add(3 * k as u8);
    }
    let jpeg = crop::encode(&rgb).unwrap();
    let sha = Outbox(phone.store()).put_blob(crop::MIME, &jpeg).unwrap();
    evidence.crop_sha256 = Some(hex::encode(sha));
    evidence.template.as_mut().unwrap().approved = true;
    let embedding = engine.embed_aligned(&crop::decode(&jpeg).unwrap()).unwrap();
    (evidence, embedding)
}

/// One liveness attempt answered by `presenter` whose face embeds near `who`, at a challenge issued
/// 3 s before `at`: the evidence as the device's check signs it, naming its transcript, and the
/// transcript stored for upload (unless `upload` is false).
fn attempt(
    phone: &Device,
    who: &[f32],
    presenter: Presenter,
    at: &MonotonicReading,
    seed: u64,
    upload: bool,
) -> LivenessEvidence {
    let steps = vec![Movement::TurnLeft, Movement::LookUp];
    let issued = MonotonicReading {
        monotonic_ms: at.monotonic_ms - 3_000,
        boot_id: at.boot_id.clone(),
    };
    let challenge = Challenge::from_parts(
        format!("{:032x}", fastrand::u128(..)),
        steps.clone(),
        &issued,
        &ChallengeConfig::default(),
    )
    .unwrap();
    let spec = SequenceSpec {
        start_ms: issued.monotonic_ms + 100,
        presenter,
        ..SequenceSpec::default()
    };
    let mut rng = Rng::new(seed);
    let frames = synth::sequence(&steps, &spec, &Identity(who.to_vec()), &mut rng);
    let policy = LivenessPolicy::default();
    let verdict = check(&challenge, &frames, &policy).unwrap();
    let verified = VerifiedFrame {
        index: 0,
        embedding: who.to_vec(),
    };
    let blob = Transcript::new(&challenge, &policy, frames, &verdict, Some(verified))
        .encode()
        .unwrap();
    if upload {
        Outbox(phone.store())
            .put_blob(TRANSCRIPT_MIME, &blob)
            .unwrap();
    }
    let mut evidence = verdict.to_evidence();
    evidence.observations_sha256 = Some(siap_core::liveness::transcript_sha256(&blob));
    evidence
}

/// What a modified app signs: `base` with `face` and a passed `liveness`, accepted, at a fix `north`
/// of the office, appended to the phone's own chain.
fn forge(
    phone: &Device,
    base: &AttendancePayload,
    mut face: FaceEvidence,
    mut liveness: LivenessEvidence,
    north: f64,
) -> u64 {
    liveness.passed = true;
    liveness.details.reasons.clear();
    face.liveness = Some(liveness);
    let mut p = base.clone();
    p.face = Some(face);
    p.fix = office_fix(north);
    p.decision = Decision::Accepted;
    p.reasons.clear();
    phone
        .ledger()
        .append(KIND_CHECK_IN, &serde_json::to_vec(&p).unwrap())
        .unwrap()
        .seq
}

/// What a modified app signs for an enrollment: e1's template from `photos` (their crops stored for
/// upload), answered by `liveness` (signed as passed, nothing refused). Returns the template hash.
fn forge_enrollment(
    engine: &FaceEngine,
    phone: &Device,
    photos: &[std::path::PathBuf],
    mut liveness: LivenessEvidence,
    time: &siap_core::clock::TimeEvidence,
) -> String {
    use siap_core::enrollment::{
        EnrollmentPayload, EnrollmentPhoto, KIND_ENROLLMENT, PAYLOAD_VERSION,
    };
    let imgs: Vec<FaceImage> = photos
        .iter()
        .map(|p| FaceImage::decode(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    let enrolled = engine.enroll_photos(&imgs).unwrap();
    let photos = enrolled
        .samples
        .iter()
        .map(|s| {
            let jpeg = crop::encode(s.aligned.as_deref().unwrap()).unwrap();
            let sha = Outbox(phone.store()).put_blob(crop::MIME, &jpeg).unwrap();
            EnrollmentPhoto {
                crop_sha256: hex::encode(sha),
                quality_passed: true,
                quality_reasons: vec![],
            }
        })
        .collect();
    liveness.passed = true;
    liveness.details.reasons.clear();
    let payload = EnrollmentPayload {
        v: PAYLOAD_VERSION,
        employee_id: "e1".into(),
        template_sha256: enrolled.template.sha256(),
        model_sha256: vec![enrolled.template.model_sha256.clone()],
        photos,
        liveness: Some(liveness),
        replaces: None,
        refused: vec![],
        time: time.clone(),
    };
    phone
        .ledger()
        .append(KIND_ENROLLMENT, &serde_json::to_vec(&payload).unwrap())
        .unwrap();
    payload.template_sha256
}

/// e1's enrollments as the approver sees them, once every one in `templates` has been re-checked.
async fn rechecked_enrollments(
    admin: &siap_tests::sync_support::Admin,
    templates: &[&str],
) -> Vec<serde_json::Value> {
    for _ in 0..300 {
        let list = admin
            .json(Method::GET, "/v1/admin/faces?employee_id=e1", None)
            .await
            .unwrap();
        let list = list.as_array().unwrap().clone();
        let done = templates.iter().all(|t| {
            list.iter()
                .any(|e| e["template_sha256"] == *t && !e["liveness_rechecked"].is_null())
        });
        if done {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("enrollments not re-checked after 30 s");
}

async fn the_server_reruns_liveness(backend: Backend, faces: &std::path::Path) {
    let tmp = tempfile::tempdir().unwrap();
    // The city requires liveness; this phone's app build lets a selfie through without a challenge.
    let FaceScene {
        server,
        admin,
        phone,
    } = face_scene(backend, tmp.path(), true).await.unwrap();
    let photo = |rel: &str| faces.join(rel);
    let never = Cancel::never();
    let enrolled = phone
        .enroll(
            "e1",
            &["obama/1.jpg", "obama/2.jpg", "obama/3.jpg"].map(|p| ImageInput::File(photo(p))),
            None,
            &never,
        )
        .unwrap();
    assert!(phone.sync().await.unwrap().is_complete());
    admin
        .approve_face("e1", &enrolled.payload.template_sha256)
        .await
        .unwrap();
    assert!(phone.sync().await.unwrap().is_complete());

    // An app that skipped the challenge: accepted on the phone, not by the server.
    let selfie = phone
        .check(
            Check {
                employee_id: "e1".into(),
                direction: Direction::In,
                face: Some(FaceInput::Selfie(ImageInput::File(photo("obama/4.jpg")))),
                fix: office_fix(0.0),
            },
            &never,
        )
        .unwrap();
    assert!(selfie.accepted(), "{:?}", selfie.payload.reasons);
    let base = selfie.payload.clone();
    let at = base.time.monotonic.clone();

    let engine = FaceEngine::open(&default_models_dir(), FaceConfig::default()).unwrap();
    let e1 = photo("obama/4.jpg");
    let other = {
        let img = FaceImage::decode(&std::fs::read(photo("biden/1.jpg")).unwrap()).unwrap();
        engine.sample(&img).unwrap().embedding.unwrap()
    };

    let (face, me) = capture(&engine, &phone, &e1, 1);
    let honest_answer = attempt(&phone, &me, Presenter::Live, &at, 1, true);
    let honest = forge(&phone, &base, face, honest_answer.clone(), 0.00001);

    let (face, me) = capture(&engine, &phone, &e1, 2);
    let held_up = attempt(&phone, &me, Presenter::Photo, &at, 2, true);
    assert!(!held_up.passed, "a held-up photo's own verdict");
    let held_up_reasons: Vec<String> = held_up
        .reasons()
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    let flipped = forge(&phone, &base, face, held_up, 0.00002);

    let (face, _) = capture(&engine, &phone, &e1, 3);
    let pasted = forge(&phone, &base, face, honest_answer.clone(), 0.00003);

    let (face, _) = capture(&engine, &phone, &e1, 4);
    let mut renamed = honest_answer.clone();
    renamed.nonce = format!("{:032x}", fastrand::u128(..));
    let renonced = forge(&phone, &base, face, renamed, 0.00004);

    let (face, me) = capture(&engine, &phone, &e1, 5);
    let mine = attempt(&phone, &me, Presenter::Live, &at, 5, true);
    let mut theirs = attempt(&phone, &me, Presenter::Live, &at, 6, true);
    theirs.observations_sha256 = mine.observations_sha256.clone();
    let swapped = forge(&phone, &base, face, theirs, 0.00005);

    let (face, me) = capture(&engine, &phone, &e1, 6);
    let mut bare = attempt(&phone, &me, Presenter::Live, &at, 7, false);
    bare.observations_sha256 = None;
    let missing = forge(&phone, &base, face, bare, 0.00006);

    let (face, _) = capture(&engine, &phone, &e1, 7);
    let colleague = attempt(&phone, &other, Presenter::Live, &at, 8, true);
    let buddy = forge(&phone, &base, face, colleague, 0.00007);

    let (face, me) = capture(&engine, &phone, &e1, 8);
    let withheld = attempt(&phone, &me, Presenter::Live, &at, 9, false);
    let waiting = forge(&phone, &base, face, withheld, 0.00008);

    assert!(phone.sync().await.unwrap().is_complete());
    let rows = admin
        .settled(phone.ledger().device_id(), &[waiting])
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
    let rejected = |reasons: serde_json::Value| ("rejected".to_owned(), reasons);
    assert_eq!(verdict(honest), ("accepted".into(), serde_json::json!([])));
    assert_eq!(
        verdict(flipped),
        rejected(serde_json::json!(["liveness_recheck_failed"]))
    );
    // The server's own verdict, with the check's own reasons: what the device found before the app
    // flipped it.
    assert_eq!(
        row(flipped)["server_liveness_reasons"],
        serde_json::json!(held_up_reasons)
    );
    assert_eq!(
        verdict(pasted),
        rejected(serde_json::json!(["replayed_challenge"]))
    );
    assert_eq!(
        verdict(renonced),
        rejected(serde_json::json!(["replayed_evidence"]))
    );
    assert_eq!(
        verdict(swapped),
        rejected(serde_json::json!(["liveness_observations_mismatch"]))
    );
    assert_eq!(
        verdict(missing),
        rejected(serde_json::json!(["liveness_observations_missing"]))
    );
    assert_eq!(
        verdict(buddy),
        rejected(serde_json::json!(["crop_not_in_attempt"]))
    );
    assert_eq!(verdict(waiting).0, "pending");
    assert_eq!(
        verdict(selfie.seq),
        rejected(serde_json::json!(["liveness_missing"]))
    );
    for seq in [
        selfie.seq, flipped, pasted, renonced, swapped, missing, buddy,
    ] {
        assert!(
            row(seq)["flags"]
                .as_array()
                .unwrap()
                .contains(&"verdict_disputed".into()),
            "{:?}",
            row(seq)
        );
    }
    let counted = rows.iter().filter(|r| r["decision"] == "accepted").count();
    assert_eq!(counted, 1, "{rows:?}");
    let similarity = row(honest)["server_similarity"].as_f64().unwrap();
    assert!(
        similarity > f64::from(siap_core::face::DEFAULT_THRESHOLD),
        "{similarity}"
    );

    // The transcripts hold embeddings: the retention period deletes them with the crops.
    let transcript = honest_answer.observations_sha256.clone().unwrap();
    let status = |sha: String| {
        let admin = admin.clone();
        async move {
            admin
                .call(Method::GET, &format!("/v1/admin/blobs/{sha}"), None)
                .await
                .unwrap()
                .0
        }
    };
    assert_eq!(status(transcript.clone()).await, 200);

    // Enrollments: the server re-runs their liveness too, and ties the live face to the photos. Each
    // is e1's template from another set of photos, answered by a transcript the app signs as passed.
    let set = |names: &[&str]| names.iter().map(|n| photo(n)).collect::<Vec<_>>();
    let (_, me) = capture(&engine, &phone, &e1, 9);
    let live = attempt(&phone, &me, Presenter::Live, &at, 10, true);
    let honest_enrollment = forge_enrollment(
        &engine,
        &phone,
        &set(&["obama/1.jpg", "obama/2.jpg", "obama/4.jpg"]),
        live,
        &base.time,
    );
    let held = attempt(&phone, &me, Presenter::Photo, &at, 11, true);
    let held_enrollment = forge_enrollment(
        &engine,
        &phone,
        &set(&["obama/1.jpg", "obama/3.jpg", "obama/4.jpg"]),
        held,
        &base.time,
    );
    let stand_in = attempt(&phone, &other, Presenter::Live, &at, 12, true);
    let stand_in_enrollment = forge_enrollment(
        &engine,
        &phone,
        &set(&["obama/2.jpg", "obama/3.jpg", "obama/4.jpg"]),
        stand_in,
        &base.time,
    );
    let unseen = attempt(&phone, &me, Presenter::Live, &at, 13, false);
    let unseen_enrollment = forge_enrollment(
        &engine,
        &phone,
        &set(&["obama/1.jpg", "obama/2.jpg", "obama/3.jpg", "obama/4.jpg"]),
        unseen,
        &base.time,
    );
    assert!(phone.sync().await.unwrap().is_complete());
    let list = rechecked_enrollments(
        &admin,
        &[&honest_enrollment, &held_enrollment, &stand_in_enrollment],
    )
    .await;
    let of = |t: &str| {
        let e = list
            .iter()
            .find(|e| e["template_sha256"] == t)
            .unwrap_or_else(|| panic!("no enrollment {t} in {list:?}"));
        (
            e["status"].as_str().unwrap().to_owned(),
            e["refused"].clone(),
            e["liveness_rechecked"].clone(),
        )
    };
    assert_eq!(
        of(&honest_enrollment),
        ("pending".into(), serde_json::json!([]), true.into())
    );
    assert_eq!(
        of(&held_enrollment),
        (
            "refused".into(),
            serde_json::json!(["liveness_recheck_failed"]),
            false.into()
        )
    );
    assert_eq!(
        of(&stand_in_enrollment),
        (
            "refused".into(),
            serde_json::json!(["live_face_mismatch"]),
            false.into()
        )
    );
    assert_eq!(
        of(&unseen_enrollment),
        (
            "pending".into(),
            serde_json::json!([]),
            serde_json::Value::Null
        )
    );
    let decide = |template: String| {
        let admin = admin.clone();
        async move {
            admin
                .call(
                    Method::POST,
                    &format!("/v1/admin/faces/e1/{template}/decision"),
                    Some(serde_json::json!({"decision": "approved", "approver": "hr"})),
                )
                .await
                .unwrap()
                .0
        }
    };
    // Refused by the re-check, or not re-checked yet: nobody can approve it.
    assert_eq!(decide(held_enrollment).await, 409);
    assert_eq!(decide(stand_in_enrollment).await, 409);
    assert_eq!(decide(unseen_enrollment).await, 409);
    assert_eq!(decide(honest_enrollment).await, 200);

    let st = siap_server::state(&server.cfg).await.unwrap();
    siap_server::erasure::expire(&st.db, st.blobs.clone(), i64::MAX)
        .await
        .unwrap();
    assert_eq!(status(transcript).await, 404);
}

#[tokio::test]
async fn the_server_reruns_liveness_on_both_databases() {
    let Some(faces) = photos::faces_dir() else {
        return;
    };
    for b in backends("the_server_reruns_liveness_on_both_databases") {
        the_server_reruns_liveness(b, &faces).await;
    }
}
