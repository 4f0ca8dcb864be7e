//! An R-tree over many sites, answering "which site's fence edge is nearest to this point" exactly.
//!
//! Sites can be anywhere on Earth, so envelopes live on the unit sphere in 3-D (earth-centred) space:
//! the straight-line distance from a point to a site's box is a lower bound of the chord to any point
//! of its fence, and the chord converts monotonically to great-circle metres. Candidates come out of the
//! tree in order of that bound; the search stops once the bound exceeds the best exact distance.

use rstar::{AABB, PointDistance, RTree, RTreeObject};

use super::{EARTH_RADIUS_M, LatLon, Site};
use crate::Result;

struct Entry {
    envelope: AABB<[f64; 3]>,
    site: usize,
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

/// Sites indexed for nearest-edge queries.
pub struct SiteIndex {
    sites: Vec<Site>,
    tree: RTree<Entry>,
}

impl std::fmt::Debug for SiteIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteIndex")
            .field("sites", &self.sites.len())
            .finish_non_exhaustive()
    }
}

fn unit(p: LatLon) -> [f64; 3] {
    let (lat, lon) = (p.lat.to_radians(), p.lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

fn chord_to_m(chord: f64) -> f64 {
    2.0 * EARTH_RADIUS_M * (chord / 2.0).clamp(0.0, 1.0).asin()
}

fn envelope(site: &Site) -> AABB<[f64; 3]> {
    let (points, margin_m) = site.fence.outline();
    let pts: Vec<[f64; 3]> = points.iter().map(|p| unit(*p)).collect();
    let mut env = AABB::from_points(pts.iter());
    // Grow by the margin (a circle's radius as an arc, or the bulge of great-circle polygon edges over
    // their chords) plus a tiny epsilon for rounding, so the box always contains the fence.
    let longest_edge_m = points
        .windows(2)
        .map(|w| super::distance_m(w[0], w[1]))
        .fold(0.0, f64::max);
    let bulge = 1.0 - (longest_edge_m / EARTH_RADIUS_M / 2.0).cos();
    let grow = margin_m / EARTH_RADIUS_M + bulge + 1e-9;
    let (lo, hi) = (env.lower(), env.upper());
    env = AABB::from_corners(
        [lo[0] - grow, lo[1] - grow, lo[2] - grow],
        [hi[0] + grow, hi[1] + grow, hi[2] + grow],
    );
    env
}

impl SiteIndex {
    /// Validates every site and builds the tree (bulk-loaded).
    pub fn new(sites: Vec<Site>) -> Result<Self> {
        for s in &sites {
            s.validate()?;
        }
        let entries = sites
            .iter()
            .enumerate()
            .map(|(i, s)| Entry {
                envelope: envelope(s),
                site: i,
            })
            .collect();
        Ok(SiteIndex {
            tree: RTree::bulk_load(entries),
            sites,
        })
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// No sites.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// A site by id.
    pub fn get(&self, id: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.id == id)
    }

    /// All sites.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// The site whose fence edge is nearest to `p` in the signed sense (the one `p` is deepest inside,
    /// or else the closest), with that signed distance in metres.
    pub fn nearest(&self, p: LatLon) -> Option<(&Site, f64)> {
        let q = unit(p);
        let mut best: Option<(usize, f64)> = None;
        for (entry, d2) in self.tree.nearest_neighbor_iter_with_distance_2(&q) {
            let lower_bound_m = chord_to_m(d2.sqrt());
            if let Some((_, b)) = best
                && lower_bound_m > b.max(0.0)
            {
                break;
            }
            let d = self.sites[entry.site].fence.signed_distance_m(p);
            if best.is_none_or(|(_, b)| d < b) {
                best = Some((entry.site, d));
            }
        }
        best.map(|(i, d)| (&self.sites[i], d))
    }

    /// The same answer by a linear scan (reference for tests and benchmarks).
    pub fn nearest_linear(&self, p: LatLon) -> Option<(&Site, f64)> {
        self.sites
            .iter()
            .map(|s| (s, s.fence.signed_distance_m(p)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}
