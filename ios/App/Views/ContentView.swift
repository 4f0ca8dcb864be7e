import SiapFFI
import SwiftUI

struct ContentView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        if let core = model.core {
            TabView {
                VStack { DeviceBar(core: core); CheckInView(core: core) }.tabItem { Text("Absen") }
                VStack { DeviceBar(core: core); InspectionView(core: core) }.tabItem { Text("Inspeksi") }
                VStack { DeviceBar(core: core); PermitsView(core: core) }.tabItem { Text("Izin") }
                KioskView(core: core).tabItem { Text("Kios") }
            }
        } else if let error = model.openError {
            Text("SIAP tidak dapat dibuka: \(error)").padding()
        } else {
            ProgressView("Membuka…")
        }
    }
}

/// Device id, records waiting to be sent, and the two network calls: register (once) and sync.
struct DeviceBar: View {
    let core: SiapCore
    @StateObject private var action = Action()
    @State private var status: DeviceStatus?
    @State private var code = ""

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            if let status { Text(Self.summary(status)).font(.caption) }
            HStack {
                // SiapCore.sync(): async, runs on the core's tokio runtime; safe to retry at any time.
                Button("Sinkron") {
                    action.run {
                        let s = try await core.sync()
                        var text = "Terkirim \(s.acknowledged), diterima \(s.pulled), sisa \(s.pending)"
                        if s.skipped > 0 { text += ", \(s.skipped) data tidak dapat dipakai" }
                        if !s.complete {
                            let problems = s.problems.map { "\($0.phase.label): \(describe($0.error))" }
                            text += " (belum lengkap: \(problems.joined(separator: ", ")))"
                        }
                        return text
                    }
                }
                TextField("Kode pendaftaran", text: $code).textFieldStyle(.roundedBorder)
                // SiapCore.register(enrollmentCode:): async; the code comes from the city's administrator.
                Button("Daftar") {
                    action.run {
                        let id = try await core.register(enrollmentCode: code.trimmingCharacters(in: .whitespaces))
                        code = ""
                        return "Terdaftar sebagai \(id)"
                    }
                }.disabled(code.isEmpty)
            }.disabled(action.busy)
            if let message = action.message { Text(message).font(.caption) }
        }
        .padding(.horizontal)
        // Refreshed on appear and after each action; cancelled when the bar disappears.
        .task(id: action.busy) { if !action.busy { status = try? await offMain { try core.status() } } }
        .onDisappear { action.cancel() }
    }

    private static func summary(_ status: DeviceStatus) -> String {
        var text = "Perangkat \(status.deviceId.prefix(12)) · \(status.pendingRecords) belum terkirim"
        if !status.registered { text += " · belum terdaftar" }
        if !status.faceReady { text += " · model wajah tidak ada" }
        return text
    }
}
