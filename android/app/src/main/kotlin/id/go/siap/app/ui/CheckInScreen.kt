package id.go.siap.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import id.go.siap.app.SiapApp
import id.go.siap.app.platform.FrameGrabber
import id.go.siap.core.CameraImage
import id.go.siap.core.CheckDirection
import id.go.siap.core.CheckResult
import id.go.siap.core.FaceInput
import id.go.siap.core.SiapCore
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.withContext

/**
 * An employee's own phone: the core's liveness challenge (head movements on camera) and a location fix go
 * to `check` (the core reads the clock itself), and the screen shows what the core decided. Also face
 * enrollment (3 frames) and deletion. Leaving the screen cancels whatever is running.
 */
@Composable
fun CheckInScreen(core: SiapCore, app: SiapApp) {
    val grabber = remember { FrameGrabber() }
    val action = rememberAction()
    var employeeId by rememberSaveable { mutableStateOf("") }
    var direction by rememberSaveable { mutableStateOf(CheckDirection.IN) }
    var result by remember { mutableStateOf<CheckResult?>(null) }
    var prompt by remember { mutableStateOf<String?>(null) }

    Column(Modifier.padding(12.dp).verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        CameraPreview(grabber, Modifier.fillMaxWidth().aspectRatio(3f / 4f))
        prompt?.let { Text(it) }
        OutlinedTextField(employeeId, { employeeId = it }, label = { Text("NIP") }, singleLine = true, modifier = Modifier.fillMaxWidth())
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            FilterChip(direction == CheckDirection.IN, { direction = CheckDirection.IN }, label = { Text("Masuk") })
            FilterChip(direction == CheckDirection.OUT, { direction = CheckDirection.OUT }, label = { Text("Pulang") })
        }
        Button(
            enabled = !action.busy && employeeId.isNotBlank(),
            modifier = Modifier.fillMaxWidth(),
            onClick = {
                action.launch {
                    result = null
                    val (id, dir) = employeeId.trim() to direction
                    val fix = app.locations.current() ?: return@launch "Lokasi belum tersedia, coba lagi"
                    // The core's head-movement challenge, then the check on the session's own frames.
                    val session = runLiveness(core, app, grabber, id) { prompt = it }
                    // suspend: the face work runs on the core's worker pool, not on this thread.
                    result = session.use { core.check(id, dir, FaceInput.Liveness(it), fix) }
                    "Tersimpan"
                }
            },
        ) { Text(if (direction == CheckDirection.IN) "Absen masuk" else "Absen pulang") }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(enabled = !action.busy && employeeId.isNotBlank(), onClick = {
                action.launch {
                    val id = employeeId.trim()
                    val frames = mutableListOf<CameraImage>()
                    repeat(3) { frames += grabber.next(); delay(400) }
                    // Enrollment answers a liveness challenge too (a photo held up is refused).
                    val session = runLiveness(core, app, grabber, id, enrollment = true) { prompt = it }
                    val r = session.use { core.enrollFace(id, frames, it) } // suspend, off this thread
                    if (r.refused.isNotEmpty()) "Pendaftaran wajah ditolak: ${r.refused.joinToString()}"
                    else "Wajah tersimpan, menunggu persetujuan BKPSDM (sinkronkan setelah disetujui)"
                }
            }) { Text("Daftarkan wajah") }
            OutlinedButton(enabled = !action.busy && employeeId.isNotBlank(), onClick = {
                action.launch {
                    val had = withContext(Dispatchers.IO) { core.deleteFace(employeeId.trim()) }
                    if (had) "Data wajah dihapus" else "Tidak ada data wajah"
                }
            }) { Text("Hapus data wajah") }
        }
        action.message?.let { Text(it) }
        result?.let { CheckResultView(it) }
    }
}
