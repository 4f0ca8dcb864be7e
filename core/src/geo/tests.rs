//! Geo tests: containment with the accuracy circle, every flag, bad input, and the R-tree against a
//! linear scan (property tests).

use proptest::prelude::*;

use super::*;

const KUPANG: LatLon = LatLon {
    lat: -10.1635,
    lon: 123.5895,
};

fn circle(id: &str, c: LatLon, r: f64) -> Site {
    Site {
        id: id.into(),
        name: id.into(),
        fence: Fence::Circle {
            center: c,
            radius_m: r,
        },
    }
}

fn square(id: &str, c: LatLon, half_deg: f64) -> Site {
    let v = |dy: f64, dx: f64| LatLon {
        lat: c.lat + dy,
        lon: c.lon + dx,
    };
    Site {
        id: id.into(),
        name: id.into(),
        fence: Fence::Polygon {
            vertices: vec![
                v(-half_deg, -half_deg),
                v(-half_deg, half_deg),
                v(half_deg, half_deg),
                v(half_deg, -half_deg),
            ],
        },
    }
}

/// A point `north_m` metres north of `c`.
fn north(c: LatLon, north_m: f64) -> LatLon {
    LatLon {
        lat: c.lat + (north_m / EARTH_RADIUS_M).to_degrees(),
        lon: c.lon,
    }
}

fn fix_at(p: LatLon, acc: Option<f64>) -> Fix {
    Fix {
        lat: p.lat,
        lon: p.lon,
        accuracy_m: acc,
        time_ms: 1_000_000,
        provider: "gps".into(),
        is_mock: false,
    }
}

fn ctx() -> FixContext {
    FixContext {
        previous: None,
        seen_before: false,
        now_ms: 1_000_500,
    }
}

fn eval(f: &Fix, sites: Vec<Site>) -> GeoVerdict {
    evaluate(
        f,
        &ctx(),
        &SiteIndex::new(sites).unwrap(),
        &GeoPolicy::default(),
    )
    .unwrap()
}

#[test]
fn accuracy_circle_decides() {
    let s = || vec![circle("office", KUPANG, 100.0)];
    assert_eq!(
        eval(&fix_at(north(KUPANG, 20.0), Some(10.0)), s()).containment,
        Containment::Inside
    );
    // Point inside, but the 30 m circle crosses the edge at 80 m: cannot tell.
    assert_eq!(
        eval(&fix_at(north(KUPANG, 80.0), Some(30.0)), s()).containment,
        Containment::Undecidable
    );
    // A 2 km accuracy is never inside, even centred on the office.
    let v = eval(&fix_at(KUPANG, Some(2_000.0)), s());
    assert_eq!(v.containment, Containment::Undecidable);
    assert!(v.distance_to_edge_m.unwrap() < -99.0);
    // Far away with poor accuracy: still certainly outside.
    assert_eq!(
        eval(&fix_at(north(KUPANG, 5_000.0), Some(2_000.0)), s()).containment,
        Containment::Outside
    );
    assert_eq!(
        eval(&fix_at(north(KUPANG, 300.0), Some(10.0)), s()).containment,
        Containment::Outside
    );
    let d = eval(&fix_at(north(KUPANG, 300.0), Some(10.0)), s())
        .distance_to_edge_m
        .unwrap();
    assert!((d - 200.0).abs() < 0.5, "{d}");
}

#[test]
fn polygon_compound() {
    let s = || vec![square("compound", KUPANG, 0.001)]; // ~110 m half side
    assert_eq!(
        eval(&fix_at(KUPANG, Some(15.0)), s()).containment,
        Containment::Inside
    );
    let d = eval(&fix_at(KUPANG, Some(15.0)), s())
        .distance_to_edge_m
        .unwrap();
    assert!((d + 110.0).abs() < 2.0, "{d}");
    assert_eq!(
        eval(&fix_at(north(KUPANG, 400.0), Some(15.0)), s()).containment,
        Containment::Outside
    );
    assert_eq!(
        eval(&fix_at(north(KUPANG, 105.0), Some(15.0)), s()).containment,
        Containment::Undecidable
    );
}

