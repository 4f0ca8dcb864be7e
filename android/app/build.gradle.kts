// The SIAP phone app: Compose screens and platform glue (camera, location, clock, keystore). Every
// decision (fences, face match, signing, permits) is made by the core in :siap.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "id.go.siap.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "id.go.siap.app"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // Empty strings mean "no server": the app runs offline and sync()/register() report NotReady.
        buildConfigField("String", "SIAP_SERVER_URL", "\"${providers.gradleProperty("siapServerUrl").getOrElse("")}\"")
        buildConfigField("String", "SIAP_SERVER_KEY_HEX", "\"${providers.gradleProperty("siapServerKeyHex").getOrElse("")}\"")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }
    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"))
        }
    }
    buildFeatures {
        compose = true
        buildConfig = true
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    androidResources {
        // The face models (NNEF tars) are copied out of the APK once; stored uncompressed, that is a plain
        // copy, and `openFd` (used for the size check) works only on uncompressed assets.
        noCompress += "tar"
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation(project(":siap"))
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.camera.camera2)
    implementation(libs.camera.lifecycle)
    implementation(libs.camera.view)
    implementation(libs.play.services.location)
    implementation(libs.kotlinx.coroutines.play.services)
}
