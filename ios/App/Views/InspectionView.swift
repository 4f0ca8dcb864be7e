import SiapFFI
import SwiftUI
import UIKit

/// Asset inspection: asset id, condition, notes and photos (JPEG), recorded by the core with fix and clock.
struct InspectionView: View {
    let core: SiapCore
    @EnvironmentObject var model: AppModel
    @StateObject private var action = Action()
    @State private var assetId = ""
    @State private var condition: AssetCondition = .good
    @State private var notes = ""
    @State private var photos: [Data] = []
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
                    let clock = model.clock.now()
                    let (id, c, n, p) = (assetId.trimmingCharacters(in: .whitespaces), condition, notes, photos)
                    let seq = try await offMain { try core.inspect(assetId: id, condition: c, notes: n, photos: p, fix: fix, clock: clock) }
                    photos = []
                    notes = ""
                    return "Inspeksi tersimpan (#\(seq))"
                }
            }.disabled(assetId.isEmpty)
            if let message = action.message { Text(message) }
        }
        .disabled(action.busy)
        .sheet(isPresented: $showCamera) { PhotoCapture { photos.append($0) } }
    }
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
