//! Liveness attacks at the level of the face engine's observations (face mesh, tracked feature points,
//! landmarks), through the public API only (what the integrator and the server see): a printed photo in
//! a hand, a bent printout, a screen showing a photo, a replayed recording, a colleague swapped in, and
//! the evidence that goes into the attendance record.
//!
//! Image-level attacks (real photos from `../shared/faces` warped by random homographies, blurred, with
//! moiré) need the face engine to turn pixels into observations; `siap_core::liveness::attack` has the
//! image helpers and `liveness_images.rs` runs them through the engine.

use siap_core::attendance::LivenessEvidence;
use siap_core::clock::MonotonicReading;
use siap_core::liveness::synth::{Camera, Identity, Presenter, Rng, SequenceSpec, sequence};
use siap_core::liveness::{
    Challenge, ChallengeConfig, FrameObservation, LivenessPolicy, LivenessReason, LivenessVerdict,
    Movement, check,
};

/// A challenge issued at `at`, its movements drawn from a seeded generator so that every run checks
/// the same sequences (the synthetic mesh jitters by about 2 degrees: a few answers in a thousand fail
/// to come back within the 3-degree return band, and a test of random challenges would flake).
fn issue(at: i64) -> Challenge {
    let now = MonotonicReading {
        monotonic_ms: at,
        boot_id: "boot".into(),
    };
    let issued = Challenge::issue(&now, &ChallengeConfig::default()).expect("issue");
    let mut rng = Rng::new(at.unsigned_abs() ^ 0x5eed);
    let len = 2 + (rng.next_u64() % 3) as usize;
    let mut steps: Vec<Movement> = Vec::new();
    while steps.len() < len {
        let m = Movement::ALL[(rng.next_u64() % 4) as usize];
        if steps.last() != Some(&m) {
            steps.push(m);
        }
    }
    Challenge { steps, ..issued }
}

fn spec(presenter: Presenter, start_ms: i64) -> SequenceSpec {
    SequenceSpec {
        start_ms,
        presenter,
        ..SequenceSpec::default()
    }
}

#[test]
fn live_answers_to_random_challenges_pass_and_fill_the_record() {
    let mut rng = Rng::new(100);
    let who = Identity::random(&mut rng);
    let policy = LivenessPolicy::default();
    for i in 0..40 {
        let c = issue(10_000 * i);
        let frames = sequence(
            &c.steps,
            &spec(Presenter::Live, c.issued_at_ms + 30),
            &who,
            &mut rng,
        );
        let v = check(&c, &frames, &policy).expect("check");
        assert!(v.passed, "{:?}: {:?}", c.steps, v.reasons);
        let ev: LivenessEvidence = (&v).into();
        assert_eq!(ev.nonce, c.nonce);
        assert_eq!(ev.challenge, c.step_names());
        assert_eq!(ev.details.planarity.residuals.len(), c.steps.len());
        assert_eq!(
            ev.details.planarity.threshold.to_bits(),
            policy.min_parallax.to_bits()
        );
        assert!(ev.details.steps.iter().all(|s| {
            s.completed
                && s.parallax.is_some_and(|p| p > policy.min_parallax)
                && s.parallax_points.is_some()
                && s.parallax_frame.is_some()
        }));
        assert!(ev.reasons().is_empty());
        // The record's evidence parses back from JSON, field for field.
        let back: LivenessEvidence =
            serde_json::from_slice(&serde_json::to_vec(&ev).expect("ser")).expect("de");
        assert_eq!(back, ev);
        assert_eq!(back.details.steps.len(), c.steps.len());
    }
}

/// A flat picture (`Presenter::Photo`) or a printout bent around a cylinder of `radius` IOD, tilted
/// 15-60 degrees like the challenge with 3 degrees of hand jitter, at `distance` IOD from the camera.
fn picture_attack(
    rng: &mut Rng,
    victim: &Identity,
    i: i64,
    presenter: Presenter,
    noise_px: f64,
    distance: f64,
) -> LivenessVerdict {
    let c = issue(10_000 * i);
    let s = SequenceSpec {
        yaw_deg: rng.uniform(15.0, 60.0),
        pitch_deg: rng.uniform(15.0, 60.0),
        noise_px,
        jitter_deg: 3.0,
        camera: Camera {
            distance,
            ..Camera::default()
        },
        ..spec(presenter, c.issued_at_ms + 30)
    };
    check(
        &c,
        &sequence(&c.steps, &s, victim, rng),
        &LivenessPolicy::default(),
    )
    .expect("check")
}

