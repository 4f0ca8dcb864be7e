import Foundation
import SiapFFI

/// The clocks the core reads for every event: `CLOCK_MONOTONIC_RAW` (continuous: keeps counting while the
/// phone sleeps, like Android's elapsedRealtime, and is never set by the user), the boot time from
/// `sysctl kern.boottime` as the boot id, and the wall clock as a `Date`. The same object goes to
/// `SiapCore.open`; liveness frames are timed with its monotonic clock, so everything shares one timebase.
/// Called from the core's worker threads.
final class DeviceClock: PlatformClock, @unchecked Sendable {
    /// Read once per process. (kern.boottime can shift slightly when the wall clock is set; a shifted id
    /// only makes the core treat it as a new boot, i.e. distrust the old anchor — the safe direction.)
    /// A failure is kept and thrown by `now()`, rather than inventing an id two boots could share.
    private let bootId: Result<String, SiapError> = {
        var mib: [Int32] = [CTL_KERN, KERN_BOOTTIME]
        var boot = timeval()
        var size = MemoryLayout<timeval>.size
        guard sysctl(&mib, 2, &boot, &size, nil, 0) == 0 else {
            return .failure(.Clock(reason: "no boot id: sysctl kern.boottime failed (errno \(errno))"))
        }
        return .success("boot-\(boot.tv_sec)-\(boot.tv_usec)")
    }()

    /// Both clocks now; `SiapError.Clock` when the boot id cannot be read (the call that needed the clock
    /// then fails and records nothing).
    func now() throws -> ClockReading {
        ClockReading(monotonicMs: monotonicMs(), bootId: try bootId.get(), wall: Date())
    }

    /// The monotonic part alone, for timing liveness frames (`LivenessSession.pushFrame`).
    func monotonicMs() -> Int64 {
        Int64(clock_gettime_nsec_np(CLOCK_MONOTONIC_RAW) / 1_000_000)
    }
}
