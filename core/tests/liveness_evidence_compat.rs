//! Attendance records signed before the liveness evidence was typed (its `details` were free-form JSON)
//! read with today's types: every field comes back typed, and written out again the payload is the same
//! JSON, except that the first version had widened the `details` floats to f64 (`0.11999999731779099`
//! for the f32 0.12): those are compared as f32. See `fixtures/README.md` for what the records hold.

// Floats are compared exactly on purpose (they must read back bit for bit); the long literals are
// copied verbatim from the signed JSON.
#![allow(clippy::float_cmp, clippy::unreadable_literal)]

use serde_json::Value;
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
    assert_eq!(s.peak_yaw, f(-0.3197488486766815));
    assert_eq!(s.nose_residual, Some(f(0.27043333649635315)));
    assert_eq!(l.details.steps[2].deadline_ms, 5_240);
    let planarity = &l.details.planarity;
    assert_eq!(planarity.residuals.len(), 3);
    assert_eq!(planarity.min_residual, Some(f(0.23237857222557068)));
    assert_eq!(planarity.threshold, 0.12);
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
        let signed: Value = serde_json::from_slice(&r.payload).expect("json");
        let typed: AttendancePayload = r.payload_json().expect("payload");
        // Written as a device writes a payload: to bytes (`to_value` would widen every f32 to f64).
        let written: Value =
            serde_json::from_slice(&serde_json::to_vec(&typed).expect("json")).expect("json");
        if let Err(e) = same_json(&signed, &written, false, "payload") {
            panic!("record {}: {e}", r.seq);
        }
        // And today's output reads back to the same values.
        let again: AttendancePayload = serde_json::from_value(written).expect("payload");
        assert_eq!(again, typed);
    }
}
