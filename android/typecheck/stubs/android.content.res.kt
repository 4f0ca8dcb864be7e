@file:Suppress("unused", "UNUSED_PARAMETER")
package android.content.res
class AssetFileDescriptor : java.io.Closeable { val length: Long get() = 0; override fun close() {} }
class AssetManager {
    fun list(path: String): Array<String>? = null
    fun openFd(path: String): AssetFileDescriptor = TODO()
    fun open(path: String): java.io.InputStream = TODO()
}
