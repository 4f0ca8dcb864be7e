//! Asset inspections: an inspector records the condition of a city asset, with photos and a fix,
//! offline for days.
//!
//! Photos are stored content-addressed (SHA-256) next to the ledger and the signed record references
//! their hashes, so a photo swapped later no longer matches the record. Proximity to the asset's
//! registered location is measured with the same accuracy-aware geo check as attendance; a record made
//! far from the asset is still written (the inspector may have a reason) but carries the verdict.

use ring::digest::{SHA256, digest};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::clock::{ClockStore, DEFAULT_SKEW_TOLERANCE_MS, MonotonicReading, TimeEvidence};
use crate::geo::{Fence, Fix, FixContext, GeoPolicy, GeoVerdict, Site, SiteIndex, evaluate};
use crate::ledger::Ledger;
use crate::reference::Reference;
use crate::{Error, Result};

/// Ledger kind of an inspection record.
pub const KIND_INSPECTION: &str = "inspection.recorded";
/// Largest photo accepted (bytes).
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;
/// Most photos per inspection.
pub const MAX_PHOTOS: usize = 10;
/// Longest notes (characters).
pub const MAX_NOTES_CHARS: usize = 2000;

/// The condition an inspector records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// In working order.
    Good,
    /// Usable, needs maintenance.
    MinorDamage,
    /// Unusable or unsafe.
    MajorDamage,
    /// Not found where registered.
    Lost,
}

/// A photo as captured.
#[derive(Debug, Clone)]
pub struct Photo {
    /// `image/jpeg` or `image/png`.
    pub mime: String,
    /// The encoded bytes, stored as is.
    pub bytes: Vec<u8>,
}

impl Photo {
    /// A photo from its file bytes, its type read from the bytes themselves (JPEG or PNG signature),
    /// not from a name or a type the caller asserts. Anything else is rejected.
    pub fn sniff(bytes: Vec<u8>) -> Result<Photo> {
        let mime = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "image/jpeg"
        } else {
            return Err(Error::invalid("photo", "not a JPEG or PNG file"));
        };
        Ok(Photo {
            mime: mime.into(),
            bytes,
        })
    }
}

/// What the shell hands in.
#[derive(Debug, Clone)]
pub struct InspectionRequest {
    /// Registry id of the asset.
    pub asset_id: String,
    /// Its condition.
    pub condition: Condition,
    /// Free text.
    pub notes: String,
    /// Photos taken now.
    pub photos: Vec<Photo>,
    /// Where the inspector stood.
    pub fix: Fix,
    /// Monotonic clock now.
    pub now: MonotonicReading,
    /// Wall clock now.
    pub device_wall_ms: i64,
}

/// The signed payload of an inspection record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionPayload {
    /// Payload version (1).
    pub v: u32,
    /// The asset.
    pub asset_id: String,
    /// Its condition.
    pub condition: Condition,
    /// Notes.
    pub notes: String,
    /// SHA-256 (hex) of each photo, in order.
    pub photos: Vec<String>,
    /// Proximity to the asset (fence = circle of the asset's radius).
    pub proximity: GeoVerdict,
    /// The fix.
    pub fix: Fix,
    /// Time evidence.
    pub time: TimeEvidence,
}

/// The recorded inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionOutcome {
    /// Seq of the ledger record.
    pub seq: u64,
    /// What was recorded.
    pub payload: InspectionPayload,
}

/// Records an inspection: photos stored, record signed, both in one transaction.
pub fn record(
    ledger: &Ledger,
    geo_policy: &GeoPolicy,
    req: &InspectionRequest,
) -> Result<InspectionOutcome> {
    if req.notes.chars().count() > MAX_NOTES_CHARS {
        return Err(Error::invalid(
            "notes",
            format!("longer than {MAX_NOTES_CHARS} characters"),
        ));
    }
    if req.photos.len() > MAX_PHOTOS {
        return Err(Error::invalid("photos", format!("more than {MAX_PHOTOS}")));
    }
    for p in &req.photos {
        if p.bytes.is_empty() || p.bytes.len() > MAX_PHOTO_BYTES {
            return Err(Error::invalid(
                "photo",
                format!("must be 1..={MAX_PHOTO_BYTES} bytes"),
            ));
        }
        if !matches!(p.mime.as_str(), "image/jpeg" | "image/png") {
            return Err(Error::invalid(
                "photo.mime",
                "only image/jpeg and image/png",
            ));
        }
    }
    req.fix.validate()?;
    let store = ledger.store();
    let asset = Reference(store).asset(&req.asset_id)?;
    let site = Site {
        id: asset.id.clone(),
        name: asset.name.clone(),
        fence: Fence::Circle {
            center: asset.location,
            radius_m: asset.radius_m,
        },
    };
    let time =
        ClockStore(store).evidence(&req.now, req.device_wall_ms, DEFAULT_SKEW_TOLERANCE_MS)?;
    let now_ms = time.trusted.estimate_ms().unwrap_or(req.device_wall_ms);
    let ctx = FixContext {
        previous: None,
        seen_before: false,
        now_ms,
    };
    let proximity = evaluate(&req.fix, &ctx, &SiteIndex::new(vec![site])?, geo_policy)?;
    let hashes: Vec<[u8; 32]> = req
        .photos
        .iter()
        .map(|p| {
            let mut h = [0u8; 32];
            h.copy_from_slice(digest(&SHA256, &p.bytes).as_ref());
            h
        })
        .collect();
    let payload = InspectionPayload {
        v: 1,
        asset_id: req.asset_id.clone(),
        condition: req.condition,
        notes: req.notes.clone(),
        photos: hashes.iter().map(hex::encode).collect(),
        proximity,
        fix: req.fix.clone(),
        time,
    };
    let bytes = serde_json::to_vec(&payload)?;
    let now_wall = crate::time::wall_now_ms();
    let rec = ledger.append_with(KIND_INSPECTION, &bytes, |tx, rec| {
        let seq = rec.seq as i64;
        tx.execute(
            "INSERT INTO inspections (ledger_seq, asset_id, condition, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![seq, req.asset_id, serde_json::to_value(req.condition)?.as_str().unwrap_or_default(), now_wall],
        )?;
        for (p, h) in req.photos.iter().zip(&hashes) {
            tx.execute(
                "INSERT OR IGNORE INTO blobs (sha256, mime, data, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![&h[..], p.mime, p.bytes, now_wall],
            )?;
            tx.execute("INSERT OR IGNORE INTO inspection_photos (ledger_seq, sha256) VALUES (?1, ?2)", params![seq, &h[..]])?;
        }
        Ok(())
    })?;
    Ok(InspectionOutcome {
        seq: rec.seq,
        payload,
    })
}

/// A stored photo by its SHA-256, checked against its hash on the way out.
pub fn photo(store: &crate::store::Store, sha256: &[u8; 32]) -> Result<Vec<u8>> {
    use rusqlite::OptionalExtension;
    let data: Vec<u8> = store
        .with_conn(|c| {
            Ok(c.query_row(
                "SELECT data FROM blobs WHERE sha256 = ?1",
                [&sha256[..]],
                |r| r.get(0),
            )
            .optional()?)
        })?
        .ok_or(Error::NotFound { what: "photo" })?;
    if digest(&SHA256, &data).as_ref() != sha256 {
        return Err(Error::CorruptDatabase(
            "a stored photo does not match its hash".into(),
        ));
    }
    Ok(data)
}
