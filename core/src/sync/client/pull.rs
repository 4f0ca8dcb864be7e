//! The changes pull: pages of the signed changes feed (sites, employees, assets, permits, schedules)
//! from the device's cursor, each verified against the server key and checked to be this device's
//! answer to this request before [`apply_page`] stores it. Kept apart from the upload because it trusts
//! only signed data.

use super::{SyncClient, SyncReport};
use crate::signed::{CHANGES_DOMAIN, SignedBlob};
use crate::sync::apply::apply_page;
use crate::sync::outbox::Outbox;
use crate::sync::protocol::{ChangesPage, DEVICE_ID_HEADER, MAX_CHANGES_PAGE};
use crate::{Error, Result};

impl SyncClient {
    /// Pulls and applies pages until the server says there are no more (or the cursor stops moving).
    pub(super) async fn pull(&self, report: &mut SyncReport) -> Result<()> {
        let token = self.token().await?;
        loop {
            let since = self.blocking(|l| Outbox(l.store()).cursor()).await?;
            let url = self.url(&format!(
                "/v1/changes?since={since}&limit={MAX_CHANGES_PAGE}"
            ));
            let a = self
                .send(report, || {
                    self.http
                        .get(&url)
                        .bearer_auth(&token)
                        .header(DEVICE_ID_HEADER, self.ledger.device_id())
                })
                .await?;
            let signed: SignedBlob = serde_json::from_slice(&a.body)?;
            let page: ChangesPage =
                signed.verify_json(&self.cfg.server_public_key, CHANGES_DOMAIN, "changes")?;
            if page.device_id != self.ledger.device_id()
                || page.since != since
                || page.next_cursor < since
                || page
                    .changes
                    .iter()
                    .any(|c| c.cursor <= since || c.cursor > page.next_cursor)
            {
                return Err(Error::BadServerSignature("changes"));
            }
            let (more, next_cursor) = (page.more, page.next_cursor);
            let server_key = self.cfg.server_public_key.clone();
            let counts = self
                .blocking(move |l| apply_page(l.store(), &server_key, &page))
                .await?;
            report.pulled += counts.applied;
            report.stale += counts.stale;
            report.skipped += counts.skipped;
            if !more || next_cursor == since {
                return Ok(());
            }
        }
    }
}
