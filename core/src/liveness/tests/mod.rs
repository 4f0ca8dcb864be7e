//! Module tests: geometry margins on the synthetic face model, sequence decisions, bad input.

use super::synth::{
    Camera, Identity, PlanePose, Presenter, Rng, SequenceSpec, bent_photo_landmarks,
    live_landmarks, noisy, photo_landmarks, sequence,
};
use super::tracker::strength;
use super::*;
use crate::Error;
use crate::clock::MonotonicReading;

mod batch_oracle;
mod incremental;

/// Residual statistics of one population.
struct Stats {
    min: f32,
    max: f32,
    values: Vec<f32>,
}

impl Stats {
    fn new(mut values: Vec<f32>) -> Stats {
        values.sort_by(f32::total_cmp);
        Stats {
            min: values[0],
            max: values[values.len() - 1],
            values,
        }
    }
    fn frac_above(&self, t: f32) -> f64 {
        self.values.iter().filter(|v| **v >= t).count() as f64 / self.values.len() as f64
    }
    fn quantile(&self, q: f64) -> f32 {
        self.values[((self.values.len() - 1) as f64 * q).round() as usize]
    }
}

/// Live pairs (neutral frame, peak frame) whose pose change passes the movement threshold, and planar
/// pairs (the same face on a photo in two random hand-held poses), with `sigma` px landmark noise.
fn residual_populations(sigma: f64, n: usize, seed: u64) -> (Stats, Stats) {
    let policy = LivenessPolicy::default();
    let cam = Camera::default();
    let mut rng = Rng::new(seed);
    let mut live = Vec::new();
    while live.len() < n {
        let off = [rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)];
        let roll = rng.uniform(-10.0, 10.0);
        let (y0, p0) = (rng.uniform(-3.0, 3.0), rng.uniform(-3.0, 3.0));
        let neutral = noisy(&live_landmarks(&cam, y0, p0, roll, off), sigma, &mut rng);
        let m = Movement::ALL[(rng.next_u64() % 4) as usize];
        let a = rng.uniform(8.0, 40.0);
        let o = rng.uniform(-4.0, 4.0);
        let (y, p) = match m {
            Movement::TurnLeft => (a, o),
            Movement::TurnRight => (-a, o),
            Movement::LookUp => (o, a),
            Movement::LookDown => (o, -a),
        };
        let off2 = [
            off[0] + rng.uniform(-0.2, 0.2),
            off[1] + rng.uniform(-0.2, 0.2),
        ];
        let peak = noisy(
            &live_landmarks(&cam, y, p, roll + rng.uniform(-3.0, 3.0), off2),
            sigma,
            &mut rng,
        );
        let (dy, dp) = Pose::from_landmarks(&peak)
            .unwrap()
            .delta(&Pose::from_landmarks(&neutral).unwrap());
        if strength(m, dy, dp, &policy) < 1.0 {
            continue; // the check would not count this as the movement: not a live sample for planarity
        }
        live.push(planarity::nose_residual(&neutral, &peak).unwrap());
    }
    let mut planar = Vec::new();
    while planar.len() < n {
        let mut a = PlanePose::random(&mut rng, 10.0);
        a.scale = 1.0;
        let b = PlanePose::random(&mut rng, 40.0);
        let l0 = noisy(&photo_landmarks(&cam, &a), sigma, &mut rng);
        let l1 = noisy(&photo_landmarks(&cam, &b), sigma, &mut rng);
        if let Some(r) = planarity::nose_residual(&l0, &l1) {
            planar.push(r);
        }
    }
    (Stats::new(live), Stats::new(planar))
}

