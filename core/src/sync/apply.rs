//! Applying a verified changes page to the device store.
//!
//! Only called with a page whose server signature verified. Every change is an idempotent upsert (permits
//! additionally refuse versions older than the cached one), and the cursor moves only after the whole page
//! is applied, so a crash in between re-pulls and re-applies the same page harmlessly.
//!
//! **Skip and flag.** Each change is checked with [`validate_change`] (a site's fence is parsed into the
//! device's [`Fence`](crate::geo::Fence) and validated; a permit's own signature and document are
//! checked by the permit cache). A change that fails is skipped: nothing is stored for it (any earlier
//! good version stays), it is counted in [`AppliedCounts::skipped`], and the rest of the page and the
//! cursor still apply. One bad site published by mistake therefore cannot wipe out every site, and with
//! them every check-in. Failures of the device's own storage still fail the page.

use rusqlite::params;

use super::outbox::SETTING_CURSOR;
use super::protocol::{Change, ChangesPage};
use super::validate::{site_from_change, validate_change};
use crate::enrollment::decisions::{self, Stored};
use crate::permit::{Applied, PermitCache};
use crate::store::Store;
use crate::{Error, Result};

/// What one page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppliedCounts {
    /// Changes applied (upserts and newer permits).
    pub applied: u32,
    /// Permit documents ignored as stale (same or older version than cached), and face decisions
    /// older than the one held or for another device.
    pub stale: u32,
    /// Changes skipped because they failed validation (nothing stored for them).
    pub skipped: u32,
}

/// Whether a permit-cache error is about the item itself (skip it) rather than the device (fail the page).
fn is_item_error(e: &Error) -> bool {
    matches!(
        e,
        Error::BadServerSignature(_) | Error::Encoding(_) | Error::InvalidInput { .. }
    )
}

