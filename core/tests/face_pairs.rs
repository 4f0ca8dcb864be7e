//! Every same-person pair of `../shared/faces` scores above the default threshold and every
//! different-person pair below it; the margin is printed.
#![cfg(feature = "face")]

mod face_common;

use siap_core::face::{DEFAULT_THRESHOLD, cosine};

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
    assert!(gmin > DEFAULT_THRESHOLD, "a same-person pair scored {gmin}");
    assert!(
        imax < DEFAULT_THRESHOLD,
        "a different-person pair scored {imax}"
    );
}
