package id.go.siap.app.ui

import id.go.siap.core.CheckReason
import id.go.siap.core.LivenessFailure
import id.go.siap.core.LocationFlag
import id.go.siap.core.PermitStatus
import id.go.siap.core.SyncPhase

// Words for the core's typed codes. Only wording lives here: the codes and every decision behind them
// come from the core. CheckReason, LocationFlag, LivenessFailure and PermitStatus are non-exhaustive in
// Rust (a newer core or server may add values), so each `when` keeps an `else` branch that shows the
// code's name instead of failing; the compiler may call that branch redundant today.

fun CheckReason.label(): String = when (this) {
    CheckReason.NO_ASSIGNED_SITE -> "Belum ada lokasi kerja untuk NIP ini"
    CheckReason.OUTSIDE_FENCE -> "Di luar area lokasi kerja"
    CheckReason.LOCATION_UNDECIDABLE -> "Lokasi kurang akurat untuk dipastikan"
    CheckReason.MOCK_LOCATION -> "Lokasi palsu (mock) terdeteksi"
    CheckReason.IMPOSSIBLE_SPEED -> "Perpindahan lokasi terlalu cepat"
    CheckReason.REPEATED_FIX -> "Data lokasi yang sama dipakai ulang"
    CheckReason.STALE_FIX -> "Data lokasi terlalu lama atau bertanggal di masa depan"
    CheckReason.CLOCK_SKEW -> "Jam perangkat tidak cocok dengan waktu server"
    CheckReason.FACE_MISSING -> "Wajah tidak diambil"
    CheckReason.FACE_QUALITY -> "Foto wajah kurang jelas"
    CheckReason.FACE_MISMATCH -> "Wajah tidak cocok"
    CheckReason.LIVENESS_FAILED -> "Uji gerakan kepala gagal"
    CheckReason.LIVENESS_MISSING -> "Uji gerakan kepala wajib; foto diam tidak cukup"
    else -> "Alasan lain ($name)"
}

fun LocationFlag.label(): String = when (this) {
    LocationFlag.MOCK_LOCATION -> "lokasi palsu"
    LocationFlag.IMPOSSIBLE_SPEED -> "perpindahan terlalu cepat"
    LocationFlag.STALE_FIX -> "lokasi terlalu lama"
    LocationFlag.FUTURE_FIX -> "lokasi bertanggal di masa depan"
    LocationFlag.MISSING_ACCURACY -> "tanpa akurasi"
    LocationFlag.IMPLAUSIBLE_ACCURACY -> "akurasi tidak wajar"
    LocationFlag.REPEATED_FIX -> "lokasi berulang"
    else -> name
}

/** What to tell the person after a failed liveness attempt. */
fun LivenessFailure.label(): String = when (this) {
    LivenessFailure.TOO_FEW_FRAMES -> "Terlalu sedikit gambar; ulangi"
    LivenessFailure.TIMESTAMPS_NOT_INCREASING -> "Urutan gambar kamera tidak sah"
    LivenessFailure.FRAMES_BEFORE_CHALLENGE -> "Gambar dari sebelum tantangan"
    LivenessFailure.FRAME_GAP -> "Kamera tersendat; ulangi"
    LivenessFailure.MULTIPLE_FACES -> "Hanya satu orang di depan kamera"
    LivenessFailure.TOO_MANY_FRAMES_WITHOUT_FACE -> "Wajah sering tidak terlihat"
    LivenessFailure.MISSING_LANDMARKS -> "Wajah tidak terlihat jelas"
    LivenessFailure.FACE_TOO_SMALL -> "Dekatkan wajah ke kamera"
    LivenessFailure.STATIC_SEQUENCE -> "Gambar tidak bergerak"
    LivenessFailure.TOO_FEW_EMBEDDINGS -> "Wajah terlalu jarang terlihat jelas"
    LivenessFailure.EMBEDDING_MISMATCH -> "Orang di depan kamera berganti"
    LivenessFailure.WRONG_MOVEMENT -> "Gerakan salah"
    LivenessFailure.EXTRA_MOVEMENT -> "Gerakan tambahan setelah selesai"
    LivenessFailure.SESSION_EXPIRED -> "Waktu habis; ulangi"
    LivenessFailure.STEP_NOT_COMPLETED -> "Gerakan belum dilakukan"
    LivenessFailure.STEP_TOO_LATE -> "Gerakan terlambat"
    LivenessFailure.PLANAR_MOTION -> "Gerakan seperti foto datar"
    LivenessFailure.PLANARITY_UNDETERMINED -> "Gerakan kurang jelas; tolehkan lebih jauh"
    LivenessFailure.FLAT_NOSE -> "Wajah tampak datar seperti foto"
    LivenessFailure.PASSIVE_SPOOF -> "Terdeteksi sebagai foto atau layar"
    LivenessFailure.TOO_BLURRY -> "Gambar buram; perbaiki pencahayaan"
    LivenessFailure.UNKNOWN -> "Alasan lain"
    else -> "Alasan lain ($name)"
}

fun PermitStatus.label(): String = when (this) {
    PermitStatus.SUBMITTED -> "Diajukan"
    PermitStatus.IN_REVIEW -> "Sedang diperiksa"
    PermitStatus.NEEDS_INFO -> "Perlu kelengkapan"
    PermitStatus.AWAITING_PAYMENT -> "Menunggu pembayaran"
    PermitStatus.ISSUED -> "Terbit"
    PermitStatus.REJECTED -> "Ditolak"
    PermitStatus.WITHDRAWN -> "Ditarik pemohon"
    else -> "Status lain ($name)"
}

fun SyncPhase.label(): String = when (this) {
    SyncPhase.RECORDS -> "kirim catatan"
    SyncPhase.BLOBS -> "kirim foto"
    SyncPhase.PULL -> "ambil data"
}