#[test]
fn planarity_margin_on_synthetic_faces() {
    let th = LivenessPolicy::default().min_nose_residual;
    for (sigma, seed) in [(1.0, 11), (2.0, 12)] {
        let (live, planar) = residual_populations(sigma, 5000, seed);
        println!(
            "sigma {sigma} px (IOD 80 px): live min {:.3} p1 {:.3} median {:.3} | planar max {:.3} p99 {:.3} \
             median {:.3} | threshold {th}: live below {:.4}, planar above {:.4}, margin min-live/max-planar {:.2}",
            live.min,
            live.quantile(0.01),
            live.quantile(0.5),
            planar.max,
            planar.quantile(0.99),
            planar.quantile(0.5),
            1.0 - live.frac_above(th),
            planar.frac_above(th),
            live.min / planar.max,
        );
        if sigma <= 1.0 {
            assert!(
                live.min > th && planar.max < th,
                "not separated at {sigma} px"
            );
        } else {
            // Single pairs overlap in the tails at 2 px: the check takes a median over several pairs per
            // step (see `sequence_level_margin`), which separates them.
            assert!(live.frac_above(th) > 0.99 && planar.frac_above(th) < 0.05);
        }
    }
}

fn now(ms: i64) -> MonotonicReading {
    MonotonicReading {
        monotonic_ms: ms,
        boot_id: "boot-1".into(),
    }
}

fn challenge(steps: &[Movement], issued_ms: i64) -> Challenge {
    Challenge::from_parts(
        "0123456789abcdef0123456789abcdef".into(),
        steps.to_vec(),
        &now(issued_ms),
        &ChallengeConfig::default(),
    )
    .unwrap()
}

fn spec(presenter: Presenter, noise_px: f64, start_ms: i64) -> SequenceSpec {
    SequenceSpec {
        start_ms,
        noise_px,
        presenter,
        ..SequenceSpec::default()
    }
}

fn has(v: &LivenessVerdict, pred: impl Fn(&LivenessReason) -> bool) -> bool {
    v.reasons.iter().any(pred)
}

const LU: [Movement; 2] = [Movement::TurnLeft, Movement::LookUp];

#[test]
fn correct_live_sequences_pass_for_every_movement() {
    let mut rng = Rng::new(1);
    let who = Identity::random(&mut rng);
    for steps in [
        vec![Movement::TurnLeft, Movement::TurnRight],
        vec![Movement::LookUp, Movement::LookDown, Movement::TurnLeft],
        vec![
            Movement::TurnRight,
            Movement::LookDown,
            Movement::LookUp,
            Movement::TurnRight,
        ],
    ] {
        let c = challenge(&steps, 1_000);
        let frames = sequence(&steps, &spec(Presenter::Live, 1.0, 1_050), &who, &mut rng);
        let v = check(&c, &frames, &LivenessPolicy::default()).unwrap();
        assert!(v.passed, "{steps:?}: {:?}", v.reasons);
        assert!(
            v.steps
                .iter()
                .all(|s| s.completed && s.nose_residual.unwrap() > 0.12)
        );
        let ev = v.to_evidence();
        assert!(ev.passed && ev.nonce == c.nonce && ev.challenge.len() == steps.len());
        assert_eq!(ev.details.steps.len(), steps.len());
        assert_eq!(ev.details.planarity.residuals.len(), steps.len());
    }
}

#[test]
fn mirrored_frames_need_the_mirrored_policy() {
    let mut rng = Rng::new(2);
    let who = Identity::random(&mut rng);
    let c = challenge(&[Movement::TurnLeft, Movement::LookUp], 0);
    // A mirrored preview shows a left turn as a right turn.
    let frames = sequence(
        &[Movement::TurnRight, Movement::LookUp],
        &spec(Presenter::Live, 1.0, 10),
        &who,
        &mut rng,
    );
    let plain = check(&c, &frames, &LivenessPolicy::default()).unwrap();
    assert!(has(&plain, |r| matches!(
        r,
        LivenessReason::WrongMovement { step: 0, .. }
    )));
    let mirrored = LivenessPolicy {
        mirrored: true,
        ..LivenessPolicy::default()
    };
    assert!(check(&c, &frames, &mirrored).unwrap().passed);
}

#[test]
fn wrong_order_is_a_wrong_movement() {
    let mut rng = Rng::new(3);
    let who = Identity::random(&mut rng);
    let c = challenge(&LU, 0);
    let frames = sequence(
        &[Movement::LookUp, Movement::TurnLeft],
        &spec(Presenter::Live, 1.0, 10),
        &who,
        &mut rng,
    );
    let v = check(&c, &frames, &LivenessPolicy::default()).unwrap();
    assert!(!v.passed);
    assert!(has(&v, |r| matches!(
        r,
        LivenessReason::WrongMovement {
            step: 0,
            expected: Movement::TurnLeft,
            observed: Movement::LookUp
        }
    )));
}

