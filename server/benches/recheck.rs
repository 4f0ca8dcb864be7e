//! What the server's own re-check of one live check-in costs, on one thread: the face half (decode the
//! uploaded 112x112 JPEG crop, embed it, compare with the approved template) and the liveness half
//! (inflate and parse the attempt's transcript, re-run the liveness check on it, tie the crop to the
//! verified frame). The transcript is a synthetic live head answering a 3-movement challenge at 10 fps
//! with the face mesh, 60 tracked points and an embedding every 4th frame; its size is printed beside
//! the real videos' (26-50 KB deflated).
//!
//! `cargo bench -p siap-server --bench recheck` (`SIAP_BENCH_OBSERVATIONS=DIR`: also a real video's
//! transcript, a sequence folder written by `siap face liveness-eval --dump`). Needs the face models and the labelled photos (skips
//! without the photos unless `CI` or `SIAP_FACES_DIR` asks for them).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use siap_core::clock::MonotonicReading;
use siap_core::face::{FaceConfig, FaceEngine, FaceImage, Template, crop, default_models_dir};
use siap_core::liveness::synth::{self, Identity, Rng, SequenceSpec};
use siap_core::liveness::{
    Challenge, ChallengeConfig, LivenessPolicy, Movement, Recheck, Transcript, VerifiedFrame, check,
};

#[path = "../../core/tests/face_common/photos.rs"]
mod photos;

fn recheck(c: &mut Criterion) {
    let Some(dir) = photos::faces_dir() else {
        return;
    };
    let engine = FaceEngine::open(&default_models_dir(), FaceConfig::default()).expect("models");
    let sample = |f: &str| {
        let img = FaceImage::decode(&std::fs::read(dir.join(f)).expect("photo")).expect("decode");
        engine.sample(&img).expect("sample")
    };
    let template = Template::from_embeddings(
        engine.embedding_model_sha256(),
        ["obama/1.jpg", "obama/2.jpg", "obama/3.jpg"]
            .iter()
            .map(|f| sample(f).embedding.expect("a face"))
            .collect(),
    )
    .expect("template");
    let probe = sample("obama/4.jpg");
    let jpeg = crop::encode(&probe.aligned.expect("aligned")).expect("encode");
    let me = probe.embedding.expect("embedding");

    let steps = vec![Movement::TurnLeft, Movement::LookUp, Movement::TurnRight];
    let issued = MonotonicReading {
        monotonic_ms: 10_000,
        boot_id: "boot".into(),
    };
    let challenge = Challenge::from_parts(
        "00112233445566778899aabbccddeeff".into(),
        steps.clone(),
        &issued,
        &ChallengeConfig::default(),
    )
    .expect("challenge");
    let spec = SequenceSpec {
        start_ms: 10_100,
        ..SequenceSpec::default()
    };
    let frames = synth::sequence(&steps, &spec, &Identity(me.clone()), &mut Rng::new(1));
    let policy = LivenessPolicy::default();
    let verdict = check(&challenge, &frames, &policy).expect("check");
    assert!(verdict.passed, "the synthetic head passes");
    let n = frames.len();
    let verified = VerifiedFrame {
        index: 0,
        embedding: me,
    };
    let transcript = Transcript::new(&challenge, &policy, frames, &verdict, Some(verified));
    let blob = transcript.encode().expect("encode");
    let json = serde_json::to_vec(&transcript).expect("json").len();
    let evidence = verdict.to_evidence();
    let now = MonotonicReading {
        monotonic_ms: 13_000,
        boot_id: "boot".into(),
    };
    eprintln!(
        "per check-in uploaded: crop {} bytes, transcript {} bytes deflated ({json} JSON, {n} frames)",
        jpeg.len(),
        blob.len()
    );

    let mut g = c.benchmark_group("server_recheck");
    g.bench_function("face_crop", |b| {
        b.iter(|| {
            let rgb = crop::decode(black_box(&jpeg)).expect("decode");
            let e = engine.embed_aligned(&rgb).expect("embed");
            black_box(template.similarity(&e))
        });
    });
    g.bench_function("liveness_transcript", |b| {
        b.iter(|| {
            let t = Transcript::decode(black_box(&blob)).expect("transcript");
            let r = t.recheck(&evidence, &now, &policy).expect("recheck");
            assert!(matches!(r, Recheck::Verdict(ref v) if v.passed));
            black_box(r)
        });
    });
    // A real video's transcript, when given: a sequence folder of `siap face liveness-eval --dump`
    // (challenge.json and observations.json).
    if let Some(seq) = std::env::var_os("SIAP_BENCH_OBSERVATIONS") {
        let seq = std::path::PathBuf::from(seq);
        let read = |f: &str| std::fs::read(seq.join(f)).expect("a dumped sequence");
        let challenge: Challenge =
            serde_json::from_slice(&read("challenge.json")).expect("challenge");
        let frames: Vec<siap_core::liveness::FrameObservation> =
            serde_json::from_slice(&read("observations.json")).expect("observations");
        let verdict = check(&challenge, &frames, &policy).expect("check");
        let n = frames.len();
        let blob = Transcript::new(&challenge, &policy, frames, &verdict, None)
            .encode()
            .expect("encode");
        let evidence = verdict.to_evidence();
        let now = MonotonicReading {
            monotonic_ms: challenge.issued_at_ms,
            boot_id: challenge.boot_id.clone(),
        };
        eprintln!("real transcript: {} bytes deflated, {n} frames", blob.len());
        g.bench_function("liveness_transcript_real", |b| {
            b.iter(|| {
                let t = Transcript::decode(black_box(&blob)).expect("transcript");
                black_box(t.recheck(&evidence, &now, &policy).expect("recheck"))
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = recheck
}
criterion_main!(benches);
