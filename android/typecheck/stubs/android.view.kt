@file:Suppress("unused", "UNUSED_PARAMETER")
package android.view
open class View { var keepScreenOn: Boolean = false }
