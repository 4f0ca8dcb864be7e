//! Liveness check cost: a 2-second challenge at 10 fps (20 precomputed frame observations), the
//! per-frame path of the face engine (frames fed one at a time, the status read after each) on it and
//! on an 86-frame, 4-step attempt, and issuing a challenge.
//!
//! Detection, the face mesh, the optical flow and embedding are the face engine's cost and are
//! benchmarked in `benches/face.rs` and `benches/liveness_frames.rs`; this is the liveness decision on
//! top of them (the head pose fitted to 28 mesh points per frame, movement tracking, a least-squares
//! homography over 48 tracked points and the five-landmark nose residual per step, embedding
//! consistency). Measured here (bench profile, 2 cores shared with other builds at a load of about 3,
//! one run, with the mesh pose and the tracked points): 98 µs per check; per-frame path 86 µs for 20
//! frames, 290 µs for 86 frames; 1.3 µs per challenge issue. With the five landmarks only it was
//! 20-34 µs, 15-20 µs and 60-125 µs (three runs). Negligible against the < 300 ms budget for the whole
//! 2-second challenge.

use criterion::{Criterion, criterion_group, criterion_main};
use siap_core::clock::MonotonicReading;
use siap_core::liveness::synth::{Identity, Rng, SequenceSpec, sequence};
use siap_core::liveness::{
    Challenge, ChallengeConfig, FrameObservation, LivenessPolicy, Movement, Progress, check,
};

fn bench(c: &mut Criterion) {
    let mut rng = Rng::new(7);
    let who = Identity::random(&mut rng);
    let steps = [Movement::TurnLeft, Movement::LookUp];
    let now = MonotonicReading {
        monotonic_ms: 0,
        boot_id: "bench".into(),
    };
    let challenge = Challenge::from_parts(
        "0123456789abcdef0123456789abcdef".into(),
        steps.to_vec(),
        &now,
        &ChallengeConfig::default(),
    )
    .expect("challenge");
    let spec = SequenceSpec {
        start_ms: 10,
        hold_frames: 5,
        embed_every: 2,
        ..SequenceSpec::default()
    };
    let mut frames = sequence(&steps, &spec, &who, &mut rng);
    frames.truncate(20);
    assert_eq!(frames.len(), 20);
    let policy = LivenessPolicy::default();
    assert!(check(&challenge, &frames, &policy).expect("check").passed);
    c.bench_function("liveness_check_20_frames_10_embeddings", |b| {
        b.iter(|| check(&challenge, std::hint::black_box(&frames), &policy));
    });
    // The face engine's per-frame path: each frame fed to the attempt's check, the status read after it
    // (no embeddings until the end).
    let bare: Vec<FrameObservation> = frames
        .iter()
        .map(|f| FrameObservation {
            embedding: None,
            ..f.clone()
        })
        .collect();
    c.bench_function("liveness_per_frame_feedback_20_frames", |b| {
        b.iter(|| per_frame(&challenge, std::hint::black_box(&bare), &policy));
    });
    // A longer attempt: 4 steps, slower movements, 86 frames (8.6 s at 10 fps).
    let long_steps = [
        Movement::TurnLeft,
        Movement::LookUp,
        Movement::TurnRight,
        Movement::LookDown,
    ];
    let long_challenge = Challenge::from_parts(
        "0123456789abcdef0123456789abcdef".into(),
        long_steps.to_vec(),
        &now,
        &ChallengeConfig::default(),
    )
    .expect("challenge");
    let long_spec = SequenceSpec {
        start_ms: 10,
        hold_frames: 10,
        ramp_frames: 5,
        embed_every: 0,
        ..SequenceSpec::default()
    };
    let long = sequence(&long_steps, &long_spec, &who, &mut rng);
    assert_eq!(long.len(), 86);
    assert_eq!(per_frame(&long_challenge, &long, &policy), long_steps.len());
    c.bench_function("liveness_per_frame_feedback_86_frames_4_steps", |b| {
        b.iter(|| per_frame(&long_challenge, std::hint::black_box(&long), &policy));
    });
    c.bench_function("challenge_issue", |b| {
        b.iter(|| Challenge::issue(&now, &ChallengeConfig::default()));
    });
}

/// Feeds `frames` one at a time and reads the status after each; returns the steps completed.
fn per_frame(challenge: &Challenge, frames: &[FrameObservation], policy: &LivenessPolicy) -> usize {
    let mut progress = Progress::new(challenge, policy).expect("progress");
    let mut done = 0;
    for f in frames {
        progress.push(f).expect("frame");
        done = std::hint::black_box(progress.status()).steps_completed;
    }
    done
}

criterion_group!(benches, bench);
criterion_main!(benches);
