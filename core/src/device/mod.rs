//! The app on one phone: one [`Device`] owns the store, the ledger and its key, the master key, the
//! optional face engine, the sync client, the platform clock and the city's policy, and offers the
//! calls a phone makes (status, check in/out, enrollment, kiosk identification, inspections, permits,
//! registration, sync).
//!
//! The shells (through `siap-ffi`), the desktop demo and the end-to-end test harness all drive this
//! one type, so the wiring of the parts and the decisions that belong to the domain (which policy
//! applies, which clock is read, what a photo is) exist once, here. Slow calls take a [`Cancel`] flag;
//! every call is blocking except `register` and `sync`, and the FFI layer runs the blocking ones on a
//! worker thread.
//!
//! - `identity`: the device key (software or platform) and its ledger;
//! - `clock`: the platform clock seam;
//! - `cancel`: cancelling slow work at safe points;
//! - `input`: photos and images as bytes, files or raw frames;
//! - `face` (feature `face`): enrollment, identification, liveness sessions, the face step of a check;
//! - `sync` (feature `client`): registration and sync.

mod cancel;
mod clock;
#[cfg(feature = "face")]
mod face;
pub mod identity;
mod input;
#[cfg(feature = "client")]
mod sync;

use std::path::PathBuf;
use std::sync::Arc;

pub use cancel::{Cancel, CancelOnDrop};
pub use clock::{ClockNow, DeviceClock, SystemClock};
#[cfg(feature = "face")]
pub use face::{EnrollmentOutcome, FaceInput, LivenessSession};
pub use identity::{KeySource, open_ledger};
#[cfg(feature = "face")]
pub use input::ImageInput;
pub use input::{MAX_IMAGE_FILE_BYTES, PhotoInput};

use crate::attendance::{self, AttendancePolicy, CheckOutcome, CheckRequest, Direction};
use crate::clock::{ClockStore, TrustedTime};
use crate::geo::Fix;
use crate::inspection::{self, Condition, InspectionOutcome, InspectionRequest};
use crate::ledger::{Ledger, Signer};
use crate::permit::{PermitCache, PermitView};
use crate::sealed::MasterKey;
use crate::store::Store;
use crate::sync::Outbox;
use crate::sync::outbox::SETTING_DEVICE_TOKEN;
use crate::{Error, Result};

/// How to open a device.
#[derive(Clone)]
pub struct DeviceConfig {
    /// App-private directory for the database.
    pub data_dir: PathBuf,
    /// Directory of the face models; `None`: no face engine (a citizen's permit app). Check-ins then
    /// fail closed: with the default policy they are recorded as rejected (`face_missing`).
    pub models_dir: Option<PathBuf>,
    /// The key that seals the device key and face templates (from the platform keystore).
    pub master_key: MasterKey,
    /// The city's server signing key (uncompressed P-256): verifies permits and pulled changes.
    pub server_public_key: Option<Vec<u8>>,
    /// How to reach the server (its key must equal `server_public_key` when both are given).
    #[cfg(feature = "client")]
    pub sync: Option<crate::sync::client::ClientConfig>,
    /// The rules check-ins are decided by.
    pub policy: AttendancePolicy,
}

impl DeviceConfig {
    /// A device in `data_dir` with the default (strict) policy, no models and no server.
    pub fn new(data_dir: impl Into<PathBuf>, master_key: MasterKey) -> Self {
        DeviceConfig {
            data_dir: data_dir.into(),
            models_dir: None,
            master_key,
            server_public_key: None,
            #[cfg(feature = "client")]
            sync: None,
            policy: AttendancePolicy::default(),
        }
    }

    /// Syncs with the server at `url` whose signing key is `public_key`, with the client's defaults.
    #[cfg(feature = "client")]
    #[must_use]
    pub fn with_server(mut self, url: impl Into<String>, public_key: Vec<u8>) -> Self {
        self.server_public_key = Some(public_key.clone());
        self.sync = Some(crate::sync::client::ClientConfig::new(url, public_key));
        self
    }
}

