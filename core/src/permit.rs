//! Permit tracking for citizens: the status of their application, the official fee and the service
//! deadline, as signed by the city, available offline.
//!
//! Illegal fees thrive where the applicant cannot see the official one. The server publishes each
//! permit as a [`PermitDocument`] signed with the city's key ([`crate::signed::PERMIT_DOMAIN`]); the
//! device verifies it before caching, refuses a document older than the one it holds (a replayed status),
//! and keeps the signed bytes so the fee and deadline it shows can be re-verified at any time.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::signed::{PERMIT_DOMAIN, SignedBlob};
use crate::store::Store;
use crate::{Error, Result};

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitStatus {
    /// Received, not yet looked at.
    Submitted,
    /// Being verified by the office.
    InReview,
    /// The applicant must supply something; the SLA clock may be paused by the server.
    NeedsInfo,
    /// Approved; waiting for the official fee to be paid.
    AwaitingPayment,
    /// Permit issued (final).
    Issued,
    /// Refused (final).
    Rejected,
    /// Withdrawn by the applicant (final).
    Withdrawn,
}

impl PermitStatus {
    /// Final statuses: no deadline applies any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PermitStatus::Issued | PermitStatus::Rejected | PermitStatus::Withdrawn
        )
    }
}

/// One step in a permit's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitEvent {
    /// When (server time, ms since epoch).
    pub at_ms: i64,
    /// The status entered.
    pub status: PermitStatus,
    /// Public note from the office (no personal data of staff beyond the office name).
    #[serde(default)]
    pub note: String,
}

/// A permit application as published by the city. Signed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitDocument {
    /// Application number.
    pub permit_id: String,
    /// Increases with every change; a device never accepts a lower version than it has.
    pub version: u64,
    /// Kind of permit, e.g. "PBG" (building approval).
    pub permit_type: String,
    /// Current status.
    pub status: PermitStatus,
    /// The official fee in rupiah (0 for free services). Anything asked beyond this is illegal.
    pub official_fee_idr: u64,
    /// Service deadline (SLA), ms since epoch.
    pub deadline_ms: i64,
    /// Submission time, ms since epoch.
    pub submitted_at_ms: i64,
    /// History, oldest first.
    pub timeline: Vec<PermitEvent>,
    /// The issuing office.
    pub office: String,
}

/// A cached permit as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermitView {
    /// The verified document.
    pub document: PermitDocument,
    /// Past the deadline and not final.
    pub overdue: bool,
    /// The signed bytes as received (for re-verification or showing a QR of it).
    pub signed: SignedBlob,
}

/// Outcome of applying a signed permit update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// New permit or newer version stored.
    Stored,
    /// Same or older version than the cached one: ignored (replay or duplicate).
    Stale,
}

/// The permit cache in the device store.
#[derive(Debug, Clone, Copy)]
pub struct PermitCache<'a> {
    store: &'a Store,
    server_public_key: &'a [u8],
}

impl<'a> PermitCache<'a> {
    /// A cache verifying against the city's public key.
    pub fn new(store: &'a Store, server_public_key: &'a [u8]) -> Self {
        PermitCache {
            store,
            server_public_key,
        }
    }

    /// Verifies and caches a signed permit document. A bad signature is refused and nothing changes.
    pub fn apply(&self, signed: &SignedBlob) -> Result<Applied> {
        let doc: PermitDocument =
            signed.verify_json(self.server_public_key, PERMIT_DOMAIN, "permit")?;
        validate(&doc)?;
        let version =
            i64::try_from(doc.version).map_err(|_| Error::invalid("version", "too large"))?;
        self.store.with_tx(|tx| {
            let have: Option<i64> =
                tx.query_row("SELECT version FROM permits WHERE id = ?1", [&doc.permit_id], |r| r.get(0)).optional()?;
            if have.is_some_and(|v| v >= version) {
                return Ok(Applied::Stale);
            }
            tx.execute(
                "INSERT INTO permits (id, version, status, document, signature, received_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET version = excluded.version, status = excluded.status,
                   document = excluded.document, signature = excluded.signature, received_at_ms = excluded.received_at_ms",
                params![doc.permit_id, version, status_str(doc.status), signed.body, signed.signature, crate::time::wall_now_ms()],
            )?;
            tx.execute("DELETE FROM permit_events WHERE permit_id = ?1", [&doc.permit_id])?;
            for (i, e) in doc.timeline.iter().enumerate() {
                tx.execute(
                    "INSERT INTO permit_events (permit_id, version, at_ms, status, note) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![doc.permit_id, i as i64, e.at_ms, status_str(e.status), e.note],
                )?;
            }
            Ok(Applied::Stored)
        })
    }

