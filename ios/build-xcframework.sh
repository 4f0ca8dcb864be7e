#!/usr/bin/env bash
# Builds ios/SiapFFI.xcframework: the core as a static library for devices (arm64) and the simulator
# (arm64 + x86_64, one lipo'd library), with the committed C header and module map. macOS + Xcode only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# The committed Swift/header must match the Rust API we are about to ship.
cargo xtask bindings --check

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for target in "${targets[@]}"; do
    # `cargo rustc --crate-type staticlib`: with the rlib crate type also declared, `cargo build` skips LTO.
    IPHONEOS_DEPLOYMENT_TARGET=16.0 cargo rustc --release -p siap-ffi --lib --crate-type staticlib --target "$target"
done

work=target/ios-xcframework
rm -rf "$work" ios/SiapFFI.xcframework
mkdir -p "$work/headers" "$work/sim"
cp ios/Sources/SiapFFI/siap_ffiFFI.h "$work/headers/"
# An XCFramework's headers directory needs the module map under the name module.modulemap.
cp ios/Sources/SiapFFI/siap_ffiFFI.modulemap "$work/headers/module.modulemap"

lipo -create \
    target/aarch64-apple-ios-sim/release/libsiap_ffi.a \
    target/x86_64-apple-ios/release/libsiap_ffi.a \
    -output "$work/sim/libsiap_ffi.a"

xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/release/libsiap_ffi.a -headers "$work/headers" \
    -library "$work/sim/libsiap_ffi.a" -headers "$work/headers" \
    -output ios/SiapFFI.xcframework

# Face models for the app bundle (a folder reference in project.yml).
mkdir -p ios/App/Resources/models
cp models/*.nnef.tar ios/App/Resources/models/

du -sh ios/SiapFFI.xcframework/*/libsiap_ffi.a
