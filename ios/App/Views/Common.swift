import AVFoundation
import SiapFFI
import SwiftUI

/// One button's work: one at a time, with a busy flag and the last message for the screen. The work runs
/// in a `Task` that `cancel()` cancels; every view calls it from `.onDisappear`. Cancellation stops the
/// shell's own steps (camera waits, the liveness loop, `Task.checkCancellation()` before a core call).
/// It does not stop a core `async` call already under way: UniFFI's Swift bindings do not pass task
/// cancellation to Rust, so that call finishes (a check-in is then still recorded) and its result is
/// dropped with the view.
@MainActor
final class Action: ObservableObject {
    @Published private(set) var busy = false
    @Published var message: String?
    private var task: Task<Void, Never>?

    func run(_ work: @escaping @MainActor () async throws -> String) {
        guard !busy else { return }
        busy = true
        task = Task {
            defer {
                busy = false
                task = nil
            }
            do {
                message = try await work()
            } catch is CancellationError {
                // The view went away; nothing to say.
            } catch {
                message = describe(error)
            }
        }
    }

    func cancel() { task?.cancel() }
}

/// The live camera behind a `FrameGrabber`.
struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession

    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }
        var previewLayer: AVCaptureVideoPreviewLayer { layer as! AVCaptureVideoPreviewLayer }
    }

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer.session = session
        view.previewLayer.videoGravity = .resizeAspectFill
        return view
    }

    func updateUIView(_ uiView: PreviewView, context: Context) {}
}

/// What the core decided about a check-in, as it said it.
struct CheckResultView: View {
    let result: CheckResult

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(result.accepted ? "DITERIMA" : "DITOLAK").font(.title).foregroundColor(result.accepted ? .green : .red)
            ForEach(result.reasons, id: \.self) { Text("• \($0.label)") }
            if !result.flags.isEmpty { Text("Tanda lokasi: \(result.flags.map(\.label).joined(separator: ", "))") }
            if let site = result.siteId { Text("Lokasi kerja: \(site)") }
            if let d = result.distanceToEdgeM { Text(distanceText(d)) }
            if let s = result.similarity { Text("Kemiripan wajah: \(String(format: "%.2f", s))") }
            if let passed = result.livenessPassed { Text(passed ? "Uji gerakan kepala: lulus" : "Uji gerakan kepala: gagal") }
            ForEach(result.livenessFailures, id: \.self) { Text("  – \($0.label)") }
            if result.clockSkew { Text("Jam perangkat tidak cocok dengan server") }
            Text("Catatan #\(result.seq)").font(.caption)
        }
    }
}

/// The core's signed distance to a fence or an asset's circle (negative: inside).
func distanceText(_ m: Double) -> String {
    m <= 0 ? "Di dalam area (\(Int(-m)) m dari batas)" : "\(Int(m)) m di luar area"
}