/// Applies `page` (already verified) and advances the cursor to `page.next_cursor`. Invalid changes are
/// skipped and counted (see the [module documentation](self)).
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
            match cache.apply(signed) {
                Ok(Applied::Stored) => counts.applied += 1,
                Ok(Applied::Stale) => counts.stale += 1,
                Err(err) if is_item_error(&err) => counts.skipped += 1,
                Err(err) => return Err(err),
            }
        }
    }
    store.with_tx(|tx| {
        for e in &page.changes {
            let valid = match &e.change {
                Change::Permit { .. } => continue,
                // Verified on its own signature; a decision for another device is ignored.
                Change::FaceDecision { signed } => {
                    match decisions::apply(tx, server_public_key, &page.device_id, signed) {
                        Ok(Stored::Stored) => true,
                        Ok(Stored::Ignored) => {
                            counts.stale += 1;
                            continue;
                        }
                        Err(err) if is_item_error(&err) => false,
                        Err(err) => return Err(err),
                    }
                }
                // Parsed and validated exactly as `validate_change` does; the parsed fence is stored in
                // the canonical form `Reference::upsert_site` writes, so it always reads back.
                Change::Site { id, name, fence } => match site_from_change(id, name, fence) {
                    Ok(site) => {
                        tx.execute(
                            "INSERT INTO sites (id, name, fence) VALUES (?1, ?2, ?3)
                             ON CONFLICT(id) DO UPDATE SET name = excluded.name, fence = excluded.fence",
                            params![site.id, site.name, serde_json::to_string(&site.fence)?],
                        )?;
                        true
                    }
                    Err(_) => false,
                },
                other if validate_change(other).is_err() => false,
                Change::Employee { id, name, site_ids } => {
                    tx.execute(
                        "INSERT INTO employees (id, name, site_ids) VALUES (?1, ?2, ?3)
                         ON CONFLICT(id) DO UPDATE SET name = excluded.name, site_ids = excluded.site_ids",
                        params![id, name, serde_json::to_string(site_ids)?],
                    )?;
                    true
                }
                Change::Asset { id, name, category, lat, lon, radius_m } => {
                    tx.execute(
                        "INSERT INTO assets (id, name, category, lat, lon, radius_m) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT(id) DO UPDATE SET name = excluded.name, category = excluded.category,
                           lat = excluded.lat, lon = excluded.lon, radius_m = excluded.radius_m",
                        params![id, name, category, lat, lon, radius_m],
                    )?;
                    true
                }
                Change::Schedule { id, body } => {
                    tx.execute(
                        "INSERT INTO settings (key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        params![format!("schedule.{id}"), body.to_string()],
                    )?;
                    true
                }
            };
            if valid {
                counts.applied += 1;
            } else {
                counts.skipped += 1;
            }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::geo::{Fence, LatLon, Site};
    use crate::ledger::{Signer, SoftwareSigner};
    use crate::reference::Reference;
    use crate::signed::{PERMIT_DOMAIN, SignedBlob};
    use crate::sync::Outbox;
    use crate::sync::protocol::ChangeEntry;

    fn page(since: u64, changes: Vec<Change>) -> ChangesPage {
        let n = changes.len() as u64;
        ChangesPage {
            device_id: "dev".into(),
            since,
            next_cursor: since + n,
            more: false,
            changes: changes
                .into_iter()
                .enumerate()
                .map(|(i, change)| ChangeEntry {
                    cursor: since + 1 + i as u64,
                    change,
                })
                .collect(),
            server_time_ms: 0,
        }
    }

    fn site(id: &str, fence: serde_json::Value) -> Change {
        Change::Site {
            id: id.into(),
            name: format!("site {id}"),
            fence,
        }
    }

    fn circle(radius_m: f64) -> serde_json::Value {
        json!({"type": "circle", "center": {"lat": -6.9, "lon": 107.6}, "radius_m": radius_m})
    }

    fn asset(id: &str, lat: f64) -> Change {
        Change::Asset {
            id: id.into(),
            name: "Jembatan".into(),
            category: "road".into(),
            lat,
            lon: 107.6,
            radius_m: 30.0,
        }
    }

    fn setup() -> (Store, Vec<u8>) {
        let key = SoftwareSigner::generate().unwrap().public_key().unwrap();
        (Store::open_in_memory().unwrap(), key)
    }

    #[test]
    fn a_bad_site_is_skipped_and_the_good_one_and_the_cursor_apply() {
        let (store, key) = setup();
        let p = page(
            0,
            vec![
                site("bad", json!({"type": "triangle", "corners": 3})),
                site("good", circle(80.0)),
            ],
        );
        let counts = apply_page(&store, &key, &p).unwrap();
        assert_eq!(
            counts,
            AppliedCounts {
                applied: 1,
                stale: 0,
                skipped: 1
            }
        );
        assert_eq!(Outbox(&store).cursor().unwrap(), 2);
        let sites = Reference(&store).sites().unwrap();
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].id, "good");
        assert!(sites[0].validate().is_ok());
    }

    #[test]
    fn a_bad_update_keeps_the_previous_good_version() {
        let (store, key) = setup();
        apply_page(&store, &key, &page(0, vec![site("s1", circle(80.0))])).unwrap();
        // Parses as a fence but fails validation (radius beyond the limit), then an unparsable one.
        let counts = apply_page(
            &store,
            &key,
            &page(
                1,
                vec![
                    site("s1", circle(1e9)),
                    site("s1", json!("not a fence")),
                    asset("a1", 95.0),
                ],
            ),
        )
        .unwrap();
        assert_eq!(counts.applied, 0);
        assert_eq!(counts.skipped, 3);
        assert_eq!(Outbox(&store).cursor().unwrap(), 4);
        let sites = Reference(&store).sites().unwrap();
        assert_eq!(sites.len(), 1);
        assert_eq!(
            sites[0].fence,
            Fence::Circle {
                center: LatLon {
                    lat: -6.9,
                    lon: 107.6
                },
                radius_m: 80.0
            }
        );
        assert!(Reference(&store).asset("a1").is_err());
    }

    #[test]
    fn an_asset_with_nan_is_skipped() {
        let (store, key) = setup();
        let counts = apply_page(
            &store,
            &key,
            &page(0, vec![asset("nan", f64::NAN), asset("ok", -6.9)]),
        )
        .unwrap();
        assert_eq!(counts.applied, 1);
        assert_eq!(counts.skipped, 1);
        assert!(Reference(&store).asset("nan").is_err());
        assert_eq!(
            Reference(&store).asset("ok").unwrap().location,
            LatLon {
                lat: -6.9,
                lon: 107.6
            }
        );
        assert_eq!(Outbox(&store).cursor().unwrap(), 2);
    }

    #[test]
    fn bad_employees_schedules_and_permits_are_skipped() {
        let (store, _) = setup();
        let server = SoftwareSigner::generate().unwrap();
        let key = server.public_key().unwrap();
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let forged = SignedBlob {
            body: b"{}".to_vec(),
            signature: vec![1, 2, 3],
        };
        // Signed correctly but not a permit document.
        let garbage = SignedBlob::sign(&server, PERMIT_DOMAIN, b"[1,2]".to_vec()).unwrap();
        let p = page(
            0,
            vec![
                Change::Employee {
                    id: "e1".into(),
                    name: "Ani".into(),
                    site_ids: vec![String::new()],
                },
                Change::Schedule {
                    id: "deep".into(),
                    body: deep,
                },
                Change::Permit { signed: forged },
                Change::Permit { signed: garbage },
                Change::Employee {
                    id: "e2".into(),
                    name: "Budi".into(),
                    site_ids: vec!["s1".into()],
                },
                Change::Schedule {
                    id: "ok".into(),
                    body: json!({"mon": ["07:30", "16:00"]}),
                },
            ],
        );
        let counts = apply_page(&store, &key, &p).unwrap();
        assert_eq!(counts.applied, 2);
        assert_eq!(counts.skipped, 4);
        assert!(Reference(&store).employee("e1").is_err());
        assert!(Reference(&store).employee("e2").is_ok());
        assert!(store.setting("schedule.deep").unwrap().is_none());
        assert!(store.setting("schedule.ok").unwrap().is_some());
        assert_eq!(Outbox(&store).cursor().unwrap(), 6);
    }

    #[test]
    fn a_stored_bad_fence_row_does_not_break_reading_the_other_sites() {
        // Rows written unchecked by an older version, or edited in the file.
        let (store, _) = setup();
        Reference(&store)
            .upsert_site(&Site {
                id: "good".into(),
                name: "Kantor".into(),
                fence: Fence::Circle {
                    center: LatLon { lat: 1.0, lon: 2.0 },
                    radius_m: 50.0,
                },
            })
            .unwrap();
        store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO sites (id, name, fence) VALUES ('unparsable', 'x', '{\"type\":\"triangle\"}'),
                     ('invalid', 'y', '{\"type\":\"circle\",\"center\":{\"lat\":1.0,\"lon\":2.0},\"radius_m\":-1.0}')",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        let sites = Reference(&store).sites().unwrap();
        assert_eq!(
            sites.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["good"]
        );
    }
}
