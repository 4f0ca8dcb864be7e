package id.go.siap.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import id.go.siap.core.DeviceStatus
import id.go.siap.core.SiapCore
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/** Device id, records waiting to be sent, and the two network calls: register (once) and sync. */
@Composable
fun DeviceBar(core: SiapCore) {
    var status by remember { mutableStateOf<DeviceStatus?>(null) }
    var code by rememberSaveable { mutableStateOf("") }
    val action = rememberAction()
    suspend fun refresh() {
        status = withContext(Dispatchers.IO) { runCatching { core.status() }.getOrNull() }
    }
    LaunchedEffect(core, action.busy) { if (!action.busy) refresh() }

    Column(Modifier.padding(horizontal = 12.dp, vertical = 6.dp)) {
        status?.let {
            Text(
                "Perangkat ${it.deviceId.take(12)} · ${it.pendingRecords} belum terkirim" +
                    (if (it.registered) "" else " · belum terdaftar") +
                    (if (it.faceReady) "" else " · model wajah tidak ada"),
                style = MaterialTheme.typography.bodySmall,
            )
        }
        Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            // SiapCore.sync(): suspend, runs on the core's tokio runtime; safe to retry and to cancel.
            Button(enabled = !action.busy, onClick = {
                action.launch {
                    val s = core.sync()
                    "Terkirim ${s.acknowledged}, diterima ${s.pulled}, sisa ${s.pending}" +
                        (if (s.skipped > 0u) ", ${s.skipped} data tidak dapat dipakai" else "") +
                        if (s.complete) "" else " (belum lengkap: ${s.problems.joinToString { "${it.phase.label()}: ${describe(it.error)}" }})"
                }
            }) { Text("Sinkron") }
            OutlinedTextField(
                value = code,
                onValueChange = { code = it },
                label = { Text("Kode pendaftaran") },
                singleLine = true,
                modifier = Modifier.weight(1f),
            )
            // SiapCore.register(): suspend; the one-time code comes from the city's administrator.
            OutlinedButton(enabled = !action.busy && code.isNotBlank(), onClick = {
                action.launch { "Terdaftar sebagai ${core.register(code.trim())}".also { code = "" } }
            }) { Text("Daftar") }
        }
        action.message?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
    }
}
