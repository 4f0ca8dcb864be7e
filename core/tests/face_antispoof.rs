//! The passive anti-spoof check (`face::PassiveModel`) on the real photos of `../shared/faces`: the model
//! file is hash-checked, the Rust pipeline reproduces the onnxruntime scores of the conversion script,
//! blurring lowers the package's sharpness count, and the score distribution on these genuine (but
//! photographed-from-the-internet) faces is printed against the package's threshold.
//!
//! There is no spoof data here: nothing below shows that the model detects spoofs.
#![cfg(feature = "face")]

mod face_common;

use siap_core::Error;
use siap_core::face::{
    ANTISPOOF, Detection, FaceImage, PassiveModel, PassiveScore, SHARPNESS_THRESHOLD,
    SPOOF_THRESHOLD, default_models_dir,
};

fn model() -> &'static PassiveModel {
    static M: std::sync::OnceLock<PassiveModel> = std::sync::OnceLock::new();
    M.get_or_init(|| PassiveModel::open(&default_models_dir()).expect("antispoof.onnx loads"))
}

fn square_box(x: f32, y: f32, side: f32) -> Detection {
    Detection {
        bbox: [x, y, x + side, y + side],
        score: 1.0,
        landmarks: [[0.0; 2]; 5],
    }
}

#[test]
fn the_model_loads_with_its_hash_and_a_changed_file_is_refused() {
    let dir = default_models_dir();
    let bytes = std::fs::read(dir.join(ANTISPOOF.file)).expect("model file");
    assert!(PassiveModel::open(&dir).is_ok());

    let tmp = tempfile::tempdir().expect("temp dir");
    let mut changed = bytes.clone();
    let mid = changed.len() / 2;
    changed[mid] ^= 1;
    std::fs::write(tmp.path().join(ANTISPOOF.file), &changed).expect("write");
    match PassiveModel::open(tmp.path()) {
        Err(Error::Model { name, reason }) => {
            assert_eq!(name, ANTISPOOF.file);
            assert!(reason.contains("SHA-256 mismatch"), "{reason}");
        }
        other => panic!("altered model accepted or wrong error: {other:?}"),
    }
    std::fs::remove_file(tmp.path().join(ANTISPOOF.file)).expect("remove");
    assert!(matches!(
        PassiveModel::open(tmp.path()),
        Err(Error::Model { .. })
    ));
}

/// 256x256 windows of lossless PNGs (a 256-pixel box is copied, not resampled) with the score and
/// sharpness printed by `xtask/models/antispoof.py` (`RUST_WINDOWS`, onnxruntime 1.32 on
/// `models/antispoof.onnx`; the TFLite interpreter gives the same to < 1e-6).
const PYTHON_REFERENCE: [(&str, f32, f32, f32, usize, u32); 3] = [
    ("alex_lacamoire/3.png", 80.0, 20.0, 0.653_236_5, 4, 18),
    ("lin_manuel_miranda/1.png", 210.0, 100.0, 0.993_664_1, 4, 6),
    ("edge/32bit.png", 190.0, 180.0, 0.005_886_843, 3, 1081),
];

#[test]
fn rust_scores_equal_the_onnxruntime_scores_of_the_conversion_script() {
    let Some(dir) = face_common::faces_dir() else {
        return;
    };
    for (file, x, y, want, leaf, sharp) in PYTHON_REFERENCE {
        let img = face_common::load(&dir, file);
        let s = model()
            .score(&img, &square_box(x, y, 256.0))
            .expect("score");
        eprintln!("{file}: rust {s:?}, python {want} leaf {leaf} sharpness {sharp}");
        assert_eq!(s.crop, [x as u32, y as u32, x as u32 + 256, y as u32 + 256]);
        assert!(
            (s.spoof - want).abs() < 1e-4,
            "{file}: {} vs {want}",
            s.spoof
        );
        assert_eq!(s.leaf, leaf, "{file}");
        assert_eq!(s.sharpness, sharp, "{file}");
    }
}

