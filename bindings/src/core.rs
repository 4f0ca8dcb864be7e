//! The `SiapCore` object: one per app process, opened with the app's configuration.

use std::path::PathBuf;
use std::sync::Arc;

use siap_core::attendance::{self, AttendancePolicy, CheckRequest, Direction};
use siap_core::device::{KeySource, open_ledger};
use siap_core::face::{FaceConfig, FaceEngine, FaceImage, RawFrame, template_store};
use siap_core::geo::GeoPolicy;
use siap_core::inspection::{self, Condition, InspectionRequest, Photo};
use siap_core::ledger::Ledger;
use siap_core::permit::PermitCache;
use siap_core::sealed::MasterKey;
use siap_core::store::Store;

use crate::error::{SiapError, guard};
use crate::signer::{ForeignSigner, PlatformSigner};
use crate::types::{
    AssetCondition, CameraImage, CheckDirection, CheckResult, ClockReading, CoreConfig, DeviceStatus, LocationFix, PermitInfo,
};

/// The SIAP core for one app install.
#[derive(uniffi::Object)]
pub struct SiapCore {
    ledger: Ledger,
    store: Arc<Store>,
    master: MasterKey,
    face: Option<FaceEngine>,
    config: CoreConfig,
    policy: AttendancePolicy,
}

impl SiapCore {
    fn engine(&self) -> Result<&FaceEngine, SiapError> {
        self.face.as_ref().ok_or_else(|| SiapError::NotReady("no models directory configured".into()))
    }

    fn server_key(&self) -> Result<&[u8], SiapError> {
        self.config.server_public_key.as_deref().ok_or_else(|| SiapError::NotReady("no server public key configured".into()))
    }
}

#[uniffi::export]
impl SiapCore {
    /// Opens (creating on first use) the device database and key. `signer`: a platform key to sign with;
    /// `None` keeps a software key sealed under the master key.
    #[uniffi::constructor]
    pub fn open(config: CoreConfig, signer: Option<Arc<dyn PlatformSigner>>) -> Result<Arc<Self>, SiapError> {
        guard(|| {
            let master = MasterKey::from_bytes(&config.master_key)?;
            if config.data_dir.trim().is_empty() {
                return Err(SiapError::BadInput("data_dir is empty".into()));
            }
            let store = Arc::new(Store::open_dir(&PathBuf::from(&config.data_dir))?);
            let source = match signer {
                Some(s) => KeySource::Platform(Arc::new(ForeignSigner(s))),
                None => KeySource::Software,
            };
            let ledger = open_ledger(store.clone(), &master, source)?;
            let face = match &config.models_dir {
                Some(dir) => Some(FaceEngine::open(&PathBuf::from(dir), FaceConfig::default())?),
                None => None,
            };
            let policy = AttendancePolicy { require_face: face.is_some(), ..AttendancePolicy::default() };
            Ok(Arc::new(SiapCore { ledger, store, master, face, config, policy }))
        })
    }

    /// Identity and counters for a status screen.
    pub fn status(&self) -> Result<DeviceStatus, SiapError> {
        guard(|| {
            let head = self.ledger.head()?.map_or(0, |h| h.seq);
            let acked: i64 = self.store.with_conn(|c| Ok(c.query_row("SELECT acked_seq FROM outbox WHERE id = 1", [], |r| r.get(0))?))?;
            Ok(DeviceStatus {
                device_id: self.ledger.device_id().to_owned(),
                public_key: self.ledger.public_key().to_vec(),
                records: head,
                pending_records: head.saturating_sub(acked as u64),
                face_ready: self.face.is_some(),
            })
        })
    }

    /// Checks in or out. Always writes a record (rejected attempts are evidence) unless the input is bad.
    pub fn check(
        &self,
        employee_id: String,
        direction: CheckDirection,
        selfie: Option<CameraImage>,
        fix: LocationFix,
        clock: ClockReading,
    ) -> Result<CheckResult, SiapError> {
        guard(|| {
            let face = match selfie {
                Some(img) => {
                    let img = decode(img)?;
                    Some(attendance::verify_face(self.engine()?, &self.store, &self.master, &employee_id, &img)?)
                }
                None => None,
            };
            let req = CheckRequest {
                employee_id,
                direction: match direction {
                    CheckDirection::In => Direction::In,
                    CheckDirection::Out => Direction::Out,
                },
                fix: fix.into(),
                now: clock.monotonic(),
                device_wall_ms: clock.wall_ms,
                face,
            };
            Ok(CheckResult::from(&attendance::check(&self.ledger, &self.policy, &req)?))
        })
    }

    /// Enrolls an employee's face from 3 to 5 photos (each must pass the quality gate). Replaces any
    /// earlier enrollment. The template is sealed at rest.
    pub fn enroll_face(&self, employee_id: String, photos: Vec<CameraImage>) -> Result<(), SiapError> {
        guard(|| {
            let imgs = photos.into_iter().map(decode).collect::<Result<Vec<_>, _>>()?;
            let template = self.engine()?.enroll(&imgs)?;
            let key = template_store::sealing_key(&self.master);
            template_store::save(&self.store, &key, &employee_id, &template, siap_core::time::wall_now_ms())?;
            Ok(())
        })
    }

    /// Deletes an employee's face data (the right to erasure). Returns whether there was any.
    pub fn delete_face(&self, employee_id: String) -> Result<bool, SiapError> {
        guard(|| Ok(template_store::delete(&self.store, &employee_id)?))
    }

    /// Records an asset inspection with photos (JPEG/PNG bytes). Returns the ledger seq.
    pub fn inspect(
        &self,
        asset_id: String,
        condition: AssetCondition,
        notes: String,
        photos: Vec<Vec<u8>>,
        fix: LocationFix,
        clock: ClockReading,
    ) -> Result<u64, SiapError> {
        guard(|| {
            let photos = photos
                .into_iter()
                .map(|bytes| Photo { mime: if bytes.starts_with(b"\x89PNG") { "image/png" } else { "image/jpeg" }.into(), bytes })
                .collect();
            let req = InspectionRequest {
                asset_id,
                condition: match condition {
                    AssetCondition::Good => Condition::Good,
                    AssetCondition::MinorDamage => Condition::MinorDamage,
                    AssetCondition::MajorDamage => Condition::MajorDamage,
                    AssetCondition::Lost => Condition::Lost,
                },
                notes,
                photos,
                fix: fix.into(),
                now: clock.monotonic(),
                device_wall_ms: clock.wall_ms,
            };
            Ok(inspection::record(&self.ledger, &GeoPolicy::default(), &req)?.seq)
        })
    }

    /// Every cached permit, re-verified against the city's key.
    pub fn permits(&self, now_ms: i64) -> Result<Vec<PermitInfo>, SiapError> {
        guard(|| Ok(PermitCache::new(&self.store, self.server_key()?).list(now_ms)?.into_iter().map(PermitInfo::from).collect()))
    }

    /// One cached permit.
    pub fn permit(&self, permit_id: String, now_ms: i64) -> Result<PermitInfo, SiapError> {
        guard(|| Ok(PermitCache::new(&self.store, self.server_key()?).get(&permit_id, now_ms)?.into()))
    }
}

fn decode(img: CameraImage) -> Result<FaceImage, SiapError> {
    Ok(match img {
        CameraImage::Encoded { bytes } => FaceImage::decode(&bytes)?,
        CameraImage::Raw { format, width, height, rotation_degrees, data } => FaceImage::from_raw(&RawFrame {
            format: format.into(),
            width,
            height,
            rotation_degrees,
            data,
        })?,
    })
}
