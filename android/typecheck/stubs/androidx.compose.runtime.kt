@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.runtime

import kotlin.reflect.KProperty
import kotlinx.coroutines.CoroutineScope

annotation class Composable
interface State<out T> { val value: T }
interface MutableState<T> : State<T> { override var value: T }
fun <T> mutableStateOf(value: T): MutableState<T> = TODO()
operator fun <T> State<T>.getValue(thisObj: Any?, property: KProperty<*>): T = value
operator fun <T> MutableState<T>.setValue(thisObj: Any?, property: KProperty<*>, value: T) { this.value = value }
fun <T> remember(calculation: () -> T): T = calculation()
fun <T> remember(key1: Any?, calculation: () -> T): T = calculation()
fun rememberCoroutineScope(): CoroutineScope = TODO()
fun LaunchedEffect(key1: Any?, block: suspend CoroutineScope.() -> Unit) {}
fun LaunchedEffect(key1: Any?, key2: Any?, block: suspend CoroutineScope.() -> Unit) {}
interface DisposableEffectResult
class DisposableEffectScope { inline fun onDispose(crossinline onDisposeEffect: () -> Unit): DisposableEffectResult = TODO() }
fun DisposableEffect(key1: Any?, effect: DisposableEffectScope.() -> DisposableEffectResult) {}
fun DisposableEffect(key1: Any?, key2: Any?, effect: DisposableEffectScope.() -> DisposableEffectResult) {}
interface ProduceStateScope<T> : MutableState<T>, CoroutineScope
fun <T> produceState(initialValue: T, producer: suspend ProduceStateScope<T>.() -> Unit): State<T> = TODO()
fun <T> produceState(initialValue: T, key1: Any?, producer: suspend ProduceStateScope<T>.() -> Unit): State<T> = TODO()
fun <T> mutableStateListOf(vararg elements: T): androidx.compose.runtime.snapshots.SnapshotStateList<T> = TODO()
fun <T> Collection<T>.toMutableStateList(): androidx.compose.runtime.snapshots.SnapshotStateList<T> = TODO()