#[test]
fn late_answer_is_rejected() {
    let mut rng = Rng::new(4);
    let who = Identity::random(&mut rng);
    let c = challenge(&LU, 0);
    // The person waits 4 s before starting: the first step finishes after its 4 s deadline.
    let slow = SequenceSpec {
        hold_frames: 40,
        ..spec(Presenter::Live, 1.0, 10)
    };
    let frames = sequence(&LU, &slow, &who, &mut rng);
    let v = check(&c, &frames, &LivenessPolicy::default()).unwrap();
    assert!(
        !v.passed && v.steps.iter().all(|s| s.completed),
        "{:?}",
        v.reasons
    );
    assert!(
        has(&v, |r| matches!(
            r,
            LivenessReason::StepTooLate { step: 0, .. }
        )),
        "{:?}",
        v.reasons
    );
}

#[test]
fn replayed_frames_are_rejected() {
    let mut rng = Rng::new(5);
    let who = Identity::random(&mut rng);
    // Frames recorded for an earlier challenge (issued at 0) replayed against one issued at 60 s.
    let old = challenge(&LU, 0);
    let frames = sequence(&LU, &spec(Presenter::Live, 1.0, 10), &who, &mut rng);
    let v = check(&old, &frames, &LivenessPolicy::default()).unwrap();
    assert!(v.passed, "{:?}", v.reasons);
    let n = frames.len();
    let mut fresh = challenge(&LU, 60_000);
    fresh.nonce = "fedcba9876543210fedcba9876543210".into();
    let v = check(&fresh, &frames, &LivenessPolicy::default()).unwrap();
    assert!(
        has(
            &v,
            |r| matches!(r, LivenessReason::FramesBeforeChallenge { frames } if *frames == n)
        ),
        "{:?}",
        v.reasons
    );
    // Re-stamped into the new window, the recording answers the wrong movements.
    let other = challenge(&[Movement::TurnRight, Movement::LookDown], 60_000);
    let shifted: Vec<FrameObservation> = frames
        .iter()
        .map(|f| FrameObservation {
            t_ms: f.t_ms + 60_000,
            ..f.clone()
        })
        .collect();
    let v = check(&other, &shifted, &LivenessPolicy::default()).unwrap();
    assert!(
        has(&v, |r| matches!(
            r,
            LivenessReason::WrongMovement { step: 0, .. }
        )),
        "{:?}",
        v.reasons
    );
}

#[test]
fn static_repeated_frame_is_rejected() {
    let mut rng = Rng::new(6);
    let who = Identity::random(&mut rng);
    let one = sequence(&LU, &spec(Presenter::Live, 1.0, 10), &who, &mut rng).remove(0);
    let frames: Vec<FrameObservation> = (0..20)
        .map(|i| FrameObservation {
            t_ms: 10 + 100 * i,
            ..one.clone()
        })
        .collect();
    let v = check(&challenge(&LU, 0), &frames, &LivenessPolicy::default()).unwrap();
    assert!(has(&v, |r| matches!(
        r,
        LivenessReason::StaticSequence { .. }
    )));
    assert!(has(&v, |r| matches!(
        r,
        LivenessReason::StepNotCompleted { step: 0, .. }
    )));
}

