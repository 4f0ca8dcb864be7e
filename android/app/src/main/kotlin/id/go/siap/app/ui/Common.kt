package id.go.siap.app.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import id.go.siap.core.CheckResult
import id.go.siap.core.SiapException
import kotlin.coroutines.cancellation.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.launch

/** One button's work: runs once at a time, keeps a busy flag and the last message for the screen. */
class Action(private val scope: CoroutineScope) {
    var busy by mutableStateOf(false)
        private set
    var message by mutableStateOf<String?>(null)

    fun launch(block: suspend () -> String) {
        if (busy) return
        busy = true
        scope.launch {
            message = try {
                block()
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                describe(e)
            } finally {
                busy = false
            }
        }
    }
}

@Composable
fun rememberAction(): Action {
    val scope = rememberCoroutineScope()
    return remember(scope) { Action(scope) }
}

/** Words for an error; the core's typed errors carry no names, coordinates or biometrics. */
fun describe(e: Throwable): String = when (e) {
    is SiapException.NotEnrolled -> "Wajah belum didaftarkan"
    is SiapException.ModelMissing -> "Model wajah tidak ada: ${e.message}"
    is SiapException.NotReady -> "Belum siap: ${e.message}"
    is SiapException.BadInput -> "Masukan ditolak: ${e.message}"
    is SiapException.NotFound -> "Tidak ditemukan: ${e.message}"
    is SiapException.Network -> "Tidak terhubung ke server: ${e.message}"
    is SiapException.ServerRejected -> "Server menolak: ${e.message}"
    is SiapException -> "${e.javaClass.simpleName}: ${e.message}"
    else -> e.message ?: e.javaClass.simpleName
}

/** What the core decided about a check-in, as it said it. */
@Composable
fun CheckResultView(r: CheckResult) {
    Column {
        Text(
            if (r.accepted) "DITERIMA" else "DITOLAK",
            style = MaterialTheme.typography.headlineMedium,
            color = if (r.accepted) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.error,
        )
        if (r.reasons.isNotEmpty()) Text("Alasan: ${r.reasons.joinToString()}")
        if (r.flags.isNotEmpty()) Text("Tanda: ${r.flags.joinToString()}")
        r.siteId?.let { Text("Lokasi kerja: $it") }
        r.distanceToEdgeM?.let { Text("Jarak ke batas: ${"%.0f".format(it)} m") }
        r.similarity?.let { Text("Kemiripan wajah: ${"%.2f".format(it)}") }
        if (r.clockSkew) Text("Jam perangkat tidak cocok dengan server")
        Text("Catatan #${r.seq}", style = MaterialTheme.typography.bodySmall)
    }
}
