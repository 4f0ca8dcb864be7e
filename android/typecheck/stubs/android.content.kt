@file:Suppress("unused", "UNUSED_PARAMETER")
package android.content

import java.io.File

open class ContentResolver
interface SharedPreferences {
    fun getString(key: String, def: String?): String?
    fun edit(): Editor
    interface Editor { fun putString(k: String, v: String?): Editor; fun commit(): Boolean }
}
abstract class Context {
    open val packageManager: android.content.pm.PackageManager get() = TODO()
    open val contentResolver: ContentResolver get() = TODO()
    open val noBackupFilesDir: File get() = TODO()
    open val cacheDir: File get() = TODO()
    open val packageName: String get() = TODO()
    open val assets: android.content.res.AssetManager get() = TODO()
    open fun getSharedPreferences(name: String, mode: Int): SharedPreferences = TODO()
    companion object { const val MODE_PRIVATE = 0 }
}
