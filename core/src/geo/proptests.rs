//! Property tests across the geo module: the index against a linear scan, containment consistency,
//! and no panics on arbitrary numbers.

use geo::{Destination, Haversine, Point};
use proptest::prelude::*;

use super::coord::{LatLon, distance_m};
use super::fence::{Fence, PreparedFence, Site};
use super::fix::{Fix, FixContext, GeoPolicy};
use super::index::SiteIndex;
use super::{Containment, evaluate};

/// The point `dist_m` from `from` in direction `bearing_deg`.
fn offset(from: LatLon, bearing_deg: f64, dist_m: f64) -> LatLon {
    let p = Haversine.destination(Point::new(from.lon, from.lat), bearing_deg, dist_m);
    LatLon {
        lat: p.y(),
        lon: p.x(),
    }
}

/// A centre either anywhere on Earth or in a small cluster (so fences overlap and compete).
fn centre() -> impl Strategy<Value = LatLon> {
    prop_oneof![
        (-89.9_f64..89.9, -180.0_f64..180.0).prop_map(|(lat, lon)| LatLon { lat, lon }),
        (-6.3_f64..-6.1, 106.7_f64..106.9).prop_map(|(lat, lon)| LatLon { lat, lon }),
        (-0.05_f64..0.05, 179.95_f64..180.0).prop_map(|(lat, lon)| LatLon { lat, lon }),
    ]
}

/// Circles of 1 m to 5 km and star-shaped (hence simple) polygons of 3-9 vertices.
fn fence() -> impl Strategy<Value = Fence> {
    prop_oneof![
        (centre(), 1.0_f64..5_000.0)
            .prop_map(|(center, radius_m)| Fence::Circle { center, radius_m }),
        (
            centre(),
            0.0_f64..360.0,
            prop::collection::vec((0.1_f64..1.0, 10.0_f64..3_000.0), 3..10)
        )
            .prop_map(|(c, start, spokes)| {
                // Increasing angles within one turn, so the ring winds once around the centre.
                let total: f64 = spokes.iter().map(|s| s.0).sum();
                let mut angle = start;
                let vertices = spokes
                    .iter()
                    .map(|&(step, r)| {
                        angle += step / total * 359.0;
                        offset(c, angle % 360.0, r)
                    })
                    .collect();
                Fence::Polygon { vertices }
            }),
    ]
}

fn sites() -> impl Strategy<Value = Vec<Site>> {
    prop::collection::vec(fence(), 0..40).prop_map(|fences| {
        fences
            .into_iter()
            .filter(|f| f.validate().is_ok())
            .enumerate()
            .map(|(i, fence)| Site {
                id: format!("s{i}"),
                name: String::new(),
                fence,
            })
            .collect()
    })
}

/// A query point near some site (within 10 km) or anywhere.
fn query(sites: &[Site]) -> impl Strategy<Value = LatLon> + use<> {
    let anchors: Vec<LatLon> = sites
        .iter()
        .map(|s| match &s.fence {
            Fence::Circle { center, .. } => *center,
            Fence::Polygon { vertices } => vertices[0],
        })
        .collect();
    let n = anchors.len().max(1);
    prop_oneof![
        (-90.0_f64..=90.0, -180.0_f64..=180.0).prop_map(|(lat, lon)| LatLon { lat, lon }),
        (0..n, 0.0_f64..360.0, 0.0_f64..10_000.0).prop_map(move |(i, b, d)| {
            anchors
                .get(i)
                .map_or(LatLon { lat: 0.0, lon: 0.0 }, |&a| offset(a, b, d))
        }),
    ]
}

