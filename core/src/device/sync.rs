//! Registration and sync of the device with the city's server (the sync client does the work; this
//! is the device's door to it).

use super::Device;
use crate::sync::client::{SyncClient, SyncReport};
use crate::{Error, Result};

impl Device {
    fn client(&self) -> Result<&SyncClient> {
        self.sync
            .as_ref()
            .ok_or(Error::NotReady("no server configured"))
    }

    /// Registers this device with a one-time enrollment code from the city's administrator. Returns
    /// the device id the server confirmed. Safe to retry with the same code after a lost answer.
    pub async fn register(&self, enrollment_code: &str) -> Result<String> {
        Ok(self.client()?.register(enrollment_code).await?.device_id)
    }

    /// Uploads pending records and photos, pulls signed changes and stores server time anchors. Safe
    /// to call at any time, to retry and to cancel (drop the future): nothing is lost or duplicated.
    pub async fn sync(&self) -> Result<SyncReport> {
        self.client()?.sync().await
    }
}
