package id.go.siap.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalView
import androidx.compose.ui.unit.dp
import id.go.siap.app.SiapApp
import id.go.siap.app.platform.FrameGrabber
import id.go.siap.core.CheckDirection
import id.go.siap.core.CheckResult
import id.go.siap.core.FaceInput
import id.go.siap.core.SiapCore
import kotlinx.coroutines.delay

/**
 * A shared device at an office entrance: screen kept on, front camera always running, the screen
 * resets a few seconds after each attempt.
 *
 * "Kenali wajah" asks the core who is in front of the camera (1:N over the faces enrolled on this
 * device) and fills the id; the id can also be typed (or come from a card reader). The check itself is
 * the same liveness challenge and `check` as on a personal phone.
 */
@Composable
fun KioskScreen(core: SiapCore, app: SiapApp) {
    val view = LocalView.current
    DisposableEffect(view) {
        view.keepScreenOn = true
        onDispose { view.keepScreenOn = false }
    }
    val grabber = remember { FrameGrabber() }
    val action = rememberAction()
    var employeeId by remember { mutableStateOf("") }
    var result by remember { mutableStateOf<CheckResult?>(null) }
    var prompt by remember { mutableStateOf<String?>(null) }

    LaunchedEffect(result, action.message) {
        if (result != null || action.message != null) {
            delay(5_000)
            result = null
            action.message = null
            employeeId = ""
        }
    }

    fun check(direction: CheckDirection) = action.launch {
        val id = employeeId.trim()
        val fix = app.locations.current() ?: return@launch "Lokasi belum tersedia"
        val session = runLiveness(core, app, grabber, id) { prompt = it }
        result = session.use { core.check(id, direction, FaceInput.Liveness(it), fix) } // suspend
        ""
    }

    // 1:N: who is in front of the kiosk? Fills the NIP when exactly one enrolled face is recognised.
    fun recognise() = action.launch {
        val frame = grabber.next()
        val known = core.identify(frame).mapNotNull { it.employeeId } // suspend; unknown faces have no id
        if (known.size == 1) {
            employeeId = known[0]
            ""
        } else {
            "Wajah tidak dikenali, ketik NIP"
        }
    }

    Column(Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        CameraPreview(grabber, Modifier.fillMaxWidth().aspectRatio(4f / 3f))
        prompt?.let { Text(it) }
        OutlinedButton(enabled = !action.busy, onClick = { recognise() }) { Text("Kenali wajah") }
        OutlinedTextField(employeeId, { employeeId = it }, label = { Text("NIP") }, singleLine = true, modifier = Modifier.fillMaxWidth())
        Row(horizontalArrangement = Arrangement.spacedBy(12.dp)) {
            val ready = !action.busy && employeeId.isNotBlank()
            Button(enabled = ready, onClick = { check(CheckDirection.IN) }, modifier = Modifier.weight(1f)) {
                Text("MASUK", style = MaterialTheme.typography.headlineSmall)
            }
            Button(enabled = ready, onClick = { check(CheckDirection.OUT) }, modifier = Modifier.weight(1f)) {
                Text("PULANG", style = MaterialTheme.typography.headlineSmall)
            }
        }
        result?.let { CheckResultView(it) }
        action.message?.takeIf { it.isNotEmpty() }?.let { Text(it) }
    }
}