#[test]
fn two_people_or_two_faces_are_rejected() {
    let mut rng = Rng::new(7);
    let a = Identity::random(&mut rng);
    let b = Identity::random(&mut rng);
    let mut frames = sequence(&LU, &spec(Presenter::Live, 1.0, 10), &a, &mut rng);
    let c = challenge(&LU, 0);
    // The second half is someone else (the colleague takes over).
    for f in frames.iter_mut().skip(9) {
        if f.embedding.is_some() {
            f.embedding = Some(b.sample(0.5, &mut rng));
        }
    }
    let v = check(&c, &frames, &LivenessPolicy::default()).unwrap();
    assert!(has(
        &v,
        |r| matches!(r, LivenessReason::EmbeddingMismatch { min_similarity } if *min_similarity < 0.3)
    ));
    let mut frames = sequence(&LU, &spec(Presenter::Live, 1.0, 10), &a, &mut rng);
    frames[5].faces = 2;
    let v = check(&c, &frames, &LivenessPolicy::default()).unwrap();
    assert!(has(&v, |r| matches!(
        r,
        LivenessReason::MultipleFaces {
            frame: 5,
            frames: 1
        }
    )));
}

#[test]
fn photo_tilted_like_the_challenge_is_rejected() {
    let mut rng = Rng::new(8);
    let who = Identity::random(&mut rng);
    let c = challenge(&LU, 0);
    let mut movement_passed = 0;
    for _ in 0..50 {
        let s = SequenceSpec {
            yaw_deg: rng.uniform(20.0, 60.0),
            pitch_deg: rng.uniform(20.0, 60.0),
            ..spec(Presenter::Photo, 1.0, 10)
        };
        let v = check(
            &c,
            &sequence(&LU, &s, &who, &mut rng),
            &LivenessPolicy::default(),
        )
        .unwrap();
        assert!(!v.passed);
        if v.steps.iter().any(|s| s.completed) {
            movement_passed += 1;
            assert!(has(&v, |r| matches!(
                r,
                LivenessReason::PlanarMotion { .. }
            )));
        }
    }
    println!("photo sequences: 50 rejected, {movement_passed} of them got past the movement check");
}

/// Sequence-level margin: per-step residuals (median over neutral x peak pairs) of live sequences vs
/// photo sequences that completed the movement, with 1 and 2 px noise.
#[test]
fn sequence_level_margin() {
    let policy = LivenessPolicy {
        min_nose_residual: 0.0, // measure, do not decide
        ..LivenessPolicy::default()
    };
    let lenient = LivenessPolicy {
        yaw_threshold: 0.02,
        pitch_threshold: 0.02,
        yaw_return: 0.015,
        pitch_return: 0.015,
        ..policy.clone()
    };
    let mut rng = Rng::new(9);
    let who = Identity::random(&mut rng);
    let steps = [
        Movement::TurnLeft,
        Movement::LookDown,
        Movement::TurnRight,
        Movement::LookUp,
    ];
    let c = challenge(&steps, 0);
    for sigma in [1.0, 2.0] {
        let (mut live, mut planar) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let s = SequenceSpec {
                yaw_deg: rng.uniform(18.0, 35.0),
                pitch_deg: rng.uniform(18.0, 30.0),
                ..spec(Presenter::Live, sigma, 10)
            };
            let v = check(&c, &sequence(&steps, &s, &who, &mut rng), &policy).unwrap();
            live.extend(v.planarity.residuals);
            let p = SequenceSpec {
                yaw_deg: rng.uniform(20.0, 70.0),
                pitch_deg: rng.uniform(20.0, 70.0),
                camera: Camera {
                    distance: if i % 2 == 0 { 7.5 } else { 4.0 },
                    ..Camera::default()
                },
                ..spec(Presenter::Photo, sigma, 10)
            };
            // A photo almost never gets past the movement thresholds (tilting it barely moves the nose
            // relative to the eyes); to measure planarity itself, let any movement count.
            let v = check(&c, &sequence(&steps, &p, &who, &mut rng), &lenient).unwrap();
            planar.extend(v.planarity.residuals);
        }
        let lmin = live.iter().copied().fold(f32::INFINITY, f32::min);
        let pmax = planar.iter().copied().fold(0.0f32, f32::max);
        println!(
            "sequence level, sigma {sigma} px: {} live steps min residual {lmin:.3}; {} photo steps \
             (movement thresholds lowered to 0.02), max residual {pmax:.3}; threshold {}",
            live.len(),
            planar.len(),
            LivenessPolicy::default().min_nose_residual
        );
        assert!(live.len() > 700 && planar.len() > 50);
        assert!(lmin > LivenessPolicy::default().min_nose_residual);
        assert!(pmax < LivenessPolicy::default().min_nose_residual);
    }
}

