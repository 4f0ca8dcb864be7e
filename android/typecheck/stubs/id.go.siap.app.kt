@file:Suppress("unused", "UNUSED_PARAMETER")
package id.go.siap.app
object BuildConfig { const val SIAP_SERVER_URL = ""; const val SIAP_SERVER_KEY_HEX = "" }
