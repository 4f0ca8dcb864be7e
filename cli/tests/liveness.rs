//! `siap face liveness-attacks` writes attack sequences from real photos in the evaluation layout, and
//! `siap face liveness-eval` reads them back, runs the face engine and the liveness check on every frame
//! and reports APCER per species: every attack rejected.

use std::process::Command;

// The shared rule for the labelled photos: skip only when nothing asks for them (no `CI`, no
// `SIAP_FACES_DIR`), else fail.
#[path = "../../core/tests/face_common/photos.rs"]
mod face_photos;

#[test]
fn attacks_built_from_photos_are_all_rejected_by_liveness_eval() {
    let Some(faces) = face_photos::faces_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for f in ["kit_harington/1.jpg", "rose_leslie/1.jpg"] {
        std::fs::copy(faces.join(f), photos.join(f.replace('/', "_"))).unwrap();
    }
    let set = tmp.path().join("set");
    let dump = tmp.path().join("observations");
    let out = Command::new(env!("CARGO_BIN_EXE_siap"))
        .args(["face", "liveness-attacks", "--photos"])
        .arg(&photos)
        .arg("--out")
        .arg(&set)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Sequences are named after their photo and written as JPEG.
    let named = set.join("attack/printed_photo/kit_harington_1/frames");
    let frames: Vec<_> = std::fs::read_dir(&named)
        .unwrap_or_else(|e| panic!("{}: {e}", named.display()))
        .flatten()
        .collect();
    assert!(!frames.is_empty());
    assert!(
        frames
            .iter()
            .all(|f| f.path().extension().is_some_and(|e| e == "jpg"))
    );
    let out = Command::new(env!("CARGO_BIN_EXE_siap"))
        .args(["face", "liveness-eval"])
        .arg(&set)
        .arg("--dump")
        .arg(&dump)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("{\"label\""))
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines.iter().all(|l| l.contains("\"outcome\":\"rejected\"")),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout[stdout.find("{\n").expect("report")..]).unwrap();
    assert_eq!(report["apcer_max"], 0.0);
    assert_eq!(
        report["apcer_per_species"]["printed_photo"]["presentations"],
        2
    );
    assert_eq!(report["apcer_per_species"]["screen"]["presentations"], 2);
    // Every sequence line says per step what was measured against which threshold.
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let step = &first["steps"][0];
    assert!(
        step["threshold_deg"].is_number() && step["min_parallax"].is_number(),
        "{first}"
    );

    // The dumped observations re-run without the face engine: the same outcomes under the shipped
    // policy given as a file; a policy with a typo is refused.
    let policy = tmp.path().join("policy.json");
    std::fs::write(&policy, r#"{"min_parallax": 0.015}"#).unwrap();
    let eval_with_policy = || {
        Command::new(env!("CARGO_BIN_EXE_siap"))
            .args(["face", "liveness-eval"])
            .arg(&dump)
            .arg("--policy")
            .arg(&policy)
            .output()
            .unwrap()
    };
    let again = eval_with_policy();
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{again_out}");
    let outcomes = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("{\"label\""))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} {}", v["sequence"], v["outcome"])
            })
            .collect()
    };
    assert_eq!(outcomes(&stdout), outcomes(&again_out));
    std::fs::write(&policy, r#"{"min_paralax": 0.015}"#).unwrap();
    let typo = eval_with_policy();
    assert!(!typo.status.success());
    assert!(String::from_utf8_lossy(&typo.stderr).contains("min_paralax"));
}