#[test]
fn photos_and_screens_moved_by_random_hand_motion_are_rejected() {
    let mut rng = Rng::new(200);
    let victim = Identity::random(&mut rng);
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..120 {
        // Even: a printed photo; odd: a phone screen (flat, held closer). 1 and 2 px landmark noise.
        let distance = if i % 2 == 0 { 7.5 } else { 4.0 };
        let noise = if i % 4 < 2 { 1.0 } else { 2.0 };
        let v = picture_attack(&mut rng, &victim, i, Presenter::Photo, noise, distance);
        assert!(!v.passed, "attack {i} passed: {:?}", v.steps);
        *reasons.entry(v.reasons[0].kind().as_str()).or_default() += 1;
    }
    println!("120 flat photo and screen attacks rejected; first reasons: {reasons:?}");
}

#[test]
fn gently_bent_printouts_are_a_known_limit() {
    // A printout bent around a vertical cylinder is three-dimensional: tilted, its mesh reads as a
    // turned or nodded head (a 40-degree tilt of a 3-IOD bend reads as 11 degrees of yaw), and its
    // tracked points show parallax (0.024 IOD turned 35 degrees at a radius of 3 IOD, over the 0.015
    // threshold). With the mesh pose and the tracked-point parallax, bent printouts pass the check
    // (measured over 200 attempts each, 1 px noise: radius 1 IOD 85 %, 2 IOD 41 %, 3 IOD 22 %, 5 IOD
    // 3 %, 8 IOD 1 %, flat 0 %); the five-landmark nose residual with its 0.12 threshold rejected them
    // all down to 0.6 IOD. Asserted here as measured (this test, half at 2 px noise: 31 of 120 pass),
    // so that a change either way is seen: if none passes any more, make this test as strict as the
    // flat photos'.
    let mut rng = Rng::new(201);
    let victim = Identity::random(&mut rng);
    let n = 120;
    let mut passed = 0;
    for i in 0..n {
        let noise = if i % 2 == 0 { 1.0 } else { 2.0 };
        let v = picture_attack(&mut rng, &victim, i, Presenter::BentPhoto(3.0), noise, 7.5);
        passed += usize::from(v.passed);
    }
    println!("printouts bent at a radius of 3 IOD (~19 cm): {passed} / {n} passed");
    assert!(passed > 0 && passed < n as usize / 3, "{passed} / {n}");
}

#[test]
fn a_recording_replayed_against_a_new_challenge_fails() {
    let mut rng = Rng::new(300);
    let who = Identity::random(&mut rng);
    let old = issue(0);
    let recorded = sequence(&old.steps, &spec(Presenter::Live, 30), &who, &mut rng);
    assert!(
        check(&old, &recorded, &LivenessPolicy::default())
            .expect("check")
            .passed
    );
    let mut accepted = 0;
    for i in 1..=200 {
        let new = issue(100_000 * i);
        // As recorded (timestamps before the new challenge) and re-stamped into its window.
        let v = check(&new, &recorded, &LivenessPolicy::default()).expect("check");
        assert!(
            v.reasons
                .iter()
                .any(|r| matches!(r, LivenessReason::FramesBeforeChallenge { .. }))
        );
        let shifted: Vec<FrameObservation> = recorded
            .iter()
            .map(|f| FrameObservation {
                t_ms: f.t_ms + new.issued_at_ms,
                ..f.clone()
            })
            .collect();
        let v = check(&new, &shifted, &LivenessPolicy::default()).expect("check");
        if v.passed {
            accepted += 1;
            // Only the very same sequence may pass: a recording whose first movements match a shorter
            // challenge is rejected for the movements after the last requested step.
            assert_eq!(
                new.steps, old.steps,
                "recording {:?} accepted for challenge {:?}",
                old.steps, new.steps
            );
        }
    }
    // 156 possible challenges (2-4 steps, no immediate repeat): a re-stamped replay of one answer matches
    // only the identical challenge, about 1 time in 156; the nonce in the signed record shows the reuse.
    println!("re-stamped replay accepted {accepted} / 200 times (identical challenge only)");
}

#[test]
fn a_longer_recording_whose_first_moves_match_is_rejected() {
    let mut rng = Rng::new(301);
    let who = Identity::random(&mut rng);
    let long = Challenge {
        steps: vec![
            Movement::LookDown,
            Movement::TurnRight,
            Movement::LookDown,
            Movement::TurnLeft,
        ],
        ..issue(0)
    };
    let recorded = sequence(&long.steps, &spec(Presenter::Live, 30), &who, &mut rng);
    assert!(
        check(&long, &recorded, &LivenessPolicy::default())
            .expect("check")
            .passed
    );
    for n in 2..4 {
        let short = Challenge {
            steps: long.steps[..n].to_vec(),
            ..long.clone()
        };
        let v = check(&short, &recorded, &LivenessPolicy::default()).expect("check");
        assert!(!v.passed, "prefix of {n} steps accepted");
        assert!(
            v.reasons
                .iter()
                .any(|r| matches!(r, LivenessReason::ExtraMovement { .. })),
            "{:?}",
            v.reasons
        );
    }
}
