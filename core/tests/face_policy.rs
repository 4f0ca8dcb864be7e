//! Check-in policy and 1:N identification on `../shared/faces`: multi-face photos are rejected for
//! check-in but identified face by face; low-resolution and partial faces are handled with a reason.
#![cfg(feature = "face")]

mod face_common;

use siap_core::face::{QualityIssue, Template};

fn gallery(dir: &std::path::Path) -> Vec<(String, Template)> {
    let engine = face_common::engine();
    let hash = engine
        .model_hashes()
        .into_iter()
        .find_map(|h| {
            h.strip_prefix("mobilefacenet.nnef.tar:")
                .map(str::to_string)
        })
        .expect("embedding model hash");
    face_common::identities(dir)
        .into_iter()
        .map(|(id, files)| {
            let embs = files
                .iter()
                .map(|f| {
                    engine
                        .sample(&face_common::load(dir, f))
                        .expect("sample")
                        .embedding
                        .expect("face")
                })
                .collect();
            (
                id,
                Template::from_embeddings(&hash, embs).expect("template"),
            )
        })
        .collect()
}

#[test]
fn multi_face_photos_fail_check_in_and_are_identified_one_by_one() {
    let Some(dir) = face_common::faces_dir() else {
        return;
    };
    let engine = face_common::engine();
    let gallery = gallery(&dir);
    let obama = &gallery
        .iter()
        .find(|g| g.0 == "obama")
        .expect("obama enrolled")
        .1;
    for (file, expected) in [
        ("multi/obama_and_biden.jpg", vec!["obama", "biden"]),
        (
            "multi/kit_with_rose.jpg",
            vec!["kit_harington", "rose_leslie"],
        ),
        ("multi/two_people.jpg", vec!["obama", "biden"]),
    ] {
        let img = face_common::load(&dir, file);
        let v = engine.verify(obama, &img).expect("verify");
        eprintln!(
            "{file}: check-in {:?} sim {:.3}",
            v.quality.issues, v.similarity
        );
        assert!(
            !v.matched,
            "{file}: a multi-face photo must not pass check-in"
        );
        assert!(
            v.quality.issues.contains(&QualityIssue::MultipleFaces),
            "{file}: {:?}",
            v.quality.issues
        );
        let out = engine.identify(&gallery, &img).expect("identify");
        let ids: Vec<Option<String>> = out.faces.iter().map(|f| f.id.clone()).collect();
        for f in &out.faces {
            eprintln!(
                "  face {:?} -> {:?} ({:.3}) {:?}",
                f.detection.bbox.map(|v| v as i32),
                f.id,
                f.similarity,
                f.quality.issues
            );
        }
        for e in &expected {
            assert!(
                ids.iter().any(|i| i.as_deref() == Some(*e)),
                "{file}: {e} not identified: {ids:?}"
            );
        }
        // Nobody is identified twice, and nobody outside `expected` is named.
        let named: Vec<&String> = ids.iter().flatten().collect();
        for n in &named {
            assert!(expected.contains(&n.as_str()), "{file}: unexpected {n}");
            assert_eq!(
                named.iter().filter(|m| m == &n).count(),
                1,
                "{file}: {n} twice"
            );
        }
    }
}

#[test]
fn low_resolution_and_partial_faces_are_handled_with_a_reason() {
    let Some(dir) = face_common::faces_dir() else {
        return;
    };
    let engine = face_common::engine();
    let gallery = gallery(&dir);
    let obama = &gallery.iter().find(|g| g.0 == "obama").expect("obama").1;
    for file in [
        "edge/obama_240p.jpg",
        "edge/obama_small.jpg",
        "edge/obama_partial_face.jpg",
        "edge/obama_partial_face2.jpg",
        "edge/32bit.png",
    ] {
        let img = face_common::load(&dir, file);
        let v = engine.verify(obama, &img).expect("verify");
        eprintln!(
            "{file} {}x{}: matched {} sim {:.3} issues {:?}",
            img.width(),
            img.height(),
            v.matched,
            v.similarity,
            v.quality.issues
        );
        // Either accepted as Obama, or refused with at least one reason: never a silent false.
        assert!(
            v.matched || !v.quality.issues.is_empty(),
            "{file}: refused without a reason (sim {:.3})",
            v.similarity
        );
        // And never accepted as someone else.
        let e = engine.sample(&img).expect("sample").embedding;
        for (id, t) in gallery.iter().filter(|g| g.0 != "obama") {
            let sim = e.as_deref().map_or(0.0, |e| t.similarity(e));
            assert!(
                sim < engine.config().threshold,
                "{file} matched {id} ({sim:.3})"
            );
        }
    }
}
