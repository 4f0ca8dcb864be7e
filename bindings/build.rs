//! Linker flags for the shipped shared library only: `cargo::rustc-cdylib-link-arg` reaches the cdylib link
//! of this crate and nothing else (no dependency is rebuilt, the rlib, the staticlib for iOS, executables
//! and the server are untouched). Measured effect: bindings/README.md, "Library size".

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "android" {
        // Compact relative relocations (-0.8 MB of the ~0.9 MB `.rela.dyn`). Android's own packed format
        // loads on API 23+, and the app's minSdk is 26; RELR (`--pack-dyn-relocs=relr`, 0.1 MB smaller still)
        // needs API 28, so it waits for a minSdk bump. The NDK's clang links with lld, which has both.
        println!("cargo::rustc-cdylib-link-arg=-Wl,--pack-dyn-relocs=android");
    } else if os == "linux" && env == "gnu" && std::env::var("PROFILE").as_deref() == Ok("release")
    {
        // The host release library (size measurement): RELR, loaded by glibc 2.36+ (which refuses an
        // older glibc cleanly through the GLIBC_ABI_DT_RELR version need). Debug builds (the JVM tests)
        // stay loadable on any glibc. rust-lld, the default linker of
        // x86_64-unknown-linux-gnu since Rust 1.90, and GNU ld 2.38+ both support it.
        println!("cargo::rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}
