//! Module tests: geometry margins on the synthetic face model, sequence decisions, bad input.
//!
//! The pose is the face mesh's, in degrees ([`Pose::from_mesh`] on the projected
//! [`pose::CANONICAL`] points); the flat-versus-3-D evidence is the parallax of tracked feature points
//! ([`planarity::track_residual`] on [`synth::track_face`] points, whose noise is the landmark noise
//! times [`synth::TRACK_NOISE`]).

use super::synth::{
    Camera, Identity, PlanePose, Presenter, Rng, SequenceSpec, TRACK_NOISE, live_landmarks,
    live_points, noisy, noisy_points, photo_points, sequence, track_face,
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

/// Tracked points as the engine gives them: every point alive.
fn alive(v: Vec<[f32; 2]>) -> Vec<Option<[f32; 2]>> {
    v.into_iter().map(Some).collect()
}

/// Live pairs (neutral frame, peak frame) whose pose change passes the movement threshold, and planar
/// pairs (the same face on a photo in two random hand-held poses), with `sigma` px landmark (mesh)
/// noise and `sigma * TRACK_NOISE` px tracked-point noise: the tracked-point parallax of each pair, in
/// inter-ocular distances.
fn residual_populations(sigma: f64, n: usize, seed: u64) -> (Stats, Stats) {
    let policy = LivenessPolicy::default();
    let cam = Camera::default();
    let face = track_face();
    let track_sigma = sigma * TRACK_NOISE;
    let mut rng = Rng::new(seed);
    let mut live = Vec::new();
    while live.len() < n {
        let off = [rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)];
        let roll = rng.uniform(-10.0, 10.0);
        let (y0, p0) = (rng.uniform(-3.0, 3.0), rng.uniform(-3.0, 3.0));
        let m = Movement::ALL[(rng.next_u64() % 4) as usize];
        // From below the thresholds up: the pairs just past a threshold, the weakest live evidence the
        // check accepts, are in.
        let a = rng.uniform(3.0, 40.0);
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
        let roll2 = roll + rng.uniform(-3.0, 3.0);
        let mesh = |y: f64, p: f64, r: f64, o: [f64; 2], rng: &mut Rng| {
            Pose::from_mesh(&noisy_points(
                &live_points(&cam, y, p, r, o, &pose::CANONICAL),
                sigma,
                rng,
            ))
            .unwrap()
        };
        let neutral = mesh(y0, p0, roll, off, &mut rng);
        let (dy, dp) = mesh(y, p, roll2, off2, &mut rng).delta(&neutral);
        if strength(m, dy, dp, &policy) < 1.0 {
            continue; // the check would not count this as the movement: not a live sample for planarity
        }
        let a = alive(noisy_points(
            &live_points(&cam, y0, p0, roll, off, &face),
            track_sigma,
            &mut rng,
        ));
        let b = alive(noisy_points(
            &live_points(&cam, y, p, roll2, off2, &face),
            track_sigma,
            &mut rng,
        ));
        let r =
            planarity::track_residual(&a, &b, neutral.inter_ocular_px, policy.min_parallax_points)
                .unwrap();
        live.push(r.residual);
    }
    let mut planar = Vec::new();
    while planar.len() < n {
        let mut a = PlanePose::random(&mut rng, 10.0);
        a.scale = 1.0;
        let b = PlanePose::random(&mut rng, 40.0);
        let iod = Pose::from_mesh(&noisy_points(
            &photo_points(&cam, &a, f64::INFINITY, &pose::CANONICAL),
            sigma,
            &mut rng,
        ))
        .unwrap()
        .inter_ocular_px;
        let t0 = alive(noisy_points(
            &photo_points(&cam, &a, f64::INFINITY, &face),
            track_sigma,
            &mut rng,
        ));
        let t1 = alive(noisy_points(
            &photo_points(&cam, &b, f64::INFINITY, &face),
            track_sigma,
            &mut rng,
        ));
        if let Some(r) = planarity::track_residual(&t0, &t1, iod, policy.min_parallax_points) {
            planar.push(r.residual);
        }
    }
    (Stats::new(live), Stats::new(planar))
}

