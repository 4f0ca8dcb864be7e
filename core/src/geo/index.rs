//! Finding the nearest site among many: an R-tree instead of a linear scan.
//!
//! "Nearest" means the smallest signed distance to the fence edge, so a fix inside a big compound
//! picks that compound even if a small one's centre is closer.
//!
//! The tree (rstar, the geo ecosystem's R-tree) holds, for every site, a 3-D box in Earth-centred
//! metres around the fence's bounding cap (all points within `reach` of its centre). Boxes work
//! anywhere on Earth (poles, the antimeridian), and their distance to the fix is a lower bound of the
//! true distance:
//!
//! `box distance <= chord to the nearest cap point <= arc to it = distance(centre, fix) - reach`,
//!
//! and `distance(centre, fix) - reach` is in turn a lower bound of the fence's signed edge distance
//! (see `PreparedFence::signed_distance_m`). A fix inside a cap is inside its box (distance 0). So
//! walking candidates by box distance and stopping once it exceeds `max(best, 0)` cannot miss a
//! nearer fence: the answer is the same as a linear scan's, ties broken by site id.

use std::collections::HashMap;

use rstar::{AABB, PointDistance, RTree, RTreeObject};

use super::coord::{EARTH_RADIUS_M, LatLon, distance_m};
use super::fence::{PreparedFence, Site};
use crate::{Error, Result};

/// Extra metres added to the stopping bound so floating-point rounding in box, chord and haversine
/// computations (millimetres at Earth scale) can never end the walk early.
const ROUNDING_SLACK_M: f64 = 1.0;

/// The sites of a deployment, indexed for nearest-fence queries.
#[derive(Clone)]
pub struct SiteIndex {
    sites: Vec<Site>,
    fences: Vec<PreparedFence>,
    by_id: HashMap<String, usize>,
    tree: RTree<Entry>,
}

