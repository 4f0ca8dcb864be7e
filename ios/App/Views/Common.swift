import AVFoundation
import SiapFFI
import SwiftUI

/// One button's work: one at a time, with a busy flag and the last message for the screen.
@MainActor
final class Action: ObservableObject {
    @Published private(set) var busy = false
    @Published var message: String?

    func run(_ work: @escaping @MainActor () async throws -> String) {
        guard !busy else { return }
        busy = true
        Task {
            defer { busy = false }
            do { message = try await work() } catch { message = describe(error) }
        }
    }
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
            if !result.reasons.isEmpty { Text("Alasan: \(result.reasons.joined(separator: ", "))") }
            if !result.flags.isEmpty { Text("Tanda: \(result.flags.joined(separator: ", "))") }
            if let site = result.siteId { Text("Lokasi kerja: \(site)") }
            if let d = result.distanceToEdgeM { Text("Jarak ke batas: \(Int(d)) m") }
            if let s = result.similarity { Text("Kemiripan wajah: \(String(format: "%.2f", s))") }
            if result.clockSkew { Text("Jam perangkat tidak cocok dengan server") }
            Text("Catatan #\(result.seq)").font(.caption)
        }
    }
}
