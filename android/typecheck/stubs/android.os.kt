@file:Suppress("unused", "UNUSED_PARAMETER")
package android.os
object Build {
    object VERSION { @JvmField var SDK_INT: Int = 0 }
    object VERSION_CODES { const val P = 28; const val S = 31; const val UPSIDE_DOWN_CAKE = 34 }
}
object SystemClock { @JvmStatic fun elapsedRealtime(): Long = 0 }
