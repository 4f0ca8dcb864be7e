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
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateListOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.listSaver
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.runtime.snapshots.SnapshotStateList
import androidx.compose.runtime.toMutableStateList
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.core.content.FileProvider
import id.go.siap.app.SiapApp
import id.go.siap.core.AssetCondition
import id.go.siap.core.Photo
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
 * Asset inspection: asset id, condition, notes and photos. The camera app writes each photo to a file in
 * the app's cache (`cache/inspection/`, shared through the FileProvider); the core gets the paths
 * (`Photo.File`) and reads the files itself, so no photo is copied through the FFI. It records them with
 * the fix and its own clock; the files are deleted once the inspection is saved. Leaving the screen
 * cancels a save in progress.
 */
@Composable
fun InspectionScreen(core: SiapCore, app: SiapApp) {
    val context = LocalContext.current
    val scope = rememberCoroutineScope()
    val action = rememberAction()
    val photoDir = File(context.cacheDir, "inspection")
    var assetId by rememberSaveable { mutableStateOf("") }
    var condition by rememberSaveable { mutableStateOf(AssetCondition.GOOD) }
    var notes by rememberSaveable { mutableStateOf("") }
    // Paths of the photos taken so far (kept across recreation: the camera app may outlive this activity).
    val photos: SnapshotStateList<String> = rememberSaveable(
        saver = listSaver<SnapshotStateList<String>, String>(save = { it.toList() }, restore = { it.toMutableStateList() }),
    ) { mutableStateListOf() }
    var pendingPath by rememberSaveable { mutableStateOf<String?>(null) }

    // Photos of an inspection abandoned an hour ago or more (screen left before saving) are not kept.
    LaunchedEffect(Unit) {
        val keep = photos.toSet() + listOfNotNull(pendingPath)
        val before = System.currentTimeMillis() - 3_600_000
        withContext(Dispatchers.IO) {
            photoDir.listFiles()?.filter { it.path !in keep && it.lastModified() < before }?.forEach { it.delete() }
        }
    }

    val takePicture = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { saved ->
        val path = pendingPath ?: return@rememberLauncherForActivityResult
        pendingPath = null
        scope.launch {
            val ok = withContext(Dispatchers.IO) {
                val file = File(path)
                (saved && file.length() > 0).also { if (!it) file.delete() }
            }
            if (ok) photos += path
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
                val file = File(photoDir, "${System.nanoTime()}.jpg").apply { parentFile?.mkdirs() }
                pendingPath = file.path
                takePicture.launch(FileProvider.getUriForFile(context, "${context.packageName}.photos", file))
            }) { Text("Ambil foto") }
            Text("${photos.size} foto")
        }
        Button(enabled = !action.busy && assetId.isNotBlank(), modifier = Modifier.fillMaxWidth(), onClick = {
            action.launch {
                val fix = app.locations.current() ?: return@launch "Lokasi belum tersedia, coba lagi"
                val taken = photos.toList()
                // suspend: the core reads and stores the photos on its worker pool.
                val r = core.inspect(assetId.trim(), condition, notes, taken.map { Photo.File(it) }, fix)
                // Stored by the core: the camera files are no longer needed.
                withContext(Dispatchers.IO) { taken.forEach { File(it).delete() } }
                photos.removeAll(taken)
                notes = ""
                buildString {
                    append("Inspeksi tersimpan (#${r.seq})")
                    r.distanceToEdgeM?.let { append(" · ${distanceText(it)}") }
                    if (r.flags.isNotEmpty()) append(" · tanda lokasi: ${r.flags.joinToString { it.label() }}")
                }
            }
        }) { Text("Simpan inspeksi") }
        action.message?.let { Text(it) }
    }
}
