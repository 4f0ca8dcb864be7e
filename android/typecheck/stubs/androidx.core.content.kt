@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.core.content
object FileProvider { @JvmStatic fun getUriForFile(c: android.content.Context, authority: String, f: java.io.File): android.net.Uri = TODO() }
