import SiapFFI
import SwiftUI

/// A shared device at an office entrance: idle timer off, front camera running, resets a few seconds
/// after each attempt.
///
/// "Kenali wajah" asks the core who is in front of the camera (1:N over the faces enrolled on this
/// device) and fills the id; it can also be typed. The check is the same liveness challenge and `check`
/// as on a personal phone.
struct KioskView: View {
    let core: SiapCore
    @EnvironmentObject var model: AppModel
    @StateObject private var camera = FrameGrabber(position: .front)
    @StateObject private var action = Action()
    @State private var employeeId = ""
    @State private var result: CheckResult?
    @State private var prompt: String?

    var body: some View {
        VStack(spacing: 16) {
            CameraPreview(session: camera.session).frame(maxHeight: 360)
            if let prompt { Text(prompt).font(.title2) }
            Button("Kenali wajah") { recognise() }.disabled(action.busy)
            TextField("NIP", text: $employeeId).textFieldStyle(.roundedBorder).font(.title2)
            HStack(spacing: 16) {
                Button("MASUK") { check(.in) }.buttonStyle(.borderedProminent)
                Button("PULANG") { check(.out) }.buttonStyle(.borderedProminent)
            }
            .font(.title)
            .disabled(action.busy || employeeId.isEmpty)
            if let result { CheckResultView(result: result) }
            if let message = action.message, !message.isEmpty { Text(message) }
        }
        .padding()
        .onAppear { camera.start(); UIApplication.shared.isIdleTimerDisabled = true }
        .onDisappear {
            action.cancel()
            camera.stop()
            UIApplication.shared.isIdleTimerDisabled = false
        }
        .task(id: action.message) {
            guard action.message != nil else { return }
            try? await Task.sleep(nanoseconds: 5_000_000_000)
            guard !Task.isCancelled else { return }
            result = nil
            action.message = nil
            employeeId = ""
        }
    }

    private func check(_ direction: CheckDirection) {
        action.run {
            guard let fix = await model.location.current() else { return "Lokasi belum tersedia" }
            let id = employeeId.trimmingCharacters(in: .whitespaces)
            let session = try await runLiveness(core: core, camera: camera, clock: model.clock, employeeId: id) { prompt = $0 }
            try Task.checkCancellation()
            result = try await core.check(employeeId: id, direction: direction, face: .liveness(session: session), fix: fix)
            return ""
        }
    }

    /// 1:N: fills the id when exactly one enrolled face is recognised.
    private func recognise() {
        action.run {
            let frame = try await camera.next()
            // Unknown faces (or ones failing the quality gate) come back without an employee id.
            let known = try await core.identify(photo: frame).compactMap(\.employeeId)
            guard known.count == 1 else { return "Wajah tidak dikenali, ketik NIP" }
            employeeId = known[0]
            return ""
        }
    }
}
