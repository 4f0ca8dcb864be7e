//! Benchmark of the geo check: `evaluate` against 10,000 random sites in a city-sized and a
//! country-sized area. Target: under 50 µs per fix.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use geo::{Destination, Haversine, Point};
use siap_core::geo::{Fence, Fix, FixContext, GeoPolicy, LatLon, Site, SiteIndex, evaluate};

const SITES: usize = 10_000;
const FIXES: usize = 1_024;

/// SplitMix64: deterministic, dependency-free randomness so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }
}

/// An area as (lat_min, lat_max, lon_min, lon_max).
type Area = (f64, f64, f64, f64);
const CITY: Area = (-6.37, -6.08, 106.68, 106.97); // Jakarta, ~30 km across
const COUNTRY: Area = (-11.0, 6.0, 95.0, 141.0); // Indonesia's bounding box, ~5,000 km across

fn offset(from: LatLon, bearing: f64, dist_m: f64) -> LatLon {
    let p = Haversine.destination(Point::new(from.lon, from.lat), bearing, dist_m);
    LatLon {
        lat: p.y(),
        lon: p.x(),
    }
}

/// Half circles (30-300 m), half star-shaped polygons (4-8 vertices, 30-300 m).
fn sites(rng: &mut Rng, (la0, la1, lo0, lo1): Area) -> Vec<Site> {
    (0..SITES)
        .map(|i| {
            let c = LatLon {
                lat: rng.range(la0, la1),
                lon: rng.range(lo0, lo1),
            };
            let fence = if i % 2 == 0 {
                Fence::Circle {
                    center: c,
                    radius_m: rng.range(30.0, 300.0),
                }
            } else {
                let n = 4 + (rng.next() % 5) as usize;
                let vertices = (0..n)
                    .map(|k| offset(c, 360.0 * k as f64 / n as f64, rng.range(30.0, 300.0)))
                    .collect();
                Fence::Polygon { vertices }
            };
            Site {
                id: format!("site-{i}"),
                name: format!("Kantor {i}"),
                fence,
            }
        })
        .collect()
}

/// Fixes with 3-30 m accuracy: half near a random site (within 500 m), half anywhere in the area.
fn fixes(rng: &mut Rng, sites: &[Site], (la0, la1, lo0, lo1): Area) -> Vec<Fix> {
    (0..FIXES)
        .map(|i| {
            let p = if i % 2 == 0 {
                let site = &sites[(rng.next() % sites.len() as u64) as usize];
                let anchor = match &site.fence {
                    Fence::Circle { center, .. } => *center,
                    Fence::Polygon { vertices } => vertices[0],
                };
                offset(anchor, rng.range(0.0, 360.0), rng.range(0.0, 500.0))
            } else {
                LatLon {
                    lat: rng.range(la0, la1),
                    lon: rng.range(lo0, lo1),
                }
            };
            Fix {
                lat: p.lat,
                lon: p.lon,
                accuracy_m: Some(rng.range(3.0, 30.0)),
                time_ms: 1_700_000_000_000,
                provider: "gps".into(),
                is_mock: false,
            }
        })
        .collect()
}

fn bench_area(c: &mut Criterion, name: &str, area: Area) {
    let mut rng = Rng(0x5149_4150); // "SIAP"
    let sites = sites(&mut rng, area);
    let fixes = fixes(&mut rng, &sites, area);
    c.bench_function(&format!("index_build/{name}/10k"), |b| {
        b.iter(|| SiteIndex::new(black_box(sites.clone())));
    });
    let Ok(index) = SiteIndex::new(sites) else {
        panic!("benchmark sites must be valid")
    };
    let points: Vec<LatLon> = fixes
        .iter()
        .map(|f| LatLon {
            lat: f.lat,
            lon: f.lon,
        })
        .collect();
    let mut j = 0;
    c.bench_function(&format!("nearest/{name}/10k"), |b| {
        b.iter(|| {
            j = (j + 1) % points.len();
            index.nearest(black_box(points[j])).map(|(_, d)| d)
        });
    });
    let policy = GeoPolicy::default();
    let previous = fixes[0].clone();
    let ctx = FixContext {
        previous: Some(previous),
        seen_before: false,
        now_ms: 1_700_000_001_000,
    };
    let mut i = 0;
    c.bench_function(&format!("evaluate/{name}/10k"), |b| {
        b.iter(|| {
            i = (i + 1) % fixes.len();
            evaluate(black_box(&fixes[i]), &ctx, &index, &policy)
        });
    });
}

fn benches(c: &mut Criterion) {
    bench_area(c, "city", CITY);
    bench_area(c, "country", COUNTRY);
}

criterion_group!(geo_benches, benches);
criterion_main!(geo_benches);
