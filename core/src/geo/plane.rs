//! A local plane for measuring polygons in metres.
//!
//! Polygon fences are given in degrees, but geo's planar algorithms (containment, distance to a line
//! string, self-intersection) need metres. Each polygon gets its own azimuthal-equidistant plane centred
//! on its reference point: a point is placed at its true great-circle distance from the centre, in its
//! true direction. Two properties follow that the rest of the module relies on:
//!
//! - distances from the centre are exact, so a polygon whose vertices lie within `reach` of the centre
//!   lies inside the disc of radius `reach` in the plane (used for the index's lower bound);
//! - near the centre the plane is almost isometric: at 50 km the scale error is about 1e-5, i.e. under
//!   a metre at the edge of the largest allowed fence and millimetres for an office compound.

use geo::{Bearing, Coord, Haversine};

use super::coord::{LatLon, distance_m};

/// An azimuthal-equidistant projection around one centre (x east, y north, metres).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalPlane {
    centre: LatLon,
}

impl LocalPlane {
    /// A plane centred on a valid coordinate.
    pub(crate) fn new(centre: LatLon) -> LocalPlane {
        LocalPlane { centre }
    }

    /// Projects a valid coordinate into the plane.
    pub(crate) fn project(&self, p: LatLon) -> Coord<f64> {
        let r = distance_m(self.centre, p);
        if r == 0.0 {
            return Coord { x: 0.0, y: 0.0 };
        }
        let azimuth = Haversine
            .bearing(self.centre.point(), p.point())
            .to_radians();
        Coord {
            x: r * azimuth.sin(),
            y: r * azimuth.cos(),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests fail loudly and compare exact values"
)]
mod tests {
    use super::*;

    #[test]
    fn distance_from_centre_is_exact_and_directions_are_right() {
        let c = LatLon::new(-6.2, 106.8).unwrap();
        let plane = LocalPlane::new(c);
        let north = LatLon::new(-6.19, 106.8).unwrap();
        let east = LatLon::new(-6.2, 106.81).unwrap();
        let n = plane.project(north);
        let e = plane.project(east);
        assert!(n.x.abs() < 1e-6 && n.y > 0.0);
        // A parallel is not a great circle: at this latitude it bends ~1 cm off due east over 1.1 km.
        assert!(e.y.abs() < 0.05 && e.x > 0.0, "{e:?}");
        assert!((n.x.hypot(n.y) - distance_m(c, north)).abs() < 1e-6);
        assert_eq!(plane.project(c), Coord { x: 0.0, y: 0.0 });
    }

    #[test]
    fn near_the_centre_planar_distances_match_great_circle() {
        let plane = LocalPlane::new(LatLon::new(-6.2, 106.8).unwrap());
        let a = LatLon::new(-6.203, 106.797).unwrap();
        let b = LatLon::new(-6.196, 106.804).unwrap();
        let (pa, pb) = (plane.project(a), plane.project(b));
        let planar = (pa.x - pb.x).hypot(pa.y - pb.y);
        assert!((planar - distance_m(a, b)).abs() < 0.01, "{planar}");
    }
}
