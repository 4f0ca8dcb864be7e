//! The verdict for one fix against a set of sites: nearest site, containment from the accuracy circle,
//! and plausibility flags.

use serde::{Deserialize, Serialize};

use super::{Fix, SiteIndex, distance_m};
use crate::Result;

/// Thresholds of the geo checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoPolicy {
    /// A fix less accurate than this is undecidable (metres).
    pub max_accuracy_m: f64,
    /// An accuracy below this is implausible (fake-GPS apps often report 0): undecidable and flagged.
    pub min_plausible_accuracy_m: f64,
    /// Faster than this since the previous fix is impossible (m/s; 80 m/s = 288 km/h).
    pub max_speed_mps: f64,
    /// A fix older than this (relative to trusted time) is stale (ms).
    pub max_fix_age_ms: i64,
    /// A fix dated further than this in the future is flagged (ms).
    pub max_future_ms: i64,
}

impl Default for GeoPolicy {
    fn default() -> Self {
        GeoPolicy {
            max_accuracy_m: 100.0,
            min_plausible_accuracy_m: 1.0,
            max_speed_mps: 80.0,
            max_fix_age_ms: 120_000,
            max_future_ms: 5_000,
        }
    }
}

/// What the caller knows around the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct FixContext {
    /// The previous fix this device used (for the speed check).
    pub previous: Option<Fix>,
    /// This exact fix (same fingerprint) was used before.
    pub seen_before: bool,
    /// Now (trusted time if available), ms since epoch.
    pub now_ms: i64,
}

/// Inside, outside, or cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Containment {
    /// The whole accuracy circle is inside the fence.
    Inside,
    /// The whole accuracy circle is outside the fence (or there is no site).
    Outside,
    /// The accuracy circle crosses the edge, or accuracy is missing, implausible or too poor.
    Undecidable,
}

/// Plausibility flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeoFlag {
    /// The platform says a mock provider produced the fix.
    MockLocation,
    /// Moved faster than possible since the previous fix.
    ImpossibleSpeed,
    /// Older than `max_fix_age_ms`.
    StaleFix,
    /// Dated in the future.
    FutureFix,
    /// No accuracy reported.
    MissingAccuracy,
    /// Accuracy below the plausible minimum.
    ImplausibleAccuracy,
    /// The exact same fix was seen before.
    RepeatedFix,
}

/// The result for one fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoVerdict {
    /// The nearest site (by signed edge distance), if any.
    pub site_id: Option<String>,
    /// Inside / outside / undecidable, from the accuracy circle.
    pub containment: Containment,
    /// Signed distance from the fix to that site's edge (negative: inside), metres.
    pub distance_to_edge_m: Option<f64>,
    /// The accuracy used.
    pub accuracy_m: Option<f64>,
    /// Plausibility flags.
    pub flags: Vec<GeoFlag>,
}

/// Evaluates `fix` against the sites in `index`.
pub fn evaluate(
    fix: &Fix,
    ctx: &FixContext,
    index: &SiteIndex,
    policy: &GeoPolicy,
) -> Result<GeoVerdict> {
    fix.validate()?;
    let p = fix.position()?;
    let mut flags = Vec::new();
    if fix.is_mock {
        flags.push(GeoFlag::MockLocation);
    }
    // A plausible accuracy can prove "outside" however poor it is; "inside" also needs it to be good.
    let plausible = match fix.accuracy_m {
        None => {
            flags.push(GeoFlag::MissingAccuracy);
            false
        }
        Some(a) if a < policy.min_plausible_accuracy_m => {
            flags.push(GeoFlag::ImplausibleAccuracy);
            false
        }
        Some(_) => true,
    };
    if let Some(prev) = &ctx.previous
        && let Ok(pp) = prev.position()
    {
        // Lenient: the move must exceed both fixes' accuracy before it counts.
        let slack = fix.accuracy_m.unwrap_or(0.0) + prev.accuracy_m.unwrap_or(0.0);
        let moved = (distance_m(pp, p) - slack).max(0.0);
        let dt_s = fix.time_ms.saturating_sub(prev.time_ms) as f64 / 1000.0;
        let impossible = if dt_s <= 0.0 {
            moved > 0.0
        } else {
            moved / dt_s > policy.max_speed_mps
        };
        if impossible {
            flags.push(GeoFlag::ImpossibleSpeed);
        }
    }
    let age = ctx.now_ms.saturating_sub(fix.time_ms);
    if age > policy.max_fix_age_ms {
        flags.push(GeoFlag::StaleFix);
    } else if fix.time_ms.saturating_sub(ctx.now_ms) > policy.max_future_ms {
        flags.push(GeoFlag::FutureFix);
    }
    if ctx.seen_before {
        flags.push(GeoFlag::RepeatedFix);
    }

    let Some((site, d)) = index.nearest(p) else {
        return Ok(GeoVerdict {
            site_id: None,
            containment: Containment::Outside,
            distance_to_edge_m: None,
            accuracy_m: fix.accuracy_m,
            flags,
        });
    };
    let containment = match fix.accuracy_m {
        Some(a) if plausible && a <= policy.max_accuracy_m && d + a <= 0.0 => Containment::Inside,
        Some(a) if plausible && d - a > 0.0 => Containment::Outside,
        _ => Containment::Undecidable,
    };
    Ok(GeoVerdict {
        site_id: Some(site.id.clone()),
        containment,
        distance_to_edge_m: Some(d),
        accuracy_m: fix.accuracy_m,
        flags,
    })
}
