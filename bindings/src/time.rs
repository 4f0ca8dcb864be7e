//! Timestamps cross the boundary as `SystemTime` (Kotlin `Instant`, Swift `Date`); the core counts
//! milliseconds since the Unix epoch. The two conversions, in one place.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (negative before it), saturating.
pub(crate) fn epoch_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The instant `ms` milliseconds after the Unix epoch.
pub(crate) fn system_time(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_sides_of_the_epoch() {
        for ms in [0, 1, -1, 1_796_000_400_123, -86_400_000] {
            assert_eq!(epoch_ms(system_time(ms)), ms);
        }
    }
}