    /// One cached permit, re-verified, with its overdue flag at `now_ms`.
    pub fn get(&self, permit_id: &str, now_ms: i64) -> Result<PermitView> {
        let signed = self
            .store
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT document, signature FROM permits WHERE id = ?1",
                    [permit_id],
                    |r| {
                        Ok(SignedBlob {
                            body: r.get(0)?,
                            signature: r.get(1)?,
                        })
                    },
                )
                .optional()?)
            })?
            .ok_or(Error::NotFound { what: "permit" })?;
        self.view(signed, now_ms)
    }

    /// Every cached permit, re-verified (a row edited in the database fails here).
    pub fn list(&self, now_ms: i64) -> Result<Vec<PermitView>> {
        let rows: Vec<SignedBlob> = self.store.with_conn(|c| {
            let mut st = c.prepare("SELECT document, signature FROM permits ORDER BY id")?;
            let rows = st.query_map([], |r| {
                Ok(SignedBlob {
                    body: r.get(0)?,
                    signature: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        rows.into_iter().map(|s| self.view(s, now_ms)).collect()
    }

    fn view(&self, signed: SignedBlob, now_ms: i64) -> Result<PermitView> {
        let document: PermitDocument =
            signed.verify_json(self.server_public_key, PERMIT_DOMAIN, "permit")?;
        Ok(PermitView {
            overdue: is_overdue(&document, now_ms),
            document,
            signed,
        })
    }
}

/// Past its deadline and not in a final status.
pub fn is_overdue(doc: &PermitDocument, now_ms: i64) -> bool {
    !doc.status.is_final() && now_ms > doc.deadline_ms
}

fn validate(doc: &PermitDocument) -> Result<()> {
    if doc.permit_id.trim().is_empty() || doc.permit_id.len() > 128 {
        return Err(Error::invalid("permit_id", "must be 1..=128 characters"));
    }
    if doc.deadline_ms < doc.submitted_at_ms {
        return Err(Error::invalid("deadline_ms", "before submission"));
    }
    Ok(())
}

fn status_str(s: PermitStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Signer, SoftwareSigner};

    fn doc(version: u64, status: PermitStatus) -> PermitDocument {
        PermitDocument {
            permit_id: "PBG-2026-0001".into(),
            version,
            permit_type: "PBG".into(),
            status,
            official_fee_idr: 1_500_000,
            deadline_ms: 2_000,
            submitted_at_ms: 1_000,
            timeline: vec![PermitEvent {
                at_ms: 1_000,
                status: PermitStatus::Submitted,
                note: String::new(),
            }],
            office: "DPMPTSP".into(),
        }
    }

    #[test]
    fn verified_cached_versioned_and_overdue() {
        let city = SoftwareSigner::generate().unwrap();
        let pk = city.public_key().unwrap();
        let store = Store::open_in_memory().unwrap();
        let cache = PermitCache::new(&store, &pk);
        let v2 =
            SignedBlob::sign_json(&city, PERMIT_DOMAIN, &doc(2, PermitStatus::InReview)).unwrap();
        assert_eq!(cache.apply(&v2).unwrap(), Applied::Stored);
        let v1 =
            SignedBlob::sign_json(&city, PERMIT_DOMAIN, &doc(1, PermitStatus::Issued)).unwrap();
        assert_eq!(
            cache.apply(&v1).unwrap(),
            Applied::Stale,
            "an old status replayed is ignored"
        );
        let view = cache.get("PBG-2026-0001", 1_500).unwrap();
        assert_eq!(view.document.status, PermitStatus::InReview);
        assert!(!view.overdue);
        assert!(cache.get("PBG-2026-0001", 2_001).unwrap().overdue);

        // A man in the middle raises the fee: refused, cache unchanged.
        let mut forged =
            SignedBlob::sign_json(&city, PERMIT_DOMAIN, &doc(3, PermitStatus::AwaitingPayment))
                .unwrap();
        forged.body = serde_json::to_vec(&PermitDocument {
            official_fee_idr: 9_000_000,
            ..doc(3, PermitStatus::AwaitingPayment)
        })
        .unwrap();
        assert!(matches!(
            cache.apply(&forged),
            Err(Error::BadServerSignature(_))
        ));
        assert_eq!(
            cache.list(0).unwrap()[0].document.official_fee_idr,
            1_500_000
        );

        // Someone edits the cached row directly: reading it fails verification instead of showing it.
        store.with_conn(|c| Ok(c.execute("UPDATE permits SET document = CAST(replace(CAST(document AS TEXT), '1500000', '9500000') AS BLOB)", [])?)).unwrap();
        assert!(matches!(
            cache.get("PBG-2026-0001", 0),
            Err(Error::BadServerSignature(_))
        ));
    }
}