#[test]
fn every_flag() {
    let sites = || vec![circle("o", KUPANG, 100.0)];
    let mut f = fix_at(KUPANG, Some(10.0));
    f.is_mock = true;
    assert_eq!(eval(&f, sites()).flags, vec![GeoFlag::MockLocation]);
    assert_eq!(
        eval(&fix_at(KUPANG, None), sites()).flags,
        vec![GeoFlag::MissingAccuracy]
    );
    let v = eval(&fix_at(KUPANG, Some(0.0)), sites());
    assert_eq!(
        (v.flags, v.containment),
        (vec![GeoFlag::ImplausibleAccuracy], Containment::Undecidable)
    );
    let idx = SiteIndex::new(sites()).unwrap();
    let p = GeoPolicy::default();
    let f = fix_at(KUPANG, Some(10.0));
    let stale = FixContext {
        now_ms: f.time_ms + 10 * 60_000,
        ..ctx()
    };
    assert_eq!(
        evaluate(&f, &stale, &idx, &p).unwrap().flags,
        vec![GeoFlag::StaleFix]
    );
    let future = FixContext {
        now_ms: f.time_ms - 60_000,
        ..ctx()
    };
    assert_eq!(
        evaluate(&f, &future, &idx, &p).unwrap().flags,
        vec![GeoFlag::FutureFix]
    );
    let repeated = FixContext {
        seen_before: true,
        ..ctx()
    };
    assert_eq!(
        evaluate(&f, &repeated, &idx, &p).unwrap().flags,
        vec![GeoFlag::RepeatedFix]
    );
    // 50 km in one minute: teleport. 500 m in one minute: a motorbike.
    let mut prev = fix_at(north(KUPANG, 50_000.0), Some(10.0));
    prev.time_ms = f.time_ms - 60_000;
    let teleport = FixContext {
        previous: Some(prev.clone()),
        ..ctx()
    };
    assert_eq!(
        evaluate(&f, &teleport, &idx, &p).unwrap().flags,
        vec![GeoFlag::ImpossibleSpeed]
    );
    let mut near = fix_at(north(KUPANG, 500.0), Some(10.0));
    near.time_ms = prev.time_ms;
    let ride = FixContext {
        previous: Some(near.clone()),
        ..ctx()
    };
    assert!(evaluate(&f, &ride, &idx, &p).unwrap().flags.is_empty());
    // Somewhere else at the very same time is impossible too.
    near.time_ms = f.time_ms;
    let same_time = FixContext {
        previous: Some(near),
        ..ctx()
    };
    assert_eq!(
        evaluate(&f, &same_time, &idx, &p).unwrap().flags,
        vec![GeoFlag::ImpossibleSpeed]
    );
}

#[test]
fn bad_input_is_typed() {
    for (lat, lon) in [
        (f64::NAN, 0.0),
        (0.0, f64::INFINITY),
        (91.0, 0.0),
        (0.0, -180.5),
    ] {
        assert!(matches!(
            LatLon::new(lat, lon),
            Err(crate::Error::InvalidInput { .. })
        ));
        let f = Fix {
            lat,
            lon,
            ..fix_at(KUPANG, Some(5.0))
        };
        assert!(
            evaluate(
                &f,
                &ctx(),
                &SiteIndex::new(vec![]).unwrap(),
                &GeoPolicy::default()
            )
            .is_err()
        );
    }
    assert!(fix_at(KUPANG, Some(f64::NAN)).validate().is_err());
    assert!(fix_at(KUPANG, Some(-1.0)).validate().is_err());
    assert!(SiteIndex::new(vec![circle("x", KUPANG, 0.0)]).is_err());
    assert!(SiteIndex::new(vec![circle("x", KUPANG, f64::NAN)]).is_err());
    assert!(SiteIndex::new(vec![circle("", KUPANG, 10.0)]).is_err());
    let empty = Site {
        id: "p".into(),
        name: "p".into(),
        fence: Fence::Polygon { vertices: vec![] },
    };
    assert!(SiteIndex::new(vec![empty]).is_err());
    let v = |lat: f64, lon: f64| LatLon { lat, lon };
    let bowtie = Fence::Polygon {
        vertices: vec![v(0.0, 0.0), v(0.001, 0.001), v(0.0, 0.001), v(0.001, 0.0)],
    };
    assert!(
        bowtie.validate().is_err(),
        "self-intersecting polygon accepted"
    );
    let flat = Fence::Polygon {
        vertices: vec![v(0.0, 0.0), v(0.0, 0.001), v(0.0, 0.002)],
    };
    assert!(flat.validate().is_err(), "zero-area polygon accepted");
    let v = eval(&fix_at(KUPANG, Some(5.0)), vec![]);
    assert_eq!((v.site_id, v.containment), (None, Containment::Outside));
}

