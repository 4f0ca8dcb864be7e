@file:Suppress("unused", "UNUSED_PARAMETER")
package android.content.pm
class PackageManager { fun hasSystemFeature(f: String): Boolean = false; companion object { const val FEATURE_STRONGBOX_KEYSTORE = "x" } }
