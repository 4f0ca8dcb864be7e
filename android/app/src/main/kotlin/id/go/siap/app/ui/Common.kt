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

/**
 * One button's work: runs once at a time, keeps a busy flag and the last message for the screen. The
 * scope is the composable's [rememberCoroutineScope]: leaving the screen cancels the coroutine, and a
 * cancelled `suspend` core call drops its Rust future, which stops the work at its next safe point (a
 * check cancelled before its write records nothing).
 */
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
    is SiapException.ModelMissing -> "Model wajah tidak ada: ${e.reason}"
    is SiapException.NotReady -> "Belum siap: ${e.reason}"
    is SiapException.BadInput -> "Masukan ditolak: ${e.reason}"
    is SiapException.NotFound -> "Tidak ditemukan: ${e.what}"
    is SiapException.Network -> "Tidak terhubung ke server: ${e.reason}"
    is SiapException.ServerRejected -> "Server menolak${e.status?.let { " (HTTP $it)" } ?: ""}: ${e.reason}"
    is SiapException.Storage -> "Penyimpanan gagal: ${e.reason}"
    is SiapException.Signer -> "Kunci perangkat tidak dapat menandatangani: ${e.reason}"
    is SiapException.Clock -> "Jam perangkat tidak terbaca: ${e.reason}"
    is SiapException.Crypto -> "Data tersegel tidak dapat dibuka: ${e.reason}"
    is SiapException.Cancelled -> "Dibatalkan"
    is SiapException.Internal -> "Kesalahan internal: ${e.reason}"
    // SiapError is non-exhaustive in Rust: a variant added later still gets its name and message.
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
        r.reasons.forEach { Text("• ${it.label()}") }
        if (r.flags.isNotEmpty()) Text("Tanda lokasi: ${r.flags.joinToString { it.label() }}")
        r.siteId?.let { Text("Lokasi kerja: $it") }
        r.distanceToEdgeM?.let { Text(distanceText(it)) }
        r.similarity?.let { Text("Kemiripan wajah: ${"%.2f".format(it)}") }
        r.livenessPassed?.let { Text(if (it) "Uji gerakan kepala: lulus" else "Uji gerakan kepala: gagal") }
        r.livenessFailures.forEach { Text("  – ${it.label()}") }
        if (r.clockSkew) Text("Jam perangkat tidak cocok dengan server")
        Text("Catatan #${r.seq}", style = MaterialTheme.typography.bodySmall)
    }
}

/** The core's signed distance to a fence or an asset's circle (negative: inside). */
fun distanceText(m: Double): String =
    if (m <= 0) "Di dalam area (${"%.0f".format(-m)} m dari batas)" else "${"%.0f".format(m)} m di luar area"
