package id.go.siap.app.platform

import android.content.ContentResolver
import android.os.SystemClock
import android.provider.Settings
import id.go.siap.core.ClockReading
import id.go.siap.core.PlatformClock
import id.go.siap.core.SiapException
import java.io.File
import java.time.Instant

/**
 * The clocks the core reads for every event: `elapsedRealtime()` (counts through deep sleep, never set
 * by the user), the boot count (so the core can tell a reboot from a clock change) and the wall clock.
 * The same object is given to `SiapCore.open`; liveness frames are timed with its monotonic clock too,
 * so everything shares one timebase. Called from the core's worker threads.
 */
class DeviceClock(private val resolver: ContentResolver) : PlatformClock {
    // Read once per process (the boot count cannot change while we run); a failure is retried.
    @Volatile private var bootId: String? = null

    override fun now(): ClockReading = ClockReading(
        monotonicMs = monotonicMs(),
        bootId = bootId(),
        wall = Instant.now(),
    )

    /** The monotonic part alone, for timing liveness frames (`LivenessSession.pushFrame`). */
    fun monotonicMs(): Long = SystemClock.elapsedRealtime()

    /**
     * `Settings.Global.BOOT_COUNT` (API 24+), else the kernel's boot id. Never a constant placeholder: two
     * boots sharing one id would let the core pair an old time anchor with a reset monotonic clock.
     * Neither readable: `SiapException.Clock`, and the call that needed the clock records nothing.
     */
    private fun bootId(): String = bootId ?: readBootId().also { bootId = it }

    private fun readBootId(): String {
        try {
            return "boot-" + Settings.Global.getInt(resolver, Settings.Global.BOOT_COUNT)
        } catch (e: Settings.SettingNotFoundException) {
            // fall through to the kernel's id
        }
        val kernel = try {
            File("/proc/sys/kernel/random/boot_id").readText().trim()
        } catch (e: Exception) {
            throw SiapException.Clock("no boot id: BOOT_COUNT unset, kernel boot_id unreadable (${e.javaClass.simpleName})")
        }
        if (kernel.isEmpty()) throw SiapException.Clock("no boot id: BOOT_COUNT unset, kernel boot_id empty")
        return "kernel-$kernel"
    }
}
