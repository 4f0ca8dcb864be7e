@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.foundation
import androidx.compose.ui.Modifier
class ScrollState
fun rememberScrollState(): ScrollState = ScrollState()
fun Modifier.verticalScroll(s: ScrollState): Modifier = this
fun Modifier.clickable(onClick: () -> Unit): Modifier = this
