@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.foundation.layout
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.Dp
object Arrangement { interface Vertical; interface Horizontal; interface HorizontalOrVertical : Vertical, Horizontal
    val Top: Vertical = TODO(); val Start: Horizontal = TODO(); fun spacedBy(d: Dp): HorizontalOrVertical = TODO() }
interface ColumnScope
interface RowScope { fun Modifier.weight(w: Float): Modifier = this }
interface BoxScope
fun Column(modifier: Modifier = Modifier, verticalArrangement: Arrangement.Vertical = Arrangement.Top, content: ColumnScope.() -> Unit) {}
fun Row(modifier: Modifier = Modifier, horizontalArrangement: Arrangement.Horizontal = Arrangement.Start, verticalAlignment: Alignment.Vertical? = null, content: RowScope.() -> Unit) {}
fun Box(modifier: Modifier = Modifier, content: BoxScope.() -> Unit = {}) {}
fun Spacer(modifier: Modifier) {}
fun Modifier.padding(all: Dp): Modifier = this
fun Modifier.padding(horizontal: Dp = Dp(0f), vertical: Dp = Dp(0f)): Modifier = this
fun Modifier.padding(start: Dp = Dp(0f), top: Dp = Dp(0f), end: Dp = Dp(0f), bottom: Dp = Dp(0f)): Modifier = this
fun Modifier.fillMaxWidth(): Modifier = this
fun Modifier.fillMaxSize(): Modifier = this
fun Modifier.aspectRatio(r: Float): Modifier = this
