//! Face pipeline benchmarks (1 thread): engine open, embedding of one aligned face, P-Net per pyramid size,
//! detection, the whole check-in step on a 640x480 selfie (decode + detect + align + embed + match), and the
//! passive anti-spoof score of that selfie's face.
//! Compare the embedding number with `bench/onnxruntime_embed.py` run in the same session.

#![allow(clippy::redundant_closure_for_method_calls)] // tract's model methods come from several traits

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use siap_core::face::{
    FaceConfig, FaceEngine, FaceImage, PassiveModel, Template, default_models_dir,
};

// Skips when the labelled photos are absent and nothing asks for them; fails with `CI` or `SIAP_FACES_DIR`.
#[path = "../tests/face_common/photos.rs"]
mod photos;

/// The check-in selfie stand-in: obama/4.jpg of the labelled photos re-encoded at 640x480; `None` when the
/// photos may be skipped.
fn selfie_jpeg() -> Option<Vec<u8>> {
    let dir = photos::faces_dir()?;
    let img = image::open(dir.join("obama/4.jpg")).expect("obama/4.jpg of the labelled photos");
    let img = img.resize_to_fill(640, 480, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )
    .expect("re-encode the selfie");
    Some(out)
}

/// Optimisation steps measured with tract directly: the unrepaired tflite2onnx MobileFaceNet (batch 2,
/// decomposed PReLU; path in `SIAP_BENCH_UNREPAIRED`, e.g. `target/models-work/mobilefacenet_tflite2onnx.onnx`
/// after `cargo xtask models`) against the repaired file, and P-Net symbolic against concrete plans.
fn steps(c: &mut Criterion) {
    use tract_onnx::prelude::*;
    let dir = default_models_dir();
    let x1 = Tensor::zero::<f32>(&[1, 3, 112, 112]).expect("tensor");
    let repaired = tract_onnx::onnx()
        .model_for_path(dir.join("mobilefacenet.onnx"))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect("repaired model");
    c.bench_function("tract_mobilefacenet_repaired_batch1", |b| {
        b.iter(|| black_box(repaired.run(tvec!(x1.clone().into())).expect("run")));
    });
    if let Some(path) = std::env::var_os("SIAP_BENCH_UNREPAIRED") {
        let raw = tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .expect("unrepaired model");
        let x2 = Tensor::zero::<f32>(&[2, 3, 112, 112]).expect("tensor");
        c.bench_function("tract_mobilefacenet_unrepaired_batch2_per_call", |b| {
            b.iter(|| black_box(raw.run(tvec!(x2.clone().into())).expect("run")));
        });
    }
    let pnet = tract_onnx::onnx()
        .model_for_path(dir.join("pnet.onnx"))
        .expect("pnet");
    let input = Tensor::zero::<f32>(&[1, 320, 240, 3]).expect("tensor");
    let symbolic = pnet
        .clone()
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .expect("symbolic pnet");
    c.bench_function("tract_pnet_320x240_symbolic_plan", |b| {
        b.iter(|| black_box(symbolic.run(tvec!(input.clone().into())).expect("run")));
    });
    let concrete = pnet
        .with_input_fact(0, f32::fact([1, 320, 240, 3]).into())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect("concrete pnet");
    c.bench_function("tract_pnet_320x240_concrete_plan", |b| {
        b.iter(|| black_box(concrete.run(tvec!(input.clone().into())).expect("run")));
    });
}