/// The main (largest) face of every photo with one, scored on the photo and on a blurred copy (same crop).
fn scored_photos(dir: &std::path::Path) -> Vec<(String, PassiveScore, PassiveScore)> {
    let engine = face_common::engine();
    let mut files: Vec<String> = face_common::identities(dir)
        .into_iter()
        .flat_map(|(_, f)| f)
        .collect();
    for sub in ["edge", "multi"] {
        let mut extra: Vec<String> = std::fs::read_dir(dir.join(sub))
            .map(|rd| {
                rd.flatten()
                    .map(|e| format!("{sub}/{}", e.file_name().to_string_lossy()))
                    .filter(|f| face_common::is_photo(f))
                    .collect()
            })
            .unwrap_or_default();
        extra.sort();
        files.extend(extra);
    }
    let mut out = Vec::new();
    for f in files {
        let img = face_common::load(dir, &f);
        let dets = engine.detect(&img).expect("detect");
        let Some(det) = dets
            .iter()
            .max_by(|a, b| (a.width() * a.height()).total_cmp(&(b.width() * b.height())))
        else {
            eprintln!("{f}: no face");
            continue;
        };
        let s = model().score(&img, det).expect("score");
        let b = model().score(&blurred(&img, 3.0), det).expect("score");
        out.push((f, s, b));
    }
    out
}

fn blurred(img: &FaceImage, sigma: f32) -> FaceImage {
    let buf = image::RgbImage::from_raw(img.width(), img.height(), img.rgb().to_vec())
        .expect("rgb buffer");
    let b = image::imageops::blur(&buf, sigma);
    FaceImage::from_rgb8(b.width(), b.height(), b.into_raw()).expect("image")
}

fn quantiles(mut v: Vec<f32>) -> (f32, f32, f32) {
    v.sort_by(f32::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

#[test]
fn scores_on_real_photos_are_finite_and_blur_lowers_the_sharpness() {
    let Some(dir) = face_common::faces_dir() else {
        return;
    };
    let scored = scored_photos(&dir);
    assert!(scored.len() >= 15, "faces found in {} photos", scored.len());
    for (f, s, b) in &scored {
        eprintln!(
            "{f}: spoof {:.4} leaf {} sharpness {} crop {:?} | blurred: spoof {:.4} sharpness {}",
            s.spoof, s.leaf, s.sharpness, s.crop, b.spoof, b.sharpness
        );
        for v in [s.spoof, b.spoof] {
            assert!(v.is_finite() && (0.0..2.0).contains(&v), "{f}: score {v}");
        }
        assert!(
            b.sharpness < s.sharpness || s.sharpness == 0,
            "{f}: blur did not lower the sharpness ({} -> {})",
            s.sharpness,
            b.sharpness
        );
    }
    let live = scored
        .iter()
        .filter(|(_, s, _)| s.live_by_package_threshold())
        .count();
    let sharp = scored
        .iter()
        .filter(|(_, s, _)| s.sharp_by_package_threshold())
        .count();
    let blurred_sharp = scored
        .iter()
        .filter(|(_, _, b)| b.sharp_by_package_threshold())
        .count();
    let (lo, med, hi) = quantiles(scored.iter().map(|(_, s, _)| s.spoof).collect());
    let (blo, bmed, bhi) = quantiles(scored.iter().map(|(_, _, b)| b.spoof).collect());
    let (slo, smed, shi) = quantiles(scored.iter().map(|(_, s, _)| s.sharpness as f32).collect());
    eprintln!(
        "{} photos: spoof score min {lo:.4} median {med:.4} max {hi:.4}; {live} below the package threshold \
         {SPOOF_THRESHOLD} (live), {} above; blurred copies: min {blo:.4} median {bmed:.4} max {bhi:.4}",
        scored.len(),
        scored.len() - live
    );
    eprintln!(
        "sharpness min {slo} median {smed} max {shi}; sharp (>= {SHARPNESS_THRESHOLD}): {sharp} photos, \
         {blurred_sharp} blurred copies"
    );
}
