//! `siap face passive` scores the largest face of each image with the passive anti-spoof model, one JSON
//! line per image; an unreadable image gets an `error` line, the others are still scored, and the command
//! fails.

use std::process::Command;

// The shared rule for the labelled photos: skip only when nothing asks for them (no `CI`, no
// `SIAP_FACES_DIR`), else fail.
#[path = "../../core/tests/face_common/photos.rs"]
mod face_photos;

#[test]
fn passive_scores_a_photo_and_reports_a_bad_file_as_an_error() {
    let Some(faces) = face_photos::faces_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("not_an_image.jpg");
    std::fs::write(&bad, b"not a JPEG").unwrap();
    let photo = faces.join("obama/2.jpg");
    let out = Command::new(env!("CARGO_BIN_EXE_siap"))
        .args(["face", "passive"])
        .arg(&photo)
        .arg(&bad)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("1 of 2 images"), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");

    let good = &lines[0];
    assert_eq!(good["path"], photo.display().to_string());
    assert!(good["error"].is_null(), "{good}");
    assert!(good["faces"].as_u64().unwrap() >= 1, "{good}");
    let score = good["score"].as_f64().unwrap();
    let threshold = good["threshold"].as_f64().unwrap();
    assert!(score.is_finite() && score >= 0.0, "{good}");
    assert_eq!(good["spoof"], score >= threshold, "{good}");
    assert!(good["leaf"].as_u64().unwrap() < 8, "{good}");
    assert_eq!(
        good["sharp"],
        good["sharpness"].as_u64().unwrap() >= 50,
        "{good}"
    );
    let crop = good["crop"].as_array().unwrap();
    assert_eq!(crop.len(), 4);
    // Square, as the package crops.
    assert_eq!(
        crop[2].as_u64().unwrap() - crop[0].as_u64().unwrap(),
        crop[3].as_u64().unwrap() - crop[1].as_u64().unwrap(),
        "{good}"
    );

    let failed = &lines[1];
    assert!(
        failed["score"].is_null() && failed["faces"].is_null(),
        "{failed}"
    );
    assert!(
        failed["error"].as_str().unwrap().contains("decoding"),
        "{failed}"
    );
}