fn arb_site(i: usize) -> impl Strategy<Value = Site> {
    (
        -10.5f64..-9.8,
        123.3f64..123.9,
        10.0f64..500.0,
        any::<bool>(),
    )
        .prop_map(move |(lat, lon, size, poly)| {
            let c = LatLon { lat, lon };
            if poly {
                square(&format!("s{i}"), c, size / 111_000.0)
            } else {
                circle(&format!("s{i}"), c, size)
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The R-tree answer equals the linear scan's, for random sites and points.
    #[test]
    fn rtree_matches_linear_scan(
        sites in (1usize..60).prop_flat_map(|n| (0..n).map(arb_site).collect::<Vec<_>>()),
        lat in -10.6f64..-9.7, lon in 123.2f64..124.0,
    ) {
        let idx = SiteIndex::new(sites).unwrap();
        let p = LatLon { lat, lon };
        let (a, da) = idx.nearest(p).unwrap();
        let (b, db) = idx.nearest_linear(p).unwrap();
        prop_assert!((da - db).abs() < 1e-6, "{} {} vs {} {}", a.id, da, b.id, db);
    }

    /// Shrinking the accuracy never turns Inside into something else, nor Outside into Inside.
    #[test]
    fn tighter_accuracy_is_monotone(north_m in -300.0f64..300.0, acc in 1.0f64..100.0, k in 0.01f64..1.0) {
        let s = vec![circle("o", KUPANG, 150.0)];
        let wide = eval(&fix_at(north(KUPANG, north_m), Some(acc)), s.clone()).containment;
        let tight = eval(&fix_at(north(KUPANG, north_m), Some(1.0 + (acc - 1.0) * k)), s).containment;
        if wide != Containment::Undecidable {
            prop_assert_eq!(wide, tight);
        }
    }

    /// Arbitrary numbers never panic; they give a verdict or a typed error.
    #[test]
    fn no_panics(lat in any::<f64>(), lon in any::<f64>(), acc in proptest::option::of(any::<f64>()), t in any::<i64>(), now in any::<i64>()) {
        let idx = SiteIndex::new(vec![circle("o", KUPANG, 100.0), square("p", KUPANG, 0.01)]).unwrap();
        let f = Fix { lat, lon, accuracy_m: acc, time_ms: t, provider: "x".into(), is_mock: false };
        let _ = evaluate(&f, &FixContext { previous: Some(fix_at(KUPANG, Some(5.0))), seen_before: false, now_ms: now }, &idx, &GeoPolicy::default());
    }
}

#[test]
fn works_across_the_antimeridian_and_far_apart() {
    let fiji = LatLon {
        lat: -17.0,
        lon: 179.9999,
    };
    let idx = SiteIndex::new(vec![
        circle("fiji", fiji, 100.0),
        circle("kupang", KUPANG, 100.0),
    ])
    .unwrap();
    let p = LatLon {
        lat: -17.0,
        lon: -179.9999,
    };
    let (s, d) = idx.nearest(p).unwrap();
    assert_eq!(s.id, "fiji");
    assert!(d < 0.0, "{d}");
}
