//! Every same-person pair of `../shared/faces` scores above the default threshold and every
//! different-person pair below it; the margin is printed, with what the impostor scores say about 1:N
//! identification (kiosk mode): the expected false-match rate of a 500-person gallery at both
//! thresholds, from a normal fit of the impostor scores.
#![cfg(feature = "face")]

mod face_common;

use siap_core::face::{DEFAULT_IDENTIFY_THRESHOLD, DEFAULT_THRESHOLD, cosine};

/// P(Z >= z) for a standard normal (Abramowitz and Stegun 7.1.26, error below 1.5e-7).
fn normal_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if x >= 0.0 {
        erfc / 2.0
    } else {
        1.0 - erfc / 2.0
    }
}

/// Expected false-match rate of one unenrolled face against a gallery of `n` people at `threshold`.
fn gallery_fmr(mean: f64, sd: f64, threshold: f64, n: i32) -> f64 {
    1.0 - (1.0 - normal_tail((threshold - mean) / sd)).powi(n)
}

#[test]
fn genuine_pairs_above_and_impostor_pairs_below_the_threshold() {
    let Some(dir) = face_common::faces_dir() else {
        return;
    };
    let engine = face_common::engine();
    let mut embs = Vec::new();
    for (id, files) in face_common::identities(&dir) {
        for f in files {
            let img = face_common::load(&dir, &f);
            let s = engine.sample(&img).expect("sample");
            eprintln!(
                "{f}: {}x{} faces={} quality={:?}",
                img.width(),
                img.height(),
                s.quality.faces_detected,
                s.quality
            );
            let e = s.embedding.unwrap_or_else(|| panic!("{f}: no usable face"));
            embs.push((id.clone(), f, e));
        }
    }
    let (mut gmin, mut imax) = (f32::MAX, f32::MIN);
    let (mut imp, mut gen_) = (Vec::new(), Vec::new());
    for i in 0..embs.len() {
        for j in i + 1..embs.len() {
            let s = cosine(&embs[i].2, &embs[j].2);
            if embs[i].0 == embs[j].0 {
                gmin = gmin.min(s);
                gen_.push(s);
                eprintln!("genuine  {} {} {s:.3}", embs[i].1, embs[j].1);
            } else {
                imax = imax.max(s);
                imp.push(s);
            }
        }
    }
    let mean = imp.iter().sum::<f32>() / imp.len() as f32;
    let sd = (imp.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / imp.len() as f32).sqrt();
    eprintln!(
        "genuine pairs {} min {gmin:.3}; impostor pairs {} max {imax:.3} mean {mean:.3} sd {sd:.3}; threshold {DEFAULT_THRESHOLD}; margins {:.3} / {:.3}",
        gen_.len(),
        imp.len(),
        gmin - DEFAULT_THRESHOLD,
        DEFAULT_THRESHOLD - imax
    );
    let (m, s) = (f64::from(mean), f64::from(sd));
    let fmr_1to1 = gallery_fmr(m, s, f64::from(DEFAULT_THRESHOLD), 500);
    let fmr_kiosk = gallery_fmr(m, s, f64::from(DEFAULT_IDENTIFY_THRESHOLD), 500);
    eprintln!(
        "1:N with 500 enrolled: expected false matches of an unenrolled face {:.2} % at {DEFAULT_THRESHOLD}, {:.2} % at the identification threshold {DEFAULT_IDENTIFY_THRESHOLD}",
        100.0 * fmr_1to1,
        100.0 * fmr_kiosk
    );
    // The rule the identification threshold was set by: at most 1 % for 500 people, and every
    // genuine pair still above it.
    assert!(
        fmr_kiosk < 0.01,
        "identification threshold too low: {fmr_kiosk}"
    );
    assert!(
        gmin > DEFAULT_IDENTIFY_THRESHOLD,
        "a same-person pair scored {gmin}, below the identification threshold"
    );
    assert!(gmin > DEFAULT_THRESHOLD, "a same-person pair scored {gmin}");
    assert!(
        imax < DEFAULT_THRESHOLD,
        "a different-person pair scored {imax}"
    );
}

/// The face crop a check-in uploads is a JPEG of the aligned face: the server's embedding of it must
/// stay where the phone's was, or the server's re-check would disagree with an honest phone.
#[test]
fn a_face_crop_keeps_its_embedding_through_jpeg() {
    use siap_core::face::crop;
    let Some(dir) = face_common::faces_dir() else {
        return;
    };
    let engine = face_common::engine();
    let (mut worst, mut sum, mut n, mut bytes) = (1.0f32, 0.0f32, 0usize, 0usize);
    for (_, files) in face_common::identities(&dir) {
        for f in files {
            let s = engine.sample(&face_common::load(&dir, &f)).expect("sample");
            let (Some(aligned), Some(e)) = (s.aligned, s.embedding) else {
                continue;
            };
            let jpeg = crop::encode(&aligned).expect("encode");
            bytes += jpeg.len();
            let again = engine
                .embed_aligned(&crop::decode(&jpeg).expect("decode"))
                .expect("embed");
            let c = cosine(&e, &again);
            worst = worst.min(c);
            sum += c;
            n += 1;
        }
    }
    eprintln!(
        "face crops through JPEG (quality {}): {n} crops, mean {} bytes, embedding cosine mean {:.4} worst {worst:.4}",
        crop::JPEG_QUALITY,
        bytes / n.max(1),
        sum / n.max(1) as f32
    );
    assert!(n >= 10, "too few crops: {n}");
    // A drift of 0.02 moves no pair of the set across the threshold (margins above 0.17), and leaves
    // the server's crop-to-attempt tie a margin for another machine's float rounding.
    assert!(worst > 0.98, "a crop's embedding moved to {worst}");
    assert!(worst > siap_core::liveness::CROP_IN_ATTEMPT + 0.02);
}
