//! The device's clock seam: the shell's monotonic clock (with its boot session) and wall clock, read
//! by the core itself at the moment of each event, so that no caller passes a time it chose.

use std::time::Instant;

use crate::Result;
use crate::clock::MonotonicReading;

/// Both clocks at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockNow {
    /// The monotonic clock (cannot be set by the user; restarts at boot).
    pub monotonic: MonotonicReading,
    /// The phone's wall clock, ms since the Unix epoch (a claim: the user can change it).
    pub wall_ms: i64,
}

/// The platform's clocks: Android `SystemClock.elapsedRealtime()` with the boot count and
/// `System.currentTimeMillis()`; iOS continuous time with the boot time and `Date()`. The same clock
/// anchors server time during sync, so check-ins and anchors share one timebase.
pub trait DeviceClock: Send + Sync {
    /// Both clocks now. A failure is [`crate::Error::Clock`]; nothing is recorded without a reading.
    fn now(&self) -> Result<ClockNow>;
}

/// The host's clocks, for the desktop demo and tests: monotonic time since this value was created, one
/// boot id, and the system wall clock.
#[derive(Debug)]
pub struct SystemClock {
    start: Instant,
    boot_id: String,
}

impl SystemClock {
    /// A clock whose boot session is `boot_id`.
    pub fn new(boot_id: impl Into<String>) -> Self {
        SystemClock {
            start: Instant::now(),
            boot_id: boot_id.into(),
        }
    }
}

impl DeviceClock for SystemClock {
    fn now(&self) -> Result<ClockNow> {
        Ok(ClockNow {
            monotonic: MonotonicReading {
                monotonic_ms: i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX),
                boot_id: self.boot_id.clone(),
            },
            wall_ms: crate::time::wall_now_ms(),
        })
    }
}

/// The device clock as the sync client's monotonic clock. A failing platform clock reads as boot
/// "unknown": an anchor taken then matches no later reading, which gives no trusted time rather than a
/// wrong one.
#[cfg(feature = "client")]
pub(crate) struct SyncClock(pub std::sync::Arc<dyn DeviceClock>);

#[cfg(feature = "client")]
impl crate::sync::client::MonotonicClock for SyncClock {
    fn now(&self) -> MonotonicReading {
        self.0.now().map_or_else(
            |_| MonotonicReading {
                monotonic_ms: 0,
                boot_id: "unknown".into(),
            },
            |n| n.monotonic,
        )
    }
}
