package id.go.siap.app

import android.app.Application
import id.go.siap.app.platform.DeviceClock
import id.go.siap.app.platform.KeystoreSigner
import id.go.siap.app.platform.Locations
import id.go.siap.app.platform.MasterKeyStore
import id.go.siap.app.platform.Models
import id.go.siap.core.CoreConfig
import id.go.siap.core.SiapCore
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async

/**
 * Holds the one [SiapCore] of this process, opened off the main thread on first use: master key from
 * the Keystore, models copied out of the APK, the hardware signer and the monotonic clock.
 */
class SiapApp : Application() {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)

    val clock by lazy { DeviceClock(contentResolver) }
    val locations by lazy { Locations(this) }

    /** Completes with the open core, or with the error that prevented opening it (shown by the UI). */
    val core: Deferred<SiapCore> by lazy {
        scope.async {
            val config = CoreConfig(
                dataDir = File(noBackupFilesDir, "siap").apply { mkdirs() }.path,
                modelsDir = Models.install(this@SiapApp)?.path,
                serverUrl = BuildConfig.SIAP_SERVER_URL.ifEmpty { null },
                serverPublicKey = BuildConfig.SIAP_SERVER_KEY_HEX.ifEmpty { null }?.hexToBytes(),
                masterKey = MasterKeyStore(this@SiapApp).load(),
            )
            SiapCore.open(config, KeystoreSigner(this@SiapApp), clock)
        }
    }
}

private fun String.hexToBytes(): ByteArray = chunked(2).map { it.toInt(16).toByte() }.toByteArray()
