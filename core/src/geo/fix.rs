//! The inputs of a geo check: a location fix, what is known about earlier fixes, and the policy.

use serde::{Deserialize, Serialize};

use super::coord::LatLon;
use crate::{Error, Result};

/// One location fix as the phone's platform reported it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Fix {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Horizontal accuracy radius in metres (Android: 68 % confidence), if the platform gave one.
    pub accuracy_m: Option<f64>,
    /// UTC milliseconds of the fix (GNSS time where the platform gives it).
    pub time_ms: i64,
    /// Location provider: "gps", "fused", "network", ...
    pub provider: String,
    /// The platform's mock-location flag.
    pub is_mock: bool,
}

impl Fix {
    /// Checks the coordinate and that the accuracy, if present, is a finite number.
    ///
    /// A finite but implausible accuracy (zero, negative) is not an error: it is evidence and becomes
    /// [`super::GeoFlag::ImplausibleAccuracy`].
    pub fn validate(&self) -> Result<()> {
        self.position()?;
        if self.accuracy_m.is_some_and(|a| !a.is_finite()) {
            return Err(Error::invalid(
                "accuracy_m",
                "accuracy is not a finite number",
            ));
        }
        Ok(())
    }

    /// The fix's coordinate, checked.
    pub fn position(&self) -> Result<LatLon> {
        LatLon::new(self.lat, self.lon)
    }

    /// A stable string of the exact bit patterns of latitude, longitude and accuracy.
    ///
    /// Real receivers never report the same three values twice; a replayed or scripted fix does. Two
    /// fixes have the same fingerprint exactly when these three values are bit-for-bit equal (so `0.0`
    /// and `-0.0` differ, and every NaN pattern is its own value). Format: `v1:<lat>:<lon>:<acc>` with
    /// 16 hex digits per value and `-` for a missing accuracy.
    pub fn fingerprint(&self) -> String {
        let acc = self
            .accuracy_m
            .map_or_else(|| "-".to_owned(), |a| format!("{:016x}", a.to_bits()));
        format!(
            "v1:{:016x}:{:016x}:{acc}",
            self.lat.to_bits(),
            self.lon.to_bits()
        )
    }
}

/// What the caller knows beyond the fix itself.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct FixContext {
    /// The previous fix accepted from this device, for the speed check.
    pub previous: Option<Fix>,
    /// Whether a fix with the same [`Fix::fingerprint`] was seen before.
    pub seen_before: bool,
    /// The device's current UTC time in milliseconds.
    pub now_ms: i64,
}

/// Thresholds for the geo check.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct GeoPolicy {
    /// Worse accuracy than this (metres) makes containment undecidable.
    pub max_accuracy_m: f64,
    /// Better accuracy than this (metres) is implausible for a phone: flagged, and undecidable.
    pub min_plausible_accuracy_m: f64,
    /// Fastest plausible movement between two fixes, metres per second.
    pub max_speed_mps: f64,
    /// Fixes older than this (ms before `now_ms`) are flagged stale.
    pub max_fix_age_ms: i64,
    /// Fixes further than this (ms) in the future are flagged.
    pub max_future_ms: i64,
}

impl Default for GeoPolicy {
    /// 100 m, 1 m, 80 m/s (288 km/h), 2 minutes, 5 seconds.
    fn default() -> Self {
        GeoPolicy {
            max_accuracy_m: 100.0,
            min_plausible_accuracy_m: 1.0,
            max_speed_mps: 80.0,
            max_fix_age_ms: 120_000,
            max_future_ms: 5_000,
        }
    }
}

