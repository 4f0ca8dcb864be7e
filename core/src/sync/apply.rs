//! Applying a verified changes page to the device store.
//!
//! Only called with a page whose server signature verified. Every change is an idempotent upsert (permits
//! additionally refuse versions older than the cached one), and the cursor moves only after the whole page
//! is applied, so a crash in between re-pulls and re-applies the same page harmlessly.

use rusqlite::params;

use super::outbox::SETTING_CURSOR;
use super::protocol::{Change, ChangesPage};
use crate::permit::{Applied, PermitCache};
use crate::store::Store;
use crate::{Error, Result};

/// What one page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppliedCounts {
    /// Changes applied (upserts and newer permits).
    pub applied: u32,
    /// Permit documents ignored as stale (same or older version than cached).
    pub stale: u32,
}

/// Applies `page` (already verified) and advances the cursor to `page.next_cursor`.
pub fn apply_page(
    store: &Store,
    server_public_key: &[u8],
    page: &ChangesPage,
) -> Result<AppliedCounts> {
    let mut counts = AppliedCounts::default();
    // Permits go through the permit cache, which re-verifies each document's own signature.
    let cache = PermitCache::new(store, server_public_key);
    for e in &page.changes {
        if let Change::Permit { signed } = &e.change {
            match cache.apply(signed)? {
                Applied::Stored => counts.applied += 1,
                Applied::Stale => counts.stale += 1,
            }
        }
    }
    store.with_tx(|tx| {
        for e in &page.changes {
            match &e.change {
                Change::Site { id, name, fence } => {
                    tx.execute(
                        "INSERT INTO sites (id, name, fence) VALUES (?1, ?2, ?3)
                         ON CONFLICT(id) DO UPDATE SET name = excluded.name, fence = excluded.fence",
                        params![id, name, fence.to_string()],
                    )?;
                }
                Change::Employee { id, name, site_ids } => {
                    tx.execute(
                        "INSERT INTO employees (id, name, site_ids) VALUES (?1, ?2, ?3)
                         ON CONFLICT(id) DO UPDATE SET name = excluded.name, site_ids = excluded.site_ids",
                        params![id, name, serde_json::to_string(site_ids)?],
                    )?;
                }
                Change::Asset { id, name, category, lat, lon, radius_m } => {
                    if !(lat.is_finite() && lon.is_finite() && radius_m.is_finite()) {
                        return Err(Error::invalid("asset", "non-finite coordinate or radius"));
                    }
                    tx.execute(
                        "INSERT INTO assets (id, name, category, lat, lon, radius_m) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT(id) DO UPDATE SET name = excluded.name, category = excluded.category,
                           lat = excluded.lat, lon = excluded.lon, radius_m = excluded.radius_m",
                        params![id, name, category, lat, lon, radius_m],
                    )?;
                }
                Change::Schedule { id, body } => {
                    tx.execute(
                        "INSERT INTO settings (key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        params![format!("schedule.{id}"), body.to_string()],
                    )?;
                }
                Change::Permit { .. } => continue,
            }
            counts.applied += 1;
        }
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![SETTING_CURSOR, page.next_cursor.to_string()],
        )?;
        Ok(())
    })?;
    Ok(counts)
}