#[test]
fn planarity_margin_on_synthetic_faces() {
    let th = LivenessPolicy::default().min_parallax;
    for (sigma, seed) in [(0.5, 10), (1.0, 11), (2.0, 12)] {
        let (live, planar) = residual_populations(sigma, 5000, seed);
        println!(
            "sigma {sigma} px landmarks, {:.2} px tracks (IOD 80 px): live min {:.4} p1 {:.4} median {:.4} \
             | planar max {:.4} p99 {:.4} median {:.4} | threshold {th}: live below {:.4}, planar above \
             {:.4}, margin min-live/max-planar {:.2}",
            sigma * TRACK_NOISE,
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
            // Measured (seed 12, 5000 pairs each): live min 0.031, planar median 0.017, max 0.026. At
            // 0.6 px tracking noise the populations are still apart (a threshold near 0.028 would separate
            // them) but the default threshold is inside the planar population: 3/4 of the flat pairs pass
            // it. The default assumes tracking noise of about 0.3 px (`synth::TRACK_NOISE` of a 1 px
            // landmark noise); a noisier tracker needs a higher `min_parallax`.
            assert!(live.min > th && live.min > planar.max);
            assert!(
                planar.frac_above(th) > 0.5,
                "the default separates at {sigma} px now: update this test and the README"
            );
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

/// Frames of a live head (the synthetic model, 1 px landmark noise) through `poses`, `(yaw, pitch)` in
/// the model's degrees, at 10 fps from `start_ms`, an embedding every 4th frame: for movements
/// [`sequence`] does not make (wobbles, overshoots). The model's degrees read about 1.1-1.3 times larger
/// on the mesh (the head turns about the neck, seen in perspective).
fn live_frames(
    poses: &[(f64, f64)],
    start_ms: i64,
    who: &Identity,
    rng: &mut Rng,
) -> Vec<FrameObservation> {
    let cam = Camera::default();
    let face = track_face();
    poses
        .iter()
        .enumerate()
        .map(|(i, &(yaw, pitch))| {
            let mesh = noisy_points(
                &live_points(&cam, yaw, pitch, 0.0, [0.0, 0.0], &pose::CANONICAL),
                1.0,
                rng,
            );
            let tracked = noisy_points(
                &live_points(&cam, yaw, pitch, 0.0, [0.0, 0.0], &face),
                TRACK_NOISE,
                rng,
            );
            FrameObservation {
                t_ms: start_ms + 100 * i as i64,
                faces: 1,
                landmarks: Some(noisy(
                    &live_landmarks(&cam, yaw, pitch, 0.0, [0.0, 0.0]),
                    1.0,
                    rng,
                )),
                face_box: None,
                embedding: (i % 4 == 0).then(|| who.sample(0.5, rng)),
                sharpness: Some(40.0),
                mesh: Some(mesh),
                tracks: Some(Tracks {
                    generation: 1,
                    points: alive(tracked),
                }),
            }
        })
        .collect()
}

/// The pose of a frame's mesh.
fn pose_of(f: &FrameObservation) -> Pose {
    Pose::from_mesh(f.mesh.as_ref().unwrap()).unwrap()
}

#[test]
fn correct_live_sequences_pass_for_every_movement() {
    let mut rng = Rng::new(1);
    let who = Identity::random(&mut rng);
    let p = LivenessPolicy::default();
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
        let v = check(&c, &frames, &p).unwrap();
        assert!(v.passed, "{steps:?}: {:?}", v.reasons);
        for s in &v.steps {
            assert!(s.completed, "{s:?}");
            assert!(s.parallax.unwrap() > p.min_parallax, "{s:?}");
            assert_eq!(s.parallax_points, Some(track_face().len()));
            assert!(s.parallax_frame.is_some() && s.parallax_frame != s.peak_frame);
            assert!(s.nose_residual.is_some(), "{s:?}");
            // The peak is a clear movement in the asked-for direction, in degrees.
            assert!(strength(s.movement, s.peak_yaw_deg, s.peak_pitch_deg, &p) > 2.0);
        }
        let ev = v.to_evidence();
        assert!(ev.passed && ev.nonce == c.nonce && ev.challenge.len() == steps.len());
        assert_eq!(ev.details.steps.len(), steps.len());
        assert_eq!(ev.details.planarity.residuals.len(), steps.len());
        assert_eq!(ev.details.planarity.nose_residuals.len(), steps.len());
        assert_eq!(
            ev.details.planarity.threshold.to_bits(),
            p.min_parallax.to_bits()
        );
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
    let v = check(&c, &frames, &mirrored).unwrap();
    assert!(v.passed, "{:?}", v.reasons);
    // In the person's directions: a left turn has a positive yaw.
    assert!(v.steps[0].peak_yaw_deg > LivenessPolicy::default().yaw_threshold_deg);
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
fn a_turn_with_pitch_wobble_passes_and_a_deliberate_nod_instead_is_wrong() {
    let mut rng = Rng::new(12);
    let who = Identity::random(&mut rng);
    let p = LivenessPolicy::default();
    let c = challenge(&[Movement::TurnLeft, Movement::LookDown], 0);
    // A 20-degree turn (16 in the model) whose chin goes up and down by about the pitch threshold
    // (7.5 in the model, ~8.4 on the mesh) on the way out and back.
    let neutral = [(0.0, 0.0); 3];
    let wobbly_turn = [
        (3.0, 7.5),
        (10.0, -7.5),
        (16.0, 7.5),
        (8.0, -7.5),
        (0.0, 7.5),
    ];
    let nod_down = [(0.0, -12.0), (0.0, -25.0), (0.0, -12.0)];
    let poses: Vec<(f64, f64)> =
        [&neutral[..], &wobbly_turn, &neutral, &nod_down, &neutral].concat();
    let frames = live_frames(&poses, 10, &who, &mut rng);
    let base = pose_of(&frames[0]);
    let wobble = frames[3..8]
        .iter()
        .map(|f| pose_of(f).delta(&base).1.abs())
        .fold(0.0f32, f32::max);
    let turn = frames[3..8]
        .iter()
        .map(|f| pose_of(f).delta(&base).0)
        .fold(0.0f32, f32::max);
    println!("wobbly turn: yaw {turn:.1} deg, pitch wobble up to {wobble:.1} deg");
    assert!(
        wobble >= p.pitch_threshold_deg && wobble < p.deliberate_factor * p.pitch_threshold_deg
    );
    assert!(turn > 18.0 && turn < 22.0);
    let v = check(&c, &frames, &p).unwrap();
    assert!(v.passed, "{:?}", v.reasons);
    // The turn came back on the frame whose yaw was back, pitch still up.
    assert_eq!(v.steps[0].completed_ms, Some(frames[7].t_ms));

    // A nod of 1.5 times the pitch threshold and more (12 in the model, ~13.5 on the mesh) instead of
    // the turn asked for: a wrong movement, whatever follows.
    let c = challenge(&LU, 0);
    let nod_up = [(0.0, 6.0), (0.0, 12.0), (0.0, 6.0)];
    let turn = [(10.0, 0.0), (20.0, 0.0), (10.0, 0.0)];
    let poses: Vec<(f64, f64)> = [&neutral[..], &nod_up, &neutral, &turn, &neutral].concat();
    let frames = live_frames(&poses, 10, &who, &mut rng);
    let nod = pose_of(&frames[4]).delta(&pose_of(&frames[0])).1;
    assert!(nod >= p.deliberate_factor * p.pitch_threshold_deg, "{nod}");
    let v = check(&c, &frames, &p).unwrap();
    assert_eq!(
        v.reasons
            .iter()
            .filter(|r| matches!(r, LivenessReason::WrongMovement { .. }))
            .collect::<Vec<_>>(),
        [&LivenessReason::WrongMovement {
            step: 0,
            expected: Movement::TurnLeft,
            observed: Movement::LookUp
        }],
        "{:?}",
        v.reasons
    );
    assert!(v.steps.iter().all(|s| !s.completed));
}

#[test]
fn a_quick_return_past_neutral_completes_the_step() {
    let mut rng = Rng::new(13);
    let who = Identity::random(&mut rng);
    let p = LivenessPolicy::default();
    let c = challenge(&[Movement::TurnLeft, Movement::TurnRight], 0);
    // At 10 fps the head goes from the peak straight past neutral (-4 in the model, ~-5 on the mesh,
    // outside the 3-degree return band on the other side), then settles.
    let neutral = [(0.0, 0.0); 3];
    let poses: Vec<(f64, f64)> = [
        &neutral[..],
        &[(12.0, 0.0), (22.0, 0.0), (-4.0, 0.0)],
        &neutral,
        &[(-12.0, 0.0), (-22.0, 0.0), (4.0, 0.0)],
        &neutral,
    ]
    .concat();
    let frames = live_frames(&poses, 10, &who, &mut rng);
    let base = pose_of(&frames[0]);
    for i in [5, 11] {
        let (dyaw, _) = pose_of(&frames[i]).delta(&base);
        assert!(dyaw.abs() > p.yaw_return_deg + 1.0, "frame {i}: {dyaw}");
    }
    let v = check(&c, &frames, &p).unwrap();
    assert!(v.passed, "{:?}", v.reasons);
    assert_eq!(v.steps[0].completed_ms, Some(frames[5].t_ms));
    assert_eq!(v.steps[1].completed_ms, Some(frames[11].t_ms));
    // The parallax compares the peak with the frame farthest from it: the overshoot.
    assert_eq!(v.steps[0].peak_frame, Some(4));
    assert_eq!(v.steps[0].parallax_frame, Some(5));
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
        LivenessReason::StaticSequence { max_motion } if *max_motion == 0.0
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
            assert!(
                has(&v, |r| matches!(
                    r,
                    LivenessReason::PlanarMotion { .. } | LivenessReason::FlatNose { .. }
                )),
                "{:?}",
                v.reasons
            );
        }
    }
    println!("photo sequences: 50 rejected, {movement_passed} of them got past the movement check");
}

/// Sequence-level margin: per-step parallax (the peak frame against the frame of the step farthest from
/// it, as `check` computes it) of live sequences vs photo sequences that completed the movement, with
/// 1 and 2 px landmark noise.
#[test]
fn sequence_level_margin() {
    let th = LivenessPolicy::default().min_parallax;
    let policy = LivenessPolicy {
        min_parallax: 0.0, // measure, do not decide
        ..LivenessPolicy::default()
    };
    // A photo's tilt barely moves the mesh's pose (a flat face reads as a nearly frontal one: 40 degrees
    // of tilt read as ~4 of yaw and under 1 of pitch); to measure planarity itself, let any movement
    // count, and only a movement in the opposite direction end the attempt.
    let lenient = LivenessPolicy {
        yaw_threshold_deg: 0.8,
        pitch_threshold_deg: 0.5,
        yaw_return_deg: 0.4,
        pitch_return_deg: 0.25,
        deliberate_factor: 1_000.0,
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
            let v = check(&c, &sequence(&steps, &p, &who, &mut rng), &lenient).unwrap();
            planar.extend(v.planarity.residuals);
        }
        let (live_n, planar_n) = (live.len(), planar.len());
        assert!(
            live_n > 700 && planar_n > 50,
            "{live_n} live, {planar_n} photo steps"
        );
        let (live, planar) = (Stats::new(live), Stats::new(planar));
        println!(
            "sequence level, sigma {sigma} px: {live_n} live steps min parallax {:.4} p1 {:.4}; {planar_n} \
             photo steps (movement thresholds lowered to 0.8/0.5 deg), max parallax {:.4} p99 {:.4} median \
             {:.4}, {:.3} above; threshold {th}",
            live.min,
            live.quantile(0.01),
            planar.max,
            planar.quantile(0.99),
            planar.quantile(0.5),
            planar.frac_above(th),
        );
        assert!(live.min > th);
        if sigma <= 1.0 {
            assert!(planar.max < th);
        } else {
            // As for single pairs (`planarity_margin_on_synthetic_faces`): at 0.6 px tracking noise the
            // default threshold is inside the photos' population (one pair per step, no median to
            // help). Measured (seed 9): 278 photo steps, median 0.013, max 0.031, 39 % of them at or
            // above 0.015 (fewer than for single pairs: half the photos are held at 4 IOD, where the
            // face is twice as large in pixels); live steps 0.110 and more. The populations are apart,
            // the default threshold does not separate them.
            assert!(live.min > planar.max);
            assert!(
                planar.frac_above(th) > 0.2,
                "the default separates at {sigma} px now: update this test and the README"
            );
        }
    }
}

#[test]
fn bent_printout_radius_where_planarity_stops_working() {
    // A printout bent around a vertical cylinder is not flat: find the largest radius (IOD units) at
    // which a bent photo turned 35 degrees passes the parallax threshold (noise-free).
    let cam = Camera::default();
    let p = LivenessPolicy::default();
    let face = track_face();
    let exact = |v: Vec<[f64; 2]>| -> Vec<Option<[f32; 2]>> {
        v.into_iter()
            .map(|q| Some([q[0] as f32, q[1] as f32]))
            .collect()
    };
    let flat = PlanePose {
        scale: 1.0,
        ..PlanePose::default()
    };
    let turned = PlanePose {
        tilt_y_deg: 35.0,
        ..flat
    };
    let mut first_pass = None;
    for r10 in (5..=100).rev() {
        let r = f64::from(r10) / 10.0;
        let mesh: Vec<[f32; 2]> = photo_points(&cam, &flat, r, &pose::CANONICAL)
            .into_iter()
            .map(|q| [q[0] as f32, q[1] as f32])
            .collect();
        let iod = Pose::from_mesh(&mesh).unwrap().inter_ocular_px;
        let a = exact(photo_points(&cam, &flat, r, &face));
        let b = exact(photo_points(&cam, &turned, r, &face));
        let res = planarity::track_residual(&a, &b, iod, p.min_parallax_points)
            .unwrap()
            .residual;
        if res >= p.min_parallax && first_pass.is_none() {
            first_pass = Some((r, res));
        }
    }
    println!(
        "bent printout turned 35°: parallax first passes at radius {first_pass:?} IOD (threshold {})",
        p.min_parallax
    );
    // The tracked points see the bend: from a radius of about 4.5 IOD (~28 cm) down, a printout turned
    // 35 degrees shows the parallax of a head (measured: 0.0175 at 4 IOD, 0.024 at 3, 0.037 at 2; the
    // five-landmark nose residual only from 0.5). Flatter prints stay planar to the test; tighter ones
    // are left to the movement check (see `liveness_attacks`: a printout bent at 3 IOD and tilted like
    // the challenge passes about 1 time in 5).
    assert!(
        first_pass.is_some_and(|(r, _)| (4.0..6.0).contains(&r)),
        "{first_pass:?}"
    );
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
    assert!(check(&c, &good, &p).unwrap().passed);
    // NaN landmark, mesh point or tracked point, a mesh of another length, too many tracked points:
    // typed errors.
    let field_of = |frames: &[FrameObservation]| match check(&c, frames, &p) {
        Err(Error::InvalidInput { field, .. }) => Some(field),
        _ => None,
    };
    let mut bad = good.clone();
    bad[3].landmarks.as_mut().unwrap()[2][0] = f32::NAN;
    assert_eq!(field_of(&bad), Some("frames.landmarks"));
    let mut bad = good.clone();
    bad[3].mesh.as_mut().unwrap()[7][1] = f32::INFINITY;
    assert_eq!(field_of(&bad), Some("frames.mesh"));
    let mut bad = good.clone();
    bad[3].mesh.as_mut().unwrap().pop();
    assert_eq!(field_of(&bad), Some("frames.mesh"));
    let mut bad = good.clone();
    bad[4].tracks.as_mut().unwrap().points[0] = Some([f32::NAN, 1.0]);
    assert_eq!(field_of(&bad), Some("frames.tracks"));
    let mut bad = good.clone();
    bad[4].tracks.as_mut().unwrap().points = vec![Some([1.0, 1.0]); MAX_TRACKS + 1];
    assert_eq!(field_of(&bad), Some("frames.tracks"));
    let mut ok = good.clone();
    ok[4].tracks.as_mut().unwrap().points = vec![None; MAX_TRACKS];
    assert!(check(&c, &ok, &p).is_ok());
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
    for bad_policy in [
        LivenessPolicy {
            yaw_threshold_deg: f32::NAN,
            ..p.clone()
        },
        LivenessPolicy {
            pitch_return_deg: p.pitch_threshold_deg,
            ..p.clone()
        },
        LivenessPolicy {
            deliberate_factor: 0.5,
            ..p.clone()
        },
        LivenessPolicy {
            min_parallax: f32::INFINITY,
            ..p.clone()
        },
    ] {
        assert!(check(&c, &good, &bad_policy).is_err(), "{bad_policy:?}");
    }
    // Timestamps going backwards, a gap, a missing mesh, a face too small, no face at all.
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
    let mut nomesh = good.clone();
    nomesh[2].mesh = None;
    assert!(has(&check(&c, &nomesh, &p).unwrap(), |r| matches!(
        r,
        LivenessReason::MissingLandmarks { frame: 2 }
    )));
    // The five landmarks only feed the recorded nose residual: a frame without them is still used.
    let mut nolm = good.clone();
    nolm[2].landmarks = None;
    let v = check(&c, &nolm, &p).unwrap();
    assert!(v.passed, "{:?}", v.reasons);
    let tiny: Vec<FrameObservation> = good
        .iter()
        .map(|f| FrameObservation {
            mesh: f
                .mesh
                .as_ref()
                .map(|m| m.iter().map(|[x, y]| [x * 0.2, y * 0.2]).collect()),
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
            mesh: None,
            tracks: None,
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
    // Garbage meshes (all points equal) are a rejection, not a panic.
    let garbage: Vec<FrameObservation> = good
        .iter()
        .map(|f| FrameObservation {
            mesh: Some(vec![[1.0, 1.0]; pose::POSE_POINTS.len()]),
            ..f.clone()
        })
        .collect();
    let v = check(&c, &garbage, &p).unwrap();
    assert!(
        !v.passed
            && has(&v, |r| matches!(
                r,
                LivenessReason::MissingLandmarks { frame: 0 }
            ))
    );
    // No tracked points, or never two frames of one generation: the steps count but their parallax is
    // undetermined, which rejects.
    let untracked: Vec<FrameObservation> = good
        .iter()
        .map(|f| FrameObservation {
            tracks: None,
            ..f.clone()
        })
        .collect();
    let restarted: Vec<FrameObservation> = good
        .iter()
        .enumerate()
        .map(|(i, f)| FrameObservation {
            tracks: f.tracks.clone().map(|t| Tracks {
                generation: i as u32,
                ..t
            }),
            ..f.clone()
        })
        .collect();
    let few: Vec<FrameObservation> = good
        .iter()
        .map(|f| FrameObservation {
            tracks: f.tracks.clone().map(|t| Tracks {
                points: t
                    .points
                    .iter()
                    .enumerate()
                    .map(|(k, q)| q.filter(|_| k < p.min_parallax_points - 1))
                    .collect(),
                ..t
            }),
            ..f.clone()
        })
        .collect();
    for frames in [untracked, restarted, few] {
        let v = check(&c, &frames, &p).unwrap();
        assert!(v.steps.iter().all(|s| s.completed && s.parallax.is_none()));
        assert_eq!(
            v.reasons,
            [
                LivenessReason::PlanarityUndetermined { step: 0 },
                LivenessReason::PlanarityUndetermined { step: 1 }
            ]
        );
    }
}

#[test]
fn the_nose_residual_rejects_by_the_policy_threshold() {
    let mut rng = Rng::new(14);
    let who = Identity::random(&mut rng);
    let c = challenge(&LU, 0);
    let frames = sequence(&LU, &spec(Presenter::Live, 1.0, 10), &who, &mut rng);
    let v = check(&c, &frames, &LivenessPolicy::default()).unwrap();
    assert!(v.passed);
    let nose = v.planarity.nose_residuals.clone();
    assert_eq!(nose.len(), 2);
    let strict = LivenessPolicy {
        min_nose_residual: Some(nose.iter().copied().fold(0.0, f32::max) + 0.01),
        ..LivenessPolicy::default()
    };
    let v = check(&c, &frames, &strict).unwrap();
    assert_eq!(
        v.reasons,
        [0, 1].map(|step| LivenessReason::FlatNose {
            step,
            residual: nose[step]
        })
    );
    // Without landmarks there is no nose residual: undetermined when asked for (the default asks),
    // nothing when it is recorded only.
    let bare: Vec<FrameObservation> = frames
        .iter()
        .map(|f| FrameObservation {
            landmarks: None,
            ..f.clone()
        })
        .collect();
    let recorded_only = LivenessPolicy {
        min_nose_residual: None,
        ..LivenessPolicy::default()
    };
    assert!(check(&c, &bare, &recorded_only).unwrap().passed);
    let v = check(&c, &bare, &strict).unwrap();
    assert_eq!(
        v.reasons,
        [0, 1].map(|step| LivenessReason::PlanarityUndetermined { step })
    );
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
