import SiapFFI
import SwiftUI

@main
struct SiapApp: App {
    @StateObject private var model = AppModel()

    var body: some Scene {
        WindowGroup { ContentView().environmentObject(model) }
    }
}

/// Opens the one `SiapCore` of this process off the main thread: master key from the Keychain, models
/// from the app bundle, the Secure Enclave signer and the monotonic clock.
@MainActor
final class AppModel: ObservableObject {
    @Published private(set) var core: SiapCore?
    @Published private(set) var openError: String?
    let clock = DeviceClock()
    let location = LocationProvider()

    init() {
        location.requestPermission()
        let clock = clock
        Task {
            do {
                core = try await Task.detached(priority: .userInitiated) { try Self.open(clock: clock) }.value
            } catch {
                openError = describe(error)
            }
        }
    }

    nonisolated private static func open(clock: DeviceClock) throws -> SiapCore {
        let files = FileManager.default
        let dataDir = try files.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            .appendingPathComponent("siap", isDirectory: true)
        try files.createDirectory(at: dataDir, withIntermediateDirectories: true)
        // Server settings come from Info.plist (SiapServerURL, SiapServerKeyHex); empty = offline.
        let info = Bundle.main.infoDictionary ?? [:]
        let url = (info["SiapServerURL"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        let keyHex = (info["SiapServerKeyHex"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        let config = CoreConfig(
            dataDir: dataDir.path,
            // Bundle resources are plain files: the core reads the models in place (it checks their SHA-256).
            modelsDir: Bundle.main.url(forResource: "models", withExtension: nil)?.path,
            serverUrl: url,
            serverPublicKey: keyHex.map(hexBytes),
            masterKey: try MasterKeyStore.load()
        )
        return try SiapCore.open(config: config, signer: try SecureEnclaveSigner(), clock: clock)
    }
}

private func hexBytes(_ hex: String) -> Data {
    var data = Data()
    var index = hex.startIndex
    while let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex), index < hex.endIndex {
        data.append(UInt8(hex[index..<next], radix: 16) ?? 0)
        index = next
    }
    return data
}

/// Runs a blocking (non-`async`) core call off the main thread: `status`, `permits`, `permit`,
/// `deleteFace`, `startLiveness`, `pushFrame`. The slow calls are `async` in the generated API and need
/// no wrapper.
func offMain<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached(priority: .userInitiated) { try work() }.value
}

/// Words for an error; the core's errors carry no names, coordinates or biometrics.
func describe(_ error: Error) -> String {
    switch error {
    case SiapError.NotEnrolled: return "Wajah belum didaftarkan"
    case let SiapError.NotReady(reason): return "Belum siap: \(reason)"
    case let SiapError.ModelMissing(reason): return "Model wajah tidak ada: \(reason)"
    case let SiapError.BadInput(reason): return "Masukan ditolak: \(reason)"
    case let SiapError.NotFound(what): return "Tidak ditemukan: \(what)"
    case let SiapError.Network(reason): return "Tidak terhubung ke server: \(reason)"
    case let SiapError.ServerRejected(status, reason):
        let http = status.map { " (HTTP \($0))" } ?? ""
        return "Server menolak\(http): \(reason)"
    case let SiapError.Storage(reason): return "Penyimpanan gagal: \(reason)"
    case let SiapError.Signer(reason): return "Kunci perangkat tidak dapat menandatangani: \(reason)"
    case let SiapError.Clock(reason): return "Jam perangkat tidak terbaca: \(reason)"
    case let SiapError.Crypto(reason): return "Data tersegel tidak dapat dibuka: \(reason)"
    case SiapError.Cancelled: return "Dibatalkan"
    case let SiapError.Internal(reason): return "Kesalahan internal: \(reason)"
    // SiapError is non-exhaustive in Rust: a case added later still shows itself.
    case let other as SiapError: return "\(other)"
    case FrameGrabber.FrameError.timeout: return "Kamera tidak memberi gambar"
    default: return error.localizedDescription
    }
}
