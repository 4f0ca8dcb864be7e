@file:Suppress("unused", "UNUSED_PARAMETER")
package android.annotation
annotation class SuppressLint(vararg val value: String)
