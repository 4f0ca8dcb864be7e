#!/usr/bin/env bash
# Type-checks android/app's Kotlin against the Kotlin that build-rust.sh would generate (Android variant,
# from the host debug library), with lenient stubs for the Android, AndroidX, Compose, CameraX and Play
# services APIs the app calls. It catches drift between the shell and the core API (names, parameters,
# types, nullability, suspend) and Kotlin errors in the shell. It is NOT an Android build: the stubs accept
# what they declare, not what the real libraries do, and MainActivity.kt and CameraPreview.kt are left out
# (stubbed). See ../README.md.
# Needs target/debug/libsiap_ffi.so and target/debug/uniffi-bindgen (`cargo xtask bindings` builds both),
# Maven and a JDK 17. Extra arguments go to mvn (e.g. -o offline).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$root/target/debug/uniffi-bindgen" generate --library "$root/target/debug/libsiap_ffi.so" \
    --language kotlin --config "$root/android/uniffi-android.toml" --no-format --out-dir "$work/gen"
mkdir -p "$work/app"
cp -r "$root/android/app/src/main/kotlin/." "$work/app/"
rm "$work/app/id/go/siap/app/MainActivity.kt" "$work/app/id/go/siap/app/ui/CameraPreview.kt"
cp -r "$here/stubs" "$work/stubs"
cp "$here/pom.xml" "$work/pom.xml"
mvn -B -q -f "$work/pom.xml" "$@" compile
echo "android/typecheck: the app's Kotlin type-checks against the generated core API"
