@file:Suppress("unused", "UNUSED_PARAMETER")
package android.util
object Base64 { const val NO_WRAP = 2; @JvmStatic fun decode(s: String, f: Int): ByteArray = ByteArray(0); @JvmStatic fun encodeToString(b: ByteArray, f: Int): String = "" }
class Size(w: Int, h: Int)
