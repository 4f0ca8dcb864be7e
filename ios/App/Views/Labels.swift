import SiapFFI

// Words for the core's typed codes. Only wording lives here: the codes and every decision behind them
// come from the core. CheckReason, LocationFlag, LivenessFailure and PermitStatus are non-exhaustive in
// Rust (a newer core or server may add values), so each switch keeps an `@unknown default` that shows
// the raw value instead of failing. (The generated enums are not resilient, so today the compiler may
// warn that this branch is never executed.)

extension CheckReason {
    var label: String {
        switch self {
        case .noAssignedSite: return "Belum ada lokasi kerja untuk NIP ini"
        case .outsideFence: return "Di luar area lokasi kerja"
        case .locationUndecidable: return "Lokasi kurang akurat untuk dipastikan"
        case .mockLocation: return "Lokasi palsu (simulasi) terdeteksi"
        case .impossibleSpeed: return "Perpindahan lokasi terlalu cepat"
        case .repeatedFix: return "Data lokasi yang sama dipakai ulang"
        case .staleFix: return "Data lokasi terlalu lama atau bertanggal di masa depan"
        case .clockSkew: return "Jam perangkat tidak cocok dengan waktu server"
        case .faceMissing: return "Wajah tidak diambil"
        case .faceQuality: return "Foto wajah kurang jelas"
        case .faceMismatch: return "Wajah tidak cocok"
        case .livenessFailed: return "Uji gerakan kepala gagal"
        case .livenessMissing: return "Uji gerakan kepala wajib; foto diam tidak cukup"
        @unknown default: return "Alasan lain (\(self))"
        }
    }
}

extension LocationFlag {
    var label: String {
        switch self {
        case .mockLocation: return "lokasi palsu"
        case .impossibleSpeed: return "perpindahan terlalu cepat"
        case .staleFix: return "lokasi terlalu lama"
        case .futureFix: return "lokasi bertanggal di masa depan"
        case .missingAccuracy: return "tanpa akurasi"
        case .implausibleAccuracy: return "akurasi tidak wajar"
        case .repeatedFix: return "lokasi berulang"
        @unknown default: return "\(self)"
        }
    }
}

extension LivenessFailure {
    /// What to tell the person after a failed liveness attempt.
    var label: String {
        switch self {
        case .tooFewFrames: return "Terlalu sedikit gambar; ulangi"
        case .timestampsNotIncreasing: return "Urutan gambar kamera tidak sah"
        case .framesBeforeChallenge: return "Gambar dari sebelum tantangan"
        case .frameGap: return "Kamera tersendat; ulangi"
        case .multipleFaces: return "Hanya satu orang di depan kamera"
        case .tooManyFramesWithoutFace: return "Wajah sering tidak terlihat"
        case .missingLandmarks: return "Wajah tidak terlihat jelas"
        case .faceTooSmall: return "Dekatkan wajah ke kamera"
        case .staticSequence: return "Gambar tidak bergerak"
        case .tooFewEmbeddings: return "Wajah terlalu jarang terlihat jelas"
        case .embeddingMismatch: return "Orang di depan kamera berganti"
        case .wrongMovement: return "Gerakan salah"
        case .extraMovement: return "Gerakan tambahan setelah selesai"
        case .sessionExpired: return "Waktu habis; ulangi"
        case .stepNotCompleted: return "Gerakan belum dilakukan"
        case .stepTooLate: return "Gerakan terlambat"
        case .planarMotion: return "Gerakan seperti foto datar"
        case .planarityUndetermined: return "Gerakan kurang jelas; tolehkan lebih jauh"
        case .flatNose: return "Wajah tampak datar seperti foto"
        case .passiveSpoof: return "Terdeteksi sebagai foto atau layar"
        case .tooBlurry: return "Gambar buram; perbaiki pencahayaan"
        case .unknown: return "Alasan lain"
        @unknown default: return "Alasan lain (\(self))"
        }
    }
}

extension PermitStatus {
    var label: String {
        switch self {
        case .submitted: return "Diajukan"
        case .inReview: return "Sedang diperiksa"
        case .needsInfo: return "Perlu kelengkapan"
        case .awaitingPayment: return "Menunggu pembayaran"
        case .issued: return "Terbit"
        case .rejected: return "Ditolak"
        case .withdrawn: return "Ditarik pemohon"
        @unknown default: return "Status lain (\(self))"
        }
    }
}

extension SyncPhase {
    var label: String {
        switch self {
        case .records: return "kirim catatan"
        case .blobs: return "kirim foto"
        case .pull: return "ambil data"
        }
    }
}
