import Foundation
import SiapFFI

/// The monotonic clock the core trusts: `CLOCK_MONOTONIC_RAW` (continuous, keeps counting while the phone
/// sleeps, like Android's elapsedRealtime) and the boot time from `sysctl kern.boottime` as the boot id.
/// The same object goes to `SiapCore.open` and into every check-in, so both share one timebase.
final class DeviceClock: PlatformClock, @unchecked Sendable {
    /// Read once per process. (kern.boottime can shift slightly when the wall clock is set; a shifted id
    /// only makes the core treat it as a new boot, i.e. distrust the old anchor — the safe direction.)
    let bootId: String = {
        var mib: [Int32] = [CTL_KERN, KERN_BOOTTIME]
        var boot = timeval()
        var size = MemoryLayout<timeval>.size
        guard sysctl(&mib, 2, &boot, &size, nil, 0) == 0 else { return "unknown" }
        return "boot-\(boot.tv_sec)-\(boot.tv_usec)"
    }()

    func now() -> ClockReading {
        ClockReading(
            monotonicMs: Int64(clock_gettime_nsec_np(CLOCK_MONOTONIC_RAW) / 1_000_000),
            bootId: bootId,
            wallMs: Int64(Date().timeIntervalSince1970 * 1000)
        )
    }
}
