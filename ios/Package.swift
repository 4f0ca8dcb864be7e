// swift-tools-version:5.9
// The SIAP core for iOS: the XCFramework built by build-xcframework.sh (static libsiap_ffi.a per
// platform, C header and module map `siap_ffiFFI`) and the generated Swift API, compiled as module
// `SiapFFI`. Apps add this package and `import SiapFFI`.
import PackageDescription

let package = Package(
    name: "SiapCore",
    platforms: [.iOS(.v16)],
    products: [
        .library(name: "SiapCore", targets: ["SiapFFI"]),
    ],
    targets: [
        // Not committed: run ./build-xcframework.sh first.
        .binaryTarget(name: "siap_ffiFFI", path: "SiapFFI.xcframework"),
        .target(
            name: "SiapFFI",
            dependencies: ["siap_ffiFFI"],
            path: "Sources/SiapFFI",
            // The header and module map go into the XCFramework; only the Swift is compiled here.
            exclude: ["siap_ffiFFI.h", "siap_ffiFFI.modulemap"],
            // rustls-platform-verifier (pulled in by reqwest) references Security.framework.
            linkerSettings: [.linkedFramework("Security")]
        ),
    ]
)
