//! Fences: circles and polygons, their validation and the signed distance from a point to their edge.
//!
//! Polygon distances are computed in a local tangent plane centred on the query point (equirectangular
//! projection in metres). At city scale (fences of tens to hundreds of metres) the error is far below
//! GNSS accuracy; fences larger than [`MAX_POLYGON_SPAN_M`] are refused so the approximation always holds.

use geo::{Area, Contains, Coord, Distance, Euclidean, LineString, Point, Polygon, Validation};
use serde::{Deserialize, Serialize};

use super::{EARTH_RADIUS_M, LatLon, distance_m};
use crate::{Error, Result};

/// Largest circle radius accepted, metres.
pub const MAX_RADIUS_M: f64 = 50_000.0;
/// Largest distance between two polygon vertices, metres.
pub const MAX_POLYGON_SPAN_M: f64 = 50_000.0;
/// Most vertices in a polygon.
pub const MAX_VERTICES: usize = 1_000;

/// A geofence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fence {
    /// Everything within `radius_m` of `center`.
    Circle {
        /// Centre.
        center: LatLon,
        /// Radius in metres.
        radius_m: f64,
    },
    /// A simple polygon (an office compound); the ring closes itself.
    Polygon {
        /// Vertices in order (3 or more, not repeating the first at the end — a repeat is tolerated).
        vertices: Vec<LatLon>,
    },
}

impl Fence {
    /// Rejects bad coordinates, radius <= 0 or too large, polygons with < 3 distinct vertices,
    /// self-intersecting or zero-area polygons, and polygons too large for the local projection.
    pub fn validate(&self) -> Result<()> {
        match self {
            Fence::Circle { center, radius_m } => {
                center.validate()?;
                if !radius_m.is_finite() || *radius_m <= 0.0 || *radius_m > MAX_RADIUS_M {
                    return Err(Error::invalid(
                        "radius_m",
                        format!("must be in (0, {MAX_RADIUS_M}] metres"),
                    ));
                }
                Ok(())
            }
            Fence::Polygon { vertices } => {
                if vertices.len() < 3 || vertices.len() > MAX_VERTICES + 1 {
                    return Err(Error::invalid(
                        "vertices",
                        format!("a polygon needs 3..={MAX_VERTICES} vertices"),
                    ));
                }
                for v in vertices {
                    v.validate()?;
                }
                let origin = vertices[0];
                for v in vertices {
                    if distance_m(origin, *v) > MAX_POLYGON_SPAN_M {
                        return Err(Error::invalid("vertices", "polygon spans more than 50 km"));
                    }
                }
                let projected = project(vertices, origin);
                if projected.unsigned_area() < 1.0 {
                    return Err(Error::invalid("vertices", "polygon has (almost) no area"));
                }
                if !projected.is_valid() {
                    return Err(Error::invalid(
                        "vertices",
                        "polygon is self-intersecting, degenerate or has repeated vertices",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Signed distance in metres from `p` to the fence edge: negative inside, positive outside.
    pub fn signed_distance_m(&self, p: LatLon) -> f64 {
        match self {
            Fence::Circle { center, radius_m } => distance_m(*center, p) - radius_m,
            Fence::Polygon { vertices } => {
                let poly = project(vertices, p);
                let origin = Point::new(0.0, 0.0);
                let d = Euclidean.distance(&origin, poly.exterior());
                if poly.contains(&origin) { -d } else { d }
            }
        }
    }

    /// Points whose envelope bounds the fence (used by the spatial index), with a margin in metres.
    pub(crate) fn outline(&self) -> (Vec<LatLon>, f64) {
        match self {
            Fence::Circle { center, radius_m } => (vec![*center], *radius_m),
            Fence::Polygon { vertices } => (vertices.clone(), 0.0),
        }
    }
}

/// Projects vertices into a local plane (metres) centred on `origin`.
fn project(vertices: &[LatLon], origin: LatLon) -> Polygon<f64> {
    let k = origin.lat.to_radians().cos();
    let coords: Vec<Coord<f64>> = vertices
        .iter()
        .map(|v| {
            let mut dlon = v.lon - origin.lon;
            if dlon > 180.0 {
                dlon -= 360.0;
            } else if dlon < -180.0 {
                dlon += 360.0;
            }
            Coord {
                x: EARTH_RADIUS_M * dlon.to_radians() * k,
                y: EARTH_RADIUS_M * (v.lat - origin.lat).to_radians(),
            }
        })
        .collect();
    Polygon::new(LineString::from(coords), vec![])
}
