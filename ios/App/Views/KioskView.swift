import SiapFFI
import SwiftUI

/// A shared device at an office entrance: idle timer off, front camera running, resets a few seconds
/// after each attempt.
///
/// PLACEHOLDER identify flow: the core has no 1:N "who is this" call yet, so the employee types (or a
/// card reader types) their id and the kiosk runs the same `check` with the camera frame. When the core
/// gains identification, only the id field goes away.
struct KioskView: View {
    let core: SiapCore
    @EnvironmentObject var model: AppModel
    @StateObject private var camera = FrameGrabber(position: .front)
    @StateObject private var action = Action()
    @State private var employeeId = ""
    @State private var result: CheckResult?

    var body: some View {
        VStack(spacing: 16) {
            CameraPreview(session: camera.session).frame(maxHeight: 360)
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
        .onDisappear { camera.stop(); UIApplication.shared.isIdleTimerDisabled = false }
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
            let frame = try await camera.next()
            let clock = model.clock.now()
            let id = employeeId.trimmingCharacters(in: .whitespaces)
            result = try await offMain { try core.check(employeeId: id, direction: direction, selfie: frame, fix: fix, clock: clock) }
            return ""
        }
    }
}
