//! Shared helpers for the face integration tests: where the labelled photos are and how to skip.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use siap_core::face::{FaceConfig, FaceEngine, FaceImage, default_models_dir};

/// `SIAP_FACES_DIR`, else `<workspace>/../shared/faces` (or one level further up, for a git worktree kept
/// under a sub-folder); `None` (with a printed reason) when absent.
pub fn faces_dir() -> Option<PathBuf> {
    let ws = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = match std::env::var_os("SIAP_FACES_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => [ws.join("../shared/faces"), ws.join("../../shared/faces")]
            .into_iter()
            .find(|d| d.is_dir())
            .unwrap_or_else(|| ws.join("../shared/faces")),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: labelled face photos not found at {} (set SIAP_FACES_DIR to a folder with one sub-folder per identity)",
            dir.display()
        );
        None
    }
}

/// One engine for the whole test binary (opening optimises the models).
pub fn engine() -> &'static FaceEngine {
    static E: OnceLock<FaceEngine> = OnceLock::new();
    E.get_or_init(|| {
        FaceEngine::open(&default_models_dir(), FaceConfig::default()).expect("models load")
    })
}

/// Decodes a photo of the set.
pub fn load(dir: &std::path::Path, rel: &str) -> FaceImage {
    let bytes = std::fs::read(dir.join(rel)).expect("photo readable");
    FaceImage::decode(&bytes).expect("photo decodes")
}

/// The single-person photos by identity (folder name), excluding `edge/` and `multi/`.
pub fn identities(dir: &std::path::Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut folders: Vec<_> = std::fs::read_dir(dir)
        .expect("readable")
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    folders.sort_by_key(std::fs::DirEntry::file_name);
    for f in folders {
        let name = f.file_name().to_string_lossy().to_string();
        if name == "edge" || name == "multi" {
            continue;
        }
        let mut files: Vec<String> = std::fs::read_dir(f.path())
            .expect("readable")
            .flatten()
            .map(|e| format!("{name}/{}", e.file_name().to_string_lossy()))
            .filter(|p| is_photo(p))
            .collect();
        files.sort();
        out.push((name, files));
    }
    out
}

/// A JPEG or PNG file name (any case).
pub fn is_photo(name: &str) -> bool {
    std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| {
            ["jpg", "jpeg", "png"]
                .iter()
                .any(|x| e.eq_ignore_ascii_case(x))
        })
}
