@file:Suppress("unused", "UNUSED_PARAMETER")
package android.provider
object Settings {
    object Global { const val BOOT_COUNT = "boot_count"; @JvmStatic fun getInt(r: android.content.ContentResolver, name: String): Int = 0 }
    class SettingNotFoundException(msg: String) : Exception(msg)
}
