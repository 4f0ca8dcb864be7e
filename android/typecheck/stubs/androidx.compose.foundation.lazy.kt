@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.foundation.lazy
import androidx.compose.ui.Modifier
interface LazyItemScope
interface LazyListScope
fun LazyColumn(modifier: Modifier = Modifier, content: LazyListScope.() -> Unit) {}
fun <T> LazyListScope.items(items: List<T>, key: ((item: T) -> Any)? = null, itemContent: LazyItemScope.(item: T) -> Unit) {}
