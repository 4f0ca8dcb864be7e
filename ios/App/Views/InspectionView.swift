import SiapFFI
import SwiftUI
import UIKit

/// Asset inspection: asset id, condition, notes and photos. Each photo is written as a JPEG file in the
/// app's caches (`Caches/inspection/`); the core gets the paths (`Photo.file`) and reads the files itself,
/// so no photo is copied through the FFI or held in memory. It records them with the fix and its own
/// clock; the files are deleted once the inspection is saved.
struct InspectionView: View {
    let core: SiapCore
    @EnvironmentObject var model: AppModel
    @StateObject private var action = Action()
    @State private var assetId = ""
    @State private var condition: AssetCondition = .good
    @State private var notes = ""
    @State private var photos: [String] = [] // file paths
    @State private var showCamera = false

    var body: some View {
        Form {
            // Asset picker: a typed or scanned asset tag; the core knows the asset list after sync.
            TextField("Kode aset", text: $assetId)
            Picker("Kondisi", selection: $condition) {
                Text("Baik").tag(AssetCondition.good)
                Text("Rusak ringan").tag(AssetCondition.minorDamage)
                Text("Rusak berat").tag(AssetCondition.majorDamage)
                Text("Hilang").tag(AssetCondition.lost)
            }
            TextField("Catatan", text: $notes, axis: .vertical).lineLimit(3...6)
            Button("Ambil foto (\(photos.count))") { showCamera = true }
            Button("Simpan inspeksi") {
                action.run {
                    guard let fix = await model.location.current() else { return "Lokasi belum tersedia, coba lagi" }
                    let taken = photos
                    try Task.checkCancellation()
                    let r = try await core.inspect(
                        assetId: assetId.trimmingCharacters(in: .whitespaces), condition: condition, notes: notes,
                        photos: taken.map { Photo.file(path: $0) }, fix: fix
                    )
                    // Stored by the core: the camera files are no longer needed.
                    taken.forEach { try? FileManager.default.removeItem(atPath: $0) }
                    photos.removeAll { taken.contains($0) }
                    notes = ""
                    var text = "Inspeksi tersimpan (#\(r.seq))"
                    if let d = r.distanceToEdgeM { text += " · \(distanceText(d))" }
                    if !r.flags.isEmpty { text += " · tanda lokasi: \(r.flags.map(\.label).joined(separator: ", "))" }
                    return text
                }
            }.disabled(assetId.isEmpty)
            if let message = action.message { Text(message) }
        }
        .disabled(action.busy)
        .onDisappear { action.cancel() }
        .sheet(isPresented: $showCamera) {
            PhotoCapture { jpeg in
                Task { @MainActor in
                    do { photos.append(try await offMain { try savePhoto(jpeg) }) } catch { action.message = describe(error) }
                }
            }
        }
    }
}

/// Writes one inspection photo to `Caches/inspection/<uuid>.jpg` and returns its path.
private func savePhoto(_ jpeg: Data) throws -> String {
    let dir = try FileManager.default.url(for: .cachesDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        .appendingPathComponent("inspection", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let file = dir.appendingPathComponent("\(UUID().uuidString).jpg")
    try jpeg.write(to: file, options: [.atomic, .completeFileProtectionUntilFirstUserAuthentication])
    return file.path
}

/// The system camera; the photo is handed over as JPEG (UIKit gives a UIImage, so one encode is needed).
struct PhotoCapture: UIViewControllerRepresentable {
    let onPhoto: (Data) -> Void
    @Environment(\.dismiss) private var dismiss

    func makeUIViewController(context: Context) -> UIImagePickerController {
        let picker = UIImagePickerController()
        picker.sourceType = UIImagePickerController.isSourceTypeAvailable(.camera) ? .camera : .photoLibrary
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ uiViewController: UIImagePickerController, context: Context) {}

    func makeCoordinator() -> Coordinator { Coordinator(self) }

    final class Coordinator: NSObject, UIImagePickerControllerDelegate, UINavigationControllerDelegate {
        let parent: PhotoCapture
        init(_ parent: PhotoCapture) { self.parent = parent }

        func imagePickerController(_ picker: UIImagePickerController, didFinishPickingMediaWithInfo info: [UIImagePickerController.InfoKey: Any]) {
            if let image = info[.originalImage] as? UIImage, let jpeg = image.jpegData(compressionQuality: 0.85) {
                parent.onPhoto(jpeg)
            }
            parent.dismiss()
        }

        func imagePickerControllerDidCancel(_ picker: UIImagePickerController) { parent.dismiss() }
    }
}
