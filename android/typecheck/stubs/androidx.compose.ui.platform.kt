@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.ui.platform
object LocalContext { val current: android.content.Context get() = TODO() }
object LocalView { val current: android.view.View get() = TODO() }