impl std::fmt::Debug for SiteIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No names or coordinates in logs.
        f.debug_struct("SiteIndex")
            .field("len", &self.sites.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
struct Entry {
    envelope: AABB<[f64; 3]>,
    slot: usize,
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 3]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

impl PointDistance for Entry {
    fn distance_2(&self, point: &[f64; 3]) -> f64 {
        self.envelope.distance_2(point)
    }
}

impl SiteIndex {
    /// Validates every site and builds the index. Ids must be unique; errors name the failing field and
    /// the site's position in `sites` (never its id or name).
    pub fn new(sites: Vec<Site>) -> Result<SiteIndex> {
        let mut fences = Vec::with_capacity(sites.len());
        let mut by_id = HashMap::with_capacity(sites.len());
        for (i, site) in sites.iter().enumerate() {
            let with_position = |e: Error| match e {
                Error::InvalidInput { field, reason } => {
                    Error::invalid(field, format!("site at position {i}: {reason}"))
                }
                other => other,
            };
            site.validate().map_err(with_position)?;
            fences.push(PreparedFence::new(&site.fence).map_err(with_position)?);
            if by_id.insert(site.id.clone(), i).is_some() {
                return Err(Error::invalid(
                    "id",
                    format!("site at position {i}: duplicate site id"),
                ));
            }
        }
        let entries = fences
            .iter()
            .enumerate()
            .map(|(slot, f)| Entry {
                envelope: cap_box(f),
                slot,
            })
            .collect();
        Ok(SiteIndex {
            sites,
            fences,
            by_id,
            tree: RTree::bulk_load(entries),
        })
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// Whether there are no sites.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The site with this id.
    pub fn get(&self, id: &str) -> Option<&Site> {
        self.by_id.get(id).map(|&i| &self.sites[i])
    }

    /// All sites, in the order given to [`SiteIndex::new`].
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// The site whose fence edge is nearest (smallest signed distance, negative inside) and that
    /// distance in metres. `None` if the index is empty or `p` is not a valid coordinate.
    pub fn nearest(&self, p: LatLon) -> Option<(&Site, f64)> {
        p.validate().ok()?;
        let mut best: Option<(usize, f64)> = None;
        for (entry, box_d2) in self.tree.nearest_neighbor_iter_with_distance_2(&p.xyz()) {
            if let Some((_, best_d)) = best
                && box_d2.sqrt() > best_d.max(0.0) + ROUNDING_SLACK_M
            {
                break;
            }
            let fence = &self.fences[entry.slot];
            // The cap bound is one haversine; skip the exact (projected polygon) distance when even
            // that bound cannot beat the best so far. Ties (equal distance, smaller id) still go on.
            if let Some((_, best_d)) = best
                && distance_m(fence.centre(), p) - fence.reach_m() > best_d + ROUNDING_SLACK_M
            {
                continue;
            }
            let d = fence.signed_distance_m(p);
            if self.is_better((entry.slot, d), best) {
                best = Some((entry.slot, d));
            }
        }
        best.map(|(slot, d)| (&self.sites[slot], d))
    }

    /// [`SiteIndex::nearest`] by checking every site; the reference the index is tested against.
    #[cfg(test)]
    pub(crate) fn nearest_linear(&self, p: LatLon) -> Option<(&Site, f64)> {
        p.validate().ok()?;
        let mut best: Option<(usize, f64)> = None;
        for (slot, fence) in self.fences.iter().enumerate() {
            let d = fence.signed_distance_m(p);
            if self.is_better((slot, d), best) {
                best = Some((slot, d));
            }
        }
        best.map(|(slot, d)| (&self.sites[slot], d))
    }

    /// Total order on candidates: distance, then site id.
    fn is_better(&self, (slot, d): (usize, f64), best: Option<(usize, f64)>) -> bool {
        match best {
            None => true,
            Some((best_slot, best_d)) => d
                .total_cmp(&best_d)
                .then_with(|| self.sites[slot].id.cmp(&self.sites[best_slot].id))
                .is_lt(),
        }
    }
}

/// A box in Earth-centred metres containing every point within `reach` of the fence's centre.
///
/// The cap lies within the ball of radius `chord(reach)` around the centre; the box is that ball's.
fn cap_box(fence: &PreparedFence) -> AABB<[f64; 3]> {
    let c = fence.centre().xyz();
    let angle = fence.reach_m() / EARTH_RADIUS_M;
    let chord = 2.0 * EARTH_RADIUS_M * (angle / 2.0).min(std::f64::consts::FRAC_PI_2).sin();
    AABB::from_corners(
        [c[0] - chord, c[1] - chord, c[2] - chord],
        [c[0] + chord, c[1] + chord, c[2] + chord],
    )
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    reason = "tests fail loudly and compare exact values"
)]
mod tests {
    use super::super::fence::Fence;
    use super::super::fence::tests::square;
    use super::*;

    fn circle(id: &str, lat: f64, lon: f64, r: f64) -> Site {
        Site {
            id: id.into(),
            name: format!("Kantor {id}"),
            fence: Fence::Circle {
                center: LatLon { lat, lon },
                radius_m: r,
            },
        }
    }

    #[test]
    fn empty_index() {
        let idx = SiteIndex::new(vec![]).unwrap();
        assert!(idx.is_empty());
        assert_eq!(idx.len(), 0);
        assert!(idx.nearest(LatLon { lat: 0.0, lon: 0.0 }).is_none());
        assert!(idx.get("x").is_none());
    }

    #[test]
    fn rejects_bad_and_duplicate_sites_without_naming_them() {
        let err = SiteIndex::new(vec![
            circle("a", 0.0, 0.0, 10.0),
            circle("a", 1.0, 1.0, 10.0),
        ])
        .unwrap_err();
        match err {
            Error::InvalidInput {
                field: "id",
                reason,
            } => {
                assert!(
                    reason.contains("position 1") && reason.contains("duplicate"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        let err = SiteIndex::new(vec![circle("a", 0.0, 0.0, 0.0)]).unwrap_err();
        match err {
            Error::InvalidInput {
                field: "radius_m",
                reason,
            } => {
                assert!(
                    reason.contains("position 0") && !reason.contains("Kantor"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nearest_prefers_the_fence_you_are_inside() {
        // A big compound whose centre is further away than a small site's centre.
        let big = Site {
            id: "big".into(),
            name: "Balai Kota".into(),
            fence: square(-6.2, 106.8, 500.0),
        };
        let small = circle("small", -6.2, 106.8 + 0.0055, 20.0);
        let idx = SiteIndex::new(vec![small, big]).unwrap();
        let p = LatLon {
            lat: -6.2,
            lon: 106.8 + 0.0040,
        };
        let (site, d) = idx.nearest(p).unwrap();
        assert_eq!(site.id, "big");
        assert!(d < 0.0);
        assert_eq!(idx.get("small").unwrap().id, "small");
        assert!(
            idx.nearest(LatLon {
                lat: f64::NAN,
                lon: 0.0
            })
            .is_none()
        );
    }

    #[test]
    fn works_across_the_antimeridian_and_poles() {
        let idx = SiteIndex::new(vec![
            circle("fiji", -17.0, 179.9999, 50.0),
            circle("north", 89.9999, 10.0, 50.0),
            circle("jakarta", -6.2, 106.8, 50.0),
        ])
        .unwrap();
        let (s, d) = idx
            .nearest(LatLon {
                lat: -17.0,
                lon: -179.9999,
            })
            .unwrap();
        assert_eq!(s.id, "fiji");
        assert!(d > -50.0 && d < 0.0, "{d}");
        let (s, _) = idx
            .nearest(LatLon {
                lat: 90.0,
                lon: -170.0,
            })
            .unwrap();
        assert_eq!(s.id, "north");
        // The antipode of every site is still answered.
        let (s, d) = idx
            .nearest(LatLon {
                lat: 6.2,
                lon: 106.8 - 180.0,
            })
            .unwrap();
        assert!(d.is_finite() && !s.id.is_empty());
    }

    #[test]
    fn debug_does_not_leak() {
        let idx = SiteIndex::new(vec![circle("secret-id", 1.0, 2.0, 10.0)]).unwrap();
        let s = format!("{idx:?}");
        assert!(!s.contains("secret") && !s.contains("Kantor"), "{s}");
    }
}
