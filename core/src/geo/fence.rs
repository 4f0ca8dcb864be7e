//! Site fences: their validation and the prepared form distances are measured against.
//!
//! A [`Fence`] as the server sends it is a circle or a polygon in degrees. [`PreparedFence`] is the
//! checked, measurable form: for a polygon it holds the polygon projected once into its own
//! [`LocalPlane`], so measuring a fix costs one projection and one planar distance.

use geo::algorithm::validation::InvalidPolygon;
use geo::{Area, Distance, Euclidean, Intersects, LineString, Point, Polygon, Validation};
use serde::{Deserialize, Serialize};

use super::coord::{LatLon, distance_m};
use super::plane::LocalPlane;
use crate::{Error, Result};

/// Largest accepted circle radius, and largest distance of a polygon vertex from the polygon's centre.
///
/// A fence is an office compound, a market or a work site, not a region. The limit also bounds the
/// error of measuring polygons in a flat local plane to well under a metre.
pub const MAX_FENCE_RADIUS_M: f64 = 50_000.0;

/// Most vertices a polygon fence may have (validation is quadratic in the vertex count).
pub const MAX_POLYGON_VERTICES: usize = 1_000;

/// Longest accepted site id, in bytes.
pub const MAX_SITE_ID_LEN: usize = 128;

/// Smallest accepted polygon area; anything less is a line or a point, not a fence.
const MIN_POLYGON_AREA_M2: f64 = 1.0;

/// The boundary of a site.
///
/// Distances to a polygon are measured in an azimuthal-equidistant plane centred on the polygon (see
/// `plane.rs`): exact for circles, within centimetres for fixes near a compound-sized polygon, and
/// within the polygon's own size for fixes far away (which are outside it anyway).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fence {
    /// Everything within `radius_m` metres (great-circle) of `center`.
    Circle {
        /// Centre of the circle.
        center: LatLon,
        /// Radius in metres, `0 < radius_m <= MAX_FENCE_RADIUS_M`.
        radius_m: f64,
    },
    /// A simple polygon (an office compound). The ring may be given open or closed; it must not
    /// cross itself.
    Polygon {
        /// Vertices in order (either orientation), at least 3 distinct.
        vertices: Vec<LatLon>,
    },
}

impl Fence {
    /// Checks the fence: finite, in-range coordinates; a radius in `(0, MAX_FENCE_RADIUS_M]`; a polygon
    /// with 3 to [`MAX_POLYGON_VERTICES`] vertices, a non-zero area, no self-intersection, and all
    /// vertices within [`MAX_FENCE_RADIUS_M`] of its centre.
    pub fn validate(&self) -> Result<()> {
        PreparedFence::new(self).map(|_| ())
    }
}

/// A place where people check in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Site {
    /// Stable id from the server; non-empty, at most [`MAX_SITE_ID_LEN`] bytes, unique in an index.
    pub id: String,
    /// Human-readable name (never used in errors).
    pub name: String,
    /// The boundary.
    pub fence: Fence,
}

impl Site {
    /// Checks the id and the fence.
    pub fn validate(&self) -> Result<()> {
        if self.id.trim().is_empty() {
            return Err(Error::invalid("id", "site id is empty"));
        }
        if self.id.len() > MAX_SITE_ID_LEN {
            return Err(Error::invalid(
                "id",
                format!("site id longer than {MAX_SITE_ID_LEN} bytes"),
            ));
        }
        self.fence.validate()
    }
}

/// A validated fence ready for measuring.
#[derive(Clone, Debug)]
pub(crate) struct PreparedFence {
    /// Every point of the fence is within `reach_m` (great-circle) of `centre`.
    centre: LatLon,
    reach_m: f64,
    shape: Shape,
}

#[derive(Clone, Debug)]
enum Shape {
    Circle {
        radius_m: f64,
    },
    Polygon {
        plane: LocalPlane,
        polygon: Polygon<f64>,
    },
}

impl PreparedFence {
    /// Validates and prepares a fence.
    pub(crate) fn new(fence: &Fence) -> Result<PreparedFence> {
        match fence {
            Fence::Circle { center, radius_m } => {
                center.validate_as("center", "center")?;
                if !radius_m.is_finite() || *radius_m <= 0.0 {
                    return Err(Error::invalid(
                        "radius_m",
                        "radius must be a positive number",
                    ));
                }
                if *radius_m > MAX_FENCE_RADIUS_M {
                    return Err(Error::invalid(
                        "radius_m",
                        format!("radius larger than the {MAX_FENCE_RADIUS_M} m limit"),
                    ));
                }
                Ok(PreparedFence {
                    centre: *center,
                    reach_m: *radius_m,
                    shape: Shape::Circle {
                        radius_m: *radius_m,
                    },
                })
            }
            Fence::Polygon { vertices } => prepare_polygon(vertices),
        }
    }

    /// Centre of the fence's bounding cap.
    pub(crate) fn centre(&self) -> LatLon {
        self.centre
    }

