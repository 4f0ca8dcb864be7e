import SiapFFI
import SwiftUI

/// An employee's own phone: the core's liveness challenge and a location fix go to `check` (the core reads
/// the clock itself); the screen shows what the core decided. Also face enrollment (3 frames) and deletion.
/// Leaving the screen cancels the running action (see `Action`).
struct CheckInView: View {
    let core: SiapCore
    @EnvironmentObject var model: AppModel
    @StateObject private var camera = FrameGrabber(position: .front)
    @StateObject private var action = Action()
    @State private var employeeId = ""
    @State private var direction: CheckDirection = .in
    @State private var result: CheckResult?
    @State private var prompt: String?

    var body: some View {
        Form {
            CameraPreview(session: camera.session).frame(height: 320)
            if let prompt { Text(prompt).font(.headline) }
            TextField("NIP", text: $employeeId)
            Picker("Arah", selection: $direction) {
                Text("Masuk").tag(CheckDirection.in)
                Text("Pulang").tag(CheckDirection.out)
            }.pickerStyle(.segmented)
            Button(direction == .in ? "Absen masuk" : "Absen pulang") {
                action.run {
                    result = nil
                    guard let fix = await model.location.current() else { return "Lokasi belum tersedia, coba lagi" }
                    let (id, dir) = (employeeId.trimmingCharacters(in: .whitespaces), direction)
                    // The core's head-movement challenge, then the check on the session's own frames.
                    let session = try await runLiveness(core: core, camera: camera, clock: model.clock, employeeId: id) { prompt = $0 }
                    try Task.checkCancellation() // not cancellable once under way: do not start it after the view left
                    result = try await core.check(employeeId: id, direction: dir, face: .liveness(session: session), fix: fix)
                    return "Tersimpan"
                }
            }
            Button("Daftarkan wajah") {
                action.run {
                    var frames: [CameraImage] = []
                    for _ in 0..<3 {
                        frames.append(try await camera.next())
                        try await Task.sleep(nanoseconds: 400_000_000)
                    }
                    let id = employeeId.trimmingCharacters(in: .whitespaces)
                    // Enrollment answers a liveness challenge too (a photo held up is refused).
                    let session = try await runLiveness(core: core, camera: camera, clock: model.clock, employeeId: id, enrollment: true) { prompt = $0 }
                    try Task.checkCancellation()
                    let r = try await core.enrollFace(employeeId: id, photos: frames, liveness: session)
                    return r.refused.isEmpty
                        ? "Wajah tersimpan, menunggu persetujuan BKPSDM (sinkronkan setelah disetujui)"
                        : "Pendaftaran wajah ditolak: \(r.refused)"
                }
            }
            Button("Hapus data wajah", role: .destructive) {
                action.run {
                    let id = employeeId.trimmingCharacters(in: .whitespaces)
                    return try await offMain { try core.deleteFace(employeeId: id) } ? "Data wajah dihapus" : "Tidak ada data wajah"
                }
            }
            if let message = action.message { Text(message) }
            if let result { CheckResultView(result: result) }
        }
        .disabled(action.busy)
        .onAppear { camera.start() }
        .onDisappear {
            action.cancel()
            camera.stop()
        }
    }
}
