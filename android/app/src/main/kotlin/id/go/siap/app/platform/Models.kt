package id.go.siap.app.platform

import android.content.Context
import java.io.File

/**
 * Copies the face models from the APK's assets (put there by build-rust.sh) to app storage, where the
 * core can open them by path. Runs on every start but only copies missing or changed-size files; the
 * core checks every model's SHA-256 itself and refuses a wrong one.
 */
object Models {
    private const val ASSET_DIR = "models"

    /** The models directory, or null when the APK carries no models (face checks then report NotReady). */
    fun install(context: Context): File? {
        val names = context.assets.list(ASSET_DIR)?.filter { it.endsWith(".nnef.tar") }.orEmpty()
        if (names.isEmpty()) return null
        val dir = File(context.noBackupFilesDir, ASSET_DIR).apply { mkdirs() }
        for (name in names) {
            val target = File(dir, name)
            val size = context.assets.openFd("$ASSET_DIR/$name").use { it.length }
            if (target.length() == size) continue
            val tmp = File(dir, "$name.tmp")
            context.assets.open("$ASSET_DIR/$name").use { input ->
                tmp.outputStream().use { input.copyTo(it) }
            }
            check(tmp.renameTo(target)) { "could not install model $name" }
        }
        return dir
    }
}
