@file:Suppress("unused", "UNUSED_PARAMETER")
package com.google.android.gms.location
import com.google.android.gms.tasks.CancellationToken
import com.google.android.gms.tasks.Task
class FusedLocationProviderClient { fun getCurrentLocation(p: Int, t: CancellationToken): Task<android.location.Location?> = TODO() }
object LocationServices { @JvmStatic fun getFusedLocationProviderClient(c: android.content.Context): FusedLocationProviderClient = TODO() }
object Priority { const val PRIORITY_HIGH_ACCURACY = 100 }
