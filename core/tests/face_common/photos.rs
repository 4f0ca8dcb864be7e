//! Where the labelled face photos are, and when a test may skip without them. Std only, so that every
//! user of the photos shares this one rule: the face tests of `siap-core` (through `face_common`), its
//! face benchmarks and the `siap` command's tests (both through `#[path]`).
//!
//! The folder is `SIAP_FACES_DIR` when set, else `<workspace>/../shared/faces` (or one level further up,
//! for a git worktree kept under a sub-folder). It is usable when it can be read and at least one of its
//! sub-folders (one per identity) holds a JPEG or PNG photo.
//!
//! Skipping is allowed only when nobody asked for the photos. With `CI` set (not empty), or with
//! `SIAP_FACES_DIR` given, a folder that is missing, unreadable or empty makes the test fail, so that
//! neither a CI run nor a mistyped path can pass by skipping every face test.

use std::path::{Path, PathBuf};

/// The labelled photos (see the [module documentation](self)): `Some(folder)` when usable; `None`, with
/// a printed `SKIPPED` line, when it is not and neither `CI` nor `SIAP_FACES_DIR` is set.
///
/// # Panics
///
/// When the folder is not usable and `CI` or `SIAP_FACES_DIR` is set.
pub fn faces_dir() -> Option<PathBuf> {
    let explicit = std::env::var_os("SIAP_FACES_DIR").filter(|d| !d.is_empty());
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let dir = if let Some(d) = &explicit {
        PathBuf::from(d)
    } else {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        [ws.join("../shared/faces"), ws.join("../../shared/faces")]
            .into_iter()
            .find(|d| d.is_dir())
            .unwrap_or_else(|| ws.join("../shared/faces"))
    };
    let Some(why) = unusable(&dir) else {
        return Some(dir);
    };
    let layout = "a folder with one sub-folder of JPEG/PNG photos per identity, the layout of ../shared/faces";
    if explicit.is_some() || ci {
        let asked = match (explicit.is_some(), ci) {
            (true, true) => "SIAP_FACES_DIR and CI are set",
            (true, false) => "SIAP_FACES_DIR is set",
            _ => "CI is set",
        };
        panic!(
            "labelled face photos required ({asked}) but {} {why}; a face test must not pass by \
             skipping: point SIAP_FACES_DIR at {layout}",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: labelled face photos not usable: {} {why} (set SIAP_FACES_DIR to {layout}; with CI or \
         SIAP_FACES_DIR set this is a failure)",
        dir.display()
    );
    None
}

/// Why `dir` cannot serve as the photo set, or `None` when it can.
fn unusable(dir: &Path) -> Option<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some("does not exist".into()),
        Err(e) => return Some(format!("cannot be read ({e})")),
    };
    let has_photo = entries.flatten().any(|identity| {
        identity.path().is_dir()
            && std::fs::read_dir(identity.path()).is_ok_and(|files| {
                files
                    .flatten()
                    .any(|f| is_photo(&f.file_name().to_string_lossy()))
            })
    });
    (!has_photo).then(|| "holds no photos in identity sub-folders".into())
}

/// A JPEG or PNG file name (any case).
pub fn is_photo(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| {
            ["jpg", "jpeg", "png"]
                .iter()
                .any(|x| e.eq_ignore_ascii_case(x))
        })
}

/// The labelled real videos of head movements (`../shared/liveness-real`, or `SIAP_LIVENESS_DIR`), in
/// the `siap face liveness-eval` layout: `Some(folder)` when it holds `bona_fide/`; `None`, with a
/// printed `SKIPPED` line, when it does not and neither `CI` nor `SIAP_LIVENESS_DIR` is set.
///
/// # Panics
///
/// When the folder is not usable and `CI` or `SIAP_LIVENESS_DIR` is set.
#[allow(dead_code)] // not every includer of this file reads the videos
pub fn liveness_dir() -> Option<PathBuf> {
    let explicit = std::env::var_os("SIAP_LIVENESS_DIR").filter(|d| !d.is_empty());
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let dir = if let Some(d) = &explicit {
        PathBuf::from(d)
    } else {
        let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        [
            ws.join("../shared/liveness-real"),
            ws.join("../../shared/liveness-real"),
        ]
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or_else(|| ws.join("../shared/liveness-real"))
    };
    if dir.join("bona_fide").is_dir() {
        return Some(dir);
    }
    assert!(
        explicit.is_none() && !ci,
        "real liveness videos required (CI or SIAP_LIVENESS_DIR set) but {} has no bona_fide/ folder; \
         a liveness test must not pass by skipping: point SIAP_LIVENESS_DIR at the layout of \
         ../shared/liveness-real",
        dir.display()
    );
    eprintln!(
        "SKIPPED: real liveness videos not found at {} (set SIAP_LIVENESS_DIR; with CI set this is a \
         failure)",
        dir.display()
    );
    None
}
