package id.go.siap.app.platform

import android.annotation.SuppressLint
import android.content.Context
import android.location.Location
import android.os.Build
import com.google.android.gms.location.LocationServices
import com.google.android.gms.location.Priority
import com.google.android.gms.tasks.CancellationTokenSource
import id.go.siap.core.LocationFix
import java.time.Instant
import kotlinx.coroutines.tasks.await

/** One fresh fused-location fix as the core's [LocationFix], mock flag included (the core decides). */
class Locations(context: Context) {
    private val client = LocationServices.getFusedLocationProviderClient(context)

    /** Needs ACCESS_FINE_LOCATION (MainActivity asks). Null when no fix could be had. */
    @SuppressLint("MissingPermission")
    suspend fun current(): LocationFix? {
        val cancel = CancellationTokenSource()
        return try {
            client.getCurrentLocation(Priority.PRIORITY_HIGH_ACCURACY, cancel.token).await()?.toFix()
        } finally {
            cancel.cancel()
        }
    }
}

fun Location.toFix() = LocationFix(
    latitude = latitude,
    longitude = longitude,
    accuracyM = if (hasAccuracy()) accuracy.toDouble() else null,
    time = Instant.ofEpochMilli(time), // the fix's own (GNSS) time, not the time it was delivered
    provider = provider ?: "fused",
    isMock = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) isMock else @Suppress("DEPRECATION") isFromMockProvider,
)
