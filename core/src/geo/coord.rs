//! Coordinates and the Earth model.
//!
//! Everything in `geo` measures on one sphere, the one geo's [`Haversine`] uses, so that circle
//! distances, polygon planes and the spatial index's lower bounds agree with each other exactly.
//! Against the WGS84 ellipsoid the haversine distance is off by at most about 0.5 %, i.e. 50 cm on a
//! 100 m fence radius: far below the accuracy of any phone fix.

use geo::{Distance, Haversine, Point};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Radius of the sphere all distances are measured on (GRS80 mean radius, the one geo's haversine uses).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS84 latitude/longitude in degrees.
///
/// Fields are public for serde and FFI; [`LatLon::new`] and [`LatLon::validate`] check them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct LatLon {
    /// Latitude in degrees, `-90..=90`.
    pub lat: f64,
    /// Longitude in degrees, `-180..=180`.
    pub lon: f64,
}

impl LatLon {
    /// A checked coordinate: NaN, infinite or out-of-range values are [`Error::InvalidInput`].
    pub fn new(lat: f64, lon: f64) -> Result<LatLon> {
        let p = LatLon { lat, lon };
        p.validate()?;
        Ok(p)
    }

    /// Checks that both values are finite and in range (errors name `lat` or `lon`).
    pub fn validate(&self) -> Result<()> {
        self.validate_as("lat", "lon")
    }

    /// Like [`LatLon::validate`], reporting the given field names.
    pub(crate) fn validate_as(
        &self,
        lat_field: &'static str,
        lon_field: &'static str,
    ) -> Result<()> {
        check_range(lat_field, "latitude", self.lat, 90.0)?;
        check_range(lon_field, "longitude", self.lon, 180.0)
    }

    /// The geo point (x = longitude, y = latitude).
    pub(crate) fn point(self) -> Point<f64> {
        Point::new(self.lon, self.lat)
    }

    /// Position on the model sphere in Earth-centred Cartesian metres.
    pub(crate) fn xyz(self) -> [f64; 3] {
        let (lat, lon) = (self.lat.to_radians(), self.lon.to_radians());
        [
            EARTH_RADIUS_M * lat.cos() * lon.cos(),
            EARTH_RADIUS_M * lat.cos() * lon.sin(),
            EARTH_RADIUS_M * lat.sin(),
        ]
    }

    /// The coordinate in the direction of a non-zero Cartesian vector (inverse of [`LatLon::xyz`]).
    pub(crate) fn from_direction(v: [f64; 3]) -> LatLon {
        let horizontal = v[0].hypot(v[1]);
        LatLon {
            lat: v[2].atan2(horizontal).to_degrees(),
            lon: v[1].atan2(v[0]).to_degrees(),
        }
    }
}

fn check_range(field: &'static str, what: &str, value: f64, limit: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::invalid(
            field,
            format!("{what} is not a finite number"),
        ));
    }
    if value.abs() > limit {
        return Err(Error::invalid(
            field,
            format!("{what} outside -{limit}..={limit} degrees"),
        ));
    }
    Ok(())
}

/// Great-circle (haversine) distance in metres on the [`EARTH_RADIUS_M`] sphere.
///
/// Never NaN for valid coordinates (nearly antipodal points, where the formula can round past its
/// domain, give half the circumference); NaN if an input is NaN.
pub fn distance_m(a: LatLon, b: LatLon) -> f64 {
    let d = Haversine.distance(a.point(), b.point());
    if d.is_nan() && [a.lat, a.lon, b.lat, b.lon].iter().all(|v| v.is_finite()) {
        std::f64::consts::PI * EARTH_RADIUS_M
    } else {
        d
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
    fn radius_matches_geo_haversine() {
        assert_eq!(EARTH_RADIUS_M, Haversine.radius());
    }

    #[test]
    fn new_rejects_bad_values_without_echoing_them() {
        for (lat, lon, field) in [
            (f64::NAN, 0.0, "lat"),
            (0.0, f64::NAN, "lon"),
            (f64::INFINITY, 0.0, "lat"),
            (0.0, f64::NEG_INFINITY, "lon"),
            (91.0, 0.0, "lat"),
            (-90.5, 0.0, "lat"),
            (0.0, 180.25, "lon"),
        ] {
            match LatLon::new(lat, lon) {
                Err(Error::InvalidInput { field: f, reason }) => {
                    assert_eq!(f, field);
                    assert!(
                        !reason.contains("91") && !reason.contains("180.25"),
                        "{reason}"
                    );
                }
                other => panic!("expected InvalidInput, got {other:?}"),
            }
        }
        assert!(LatLon::new(90.0, -180.0).is_ok());
    }

    #[test]
    fn distances_are_sane() {
        let monas = LatLon::new(-6.175_392, 106.827_153).unwrap();
        let one_mdeg_north = LatLon::new(-6.174_392, 106.827_153).unwrap();
        let d = distance_m(monas, one_mdeg_north);
        assert!((d - 111.19).abs() < 0.1, "{d}");
        let antipode = LatLon::new(6.175_392, 106.827_153 - 180.0).unwrap();
        let d = distance_m(monas, antipode);
        assert!(d.is_finite() && (d - std::f64::consts::PI * EARTH_RADIUS_M).abs() < 1.0);
        assert_eq!(distance_m(monas, monas), 0.0);
    }

    #[test]
    fn xyz_round_trips() {
        let p = LatLon::new(-6.2, 106.8).unwrap();
        let q = LatLon::from_direction(p.xyz());
        assert!((p.lat - q.lat).abs() < 1e-12 && (p.lon - q.lon).abs() < 1e-12);
    }
}
