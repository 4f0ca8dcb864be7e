#!/usr/bin/env bash
# Puts the Rust core where Gradle expects it. Run from anywhere, before the first Gradle build and after
# every change under core/ or bindings/. Needs: rustup targets aarch64-linux-android armv7-linux-androideabi
# x86_64-linux-android, `cargo install cargo-ndk`, and ANDROID_NDK_HOME pointing at an NDK (r26+).
#   siap/src/main/jniLibs/<abi>/libsiap_ffi.so       stripped, per ABI
#   siap/src/main/kotlin/id/go/siap/core/siap_ffi.kt  generated from the UNSTRIPPED library
#   app/src/main/assets/models/*.nnef.tar             copied to app storage on first start
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out=android/siap/src/main

# 1. One release build per ABI (profile.release: opt-level "s", fat LTO, panic = "unwind").
#    `cargo rustc --crate-type cdylib`, not `cargo build`: siap-ffi also declares the staticlib and lib crate
#    types, and with an rlib among them cargo silently skips LTO (cargo#4611), which left the library 2.7 MB
#    bigger (host measurement). bindings/build.rs adds the relocation packing. See bindings/README.md, "Library size".
for abi in arm64-v8a armeabi-v7a x86_64; do
    case "$abi" in
        arm64-v8a) triple=aarch64-linux-android ;;
        armeabi-v7a) triple=armv7-linux-androideabi ;;
        x86_64) triple=x86_64-linux-android ;;
    esac
    cargo ndk -t "$abi" --platform 26 rustc --release -p siap-ffi --lib --crate-type cdylib
    mkdir -p "$out/jniLibs/$abi"
    cp "target/$triple/release/libsiap_ffi.so" "$out/jniLibs/$abi/"
done

# 2. Kotlin from the unstripped arm64 library in target/ (a stripped library has no UniFFI metadata).
#    uniffi-android.toml adds `android = true` to bindings/uniffi.toml.
cargo run --quiet -p uniffi-bindgen -- generate \
    --library target/aarch64-linux-android/release/libsiap_ffi.so \
    --language kotlin --config android/uniffi-android.toml --no-format --out-dir "$out/kotlin"

# 3. Strip the copies that ship (cargo-ndk may already have; stripping twice is harmless).
strip_bin=$(ls "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin/llvm-strip | head -n 1)
for so in "$out"/jniLibs/*/libsiap_ffi.so; do
    "$strip_bin" --strip-unneeded "$so"
    echo "$so: $(du -h "$so" | cut -f1)"
done

# 4. Face models as app assets.
mkdir -p android/app/src/main/assets/models
cp models/*.nnef.tar android/app/src/main/assets/models/
