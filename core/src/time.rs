//! Wall-clock helpers. The device's wall clock is only a claim (users change it); see [`crate::clock`]
//! for trusted time. This module exists so the one place that reads it is easy to find.

/// Current wall-clock time in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn wall_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
