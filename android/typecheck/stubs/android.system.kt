@file:Suppress("unused", "UNUSED_PARAMETER")
package android.system
object SystemCleaner { @JvmStatic fun cleaner(): java.lang.ref.Cleaner = TODO() }
