package id.go.siap.app

import android.Manifest
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import id.go.siap.app.ui.CheckInScreen
import id.go.siap.app.ui.DeviceBar
import id.go.siap.app.ui.InspectionScreen
import id.go.siap.app.ui.KioskScreen
import id.go.siap.app.ui.PermitsScreen
import id.go.siap.app.ui.describe
import id.go.siap.core.SiapCore

private enum class Tab(val label: String) { CheckIn("Absen"), Inspection("Inspeksi"), Permits("Izin"), Kiosk("Kios") }

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as SiapApp
        setContent {
            MaterialTheme {
                val permissions = rememberLauncherForActivityResult(
                    ActivityResultContracts.RequestMultiplePermissions(),
                ) { /* screens re-check on use; the core rejects a check-in without a fix */ }
                LaunchedEffect(Unit) {
                    permissions.launch(arrayOf(Manifest.permission.CAMERA, Manifest.permission.ACCESS_FINE_LOCATION))
                }
                val core by produceState<Result<SiapCore>?>(null) { value = runCatching { app.core.await() } }
                when (val c = core) {
                    null -> Centered("Membuka…")
                    else -> c.fold(
                        onSuccess = { Shell(it, app) },
                        onFailure = { Centered("SIAP tidak dapat dibuka: ${describe(it)}") },
                    )
                }
            }
        }
    }
}

@Composable
private fun Shell(core: SiapCore, app: SiapApp) {
    var tab by rememberSaveable { mutableStateOf(Tab.CheckIn) }
    Scaffold(
        bottomBar = {
            NavigationBar {
                Tab.entries.forEach { t ->
                    NavigationBarItem(selected = tab == t, onClick = { tab = t }, icon = {}, label = { Text(t.label) })
                }
            }
        },
    ) { padding ->
        Column(Modifier.padding(padding).fillMaxSize()) {
            if (tab != Tab.Kiosk) DeviceBar(core)
            when (tab) {
                Tab.CheckIn -> CheckInScreen(core, app)
                Tab.Inspection -> InspectionScreen(core, app)
                Tab.Permits -> PermitsScreen(core)
                Tab.Kiosk -> KioskScreen(core, app)
            }
        }
    }
}

@Composable
private fun Centered(text: String) {
    Box(Modifier.fillMaxSize().padding(24.dp)) { Text(text) }
}