    /// Radius of the fence's bounding cap: no point of the fence is further from [`Self::centre`].
    pub(crate) fn reach_m(&self) -> f64 {
        self.reach_m
    }

    /// Signed distance in metres from a valid coordinate to the fence edge; negative inside.
    ///
    /// Never less than `distance_m(centre, p) - reach_m` (the index relies on this): for a polygon,
    /// `p` lands at exactly that distance from the plane's origin and the polygon lies within the disc
    /// of radius `reach_m`, so the way out (or in) along the radius is at most that long.
    pub(crate) fn signed_distance_m(&self, p: LatLon) -> f64 {
        match &self.shape {
            Shape::Circle { radius_m } => distance_m(self.centre, p) - radius_m,
            Shape::Polygon { plane, polygon } => {
                let q = Point::from(plane.project(p));
                let to_edge = Euclidean.distance(&q, polygon.exterior());
                if polygon.intersects(&q) {
                    -to_edge
                } else {
                    to_edge
                }
            }
        }
    }
}

fn prepare_polygon(vertices: &[LatLon]) -> Result<PreparedFence> {
    if vertices.len() < 3 {
        return Err(Error::invalid(
            "vertices",
            "a polygon needs at least 3 vertices",
        ));
    }
    if vertices.len() > MAX_POLYGON_VERTICES {
        return Err(Error::invalid(
            "vertices",
            format!("a polygon may have at most {MAX_POLYGON_VERTICES} vertices"),
        ));
    }
    for v in vertices {
        v.validate_as("vertices", "vertices")?;
    }
    // Centre: the normalised mean of the vertices' directions. Vertices spread over half the globe can
    // cancel out; such a polygon is far beyond the size limit anyway.
    let mut sum = [0.0_f64; 3];
    for v in vertices {
        let xyz = v.xyz();
        for (s, c) in sum.iter_mut().zip(xyz) {
            *s += c;
        }
    }
    let norm = (sum[0] * sum[0] + sum[1] * sum[1] + sum[2] * sum[2]).sqrt();
    let too_large = || {
        Error::invalid(
            "vertices",
            format!("polygon extends more than {MAX_FENCE_RADIUS_M} m from its centre"),
        )
    };
    if norm.is_nan() || norm <= 1e-6 * super::EARTH_RADIUS_M * vertices.len() as f64 {
        return Err(too_large());
    }
    let centre = LatLon::from_direction(sum);
    let reach_m = vertices
        .iter()
        .map(|v| distance_m(centre, *v))
        .fold(0.0_f64, f64::max);
    if reach_m > MAX_FENCE_RADIUS_M {
        return Err(too_large());
    }

    let plane = LocalPlane::new(centre);
    let ring: LineString<f64> = vertices.iter().map(|v| plane.project(*v)).collect();
    let polygon = Polygon::new(ring, vec![]);
    if let Err(problem) = polygon.check_validation() {
        let reason = match problem {
            InvalidPolygon::TooFewPointsInRing(_) => "a polygon needs at least 3 distinct vertices",
            InvalidPolygon::SelfIntersection(_) => {
                "polygon edges cross or touch (self-intersecting)"
            }
            InvalidPolygon::NonFiniteCoord(..) => "polygon has a non-finite coordinate",
            _ => "polygon is not a valid simple polygon",
        };
        return Err(Error::invalid("vertices", reason));
    }
    let area = polygon.unsigned_area();
    if area.is_nan() || area < MIN_POLYGON_AREA_M2 {
        return Err(Error::invalid("vertices", "polygon has no area"));
    }
    Ok(PreparedFence {
        centre,
        reach_m,
        shape: Shape::Polygon { plane, polygon },
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests fail loudly and compare exact values"
)]
pub(crate) mod tests {
    use super::*;

    /// A square of side `2 * half_m` metres (approximately) around a centre.
    pub(crate) fn square(lat: f64, lon: f64, half_m: f64) -> Fence {
        let dlat = half_m / 111_195.0;
        let dlon = dlat / lat.to_radians().cos();
        Fence::Polygon {
            vertices: vec![
                LatLon::new(lat - dlat, lon - dlon).unwrap(),
                LatLon::new(lat - dlat, lon + dlon).unwrap(),
                LatLon::new(lat + dlat, lon + dlon).unwrap(),
                LatLon::new(lat + dlat, lon - dlon).unwrap(),
            ],
        }
    }

    fn field_of(r: Result<()>) -> &'static str {
        match r {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    #[test]
    fn circle_validation() {
        let c = ll(-6.2, 106.8);
        assert!(
            Fence::Circle {
                center: c,
                radius_m: 100.0
            }
            .validate()
            .is_ok()
        );
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_FENCE_RADIUS_M * 2.0] {
            assert_eq!(
                field_of(
                    Fence::Circle {
                        center: c,
                        radius_m: r
                    }
                    .validate()
                ),
                "radius_m"
            );
        }
        let bad = Fence::Circle {
            center: ll(91.0, 0.0),
            radius_m: 10.0,
        };
        assert_eq!(field_of(bad.validate()), "center");
        let bad = Fence::Circle {
            center: ll(0.0, f64::NAN),
            radius_m: 10.0,
        };
        assert_eq!(field_of(bad.validate()), "center");
    }

    #[test]
    fn polygon_validation() {
        assert!(square(-6.2, 106.8, 50.0).validate().is_ok());
        let v = |pts: &[(f64, f64)]| Fence::Polygon {
            vertices: pts.iter().map(|&(lat, lon)| ll(lat, lon)).collect(),
        };
        // Empty, too few, duplicated-to-three, non-finite, out of range.
        assert_eq!(field_of(v(&[]).validate()), "vertices");
        assert_eq!(
            field_of(v(&[(0.0, 0.0), (0.0, 0.001)]).validate()),
            "vertices"
        );
        let dup = v(&[(0.0, 0.0), (0.0, 0.001), (0.0, 0.001)]);
        assert_eq!(field_of(dup.validate()), "vertices");
        let nan = v(&[(0.0, 0.0), (0.0, 0.001), (f64::NAN, 0.001)]);
        assert_eq!(field_of(nan.validate()), "vertices");
        let lat91 = v(&[(0.0, 0.0), (0.0, 0.001), (91.0, 0.001)]);
        assert_eq!(field_of(lat91.validate()), "vertices");
        // Collinear: no area.
        let line = v(&[(0.0, 0.0), (0.0, 0.001), (0.0, 0.002)]);
        assert_eq!(field_of(line.validate()), "vertices");
        // Bow-tie: edges cross.
        let bow = v(&[(0.0, 0.0), (0.001, 0.001), (0.0, 0.001), (0.001, 0.0)]);
        match bow.validate() {
            Err(Error::InvalidInput {
                field: "vertices",
                reason,
            }) => {
                assert!(reason.contains("self-intersecting"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // Too large.
        let huge = v(&[(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]);
        assert_eq!(field_of(huge.validate()), "vertices");
        // A closed ring (first vertex repeated) is fine.
        let closed = v(&[(0.0, 0.0), (0.0, 0.001), (0.001, 0.001), (0.0, 0.0)]);
        assert!(closed.validate().is_ok());
    }

    #[test]
    fn polygon_across_the_antimeridian_and_at_a_pole() {
        let across = Fence::Polygon {
            vertices: vec![
                ll(-17.0, 179.999),
                ll(-17.0, -179.999),
                ll(-17.001, -179.999),
            ],
        };
        assert!(across.validate().is_ok());
        let pole = Fence::Polygon {
            vertices: vec![ll(89.9999, 0.0), ll(89.9999, 120.0), ll(89.9999, -120.0)],
        };
        let prepared = PreparedFence::new(&pole).unwrap();
        assert!(prepared.signed_distance_m(ll(90.0, 0.0)) < 0.0);
    }

    #[test]
    fn site_validation() {
        let fence = Fence::Circle {
            center: ll(0.0, 0.0),
            radius_m: 10.0,
        };
        let site = |id: &str| Site {
            id: id.into(),
            name: "Kantor".into(),
            fence: fence.clone(),
        };
        assert!(site("s1").validate().is_ok());
        assert_eq!(field_of(site("").validate()), "id");
        assert_eq!(field_of(site("  ").validate()), "id");
        assert_eq!(
            field_of(site(&"x".repeat(MAX_SITE_ID_LEN + 1)).validate()),
            "id"
        );
    }

    #[test]
    fn signed_distances() {
        let c = ll(-6.2, 106.8);
        let circle = PreparedFence::new(&Fence::Circle {
            center: c,
            radius_m: 100.0,
        })
        .unwrap();
        assert!((circle.signed_distance_m(c) + 100.0).abs() < 1e-9);
        let sq = PreparedFence::new(&square(-6.2, 106.8, 50.0)).unwrap();
        let d_centre = sq.signed_distance_m(c);
        assert!((d_centre + 50.0).abs() < 0.1, "{d_centre}");
        let outside = ll(
            -6.2,
            106.8 + 100.0 / 111_195.0 / (6.2_f64).to_radians().cos(),
        );
        let d = sq.signed_distance_m(outside);
        assert!((d - 50.0).abs() < 0.1, "{d}");
    }

    #[test]
    fn serde_shape_is_tagged() {
        let f = Fence::Circle {
            center: ll(1.0, 2.0),
            radius_m: 3.0,
        };
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            json,
            r#"{"type":"circle","center":{"lat":1.0,"lon":2.0},"radius_m":3.0}"#
        );
        let back: Fence = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
        let p: Fence = serde_json::from_str(r#"{"type":"polygon","vertices":[]}"#).unwrap();
        assert_eq!(p, Fence::Polygon { vertices: vec![] });
    }
}
