//! Plausibility flags: signs that a fix may not be genuine.
//!
//! Flags never reject anything here. They travel with the verdict into the signed record, and policy
//! elsewhere (server rules, a supervisor's review) decides what they mean.

use serde::{Deserialize, Serialize};

use super::coord::distance_m;
use super::fix::{Fix, FixContext, GeoPolicy};
use crate::{Error, Result};

/// A reason to doubt a fix.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum GeoFlag {
    /// The platform marked the fix as coming from a mock-location provider.
    MockLocation,
    /// Reaching this fix from the previous one needs a speed above `max_speed_mps`, even granting both
    /// fixes their full accuracy radius; or the position changed with no time passing.
    ImpossibleSpeed,
    /// The fix is older than `max_fix_age_ms`.
    StaleFix,
    /// The fix is more than `max_future_ms` ahead of the device clock.
    FutureFix,
    /// The platform reported no accuracy.
    MissingAccuracy,
    /// The accuracy is below `min_plausible_accuracy_m` (0 m is a typical fake-GPS value).
    ImplausibleAccuracy,
    /// The exact same fix (see [`Fix::fingerprint`]) was seen before.
    RepeatedFix,
}

/// All flags that apply to a valid fix, in declaration order.
pub(crate) fn plausibility_flags(
    fix: &Fix,
    ctx: &FixContext,
    policy: &GeoPolicy,
) -> Result<Vec<GeoFlag>> {
    let mut flags = Vec::new();
    if fix.is_mock {
        flags.push(GeoFlag::MockLocation);
    }
    if let Some(previous) = &ctx.previous
        && impossible_speed(previous, fix, policy)?
    {
        flags.push(GeoFlag::ImpossibleSpeed);
    }
    // i128: no overflow whatever the i64 timestamps are.
    let age_ms = i128::from(ctx.now_ms) - i128::from(fix.time_ms);
    if age_ms > i128::from(policy.max_fix_age_ms) {
        flags.push(GeoFlag::StaleFix);
    }
    if -age_ms > i128::from(policy.max_future_ms) {
        flags.push(GeoFlag::FutureFix);
    }
    match fix.accuracy_m {
        None => flags.push(GeoFlag::MissingAccuracy),
        Some(a) if a < policy.min_plausible_accuracy_m => flags.push(GeoFlag::ImplausibleAccuracy),
        Some(_) => {}
    }
    if ctx.seen_before {
        flags.push(GeoFlag::RepeatedFix);
    }
    Ok(flags)
}

/// Whether moving from `previous` to `fix` is physically impossible under the policy.
///
/// The distance is reduced by both accuracy radii (missing or negative ones count as 0), so GPS jitter
/// between two honest fixes never trips the flag. Order does not matter (`|dt|`); with no time between
/// the fixes any remaining distance is impossible.
fn impossible_speed(previous: &Fix, fix: &Fix, policy: &GeoPolicy) -> Result<bool> {
    previous.validate().map_err(|e| match e {
        Error::InvalidInput { reason, .. } => Error::invalid("previous", reason),
        other => other,
    })?;
    let allowance = |f: &Fix| f.accuracy_m.unwrap_or(0.0).max(0.0);
    let d = distance_m(previous.position()?, fix.position()?);
    let moved = (d - allowance(previous) - allowance(fix)).max(0.0);
    let dt_s =
        (i128::from(fix.time_ms) - i128::from(previous.time_ms)).unsigned_abs() as f64 / 1000.0;
    if dt_s == 0.0 {
        return Ok(moved > 0.0);
    }
    Ok(moved / dt_s > policy.max_speed_mps)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests fail loudly and compare exact values"
)]
mod tests {
    use super::super::fix::tests::fix_at;
    use super::*;

    fn ctx_now(now_ms: i64) -> FixContext {
        FixContext {
            previous: None,
            seen_before: false,
            now_ms,
        }
    }

    fn flags(fix: &Fix, ctx: &FixContext) -> Vec<GeoFlag> {
        plausibility_flags(fix, ctx, &GeoPolicy::default()).unwrap()
    }

    #[test]
    fn clean_fix_has_no_flags() {
        let f = fix_at(-6.2, 106.8);
        assert!(flags(&f, &ctx_now(f.time_ms + 1_000)).is_empty());
    }