#[test]
fn bent_printout_radius_where_planarity_stops_working() {
    // A printout bent around a vertical cylinder brings the nose forward of the eyes; find the radius
    // (IOD units) where a tilted bent photo starts to pass the planarity threshold (noise-free).
    let cam = Camera::default();
    let th = LivenessPolicy::default().min_nose_residual;
    let mut first_pass = None;
    for r10 in (5..=40).rev() {
        let r = f64::from(r10) / 10.0;
        let flat = PlanePose {
            scale: 1.0,
            ..PlanePose::default()
        };
        let turned = PlanePose {
            tilt_y_deg: 35.0,
            ..flat
        };
        let a = bent_photo_landmarks(&cam, &flat, r).map(|p| p.map(|v| v as f32));
        let b = bent_photo_landmarks(&cam, &turned, r).map(|p| p.map(|v| v as f32));
        let res = planarity::nose_residual(&a, &b).unwrap();
        if res >= th && first_pass.is_none() {
            first_pass = Some((r, res));
        }
    }
    println!(
        "bent printout turned 35°: planarity first passes at radius {first_pass:?} IOD (threshold {th})"
    );
    // A gentle bend (radius >= 2 IOD, ~13 cm) stays planar to the test.
    assert!(first_pass.is_none_or(|(r, _)| r < 2.0));
}

#[test]
fn bad_input_is_typed_errors_or_rejections_never_panics() {
    let mut rng = Rng::new(10);
    let who = Identity::random(&mut rng);
    let c = challenge(&LU, 0);
    let p = LivenessPolicy::default();
    // No frames: a rejected verdict.
    let v = check(&c, &[], &p).unwrap();
    assert!(
        !v.passed
            && has(&v, |r| matches!(
                r,
                LivenessReason::TooFewFrames { frames: 0, .. }
            ))
    );
    let good = sequence(&LU, &spec(Presenter::Live, 1.0, 10), &who, &mut rng);
    // NaN landmark: typed error.
    let mut bad = good.clone();
    bad[3].landmarks.as_mut().unwrap()[2][0] = f32::NAN;
    assert!(matches!(
        check(&c, &bad, &p),
        Err(Error::InvalidInput {
            field: "frames.landmarks",
            ..
        })
    ));
    let mut bad = good.clone();
    bad[0].embedding = Some(vec![f32::INFINITY; 192]);
    assert!(matches!(
        check(&c, &bad, &p),
        Err(Error::InvalidInput { .. })
    ));
    let mut bad = good.clone();
    bad[4].embedding = Some(vec![0.1; 10]);
    assert!(matches!(
        check(&c, &bad, &p),
        Err(Error::InvalidInput { .. })
    ));
    assert!(
        check_with_passive(
            &c,
            &good,
            Some(PassiveObservation {
                score: f32::NAN,
                sharp_pixels: None
            }),
            &p
        )
        .is_err()
    );
    let bad_policy = LivenessPolicy {
        yaw_threshold: f32::NAN,
        ..p.clone()
    };
    assert!(check(&c, &good, &bad_policy).is_err());
    // Timestamps going backwards, a gap, missing landmarks, a face too small, no face at all.
    let mut back = good.clone();
    back[6].t_ms = back[5].t_ms;
    let v = check(&c, &back, &p).unwrap();
    assert!(has(&v, |r| matches!(
        r,
        LivenessReason::TimestampsNotIncreasing { frame: 6 }
    )));
    let mut gap = good.clone();
    for f in gap.iter_mut().skip(8) {
        f.t_ms += 5_000;
    }
    assert!(has(&check(&c, &gap, &p).unwrap(), |r| matches!(
        r,
        LivenessReason::FrameGap { frame: 8, .. }
    )));
    let mut nolm = good.clone();
    nolm[2].landmarks = None;
    assert!(has(&check(&c, &nolm, &p).unwrap(), |r| matches!(
        r,
        LivenessReason::MissingLandmarks { frame: 2 }
    )));
    let tiny: Vec<FrameObservation> = good
        .iter()
        .map(|f| FrameObservation {
            landmarks: f.landmarks.map(|l| l.map(|[x, y]| [x * 0.2, y * 0.2])),
            ..f.clone()
        })
        .collect();
    assert!(has(&check(&c, &tiny, &p).unwrap(), |r| matches!(
        r,
        LivenessReason::FaceTooSmall { .. }
    )));
    let empty: Vec<FrameObservation> = good
        .iter()
        .map(|f| FrameObservation {
            faces: 0,
            landmarks: None,
            embedding: None,
            ..f.clone()
        })
        .collect();
    let v = check(&c, &empty, &p).unwrap();
    assert!(has(&v, |r| matches!(
        r,
        LivenessReason::TooManyFramesWithoutFace { .. }
    )));
    assert!(has(&v, |r| matches!(
        r,
        LivenessReason::TooFewEmbeddings { embeddings: 0, .. }
    )));
    // Garbage landmarks (all points equal) are a rejection, not a panic.
    let garbage: Vec<FrameObservation> = good
        .iter()
        .map(|f| FrameObservation {
            landmarks: Some([[1.0, 1.0]; 5]),
            ..f.clone()
        })
        .collect();
    assert!(!check(&c, &garbage, &p).unwrap().passed);
}

