//! Shared helpers for the face integration tests: where the labelled photos are and when a test may
//! skip without them (`photos.rs`, also used by the face benchmarks and the `siap` command's tests), one
//! engine per test binary, photo loading.
#![allow(dead_code)]

mod photos;

use std::sync::OnceLock;

#[allow(unused_imports)] // each test binary uses some of them
pub use photos::{faces_dir, is_photo, liveness_dir};

use siap_core::face::{FaceConfig, FaceEngine, FaceImage, default_models_dir};

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