fn sites_and_queries() -> impl Strategy<Value = (Vec<Site>, Vec<LatLon>)> {
    sites().prop_flat_map(|s| {
        let q = prop::collection::vec(query(&s), 1..20);
        (Just(s), q)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn index_nearest_equals_linear_scan((sites, queries) in sites_and_queries()) {
        let index = SiteIndex::new(sites).unwrap();
        for q in queries {
            let fast = index.nearest(q).map(|(s, d)| (s.id.clone(), d));
            let slow = index.nearest_linear(q).map(|(s, d)| (s.id.clone(), d));
            prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn signed_distance_respects_the_cap_lower_bound(f in fence(), b in 0.0_f64..360.0, d in 0.0_f64..2.0e7) {
        prop_assume!(f.validate().is_ok());
        let prepared = PreparedFence::new(&f).unwrap();
        let p = offset(prepared.centre(), b, d);
        let lower = distance_m(prepared.centre(), p) - prepared.reach_m();
        prop_assert!(prepared.signed_distance_m(p) >= lower - 1e-3);
    }

    #[test]
    fn deep_inside_a_circle_with_small_accuracy_is_inside(
        c in centre(), r in 200.0_f64..5_000.0, b in 0.0_f64..360.0, frac in 0.0_f64..0.5, acc_frac in 0.0_f64..1.0,
    ) {
        let site = Site { id: "c".into(), name: String::new(), fence: Fence::Circle { center: c, radius_m: r } };
        let index = SiteIndex::new(vec![site]).unwrap();
        let p = offset(c, b, r * frac);
        let policy = GeoPolicy::default();
        let acc = 1.0 + acc_frac * (r / 4.0).min(policy.max_accuracy_m - 1.0);
        let fix = Fix { lat: p.lat, lon: p.lon, accuracy_m: Some(acc), time_ms: 0, provider: "gps".into(), is_mock: false };
        let v = evaluate(&fix, &FixContext::default(), &index, &policy).unwrap();
        prop_assert_eq!(v.containment, Containment::Inside);
    }

    #[test]
    fn shrinking_accuracy_never_flips_a_decision(d in -1.0e4_f64..1.0e4, a in 1.0_f64..100.0, shrink in 0.0_f64..1.0) {
        let policy = GeoPolicy::default();
        let smaller = policy.min_plausible_accuracy_m + (a - policy.min_plausible_accuracy_m) * shrink;
        let before = Containment::decide(d, Some(a), &policy);
        let after = Containment::decide(d, Some(smaller), &policy);
        if before != Containment::Undecidable {
            prop_assert_eq!(before, after);
        }
        // And the decision matches the accuracy circle.
        match before {
            Containment::Inside => prop_assert!(d + a <= 0.0),
            Containment::Outside => prop_assert!(d - a > 0.0),
            Containment::Undecidable => prop_assert!(d + a > 0.0 && d - a <= 0.0),
        }
    }

    #[test]
    fn evaluate_verdict_is_consistent_with_its_distance((sites, queries) in sites_and_queries(), acc in 1.0_f64..100.0) {
        let index = SiteIndex::new(sites).unwrap();
        for q in queries {
            let fix = Fix { lat: q.lat, lon: q.lon, accuracy_m: Some(acc), time_ms: 0, provider: "gps".into(), is_mock: false };
            let v = evaluate(&fix, &FixContext::default(), &index, &GeoPolicy::default()).unwrap();
            match (v.containment, v.distance_to_edge_m) {
                (Containment::Inside, Some(d)) => prop_assert!(d + acc <= 0.0),
                (Containment::Outside, Some(d)) => prop_assert!(d - acc > 0.0),
                (Containment::Undecidable, Some(d)) => prop_assert!(d + acc > 0.0 && d - acc <= 0.0),
                (Containment::Undecidable, None) => prop_assert!(index.is_empty()),
                (c, None) => prop_assert!(false, "{:?} without a distance", c),
            }
        }
    }

    #[test]
    fn no_panics_on_arbitrary_numbers(
        lat in prop::num::f64::ANY, lon in prop::num::f64::ANY, acc in prop::option::of(prop::num::f64::ANY),
        t in any::<i64>(), now in any::<i64>(), prev_t in any::<i64>(),
        flat in prop::num::f64::ANY, flon in prop::num::f64::ANY, radius in prop::num::f64::ANY,
        verts in prop::collection::vec((prop::num::f64::ANY, prop::num::f64::ANY), 0..6),
        max_acc in prop::num::f64::ANY, speed in prop::num::f64::ANY,
    ) {
        let fences = [
            Fence::Circle { center: LatLon { lat: flat, lon: flon }, radius_m: radius },
            Fence::Polygon { vertices: verts.iter().map(|&(lat, lon)| LatLon { lat, lon }).collect() },
        ];
        let sites: Vec<Site> = fences
            .into_iter()
            .enumerate()
            .map(|(i, fence)| Site { id: format!("s{i}"), name: String::new(), fence })
            .collect();
        let index = SiteIndex::new(sites.clone()).or_else(|_| {
            SiteIndex::new(sites.into_iter().filter(|s| s.validate().is_ok()).collect())
        }).unwrap();
        let fix = Fix { lat, lon, accuracy_m: acc, time_ms: t, provider: String::new(), is_mock: false };
        let previous = Fix { lat: flat, lon: flon, accuracy_m: acc, time_ms: prev_t, provider: String::new(), is_mock: true };
        let ctx = FixContext { previous: Some(previous), seen_before: false, now_ms: now };
        let _ = fix.fingerprint();
        let _ = LatLon::new(lat, lon).map(|p| index.nearest(p));
        let _ = evaluate(&fix, &ctx, &index, &GeoPolicy::default());
        let odd = GeoPolicy { max_accuracy_m: max_acc, max_speed_mps: speed, ..GeoPolicy::default() };
        let _ = evaluate(&fix, &ctx, &index, &odd);
        // Finite, in-range inputs must succeed.
        if fix.validate().is_ok() && ctx.previous.as_ref().is_some_and(|p| p.validate().is_ok()) {
            prop_assert!(evaluate(&fix, &ctx, &index, &GeoPolicy::default()).is_ok());
        }
    }
}
