//! The cost of checking a whole liveness challenge on real frames (1 thread): a 2-second answer at 10
//! frames per second, 640x480 camera frames, through the face engine (a full detection on a 480-pixel
//! copy every 4th frame, O-Net tracking between, alignment and sharpness on every frame, embeddings
//! only on the frames the decision needs) and the liveness check. Budget for this whole check of one
//! challenge: < 300 ms.
//!
//! The frames are a real photo held up and tilted (`liveness::attack`), since there is no video of a live
//! head here; detection costs the same for either, and the number of embeddings (at most 6) bounds the
//! rest.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use siap_core::clock::MonotonicReading;
use siap_core::face::{
    FaceConfig, FaceEngine, FaceImage, LiveConfig, LivenessAttempt, default_models_dir,
};
use siap_core::liveness::attack::{HeldPicture, Rgb, held_picture_frames};
use siap_core::liveness::synth::Rng;
use siap_core::liveness::{Challenge, ChallengeConfig, LivenessPolicy, Movement};

// Skips when the labelled photos are absent and nothing asks for them; fails with `CI` or `SIAP_FACES_DIR`.
#[path = "../tests/face_common/photos.rs"]
mod photos;

fn bench(c: &mut Criterion) {
    let Some(dir) = photos::faces_dir() else {
        return;
    };
    let engine = FaceEngine::open(&default_models_dir(), FaceConfig::default()).expect("models");
    let photo =
        FaceImage::decode(&std::fs::read(dir.join("obama/4.jpg")).expect("photo")).expect("decode");
    let face = engine.detect(&photo).expect("detect")[0].bbox;
    let picture = Rgb::new(photo.width(), photo.height(), photo.rgb().to_vec()).expect("rgb");
    // Two movements fill 2 s at 10 fps with the synthetic schedule (3 neutral frames around each).
    let steps = [Movement::TurnLeft, Movement::LookUp];
    let how = HeldPicture {
        frame: (640, 480),
        face_px: 200.0,
        ..HeldPicture::default()
    };
    let mut frames: Vec<(i64, FaceImage)> =
        held_picture_frames(&picture, face, &steps, &how, 10.0, &mut Rng::new(3))
            .expect("frames")
            .into_iter()
            .map(|(t, f)| {
                (
                    t,
                    FaceImage::from_rgb8(f.width, f.height, f.data).expect("frame"),
                )
            })
            .collect();
    while frames.len() < 20 {
        let (t, f) = frames.last().cloned().expect("a frame");
        frames.push((t + 100, f));
    }
    frames.truncate(20);
    let issued = MonotonicReading {
        monotonic_ms: 0,
        boot_id: "bench".into(),
    };
    let challenge = Challenge::issue(&issued, &ChallengeConfig::default()).expect("challenge");
    let challenge = Challenge {
        steps: steps.to_vec(),
        ..challenge
    };
    let policy = LivenessPolicy::default();
    let run_with = |cfg: &LiveConfig| {
        let mut a = LivenessAttempt::new(challenge.clone(), cfg.clone()).expect("attempt");
        for (t, f) in &frames {
            engine
                .observe(&mut a, f, 200 + t, &policy)
                .expect("observe");
        }
        engine.finish(&a, None, &policy).expect("finish")
    };
    let run = || run_with(&LiveConfig::default());
    let v = run();
    eprintln!(
        "20 frames 640x480: {} with one face, {} embeddings computed, passive score {:?}",
        v.consistency.frames_used, v.consistency.embeddings, v.passive.score
    );
    let mut g = c.benchmark_group("liveness_frames");
    g.sample_size(10);
    let without_passive = LiveConfig {
        passive: false,
        ..LiveConfig::default()
    };
    // The budget case: per-frame work plus embeddings and the decision, without the passive model.
    g.bench_function("challenge_2s_10fps_640x480_total", |b| {
        b.iter(|| black_box(run_with(&without_passive)));
    });
    let every_frame = LiveConfig {
        full_detection_every: 1,
        ..without_passive.clone()
    };
    g.bench_function("challenge_total_full_detection_every_frame", |b| {
        b.iter(|| black_box(run_with(&every_frame)));
    });
    g.bench_function("challenge_total_with_passive_model", |b| {
        b.iter(|| black_box(run()));
    });
    // Per frame: a full detection (first frame of an attempt) and a tracked frame.
    g.bench_function("observe_first_frame_full_detection", |b| {
        b.iter(|| {
            let mut a =
                LivenessAttempt::new(challenge.clone(), without_passive.clone()).expect("attempt");
            black_box(
                engine
                    .observe(&mut a, &frames[5].1, 700, &policy)
                    .expect("observe"),
            )
        });
    });
    let mut primed =
        LivenessAttempt::new(challenge.clone(), without_passive.clone()).expect("attempt");
    engine
        .observe(&mut primed, &frames[4].1, 600, &policy)
        .expect("observe");
    g.bench_function("observe_tracked_frame", |b| {
        b.iter(|| {
            let mut a = primed.clone();
            black_box(
                engine
                    .observe(&mut a, &frames[5].1, 700, &policy)
                    .expect("observe"),
            )
        });
    });
    // The face mesh on one face (every frame runs it once).
    let landmarks = engine.detect(&frames[5].1).expect("detect")[0].landmarks;
    g.bench_function("face_mesh_one_face", |b| {
        b.iter(|| black_box(engine.mesh(&frames[5].1, &landmarks).expect("mesh")));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