/// Identity and counters for a status screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    /// Device id (derived from its key).
    pub device_id: String,
    /// Public key (uncompressed P-256).
    pub public_key: Vec<u8>,
    /// Records written so far.
    pub records: u64,
    /// Records the server has not acknowledged yet.
    pub pending_records: u64,
    /// The face engine is loaded.
    pub face_ready: bool,
    /// The device holds a registration with the server.
    pub registered: bool,
}

/// One check-in or check-out, as the app asks for it. The time is read from the device clock.
#[derive(Debug, Clone)]
pub struct Check {
    /// Who.
    pub employee_id: String,
    /// In or out.
    pub direction: Direction,
    /// The face step; `None` when no face was captured (then the policy decides).
    #[cfg(feature = "face")]
    pub face: Option<FaceInput>,
    /// The location fix taken for this check.
    pub fix: Fix,
}

/// One inspection, as the app asks for it.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Registry id of the asset.
    pub asset_id: String,
    /// Its condition.
    pub condition: Condition,
    /// Free text.
    pub notes: String,
    /// Photos taken now.
    pub photos: Vec<PhotoInput>,
    /// Where the inspector stood.
    pub fix: Fix,
}

/// The SIAP app of one install. `Send + Sync`: share it in an `Arc`.
pub struct Device {
    store: Arc<Store>,
    ledger: Ledger,
    #[cfg_attr(not(feature = "face"), allow(dead_code))]
    master: MasterKey,
    clock: Arc<dyn DeviceClock>,
    policy: AttendancePolicy,
    server_public_key: Option<Vec<u8>>,
    #[cfg(feature = "face")]
    face: Option<Arc<crate::face::FaceEngine>>,
    #[cfg(feature = "client")]
    sync: Option<crate::sync::client::SyncClient>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("device_id", &self.ledger.device_id())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Opens (creating on first use) the device database and key in `config.data_dir`. `signer`: a
    /// platform key to sign with; `None` keeps a software key sealed under the master key.
    pub fn open(
        config: DeviceConfig,
        signer: Option<Arc<dyn Signer>>,
        clock: Arc<dyn DeviceClock>,
    ) -> Result<Device> {
        if config.data_dir.as_os_str().is_empty() {
            return Err(Error::invalid("data_dir", "empty"));
        }
        #[cfg(feature = "client")]
        let server_public_key = match (&config.server_public_key, &config.sync) {
            (Some(k), Some(s)) if *k != s.server_public_key => {
                return Err(Error::invalid(
                    "server_public_key",
                    "differs from the sync client's server key",
                ));
            }
            (Some(k), _) => Some(k.clone()),
            (None, Some(s)) => Some(s.server_public_key.clone()),
            (None, None) => None,
        };
        #[cfg(not(feature = "client"))]
        let server_public_key = config.server_public_key.clone();
        if let Some(k) = &server_public_key {
            crate::ledger::signer::check_public_key(k)?;
        }
        let store = Arc::new(Store::open_dir(&config.data_dir)?);
        let source = signer.map_or(KeySource::Software, KeySource::Platform);
        let ledger = open_ledger(store.clone(), &config.master_key, source)?;
        #[cfg(feature = "face")]
        let face = match &config.models_dir {
            Some(dir) => Some(Arc::new(crate::face::FaceEngine::open(
                dir,
                crate::face::FaceConfig::default(),
            )?)),
            None => None,
        };
        #[cfg(feature = "client")]
        let sync = match config.sync {
            Some(cfg) => Some(crate::sync::client::SyncClient::new(
                cfg,
                ledger.clone(),
                Arc::new(clock::SyncClock(clock.clone())),
            )?),
            None => None,
        };
        Ok(Device {
            store,
            ledger,
            master: config.master_key,
            clock,
            policy: config.policy,
            server_public_key,
            #[cfg(feature = "face")]
            face,
            #[cfg(feature = "client")]
            sync,
        })
    }

    /// The device's ledger (its id, key and records).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The policy check-ins are decided by.
    pub fn policy(&self) -> &AttendancePolicy {
        &self.policy
    }

    /// Both clocks now, from the platform clock.
    pub fn now(&self) -> Result<ClockNow> {
        self.clock.now()
    }

