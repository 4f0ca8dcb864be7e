//! Wall-clock helpers. The device's wall clock is only a claim (users change it); see [`crate::clock`]
//! for trusted time. This module exists so the one place that reads it is easy to find.

/// Current wall-clock time in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn wall_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The civil date `YYYY-MM-DD` of `ms` since the Unix epoch at a fixed `utc_offset_min` (Howard
/// Hinnant's `civil_from_days`). For reports and displays; schedules use the city's time zone.
pub fn civil_date(ms: i64, utc_offset_min: i64) -> String {
    let days = (ms + utc_offset_min * 60_000).div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates_across_offsets_and_leap_days() {
        assert_eq!(super::civil_date(0, 0), "1970-01-01");
        assert_eq!(super::civil_date(-1, 0), "1969-12-31");
        // 2024-02-29 16:30 UTC is 2024-03-01 00:30 in UTC+8.
        assert_eq!(super::civil_date(1_709_224_200_000, 0), "2024-02-29");
        assert_eq!(super::civil_date(1_709_224_200_000, 480), "2024-03-01");
    }
}