    #[test]
    fn mock_missing_implausible_repeated() {
        let f = fix_at(-6.2, 106.8);
        let ctx = ctx_now(f.time_ms);
        assert_eq!(
            flags(
                &Fix {
                    is_mock: true,
                    ..f.clone()
                },
                &ctx
            ),
            [GeoFlag::MockLocation]
        );
        assert_eq!(
            flags(
                &Fix {
                    accuracy_m: None,
                    ..f.clone()
                },
                &ctx
            ),
            [GeoFlag::MissingAccuracy]
        );
        for a in [0.0, 0.5, -1.0] {
            let got = flags(
                &Fix {
                    accuracy_m: Some(a),
                    ..f.clone()
                },
                &ctx,
            );
            assert_eq!(got, [GeoFlag::ImplausibleAccuracy], "{a}");
        }
        let seen = FixContext {
            seen_before: true,
            ..ctx
        };
        assert_eq!(flags(&f, &seen), [GeoFlag::RepeatedFix]);
    }

    #[test]
    fn stale_and_future() {
        let f = fix_at(-6.2, 106.8);
        let p = GeoPolicy::default();
        assert!(flags(&f, &ctx_now(f.time_ms + p.max_fix_age_ms)).is_empty());
        assert_eq!(
            flags(&f, &ctx_now(f.time_ms + p.max_fix_age_ms + 1)),
            [GeoFlag::StaleFix]
        );
        assert!(flags(&f, &ctx_now(f.time_ms - p.max_future_ms)).is_empty());
        assert_eq!(
            flags(&f, &ctx_now(f.time_ms - p.max_future_ms - 1)),
            [GeoFlag::FutureFix]
        );
        // Extreme timestamps do not overflow.
        let old = Fix {
            time_ms: i64::MIN,
            ..f.clone()
        };
        assert_eq!(flags(&old, &ctx_now(i64::MAX)), [GeoFlag::StaleFix]);
        let future = Fix {
            time_ms: i64::MAX,
            ..f
        };
        assert_eq!(flags(&future, &ctx_now(i64::MIN)), [GeoFlag::FutureFix]);
    }

    #[test]
    fn impossible_speed() {
        let prev = fix_at(-6.2, 106.8);
        // ~11.1 km north.
        let far = Fix {
            lat: -6.1,
            time_ms: prev.time_ms + 60_000,
            ..prev.clone()
        };
        let ctx = FixContext {
            previous: Some(prev.clone()),
            seen_before: false,
            now_ms: far.time_ms,
        };
        // 11.1 km in 60 s = 185 m/s.
        assert_eq!(flags(&far, &ctx), [GeoFlag::ImpossibleSpeed]);
        // In 10 minutes: 18.5 m/s, fine.
        let slow = Fix {
            time_ms: prev.time_ms + 600_000,
            ..far.clone()
        };
        let ctx_slow = FixContext {
            now_ms: slow.time_ms,
            ..ctx.clone()
        };
        assert!(flags(&slow, &ctx_slow).is_empty());
        // Out of order is judged by |dt| too.
        let before = Fix {
            time_ms: prev.time_ms - 60_000,
            ..far.clone()
        };
        let ctx_before = FixContext {
            now_ms: prev.time_ms,
            ..ctx.clone()
        };
        assert_eq!(flags(&before, &ctx_before), [GeoFlag::ImpossibleSpeed]);
        // Same time, different place: impossible; same time, jitter within accuracy: fine.
        let same_time = Fix {
            time_ms: prev.time_ms,
            ..far.clone()
        };
        let ctx_same = FixContext {
            now_ms: prev.time_ms,
            ..ctx.clone()
        };
        assert_eq!(flags(&same_time, &ctx_same), [GeoFlag::ImpossibleSpeed]);
        let jitter = Fix {
            lat: prev.lat + 0.0001,
            time_ms: prev.time_ms,
            ..prev.clone()
        };
        assert!(flags(&jitter, &ctx_same).is_empty());
        let identical = Fix {
            time_ms: prev.time_ms,
            ..prev.clone()
        };
        assert!(flags(&identical, &ctx_same).is_empty());
    }

    #[test]
    fn invalid_previous_is_a_typed_error() {
        let f = fix_at(-6.2, 106.8);
        let ctx = FixContext {
            previous: Some(Fix {
                lat: f64::NAN,
                ..f.clone()
            }),
            seen_before: false,
            now_ms: f.time_ms,
        };
        let err = plausibility_flags(&f, &ctx, &GeoPolicy::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "previous",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