    /// The best estimate of the true time now: the server-anchored estimate when there is one, the
    /// phone's wall clock otherwise.
    pub fn trusted_now_ms(&self) -> Result<i64> {
        let now = self.now()?;
        let anchor = ClockStore(&self.store).best_for(&now.monotonic)?;
        Ok(
            match crate::clock::estimate(anchor.as_ref(), &now.monotonic) {
                TrustedTime::Anchored { estimate_ms, .. } => estimate_ms,
                TrustedTime::Unanchored { .. } => now.wall_ms,
            },
        )
    }

    /// Identity and counters for a status screen.
    pub fn status(&self) -> Result<DeviceStatus> {
        Ok(DeviceStatus {
            device_id: self.ledger.device_id().to_owned(),
            public_key: self.ledger.public_key().to_vec(),
            records: self.ledger.head()?.map_or(0, |h| h.seq),
            pending_records: Outbox(&self.store).pending_records()?,
            face_ready: {
                #[cfg(feature = "face")]
                let ready = self.face.is_some();
                #[cfg(not(feature = "face"))]
                let ready = false;
                ready
            },
            registered: self.store.setting(SETTING_DEVICE_TOKEN)?.is_some(),
        })
    }

    /// Checks in or out. Always writes a record (rejected attempts are evidence) unless the input is
    /// bad or the call is cancelled before the write. The face comes from a finished liveness session
    /// (verified on the session's own frames; the session is used up) or, where the policy allows
    /// it, one still selfie.
    pub fn check(&self, check: Check, cancel: &Cancel) -> Result<CheckOutcome> {
        let now = self.now()?;
        #[cfg(feature = "face")]
        let (face, face_crop, liveness_transcript) = match &check.face {
            Some(input) => {
                let c = self.face_step(&check.employee_id, input, &now, cancel)?;
                (Some(c.evidence), c.crop, c.transcript)
            }
            None => (None, None, None),
        };
        #[cfg(not(feature = "face"))]
        let (face, face_crop, liveness_transcript) = (None, None, None);
        cancel.checkpoint()?;
        let req = CheckRequest {
            employee_id: check.employee_id,
            direction: check.direction,
            fix: check.fix,
            now: now.monotonic,
            device_wall_ms: now.wall_ms,
            face,
            face_crop,
            liveness_transcript,
        };
        attendance::check(&self.ledger, &self.policy, &req)
    }

    /// Records an asset inspection with its photos (read and type-checked here). Returns what was
    /// recorded.
    pub fn inspect(&self, inspection: Inspection, cancel: &Cancel) -> Result<InspectionOutcome> {
        let mut photos = Vec::with_capacity(inspection.photos.len());
        if inspection.photos.len() > inspection::MAX_PHOTOS {
            return Err(Error::invalid(
                "photos",
                format!("more than {}", inspection::MAX_PHOTOS),
            ));
        }
        for p in inspection.photos {
            cancel.checkpoint()?;
            photos.push(p.load()?);
        }
        let now = self.now()?;
        cancel.checkpoint()?;
        let req = InspectionRequest {
            asset_id: inspection.asset_id,
            condition: inspection.condition,
            notes: inspection.notes,
            photos,
            fix: inspection.fix,
            now: now.monotonic,
            device_wall_ms: now.wall_ms,
        };
        inspection::record(&self.ledger, &self.policy.geo, &req)
    }

    fn permit_cache(&self) -> Result<PermitCache<'_>> {
        let key = self
            .server_public_key
            .as_deref()
            .ok_or(Error::NotReady("no server public key configured"))?;
        Ok(PermitCache::new(&self.store, key))
    }

    /// Every cached permit, re-verified against the city's key; "overdue" is judged at the trusted
    /// time (a phone clock set forward or back does not change it once the device has synced).
    pub fn permits(&self) -> Result<Vec<PermitView>> {
        let cache = self.permit_cache()?;
        cache.list(self.trusted_now_ms()?)
    }

    /// One cached permit.
    pub fn permit(&self, permit_id: &str) -> Result<PermitView> {
        let cache = self.permit_cache()?;
        cache.get(permit_id, self.trusted_now_ms()?)
    }
}

#[cfg(test)]
mod tests;