/// The ONNX files (what the engine read until it switched) against their NNEF twins (what it reads now),
/// in the same run: parsing + decluttering the four engine models, and one MobileFaceNet run from each.
fn formats(c: &mut Criterion) {
    use siap_core::face::{MODELS, nnef, onnx};
    const MOBILEFACENET_INPUT: [usize; 4] = [1, 3, 112, 112];
    use tract_onnx::prelude::*;
    let dir = default_models_dir();
    let read = |f: &str| std::fs::read(dir.join(f)).expect("model file");
    let onnx_files: Vec<Vec<u8>> = MODELS.iter().map(|m| read(m.source)).collect();
    let nnef_files: Vec<Vec<u8>> = MODELS.iter().map(|m| read(m.file)).collect();
    c.bench_function("load_4_models_onnx", |b| {
        b.iter(|| {
            for bytes in &onnx_files {
                let m = onnx::onnx()
                    .model_for_read(&mut bytes.as_slice())
                    .and_then(|m| m.into_typed())
                    .and_then(|m| m.into_decluttered())
                    .expect("onnx");
                black_box(m);
            }
        });
    });
    c.bench_function("load_4_models_nnef", |b| {
        b.iter(|| {
            for bytes in &nnef_files {
                black_box(
                    nnef::framework()
                        .model_for_read(&mut bytes.as_slice())
                        .expect("nnef"),
                );
            }
        });
    });
    let x = noise(&MOBILEFACENET_INPUT);
    let from_onnx = onnx::onnx()
        .model_for_read(&mut onnx_files[3].as_slice())
        .and_then(|m| m.with_input_fact(0, f32::fact(MOBILEFACENET_INPUT).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect("mobilefacenet onnx");
    let from_nnef = nnef::framework()
        .model_for_read(&mut nnef_files[3].as_slice())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect("mobilefacenet nnef");
    c.bench_function("mobilefacenet_run_from_onnx", |b| {
        b.iter(|| black_box(from_onnx.run(tvec!(x.clone().into())).expect("run")));
    });
    c.bench_function("mobilefacenet_run_from_nnef", |b| {
        b.iter(|| black_box(from_nnef.run(tvec!(x.clone().into())).expect("run")));
    });
}

/// Per-node time of one optimised plan, summed per op name over `runs` runs, printed longest first.
fn profile_plan(
    label: &str,
    plan: &std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>,
    input: &tract_onnx::prelude::Tensor,
    runs: u32,
) {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};
    use tract_onnx::prelude::*;
    use tract_onnx::tract_core::plan::{SimpleState, eval};
    let mut per_node: HashMap<usize, Duration> = HashMap::new();
    let mut total = Duration::ZERO;
    for _ in 0..runs {
        let mut state = SimpleState::new(plan).expect("state");
        let t = Instant::now();
        state
            .run_plan_with_eval(tvec!(input.clone().into()), |ctx, st, node, inputs| {
                let t = Instant::now();
                let r = eval(ctx, st, node, inputs);
                *per_node.entry(node.id).or_default() += t.elapsed();
                r
            })
            .expect("run");
        total += t.elapsed();
    }
    let model = plan.model();
    let mut per_op: HashMap<String, (Duration, usize)> = HashMap::new();
    for (id, d) in &per_node {
        let e = per_op
            .entry(model.node(*id).op().name().to_string())
            .or_default();
        e.0 += *d;
        e.1 += 1;
    }
    let mut ops: Vec<_> = per_op.into_iter().collect();
    ops.sort_by_key(|o| std::cmp::Reverse(o.1.0));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(runs);
    eprintln!(
        "PROFILE {label}: {:.2} ms per run, {} nodes",
        ms(total),
        model.nodes.len()
    );
    for (name, (d, n)) in ops.iter().take(12) {
        eprintln!("  {name:<24} {:>7.2} ms  ({n} nodes)", ms(*d));
    }
    let mut nodes: Vec<_> = per_node.into_iter().collect();
    nodes.sort_by_key(|n| std::cmp::Reverse(n.1));
    for (id, d) in nodes.iter().take(8) {
        let n = model.node(*id);
        eprintln!(
            "  node {:<40} {:>7.2} ms  {:?}",
            n.name,
            ms(*d),
            n.outputs[0].fact.shape
        );
    }
}

fn bench(c: &mut Criterion) {
    let dir = default_models_dir();
    if std::env::var_os("SIAP_BENCH_PROFILE").is_some() {
        profile(&dir);
    }
    c.bench_function("engine_open", |b| {
        b.iter(|| black_box(FaceEngine::open(&dir, FaceConfig::default()).expect("open")));
    });
    let engine = FaceEngine::open(&dir, FaceConfig::default()).expect("open");
    let aligned: Vec<u8> = (0..112 * 112 * 3).map(|i| (i * 7 % 251) as u8).collect();
    c.bench_function("embed_aligned_face", |b| {
        b.iter(|| black_box(engine.embed_aligned(&aligned).expect("embed")));
    });

    let Some(jpeg) = selfie_jpeg() else {
        eprintln!("SKIPPED detection benchmarks (they need the labelled photos)");
        return;
    };
    let img = FaceImage::decode(&jpeg).expect("decode");
    c.bench_function("decode_640x480_jpeg", |b| {
        b.iter(|| black_box(FaceImage::decode(&jpeg).expect("decode")));
    });
    c.bench_function("detect_640x480", |b| {
        b.iter(|| black_box(engine.detect(&img).expect("detect")));
    });
    let sample = engine.sample(&img).expect("sample");
    let e = sample.embedding.expect("a face in the selfie");
    let template =
        Template::from_embeddings(&engine_model_hash(&engine), vec![e]).expect("template");
    c.bench_function("checkin_face_step_640x480", |b| {
        b.iter(|| {
            let img = FaceImage::decode(&jpeg).expect("decode");
            black_box(engine.verify(&template, &img).expect("verify"))
        });
    });
    // What the server does per check-in it re-checks: decode the uploaded crop, embed it, compare.
    let crop = siap_core::face::crop::encode(sample.aligned.as_deref().expect("aligned face"))
        .expect("encode crop");
    eprintln!(
        "evidence: the selfie's aligned face crop is {} bytes as JPEG",
        crop.len()
    );
    c.bench_function("server_recheck_crop", |b| {
        b.iter(|| {
            let rgb = siap_core::face::crop::decode(&crop).expect("decode crop");
            let e = engine.embed_aligned(&rgb).expect("embed");
            black_box(template.similarity(&e))
        });
    });
    passive(c, &dir, &engine, &img);
}

/// The optional passive anti-spoof check: opening its model, and scoring the selfie's face (crop, 256x256
/// bilinear resize, model, sharpness count).
fn passive(c: &mut Criterion, dir: &std::path::Path, engine: &FaceEngine, img: &FaceImage) {
    c.bench_function("passive_antispoof_open", |b| {
        b.iter(|| black_box(PassiveModel::open(dir).expect("open")));
    });
    let model = PassiveModel::open(dir).expect("open");
    let dets = engine.detect(img).expect("detect");
    let det = dets.first().expect("a face in the selfie");
    c.bench_function("passive_antispoof_score_640x480", |b| {
        b.iter(|| black_box(model.score(img, det).expect("score")));
    });
}

/// A tensor of deterministic values in -1..1 (zeros would make every activation branch predictable).
fn noise(shape: &[usize]) -> tract_onnx::prelude::Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 2003) as f32 / 1001.5) - 1.0)
        .collect();
    tract_onnx::prelude::Tensor::from_shape(shape, &v).expect("tensor")
}

/// Per-node profiles of MobileFaceNet and P-Net (set `SIAP_BENCH_PROFILE=1`).
fn profile(dir: &std::path::Path) {
    use tract_onnx::prelude::*;
    for (label, framework) in [
        ("tract", tract_onnx::onnx()),
        ("siap", siap_core::face::onnx::onnx()),
    ] {
        let mfn = framework
            .model_for_path(dir.join("mobilefacenet.onnx"))
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, 112, 112]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .expect("mobilefacenet");
        let x = noise(&[1, 3, 112, 112]);
        profile_plan(&format!("mobilefacenet ({label})"), &mfn, &x, 20);
        let pnet = framework
            .model_for_path(dir.join("pnet.onnx"))
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 320, 240, 3]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .expect("pnet");
        let x = noise(&[1, 320, 240, 3]);
        profile_plan(&format!("pnet 320x240 ({label})"), &pnet, &x, 20);
    }
}

fn engine_model_hash(engine: &FaceEngine) -> String {
    engine
        .model_hashes()
        .into_iter()
        .find_map(|h| {
            h.strip_prefix("mobilefacenet.nnef.tar:")
                .map(str::to_string)
        })
        .unwrap_or_default()
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench, formats, steps
}
criterion_main!(benches);
