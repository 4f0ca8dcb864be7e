//! `cargo xtask bindings [--check]`: builds the workspace as the test step does and generates the Kotlin
//! and Swift bindings from the built (unstripped) library; `--check` fails when the committed Swift is
//! stale.
//! `cargo xtask kotlin-test`: runs the JVM tests of the generated Kotlin against the real library.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{build_workspace, debug_artifact, run_cmd, workspace_root};

/// Where the committed Swift bindings live (the iOS package consumes them).
const SWIFT_DIR: &str = "ios/Sources/SiapFFI";

fn library_path(profile: &str) -> PathBuf {
    let ext = if cfg!(target_os = "macos") {
        "dylib"
    } else {
        "so"
    };
    workspace_root()
        .join("target")
        .join(profile)
        .join(format!("libsiap_ffi.{ext}"))
}

fn generate(language: &str, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let lib = library_path("debug");
    run_cmd(
        Command::new(debug_artifact("uniffi-bindgen"))
            .args(["generate", "--library"])
            .arg(&lib)
            .args(["--language", language, "--no-format", "--out-dir"])
            .arg(out),
    )
}

/// Builds the library and generates both languages into `target/uniffi/`.
///
/// The build is [`build_workspace`] (`cargo build --workspace --all-targets`), and the generator is its
/// `target/debug/uniffi-bindgen`, not `cargo build -p siap-ffi -p siap-server` nor `cargo run -p
/// uniffi-bindgen`: those select fewer packages, so Cargo resolves other features (no siap-core `onnx`,
/// no `num-integer/i128`, no client half of hyper, ...) and compiles siap-core, the tract stack, axum,
/// hyper and the uniffi generators a second time. With the test step's selection everything is already
/// built by `cargo test`, except the link of the `uniffi-bindgen` binary.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    build_workspace()?;
    let root = workspace_root();
    generate("kotlin", &root.join("target/uniffi/kotlin"))?;
    let swift_out = root.join("target/uniffi/swift");
    generate("swift", &swift_out)?;
    let committed = root.join(SWIFT_DIR);
    if args.iter().any(|a| a == "--check") {
        for name in ["SiapFFI.swift", "siap_ffiFFI.h", "siap_ffiFFI.modulemap"] {
            let fresh = std::fs::read(swift_out.join(name))
                .with_context(|| format!("generated {name} missing"))?;
            let old = std::fs::read(committed.join(name)).unwrap_or_default();
            if fresh != old {
                bail!(
                    "{SWIFT_DIR}/{name} is stale: run `cargo xtask bindings` and commit the result"
                );
            }
        }
        eprintln!("xtask: committed Swift bindings are up to date");
    } else {
        std::fs::create_dir_all(&committed)?;
        for name in ["SiapFFI.swift", "siap_ffiFFI.h", "siap_ffiFFI.modulemap"] {
            std::fs::copy(swift_out.join(name), committed.join(name))
                .with_context(|| format!("copy {name}"))?;
        }
    }
    Ok(())
}

/// Runs the Kotlin tests on the JVM (Maven fetches Kotlin, JNA, coroutines and JUnit from Maven Central).
pub fn kotlin_test() -> anyhow::Result<()> {
    let root = workspace_root();
    let lib_dir = library_path("debug")
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    run_cmd(
        Command::new("mvn")
            .args(["-B", "-q", "-f", "bindings/kotlin-tests/pom.xml", "test"])
            .arg(format!("-Dsiap.lib.dir={}", lib_dir.display()))
            .arg(format!(
                "-Dsiap.generated.dir={}",
                root.join("target/uniffi/kotlin").display()
            )),
    )
}
