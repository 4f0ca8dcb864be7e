@file:Suppress("unused", "UNUSED_PARAMETER")
package android.graphics
object ImageFormat { const val YUV_420_888 = 35 }
