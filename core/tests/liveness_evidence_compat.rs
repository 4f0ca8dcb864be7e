//! Attendance records signed before the liveness evidence was typed (its `details` were free-form JSON)
//! read with today's types: every field comes back typed, and written out again the payload is the same
//! JSON, except that
//!
//! - the first version had widened the `details` floats to f64 (`0.11999999731779099` for the f32
//!   0.12): those are compared as f32;
//! - its steps carried the peak pose as `peak_yaw` / `peak_pitch` in inter-ocular distances (from the
//!   five landmarks); today's carry `peak_yaw_deg` / `peak_pitch_deg` in degrees (from the face mesh)
//!   and the tracked-point parallax (`parallax`, `parallax_points`, `parallax_frame`), and the planarity
//!   summary lists the `nose_residuals` apart. The old fields are tolerated and not read (a different
//!   measure), the new ones read as their defaults and are written as such.
//!
//! See `fixtures/README.md` for what the records hold.

// Floats are compared exactly on purpose (they must read back bit for bit); the long literals are
// copied verbatim from the signed JSON.
#![allow(clippy::float_cmp, clippy::unreadable_literal)]

use serde_json::{Value, json};
use siap_core::attendance::{AttendancePayload, Decision, LivenessEvidence, Reason};
use siap_core::ledger::{Record, verify_chain};
use siap_core::liveness::{LivenessReason, LivenessReasonKind as K, Movement};

const RECORDS: &str = include_str!("fixtures/attendance_liveness.jsonl");
const PUBLIC_KEY: &str = include_str!("fixtures/attendance_liveness.public_key.hex");

fn records() -> Vec<Record> {
    let records: Vec<Record> = RECORDS
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let key = hex::decode(PUBLIC_KEY.trim()).expect("key");
    let head = verify_chain(&key, &records).expect("signed chain");
    assert_eq!(head.map(|h| h.seq), Some(4));
    records
}

fn liveness(p: &AttendancePayload) -> &LivenessEvidence {
    p.face
        .as_ref()
        .and_then(|f| f.liveness.as_ref())
        .expect("liveness evidence")
}

/// The f32 the first version wrote as a widened f64.
fn f(v: f64) -> f32 {
    v as f32
}

/// `a == b` as JSON, numbers under a `details` object compared as f32.
fn same_json(a: &Value, b: &Value, in_details: bool, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let (kx, ky): (Vec<_>, Vec<_>) = (x.keys().collect(), y.keys().collect());
            if kx != ky {
                return Err(format!("{path}: keys {kx:?} != {ky:?}"));
            }
            for (k, v) in x {
                same_json(
                    v,
                    &y[k],
                    in_details || k == "details",
                    &format!("{path}.{k}"),
                )?;
            }
            Ok(())
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (v, w))| same_json(v, w, in_details, &format!("{path}[{i}]"))),
        (Value::Number(x), Value::Number(y)) if x != y => match (x.as_f64(), y.as_f64()) {
            (Some(a), Some(b)) if in_details && f(a) == f(b) => Ok(()),
            _ => Err(format!("{path}: {x} != {y}")),
        },
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} != {b}")),
    }
}

/// The step fields of the first version that today's evidence does not read.
const OLD_STEP_FIELDS: [&str; 2] = ["peak_yaw", "peak_pitch"];

