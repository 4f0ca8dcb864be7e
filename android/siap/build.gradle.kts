// The core as an Android library: the per-ABI libsiap_ffi.so in src/main/jniLibs and the generated
// Kotlin (package id.go.siap.core) in src/main/kotlin, both put there by ../build-rust.sh.
plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "id.go.siap.core"
    compileSdk = 35

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The AAR carries libjnidispatch.so for every ABI; the plain jar would not load on a phone.
    api(variantOf(libs.jna) { artifactType("aar") })
    // The generated sync()/register() are suspend functions.
    api(libs.kotlinx.coroutines.android)
    // @RequiresApi in the generated code (uniffi `android = true`).
    implementation(libs.androidx.annotation)
}
