@file:Suppress("unused", "UNUSED_PARAMETER")
package android.location
class Location {
    val latitude: Double = 0.0; val longitude: Double = 0.0; val accuracy: Float = 0f; val time: Long = 0
    val provider: String? = null; val isMock: Boolean = false
    @Deprecated("x") val isFromMockProvider: Boolean = false
    fun hasAccuracy(): Boolean = true
}
