@file:Suppress("unused", "UNUSED_PARAMETER")
package android.net
class Uri
