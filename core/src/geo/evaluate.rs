//! The geo check: one fix against the site index, with the accuracy circle and plausibility flags.

use serde::{Deserialize, Serialize};

use super::fix::{Fix, FixContext, GeoPolicy};
use super::flags::{GeoFlag, plausibility_flags};
use super::index::SiteIndex;

/// Where the fix's accuracy circle lies relative to a fence.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Containment {
    /// The whole accuracy circle is inside the fence.
    Inside,
    /// The whole accuracy circle is outside the fence.
    Outside,
    /// The circle crosses the edge, or the accuracy is missing, implausible or too poor to decide, or
    /// there is no site at all.
    Undecidable,
}

impl Containment {
    /// Decides from a signed edge distance (negative inside) and the fix's accuracy radius.
    ///
    /// Inside iff `distance + accuracy <= 0`, Outside iff `distance - accuracy > 0`. Missing accuracy,
    /// accuracy below `min_plausible_accuracy_m` or above `max_accuracy_m`, or a NaN anywhere, is
    /// Undecidable: a 2 km accuracy radius is never "inside" by luck of its centre point.
    pub fn decide(
        distance_to_edge_m: f64,
        accuracy_m: Option<f64>,
        policy: &GeoPolicy,
    ) -> Containment {
        let Some(a) = accuracy_m else {
            return Containment::Undecidable;
        };
        let usable = a >= policy.min_plausible_accuracy_m && a <= policy.max_accuracy_m;
        if !usable || distance_to_edge_m.is_nan() {
            Containment::Undecidable
        } else if distance_to_edge_m + a <= 0.0 {
            Containment::Inside
        } else if distance_to_edge_m - a > 0.0 {
            Containment::Outside
        } else {
            Containment::Undecidable
        }
    }
}

/// The result of a geo check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GeoVerdict {
    /// The site with the nearest fence edge; `None` if the index is empty.
    pub site_id: Option<String>,
    /// Containment of the fix's accuracy circle in that site's fence.
    pub containment: Containment,
    /// Signed distance from the fix to that fence's edge in metres, negative inside.
    pub distance_to_edge_m: Option<f64>,
    /// The fix's reported accuracy, copied for the record.
    pub accuracy_m: Option<f64>,
    /// Plausibility flags, in [`GeoFlag`] declaration order. They never change `containment`.
    pub flags: Vec<GeoFlag>,
}

