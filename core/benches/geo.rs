//! `evaluate` against 10,000 sites: R-tree versus the linear scan, city-sized and country-sized spreads.
//! Budget: < 50 µs per fix.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use siap_core::geo::{Fence, Fix, FixContext, GeoPolicy, LatLon, Site, SiteIndex, evaluate};

fn sites(n: usize, lat: (f64, f64), lon: (f64, f64), seed: u64) -> Vec<Site> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|i| {
            let c = LatLon {
                lat: lat.0 + rng.f64() * (lat.1 - lat.0),
                lon: lon.0 + rng.f64() * (lon.1 - lon.0),
            };
            let fence = if i % 2 == 0 {
                Fence::Circle {
                    center: c,
                    radius_m: 30.0 + rng.f64() * 200.0,
                }
            } else {
                let h = 0.0003 + rng.f64() * 0.001;
                Fence::Polygon {
                    vertices: vec![
                        LatLon {
                            lat: c.lat - h,
                            lon: c.lon - h,
                        },
                        LatLon {
                            lat: c.lat - h,
                            lon: c.lon + h,
                        },
                        LatLon {
                            lat: c.lat + h,
                            lon: c.lon + h,
                        },
                        LatLon {
                            lat: c.lat + h * 0.5,
                            lon: c.lon,
                        },
                        LatLon {
                            lat: c.lat + h,
                            lon: c.lon - h,
                        },
                    ],
                }
            };
            Site {
                id: format!("site-{i}"),
                name: String::new(),
                fence,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let policy = GeoPolicy::default();
    let ctx = FixContext {
        previous: None,
        seen_before: false,
        now_ms: 1_000,
    };
    for (name, lat, lon) in [
        ("city", (-10.25, -10.10), (123.50, 123.70)),
        ("country", (-11.0, 6.0), (95.0, 141.0)),
    ] {
        let idx = SiteIndex::new(sites(10_000, lat, lon, 7)).expect("valid sites");
        let mut rng = fastrand::Rng::with_seed(9);
        let fixes: Vec<Fix> = (0..256)
            .map(|_| Fix {
                lat: lat.0 + rng.f64() * (lat.1 - lat.0),
                lon: lon.0 + rng.f64() * (lon.1 - lon.0),
                accuracy_m: Some(10.0),
                time_ms: 1_000,
                provider: "gps".into(),
                is_mock: false,
            })
            .collect();
        let mut i = 0;
        c.bench_function(&format!("evaluate_10k_sites_{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % fixes.len();
                black_box(evaluate(&fixes[i], &ctx, &idx, &policy).expect("valid fix"))
            });
        });
        let mut j = 0;
        c.bench_function(&format!("linear_scan_10k_sites_{name}"), |b| {
            b.iter(|| {
                j = (j + 1) % fixes.len();
                let f = &fixes[j];
                black_box(idx.nearest_linear(LatLon {
                    lat: f.lat,
                    lon: f.lon,
                }))
            });
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
