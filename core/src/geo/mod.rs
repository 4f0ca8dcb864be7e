//! Geofences and fix plausibility: is this phone really at this site?
//!
//! Civil servants check in from phones, and some use fake-GPS apps. This module answers two separate
//! questions honestly and leaves the decision to policy elsewhere:
//!
//! 1. **Where is the fix relative to the nearest site?** Decided with the accuracy circle, not the point:
//!    [`Containment::Inside`] only if the whole circle lies inside the fence, [`Containment::Outside`] only
//!    if it lies wholly outside, otherwise [`Containment::Undecidable`] (also when accuracy is missing,
//!    implausibly small or worse than [`GeoPolicy::max_accuracy_m`]).
//! 2. **Does the fix look genuine?** [`GeoFlag`]s: mock provider, teleporting, stale or future time,
//!    missing or implausible accuracy, an exact repeat of an earlier fix. Flags travel with the verdict.
//!
//! Map of the files, one job each:
//! - `coord.rs`: [`LatLon`], [`distance_m`] and the Earth model (haversine sphere).
//! - `plane.rs`: the local azimuthal-equidistant plane polygons are measured in.
//! - `fence.rs`: [`Fence`] and [`Site`], their validation and the prepared form used for distances.
//! - `fix.rs`: [`Fix`], [`FixContext`] and [`GeoPolicy`] (the inputs of a check).
//! - `flags.rs`: [`GeoFlag`] and the plausibility checks.
//! - `index.rs`: [`SiteIndex`], an R-tree that finds the site with the smallest signed edge distance.
//! - `evaluate.rs`: [`evaluate`], [`Containment`] and [`GeoVerdict`].
//!
//! Distances are in metres on a sphere of radius [`EARTH_RADIUS_M`] (geo's haversine); see
//! [`distance_m`] and [`Fence`] for the error bounds this model implies.

mod coord;
mod evaluate;
mod fence;
mod fix;
mod flags;
mod index;
mod plane;
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod proptests;

pub use coord::{EARTH_RADIUS_M, LatLon, distance_m};
pub use evaluate::{Containment, GeoVerdict, evaluate};
pub use fence::{Fence, MAX_FENCE_RADIUS_M, MAX_POLYGON_VERTICES, MAX_SITE_ID_LEN, Site};
pub use fix::{Fix, FixContext, GeoPolicy};
pub use flags::GeoFlag;
pub use index::SiteIndex;