#[test]
fn passive_score_and_sharpness_are_recorded_and_reject_only_by_policy() {
    let mut rng = Rng::new(11);
    let who = Identity::random(&mut rng);
    let c = challenge(&LU, 0);
    let frames = sequence(&LU, &spec(Presenter::Live, 1.0, 10), &who, &mut rng);
    let spoofy = Some(PassiveObservation {
        score: 0.9,
        sharp_pixels: Some(12),
    });
    let v = check_with_passive(&c, &frames, spoofy, &LivenessPolicy::default()).unwrap();
    assert!(v.passed && v.passive.score == Some(0.9) && v.passive.median_sharpness == Some(40.0));
    assert_eq!(v.to_evidence().passive_score, Some(0.9));
    assert_eq!(v.passive.sharp_pixels, Some(12));
    assert_eq!(v.to_evidence().details.passive.sharp_pixels, Some(12));
    let strict = LivenessPolicy {
        passive_reject_above: Some(0.2),
        min_sharpness: Some(50.0),
        ..LivenessPolicy::default()
    };
    let v = check_with_passive(&c, &frames, spoofy, &strict).unwrap();
    assert!(has(&v, |r| matches!(
        r,
        LivenessReason::PassiveSpoof { .. }
    )));
    assert!(has(&v, |r| matches!(r, LivenessReason::TooBlurry { .. })));
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["reasons"][0]["reason"], "passive_spoof");
}

#[test]
fn an_answer_used_long_after_its_challenge_or_after_a_reboot_expires() {
    let mut rng = Rng::new(77);
    let who = Identity::random(&mut rng);
    let c = challenge(&LU, 1_000);
    let frames = sequence(&LU, &spec(Presenter::Live, 1.0, 1_050), &who, &mut rng);
    let fresh = check(&c, &frames, &LivenessPolicy::default()).unwrap();
    assert!(fresh.passed);
    let mut soon = fresh.clone();
    soon.expire_at(&c, &now(1_000 + c.total_timeout_ms + SESSION_GRACE_MS));
    assert!(soon.passed, "{:?}", soon.reasons);
    let mut late = fresh.clone();
    late.expire_at(&c, &now(1_000 + c.total_timeout_ms + SESSION_GRACE_MS + 1));
    assert!(!late.passed);
    assert!(has(&late, |r| matches!(
        r,
        LivenessReason::SessionExpired { age_ms: Some(_) }
    )));
    let mut rebooted = fresh;
    rebooted.expire_at(
        &c,
        &MonotonicReading {
            monotonic_ms: 2_000,
            boot_id: "boot-2".into(),
        },
    );
    assert!(has(&rebooted, |r| matches!(
        r,
        LivenessReason::SessionExpired { age_ms: None }
    )));
}
