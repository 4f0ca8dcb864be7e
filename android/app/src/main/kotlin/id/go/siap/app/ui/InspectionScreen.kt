package id.go.siap.app.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
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
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.core.content.FileProvider
import id.go.siap.app.SiapApp
import id.go.siap.core.AssetCondition
import id.go.siap.core.SiapCore
import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

private val conditionLabels = mapOf(
    AssetCondition.GOOD to "Baik",
    AssetCondition.MINOR_DAMAGE to "Rusak ringan",
    AssetCondition.MAJOR_DAMAGE to "Rusak berat",
    AssetCondition.LOST to "Hilang",
)

/**
 * Asset inspection: asset id, condition, notes and photos. Photos are the camera app's JPEG bytes,
 * passed to the core unchanged; the core records them with the fix and clock.
 */
@Composable
fun InspectionScreen(core: SiapCore, app: SiapApp) {
    val context = LocalContext.current
    val scope = rememberCoroutineScope()
    val action = rememberAction()
    var assetId by rememberSaveable { mutableStateOf("") }
    var condition by rememberSaveable { mutableStateOf(AssetCondition.GOOD) }
    var notes by rememberSaveable { mutableStateOf("") }
    val photos = remember { mutableStateListOf<ByteArray>() }
    var pendingPath by rememberSaveable { mutableStateOf<String?>(null) }

    val takePicture = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        val file = pendingPath?.let(::File) ?: return@rememberLauncherForActivityResult
        pendingPath = null
        scope.launch {
            val bytes = withContext(Dispatchers.IO) { if (saved) file.readBytes() else null.also { file.delete() } }
            if (bytes != null) photos += bytes
            withContext(Dispatchers.IO) { file.delete() }
        }
    }

    Column(Modifier.padding(12.dp).verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        // Asset picker: a typed or scanned asset tag; the core knows the asset list after sync.
        OutlinedTextField(assetId, { assetId = it }, label = { Text("Kode aset") }, singleLine = true, modifier = Modifier.fillMaxWidth())
        Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
            AssetCondition.entries.forEach { c ->
                FilterChip(condition == c, { condition = c }, label = { Text(conditionLabels.getValue(c)) })
            }
        }
        OutlinedTextField(notes, { notes = it }, label = { Text("Catatan") }, minLines = 3, modifier = Modifier.fillMaxWidth())
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(enabled = !action.busy, onClick = {
                val file = File(context.cacheDir, "inspection/${System.nanoTime()}.jpg").apply { parentFile?.mkdirs() }
                pendingPath = file.path
                takePicture.launch(FileProvider.getUriForFile(context, "${context.packageName}.photos", file))
            }) { Text("Ambil foto") }
            Text("${photos.size} foto")
        }
        Button(enabled = !action.busy && assetId.isNotBlank(), modifier = Modifier.fillMaxWidth(), onClick = {
            action.launch {
                val fix = app.locations.current() ?: return@launch "Lokasi belum tersedia, coba lagi"
                val clock = app.clock.now()
                val seq = withContext(Dispatchers.IO) {
                    core.inspect(assetId.trim(), condition, notes, photos.toList(), fix, clock)
                }
                photos.clear()
                notes = ""
                "Inspeksi tersimpan (#$seq)"
            }
        }) { Text("Simpan inspeksi") }
        action.message?.let { Text(it) }
    }
}
