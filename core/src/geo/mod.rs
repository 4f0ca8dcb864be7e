//! Geo checks: is the phone really at the office (or at the asset), and is the fix believable?
//!
//! Decisions use the fix's accuracy circle, not just its point: *inside* only when the whole circle is
//! inside the fence, *outside* only when the whole circle is outside, otherwise *undecidable* — a
//! 2 km accuracy radius is never "inside" by luck. Plausibility flags (mock provider, impossible speed,
//! stale or future fix, missing or implausible accuracy, exact repeat) travel with the verdict; policy
//! elsewhere decides what they mean.
//!
//! - [`fence`]: validated fences and signed distances to their edge;
//! - [`index`]: an R-tree over many sites, exact nearest-by-edge;
//! - [`evaluate`](mod@evaluate): the verdict for one fix.

pub mod evaluate;
pub mod fence;
pub mod index;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use evaluate::{Containment, FixContext, GeoFlag, GeoPolicy, GeoVerdict, evaluate};
pub use fence::Fence;
pub use index::SiteIndex;

/// Mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A validated WGS84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

impl LatLon {
    /// A position; NaN, infinite or out-of-range values are an [`Error::InvalidInput`].
    pub fn new(lat: f64, lon: f64) -> Result<Self> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Error::invalid(
                "latitude",
                "must be a finite number in -90..=90",
            ));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Error::invalid(
                "longitude",
                "must be a finite number in -180..=180",
            ));
        }
        Ok(LatLon { lat, lon })
    }

    /// Re-validates a value that may have been built directly (deserialised, FFI).
    pub fn validate(self) -> Result<Self> {
        Self::new(self.lat, self.lon)
    }
}

/// Great-circle (haversine) distance in metres.
pub fn distance_m(a: LatLon, b: LatLon) -> f64 {
    use geo::{Distance, Haversine, Point};
    Haversine.distance(Point::new(a.lon, a.lat), Point::new(b.lon, b.lat))
}

/// A place where people check in: an office compound or a building.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// Stable id from the server.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its fence.
    pub fence: Fence,
}

impl Site {
    /// Checks the id and the fence.
    pub fn validate(&self) -> Result<()> {
        if self.id.trim().is_empty() || self.id.len() > 128 {
            return Err(Error::invalid("site_id", "must be 1..=128 characters"));
        }
        self.fence.validate()
    }
}

/// A location fix as the platform reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Horizontal accuracy radius in metres (Android: 68% confidence), if reported.
    pub accuracy_m: Option<f64>,
    /// UTC ms of the fix (GNSS time where the platform gives it).
    pub time_ms: i64,
    /// Provider: `gps`, `fused`, `network`, ...
    pub provider: String,
    /// The platform's mock-location flag.
    pub is_mock: bool,
}

impl Fix {
    /// Checks coordinates and accuracy are numbers in range (an accuracy of 0 is allowed here and
    /// flagged as implausible by [`evaluate()`]).
    pub fn validate(&self) -> Result<()> {
        self.position()?;
        if let Some(a) = self.accuracy_m
            && (!a.is_finite() || a < 0.0)
        {
            return Err(Error::invalid(
                "accuracy_m",
                "must be a finite, non-negative number",
            ));
        }
        if self.provider.len() > 64 {
            return Err(Error::invalid("provider", "longer than 64 characters"));
        }
        Ok(())
    }

    /// The fix's position.
    pub fn position(&self) -> Result<LatLon> {
        LatLon::new(self.lat, self.lon)
    }

    /// A stable string of the exact bit patterns of (lat, lon, accuracy): two fixes with the same
    /// fingerprint are an exact repeat, which real GNSS practically never produces.
    pub fn fingerprint(&self) -> String {
        let acc = self
            .accuracy_m
            .map_or_else(|| "-".to_owned(), |a| format!("{:016x}", a.to_bits()));
        format!(
            "{:016x}:{:016x}:{acc}",
            self.lat.to_bits(),
            self.lon.to_bits()
        )
    }
}

#[cfg(test)]
mod tests;
