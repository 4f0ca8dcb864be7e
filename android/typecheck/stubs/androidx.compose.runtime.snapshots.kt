@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.runtime.snapshots
class SnapshotStateList<T> private constructor(private val l: ArrayList<T>) : MutableList<T> by l
