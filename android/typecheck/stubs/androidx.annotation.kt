@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.annotation
annotation class RequiresApi(val value: Int = 1, val api: Int = 1)
