@file:Suppress("unused", "UNUSED_PARAMETER")
package kotlinx.coroutines.tasks
suspend fun <T> com.google.android.gms.tasks.Task<T>.await(): T = TODO()