/// The step fields today's evidence adds, with the values they read as from a record without them.
fn new_step_fields() -> [(&'static str, Value); 5] {
    [
        ("peak_yaw_deg", json!(0.0)),
        ("peak_pitch_deg", json!(0.0)),
        ("parallax", Value::Null),
        ("parallax_points", Value::Null),
        ("parallax_frame", Value::Null),
    ]
}

/// The steps of a payload's liveness details, as JSON objects.
fn steps_mut(payload: &mut Value) -> impl Iterator<Item = &mut serde_json::Map<String, Value>> {
    payload
        .pointer_mut("/face/liveness/details/steps")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

#[test]
fn records_signed_before_the_types_read_field_by_field() {
    let payloads: Vec<AttendancePayload> = records()
        .iter()
        .map(|r| r.payload_json().expect("attendance payload"))
        .collect();

    // 1. A live head answering turn right, look up, turn left: accepted.
    let p = &payloads[0];
    assert_eq!(
        (p.decision, p.reasons.as_slice()),
        (Decision::Accepted, &[][..])
    );
    let l = liveness(p);
    assert!(l.passed && l.reasons().is_empty() && l.details.reasons.is_empty());
    assert_eq!(l.nonce, "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(l.challenge, ["turn_right", "look_up", "turn_left"]);
    assert_eq!(l.passive_score, Some(0.0731));
    let movements: Vec<Movement> = l.details.steps.iter().map(|s| s.movement).collect();
    assert_eq!(
        movements,
        [Movement::TurnRight, Movement::LookUp, Movement::TurnLeft]
    );
    let s = &l.details.steps[0];
    assert!(s.completed);
    assert_eq!(
        (
            s.neutral_frame,
            s.peak_frame,
            s.reached_ms,
            s.completed_ms,
            s.deadline_ms
        ),
        (Some(2), Some(4), Some(440), Some(640), 4_000)
    );
    assert_eq!(s.nose_residual, Some(f(0.27043333649635315)));
    // The first version's peak, in inter-ocular distances, is in the signed record but not read; the
    // fields it did not have read as their defaults.
    let signed: Value = serde_json::from_slice(&records()[0].payload).expect("json");
    let old_step = &signed["face"]["liveness"]["details"]["steps"][0];
    assert_eq!(old_step["peak_yaw"], json!(-0.3197488486766815));
    assert_eq!(old_step["peak_pitch"], json!(-0.011048346757888794));
    assert_eq!((s.peak_yaw_deg, s.peak_pitch_deg), (0.0, 0.0));
    assert_eq!(
        (s.parallax, s.parallax_points, s.parallax_frame),
        (None, None, None)
    );
    assert_eq!(l.details.steps[2].deadline_ms, 5_240);
    let planarity = &l.details.planarity;
    assert_eq!(planarity.residuals.len(), 3);
    assert_eq!(planarity.min_residual, Some(f(0.23237857222557068)));
    // The first version's planarity was the nose residual: it stays in `residuals`, and the separate
    // list of nose residuals is empty.
    assert_eq!(planarity.threshold, 0.12);
    assert!(planarity.nose_residuals.is_empty());
    let c = &l.details.consistency;
    assert_eq!(
        (c.frames, c.frames_used, c.frames_without_face, c.embeddings),
        (21, 21, 0, 6)
    );
    assert_eq!(c.min_embedding_similarity, Some(f(0.7727676630020142)));
    assert_eq!(c.max_motion, f(0.8772257566452026));
    let passive = &l.details.passive;
    assert_eq!(
        (
            passive.score,
            passive.sharp_pixels,
            passive.reject_above,
            passive.median_sharpness
        ),
        (Some(0.0731), Some(1834), None, Some(40.0))
    );

    // 2. A printed photo: no step counted.
    let l = liveness(&payloads[1]);
    assert_eq!(payloads[1].reasons, [Reason::LivenessFailed]);
    assert!(!l.passed);
    assert_eq!(
        l.details.reasons,
        [LivenessReason::StepNotCompleted {
            step: 0,
            expected: Movement::LookDown
        }]
    );
    assert!(l.details.steps.iter().all(|s| !s.completed));
    assert_eq!(l.details.planarity.min_residual, None);
    assert_eq!(l.details.passive.sharp_pixels, None);
    assert_eq!(l.details.passive.score, Some(0.4127));

    // 3. Nine reasons with their measurements.
    let l = liveness(&payloads[2]);
    assert_eq!(
        l.reasons(),
        [
            K::MultipleFaces,
            K::EmbeddingMismatch,
            K::StepNotCompleted,
            K::PlanarMotion,
            K::PlanarMotion,
            K::PlanarMotion,
            K::PassiveSpoof,
            K::TooBlurry,
            K::SessionExpired,
        ]
    );
    let r = &l.details.reasons;
    assert_eq!(
        r[0],
        LivenessReason::MultipleFaces {
            frame: 4,
            frames: 1
        }
    );
    assert_eq!(
        r[1],
        LivenessReason::EmbeddingMismatch {
            min_similarity: f(-0.0821586325764656)
        }
    );
    assert_eq!(
        r[4],
        LivenessReason::PlanarMotion {
            step: 1,
            residual: f(0.009660783223807812)
        }
    );
    assert_eq!(
        r[6],
        LivenessReason::PassiveSpoof {
            score: f(0.6603999733924866)
        }
    );
    assert_eq!(
        r[8],
        LivenessReason::SessionExpired {
            age_ms: Some(200_000)
        }
    );
    assert_eq!(l.details.passive.reject_above, Some(0.2));
    assert_eq!(l.details.steps[3].reached_ms, Some(2_110));
    assert!(!l.details.steps[3].completed);
    assert_eq!(l.details.consistency.frames_used, 26);

    // 4. The wrong order, frames without a face, after a reboot.
    let l = liveness(&payloads[3]);
    assert_eq!(
        l.details.reasons,
        [
            LivenessReason::TooFewEmbeddings {
                embeddings: 0,
                required: 2
            },
            LivenessReason::WrongMovement {
                step: 0,
                expected: Movement::LookUp,
                observed: Movement::TurnRight
            },
            LivenessReason::SessionExpired { age_ms: None },
        ]
    );
    assert_eq!(l.details.consistency.frames_without_face, 2);
    assert_eq!(l.details.consistency.min_embedding_similarity, None);
    assert_eq!(l.passive_score, None);
}

#[test]
fn records_signed_before_the_types_write_back_the_same_json() {
    for r in records() {
        let mut signed: Value = serde_json::from_slice(&r.payload).expect("json");
        let typed: AttendancePayload = r.payload_json().expect("payload");
        // Written as a device writes a payload: to bytes (`to_value` would widen every f32 to f64).
        let mut written: Value =
            serde_json::from_slice(&serde_json::to_vec(&typed).expect("json")).expect("json");
        // The first version's peaks are not read, so not written back; today's added fields are
        // written with their defaults. Everything else is the same JSON.
        let mut old_steps = 0;
        for step in steps_mut(&mut signed) {
            for k in OLD_STEP_FIELDS {
                let old = step.remove(k);
                assert!(
                    old.as_ref().is_some_and(Value::is_number),
                    "record {}: {k}",
                    r.seq
                );
            }
            old_steps += 1;
        }
        let mut new_steps = 0;
        for step in steps_mut(&mut written) {
            for (k, default) in new_step_fields() {
                assert_eq!(step.remove(k), Some(default), "record {}: {k}", r.seq);
            }
            new_steps += 1;
        }
        assert!(old_steps > 0 && old_steps == new_steps, "record {}", r.seq);
        let planarity = written
            .pointer_mut("/face/liveness/details/planarity")
            .and_then(Value::as_object_mut)
            .expect("planarity");
        assert_eq!(planarity.remove("nose_residuals"), Some(json!([])));
        if let Err(e) = same_json(&signed, &written, false, "payload") {
            panic!("record {}: {e}", r.seq);
        }
        // And today's output reads back to the same values.
        let again: AttendancePayload =
            serde_json::from_slice(&serde_json::to_vec(&typed).expect("json")).expect("payload");
        assert_eq!(again, typed);
    }
}

#[test]
fn a_step_with_old_and_new_fields_reads_the_new_ones() {
    // A record written by a version that had both (or edited by hand): the degrees are read, the
    // inter-ocular peaks ignored, unknown fields too.
    let step: siap_core::liveness::StepEvidence = serde_json::from_value(json!({
        "movement": "turn_left",
        "completed": true,
        "peak_yaw": 0.31,
        "peak_pitch": -0.02,
        "peak_yaw_deg": 21.5,
        "peak_pitch_deg": -1.25,
        "parallax": 0.0625,
        "parallax_points": 48,
        "parallax_frame": 3,
        "future_field": [1, 2]
    }))
    .expect("step");
    assert!(step.completed && step.movement == Movement::TurnLeft);
    assert_eq!((step.peak_yaw_deg, step.peak_pitch_deg), (21.5, -1.25));
    assert_eq!(
        (step.parallax, step.parallax_points, step.parallax_frame),
        (Some(0.0625), Some(48), Some(3))
    );
    assert_eq!((step.nose_residual, step.peak_frame), (None, None));
}