/// Checks one fix: nearest site, containment with the accuracy circle, plausibility flags.
///
/// Errors ([`crate::Error::InvalidInput`]) only for unusable input: a non-finite or out-of-range fix
/// coordinate or accuracy, an invalid `ctx.previous` (field `previous`), or an invalid policy. Flags
/// never cause an error. With an empty index the verdict has no site, no distance and is
/// [`Containment::Undecidable`], with flags computed as usual.
pub fn evaluate(
    fix: &Fix,
    ctx: &FixContext,
    index: &SiteIndex,
    policy: &GeoPolicy,
) -> crate::Result<GeoVerdict> {
    policy.validate()?;
    fix.validate()?;
    let position = fix.position()?;
    let flags = plausibility_flags(fix, ctx, policy)?;
    let nearest = index.nearest(position);
    let containment = nearest.map_or(Containment::Undecidable, |(_, d)| {
        Containment::decide(d, fix.accuracy_m, policy)
    });
    Ok(GeoVerdict {
        site_id: nearest.map(|(site, _)| site.id.clone()),
        containment,
        distance_to_edge_m: nearest.map(|(_, d)| d),
        accuracy_m: fix.accuracy_m,
        flags,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests fail loudly and compare exact values"
)]
mod tests {
    use super::super::coord::LatLon;
    use super::super::fence::tests::square;
    use super::super::fence::{Fence, Site};
    use super::super::fix::tests::fix_at;
    use super::*;
    use crate::Error;

    const LAT: f64 = -6.2;
    const LON: f64 = 106.8;
    /// Metres per degree of latitude on the model sphere.
    const M_PER_DEG: f64 = 111_195.08;

    fn index() -> SiteIndex {
        SiteIndex::new(vec![
            Site {
                id: "circle".into(),
                name: "Kantor Camat".into(),
                fence: Fence::Circle {
                    center: LatLon { lat: LAT, lon: LON },
                    radius_m: 100.0,
                },
            },
            Site {
                id: "compound".into(),
                name: "Balai Kota".into(),
                fence: square(LAT + 0.05, LON, 150.0),
            },
        ])
        .unwrap()
    }

    fn check(fix: &Fix) -> GeoVerdict {
        let ctx = FixContext {
            previous: None,
            seen_before: false,
            now_ms: fix.time_ms,
        };
        evaluate(fix, &ctx, &index(), &GeoPolicy::default()).unwrap()
    }

    /// A fix `north_m` metres north of the circle's centre with the given accuracy.
    fn north_of_circle(north_m: f64, accuracy_m: Option<f64>) -> Fix {
        Fix {
            accuracy_m,
            ..fix_at(LAT + north_m / M_PER_DEG, LON)
        }
    }

    #[test]
    fn circle_inside_outside_undecidable() {
        let v = check(&north_of_circle(0.0, Some(10.0)));
        assert_eq!(v.site_id.as_deref(), Some("circle"));
        assert_eq!(v.containment, Containment::Inside);
        assert!((v.distance_to_edge_m.unwrap() + 100.0).abs() < 0.01);
        assert_eq!(v.accuracy_m, Some(10.0));
        assert!(v.flags.is_empty());

        assert_eq!(
            check(&north_of_circle(200.0, Some(10.0))).containment,
            Containment::Outside
        );
        // Just inside (5 m from the edge) but the 10 m accuracy circle crosses the edge.
        let v = check(&north_of_circle(95.0, Some(10.0)));
        assert!(v.distance_to_edge_m.unwrap() < 0.0);
        assert_eq!(v.containment, Containment::Undecidable);
        // Same point, 3 m accuracy: inside.
        assert_eq!(
            check(&north_of_circle(95.0, Some(3.0))).containment,
            Containment::Inside
        );
        // Just outside with a crossing circle.
        assert_eq!(
            check(&north_of_circle(105.0, Some(10.0))).containment,
            Containment::Undecidable
        );
    }

    #[test]
    fn two_km_accuracy_is_never_inside() {
        let v = check(&north_of_circle(0.0, Some(2_000.0)));
        assert_eq!(v.containment, Containment::Undecidable);
        assert!(v.flags.is_empty());
        // Even far outside: too poor to say anything.
        assert_eq!(
            check(&north_of_circle(5_000.0, Some(2_000.0))).containment,
            Containment::Undecidable
        );
    }

    #[test]
    fn missing_and_implausible_accuracy_are_undecidable_and_flagged() {
        let v = check(&north_of_circle(0.0, None));
        assert_eq!(v.containment, Containment::Undecidable);
        assert_eq!(v.flags, [GeoFlag::MissingAccuracy]);
        let v = check(&north_of_circle(0.0, Some(0.0)));
        assert_eq!(v.containment, Containment::Undecidable);
        assert_eq!(v.flags, [GeoFlag::ImplausibleAccuracy]);
    }

    #[test]
    fn polygon_compound_inside_and_outside() {
        let centre = fix_at(LAT + 0.05, LON);
        let v = check(&centre);
        assert_eq!(v.site_id.as_deref(), Some("compound"));
        assert_eq!(v.containment, Containment::Inside);
        let d = v.distance_to_edge_m.unwrap();
        assert!((d + 150.0).abs() < 0.5, "{d}");
        let outside = fix_at(LAT + 0.05 + 300.0 / M_PER_DEG, LON);
        let v = check(&outside);
        assert_eq!(v.site_id.as_deref(), Some("compound"));
        assert_eq!(v.containment, Containment::Outside);
        assert!((v.distance_to_edge_m.unwrap() - 150.0).abs() < 0.5);
        let on_edge = fix_at(LAT + 0.05 + 148.0 / M_PER_DEG, LON);
        assert_eq!(check(&on_edge).containment, Containment::Undecidable);
    }

    #[test]
    fn flags_do_not_change_containment() {
        let mut f = north_of_circle(0.0, Some(10.0));
        f.is_mock = true;
        let v = check(&f);
        assert_eq!(v.containment, Containment::Inside);
        assert_eq!(v.flags, [GeoFlag::MockLocation]);
    }

    #[test]
    fn all_flags_together() {
        let f = Fix {
            is_mock: true,
            accuracy_m: Some(0.0),
            ..fix_at(LAT, LON)
        };
        let prev = Fix {
            time_ms: f.time_ms,
            ..fix_at(LAT + 1.0, LON)
        };
        let ctx = FixContext {
            previous: Some(prev),
            seen_before: true,
            now_ms: f.time_ms + 10_000_000,
        };
        let v = evaluate(&f, &ctx, &index(), &GeoPolicy::default()).unwrap();
        assert_eq!(
            v.flags,
            [
                GeoFlag::MockLocation,
                GeoFlag::ImpossibleSpeed,
                GeoFlag::StaleFix,
                GeoFlag::ImplausibleAccuracy,
                GeoFlag::RepeatedFix
            ]
        );
        let ctx = FixContext {
            previous: None,
            seen_before: false,
            now_ms: f.time_ms - 10_000_000,
        };
        let v = evaluate(&f, &ctx, &index(), &GeoPolicy::default()).unwrap();
        assert!(v.flags.contains(&GeoFlag::FutureFix));
    }

    #[test]
    fn empty_index_is_undecidable_with_flags() {
        let empty = SiteIndex::new(vec![]).unwrap();
        let f = Fix {
            is_mock: true,
            ..fix_at(LAT, LON)
        };
        let ctx = FixContext {
            previous: None,
            seen_before: false,
            now_ms: f.time_ms,
        };
        let v = evaluate(&f, &ctx, &empty, &GeoPolicy::default()).unwrap();
        assert_eq!(v.site_id, None);
        assert_eq!(v.distance_to_edge_m, None);
        assert_eq!(v.containment, Containment::Undecidable);
        assert_eq!(v.flags, [GeoFlag::MockLocation]);
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let ctx = FixContext::default();
        let idx = index();
        let p = GeoPolicy::default();
        let good = fix_at(LAT, LON);
        for (fix, field) in [
            (
                Fix {
                    lat: f64::NAN,
                    ..good.clone()
                },
                "lat",
            ),
            (
                Fix {
                    lon: f64::INFINITY,
                    ..good.clone()
                },
                "lon",
            ),
            (
                Fix {
                    lat: 91.0,
                    ..good.clone()
                },
                "lat",
            ),
            (
                Fix {
                    accuracy_m: Some(f64::NAN),
                    ..good.clone()
                },
                "accuracy_m",
            ),
        ] {
            match evaluate(&fix, &ctx, &idx, &p) {
                Err(Error::InvalidInput { field: f, reason }) => {
                    assert_eq!(f, field);
                    assert!(!reason.contains("91"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        let bad_policy = GeoPolicy {
            max_speed_mps: f64::NAN,
            ..p
        };
        assert!(matches!(
            evaluate(&good, &ctx, &idx, &bad_policy),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn verdict_serialises_in_snake_case() {
        let v = GeoVerdict {
            site_id: Some("s".into()),
            containment: Containment::Undecidable,
            distance_to_edge_m: Some(-1.5),
            accuracy_m: None,
            flags: vec![GeoFlag::MockLocation, GeoFlag::ImpossibleSpeed],
        };
        let json = serde_json::to_string(&v).unwrap();
        assert!(json.contains(r#""containment":"undecidable""#), "{json}");
        assert!(
            json.contains(r#"["mock_location","impossible_speed"]"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<GeoVerdict>(&json).unwrap(), v);
    }
}
