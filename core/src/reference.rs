//! Reference data the server publishes and the device keeps offline: sites with their fences,
//! employees with their assigned sites, and the asset registry.
//!
//! The sync client writes these from the signed changes feed; the demo and tests seed them directly.
//! Everything written is validated first (a bad fence from anywhere is a typed error, not a stored row).

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::geo::{Fence, LatLon, Site};
use crate::store::Store;
use crate::{Error, Result};

/// A civil servant and the sites they may check in at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employee {
    /// Employee number (NIP).
    pub id: String,
    /// Display name (shown in the app; never put into error messages).
    pub name: String,
    /// Sites this employee is assigned to.
    pub site_ids: Vec<String>,
}

/// A city asset that inspectors record the condition of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// Registry id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Road, building, vehicle, equipment...
    pub category: String,
    /// Where it is.
    pub location: LatLon,
    /// How close an inspector must stand, in metres.
    pub radius_m: f64,
}

fn check_id(field: &'static str, id: &str) -> Result<()> {
    if id.trim().is_empty() || id.len() > 128 {
        return Err(Error::invalid(field, "must be 1..=128 characters"));
    }
    Ok(())
}

/// Reference data in the device store.
#[derive(Debug, Clone, Copy)]
pub struct Reference<'a>(pub &'a Store);

impl Reference<'_> {
    /// Inserts or replaces a site.
    pub fn upsert_site(&self, site: &Site) -> Result<()> {
        site.validate()?;
        let fence = serde_json::to_string(&site.fence)?;
        self.0.with_conn(|c| {
            c.execute(
                "INSERT INTO sites (id, name, fence) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, fence = excluded.fence",
                params![site.id, site.name, fence],
            )?;
            Ok(())
        })
    }

    /// Removes a site (it stays referenced by old records, which carry its id).
    pub fn remove_site(&self, id: &str) -> Result<()> {
        self.0.with_conn(|c| {
            Ok(c.execute("DELETE FROM sites WHERE id = ?1", [id])
                .map(|_| ())?)
        })
    }

    /// All sites. A row whose fence no longer parses or validates (written unchecked by an older
    /// version, or edited in the file) is left out, so that one bad row cannot take every site, and with
    /// them every check-in, down.
    pub fn sites(&self) -> Result<Vec<Site>> {
        self.0.with_conn(|c| {
            let mut st = c.prepare_cached("SELECT id, name, fence FROM sites ORDER BY id")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    // Not text (or not UTF-8): a bad row like any other, skipped below.
                    r.get::<_, String>(2).ok(),
                ))
            })?;
            let mut sites = Vec::new();
            for row in rows {
                let (id, name, fence) = row?;
                let Some(Ok(fence)) = fence.map(|f| serde_json::from_str::<Fence>(&f)) else {
                    continue;
                };
                let site = Site { id, name, fence };
                if site.validate().is_ok() {
                    sites.push(site);
                }
            }
            Ok(sites)
        })
    }

    /// Inserts or replaces an employee.
    pub fn upsert_employee(&self, e: &Employee) -> Result<()> {
        check_id("employee_id", &e.id)?;
        for s in &e.site_ids {
            check_id("site_id", s)?;
        }
        let sites = serde_json::to_string(&e.site_ids)?;
        self.0.with_conn(|c| {
            c.execute(
                "INSERT INTO employees (id, name, site_ids) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, site_ids = excluded.site_ids",
                params![e.id, e.name, sites],
            )?;
            Ok(())
        })
    }

    /// One employee.
    pub fn employee(&self, id: &str) -> Result<Employee> {
        let row: Option<(String, String, String)> = self.0.with_conn(|c| {
            Ok(c.query_row(
                "SELECT id, name, site_ids FROM employees WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
        })?;
        let (id, name, sites) = row.ok_or(Error::NotFound { what: "employee" })?;
        Ok(Employee {
            id,
            name,
            site_ids: serde_json::from_str(&sites)?,
        })
    }

    /// All employees.
    pub fn employees(&self) -> Result<Vec<Employee>> {
        let ids: Vec<String> = self.0.with_conn(|c| {
            let mut st = c.prepare("SELECT id FROM employees ORDER BY id")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        ids.iter().map(|id| self.employee(id)).collect()
    }

    /// Inserts or replaces an asset.
    pub fn upsert_asset(&self, a: &Asset) -> Result<()> {
        check_id("asset_id", &a.id)?;
        LatLon::new(a.location.lat, a.location.lon)?;
        if !(a.radius_m.is_finite() && a.radius_m > 0.0 && a.radius_m <= 10_000.0) {
            return Err(Error::invalid("radius_m", "must be in (0, 10000] metres"));
        }
        self.0.with_conn(|c| {
            c.execute(
                "INSERT INTO assets (id, name, category, lat, lon, radius_m) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, category = excluded.category,
                   lat = excluded.lat, lon = excluded.lon, radius_m = excluded.radius_m",
                params![a.id, a.name, a.category, a.location.lat, a.location.lon, a.radius_m],
            )?;
            Ok(())
        })
    }

    /// One asset.
    pub fn asset(&self, id: &str) -> Result<Asset> {
        self.0
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT id, name, category, lat, lon, radius_m FROM assets WHERE id = ?1",
                    [id],
                    |r| {
                        Ok(Asset {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            category: r.get(2)?,
                            location: LatLon {
                                lat: r.get(3)?,
                                lon: r.get(4)?,
                            },
                            radius_m: r.get(5)?,
                        })
                    },
                )
                .optional()?)
            })?
            .ok_or(Error::NotFound { what: "asset" })
    }

    /// All assets.
    pub fn assets(&self) -> Result<Vec<Asset>> {
        let ids: Vec<String> = self.0.with_conn(|c| {
            let mut st = c.prepare("SELECT id FROM assets ORDER BY id")?;
            let rows = st.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        ids.iter().map(|id| self.asset(id)).collect()
    }
}
