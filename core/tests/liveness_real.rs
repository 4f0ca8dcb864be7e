//! Liveness on real video of real people: the 11 labelled sequences of `../shared/liveness-real` (head
//! turns of 11 people cut from public videos; README there), run frame by frame through the real face
//! engine (detection, face mesh, tracked points, embeddings) under the shipped policy.
//!
//! - at least 10 of the 11 genuine sequences are accepted (the target of the real-video work; every
//!   step's measured angle and parallax is printed against its threshold);
//! - every sequence's frames, replayed against any *other* challenge (other movements, or its own
//!   movements followed by one more), are rejected: a recording of a real head answers only the
//!   challenge it was recorded for;
//! - the server's re-check of each sequence's uploaded transcript gives exactly the device's verdict.
//!
//! Required when `CI` is set (or `SIAP_LIVENESS_DIR` is given); skipped with a message otherwise.
#![cfg(feature = "face")]

mod face_common;

use siap_core::face::{LiveConfig, LivenessAttempt};
use siap_core::liveness::eval::{PresentationLabel, SequenceEntry, discover};
use siap_core::liveness::{
    Challenge, FrameObservation, LivenessPolicy, LivenessVerdict, Movement, Recheck, Transcript,
    check,
};

/// Runs the engine on one sequence's frames: the verdict and the observations (with embeddings).
fn run(e: &SequenceEntry, policy: &LivenessPolicy) -> (LivenessVerdict, Vec<FrameObservation>) {
    let engine = face_common::engine();
    let mut attempt =
        LivenessAttempt::new(e.challenge.clone(), LiveConfig::default()).expect("attempt");
    for (t_ms, path) in &e.frames {
        let img = siap_core::face::FaceImage::decode(&std::fs::read(path).expect("frame"))
            .expect("decode");
        engine
            .observe(&mut attempt, &img, *t_ms, policy)
            .expect("observe");
    }
    engine
        .finish_observations(&attempt, None, policy)
        .expect("finish")
}

/// Every challenge a replay of `steps` must not answer: the other sequences of the same length (no
/// movement twice in a row), and `steps` followed by one more movement.
fn other_challenges(steps: &[Movement]) -> Vec<Vec<Movement>> {
    let extend = |s: &Vec<Movement>| -> Vec<Vec<Movement>> {
        Movement::ALL
            .into_iter()
            .filter(|m| s.last() != Some(m))
            .map(|m| {
                let mut t = s.clone();
                t.push(m);
                t
            })
            .collect()
    };
    let mut same_len: Vec<Vec<Movement>> = vec![Vec::new()];
    for _ in 0..steps.len() {
        same_len = same_len.iter().flat_map(extend).collect();
    }
    let mut out: Vec<Vec<Movement>> = same_len.into_iter().filter(|s| s != steps).collect();
    out.extend(extend(&steps.to_vec()));
    out
}

fn names(v: &LivenessVerdict) -> Vec<String> {
    v.reasons
        .iter()
        .map(|r| serde_json::to_value(r).expect("json")["reason"].to_string())
        .collect()
}

#[test]
fn real_people_pass_and_their_recordings_answer_no_other_challenge() {
    let Some(dir) = face_common::liveness_dir() else {
        return;
    };
    let policy = LivenessPolicy::default();
    let genuine: Vec<SequenceEntry> = discover(&dir)
        .expect("layout")
        .into_iter()
        .filter(|e| e.label == PresentationLabel::BonaFide && !e.frames.is_empty())
        .collect();
    assert!(
        genuine.len() >= 11,
        "expected the 11 sequences, found {}",
        genuine.len()
    );
    let (mut accepted, mut replays) = (0, 0);
    let mut transcript_bytes = Vec::new();
    for e in &genuine {
        let name = e
            .dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let (v, obs) = run(e, &policy);
        accepted += usize::from(v.passed);
        println!(
            "{name}: {} {:?}",
            if v.passed { "accepted" } else { "rejected" },
            names(&v)
        );
        for s in &v.steps {
            let turn = matches!(s.movement, Movement::TurnLeft | Movement::TurnRight);
            let (angle, threshold) = if turn {
                (s.peak_yaw_deg, policy.yaw_threshold_deg)
            } else {
                (s.peak_pitch_deg, policy.pitch_threshold_deg)
            };
            println!(
                "  {:?}: completed {}, peak {:+.1} deg (threshold {threshold}), parallax {:?} over {:?} \
                 points (min {}), nose residual {:?}",
                s.movement,
                s.completed,
                angle,
                s.parallax,
                s.parallax_points,
                policy.min_parallax,
                s.nose_residual
            );
        }
        // The server re-runs the check on the uploaded transcript: the same verdict, to the last
        // digit, from the encoded blob.
        let transcript = Transcript::new(&e.challenge, &policy, obs.clone(), &v, None);
        let blob = transcript.encode().expect("encode");
        let now = siap_core::clock::MonotonicReading {
            monotonic_ms: e.challenge.issued_at_ms,
            boot_id: e.challenge.boot_id.clone(),
        };
        let again = Transcript::decode(&blob)
            .expect("decode")
            .recheck(&v.to_evidence(), &now, &policy)
            .expect("recheck");
        assert_eq!(
            again,
            Recheck::Verdict(Box::new(v.clone())),
            "{name}: the server's re-check differs"
        );
        transcript_bytes.push((
            serde_json::to_vec(&transcript).expect("json").len(),
            blob.len(),
        ));
        for steps in other_challenges(&e.challenge.steps) {
            let other = Challenge {
                steps: steps.clone(),
                ..e.challenge.clone()
            };
            let replay = check(&other, &obs, &policy).expect("check");
            replays += 1;
            assert!(
                !replay.passed,
                "{name}, recorded for {:?}, accepted as an answer to {steps:?}",
                e.challenge.steps
            );
        }
    }
    println!(
        "{accepted} of {} real sequences accepted; {replays} replays against other challenges, none \
         accepted",
        genuine.len()
    );
    let (json, blob): (Vec<usize>, Vec<usize>) = transcript_bytes.into_iter().unzip();
    println!(
        "transcripts: JSON {}-{} bytes, uploaded (deflated) {}-{} bytes; every server re-check gave \
         the device's verdict",
        json.iter().min().unwrap_or(&0),
        json.iter().max().unwrap_or(&0),
        blob.iter().min().unwrap_or(&0),
        blob.iter().max().unwrap_or(&0)
    );
    assert!(
        accepted + 1 >= genuine.len(),
        "only {accepted} of {} real sequences accepted",
        genuine.len()
    );
}
