package id.go.siap.app.platform

import android.content.ContentResolver
import android.os.SystemClock
import android.provider.Settings
import id.go.siap.core.ClockReading
import id.go.siap.core.PlatformClock

/**
 * The monotonic clock the core trusts: `elapsedRealtime()` (counts through deep sleep, never set by the
 * user) plus the boot count, so the core can tell a reboot from a clock change. The same object is
 * given to `SiapCore.open` and read for every check-in, so both share one timebase.
 */
class DeviceClock(private val resolver: ContentResolver) : PlatformClock {
    // Read once per process: the boot count cannot change while we run.
    private val bootId: String by lazy {
        try {
            "boot-" + Settings.Global.getInt(resolver, Settings.Global.BOOT_COUNT)
        } catch (e: Settings.SettingNotFoundException) {
            "unknown" // no trusted time anchor then; the core flags it rather than trusting a guess
        }
    }

    override fun now(): ClockReading = ClockReading(
        monotonicMs = SystemClock.elapsedRealtime(),
        bootId = bootId,
        wallMs = System.currentTimeMillis(),
    )
}
