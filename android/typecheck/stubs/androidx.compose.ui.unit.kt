@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.ui.unit
class Dp(val v: Float)
val Int.dp: Dp get() = Dp(toFloat())