impl GeoPolicy {
    /// Checks that thresholds are finite, non-negative and consistent.
    pub fn validate(&self) -> Result<()> {
        let non_negative = |field, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(
                    field,
                    "must be a finite, non-negative number",
                ))
            }
        };
        non_negative("max_accuracy_m", self.max_accuracy_m)?;
        non_negative("min_plausible_accuracy_m", self.min_plausible_accuracy_m)?;
        non_negative("max_speed_mps", self.max_speed_mps)?;
        if self.min_plausible_accuracy_m > self.max_accuracy_m {
            return Err(Error::invalid(
                "min_plausible_accuracy_m",
                "must not exceed max_accuracy_m",
            ));
        }
        if self.max_fix_age_ms < 0 {
            return Err(Error::invalid("max_fix_age_ms", "must not be negative"));
        }
        if self.max_future_ms < 0 {
            return Err(Error::invalid("max_future_ms", "must not be negative"));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests fail loudly and compare exact values"
)]
pub(crate) mod tests {
    use super::*;

    /// A good GPS fix at a position, 10 m accuracy, at t = 1_000_000 ms.
    pub(crate) fn fix_at(lat: f64, lon: f64) -> Fix {
        Fix {
            lat,
            lon,
            accuracy_m: Some(10.0),
            time_ms: 1_000_000,
            provider: "gps".into(),
            is_mock: false,
        }
    }

    #[test]
    fn validate_rejects_non_finite() {
        let ok = fix_at(-6.2, 106.8);
        assert!(ok.validate().is_ok());
        let field = |f: Fix| match f.validate() {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(Fix {
                lat: f64::NAN,
                ..ok.clone()
            }),
            "lat"
        );
        assert_eq!(
            field(Fix {
                lon: f64::INFINITY,
                ..ok.clone()
            }),
            "lon"
        );
        assert_eq!(
            field(Fix {
                lat: 91.0,
                ..ok.clone()
            }),
            "lat"
        );
        assert_eq!(
            field(Fix {
                accuracy_m: Some(f64::NAN),
                ..ok.clone()
            }),
            "accuracy_m"
        );
        assert_eq!(
            field(Fix {
                accuracy_m: Some(f64::INFINITY),
                ..ok.clone()
            }),
            "accuracy_m"
        );
        // Implausible but finite accuracy is evidence, not an error.
        assert!(
            Fix {
                accuracy_m: Some(-3.0),
                ..ok.clone()
            }
            .validate()
            .is_ok()
        );
        assert!(
            Fix {
                accuracy_m: None,
                ..ok
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn fingerprint_is_exact() {
        let a = fix_at(-6.2, 106.8);
        let mut b = a.clone();
        b.time_ms += 5_000;
        b.provider = "fused".into();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.lat = f64::from_bits(a.lat.to_bits() + 1);
        assert_ne!(a.fingerprint(), b.fingerprint());
        let none = Fix {
            accuracy_m: None,
            ..a.clone()
        };
        assert_ne!(a.fingerprint(), none.fingerprint());
        let zero = Fix {
            accuracy_m: Some(0.0),
            ..a.clone()
        };
        let neg_zero = Fix {
            accuracy_m: Some(-0.0),
            ..a.clone()
        };
        assert_ne!(zero.fingerprint(), neg_zero.fingerprint());
        assert!(a.fingerprint().starts_with("v1:"));
        assert!(!a.fingerprint().contains("106"));
    }

    #[test]
    fn policy_validation() {
        assert!(GeoPolicy::default().validate().is_ok());
        let bad = [
            GeoPolicy {
                max_accuracy_m: f64::NAN,
                ..GeoPolicy::default()
            },
            GeoPolicy {
                max_speed_mps: -1.0,
                ..GeoPolicy::default()
            },
            GeoPolicy {
                min_plausible_accuracy_m: 500.0,
                ..GeoPolicy::default()
            },
            GeoPolicy {
                max_fix_age_ms: -1,
                ..GeoPolicy::default()
            },
            GeoPolicy {
                max_future_ms: -1,
                ..GeoPolicy::default()
            },
        ];
        for p in bad {
            assert!(
                matches!(p.validate(), Err(Error::InvalidInput { .. })),
                "{p:?}"
            );
        }
    }
}
