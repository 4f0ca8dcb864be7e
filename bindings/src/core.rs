//! The `SiapCore` object: one per app process, a thin shell over `siap_core::Device`. Each method
//! converts its arguments, calls the device, and converts the answer; slow ones are `async` (Kotlin
//! `suspend`, Swift `async throws`) and run off the executor (see `run.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use siap_core::Device;
use siap_core::device::{Check, DeviceConfig, ImageInput, Inspection};
use siap_core::sealed::MasterKey;
use siap_core::sync::client::ClientConfig;

use crate::enrollment::{EnrollmentResult, FaceStatus};
use crate::error::{SiapError, guard};
use crate::input::{
    AssetCondition, CameraImage, CheckDirection, CoreConfig, FaceInput, LocationFix, Photo,
};
use crate::liveness::LivenessSession;
use crate::output::{
    CheckResult, DeviceStatus, IdentifiedPerson, InspectionResult, PermitInfo, SyncSummary,
};
use crate::platform::{ForeignClock, ForeignSigner, PlatformClock, PlatformSigner};
use crate::run::{blocking, task};

/// The SIAP core for one app install.
#[derive(Debug, uniffi::Object)]
pub struct SiapCore {
    inner: Arc<Device>,
}

impl TryFrom<CoreConfig> for DeviceConfig {
    type Error = SiapError;

    fn try_from(c: CoreConfig) -> Result<Self, SiapError> {
        let mut cfg = DeviceConfig::new(
            PathBuf::from(c.data_dir),
            MasterKey::from_bytes(&c.master_key)?,
        );
        cfg.models_dir = c.models_dir.map(PathBuf::from);
        cfg.server_public_key.clone_from(&c.server_public_key);
        cfg.sync = match (c.server_url, c.server_public_key) {
            (Some(url), Some(key)) => Some(ClientConfig::new(url, key)),
            (Some(_), None) => {
                return Err(SiapError::BadInput {
                    reason: "server_url needs server_public_key".into(),
                });
            }
            _ => None,
        };
        cfg.policy.require_liveness = c.require_liveness;
        cfg.policy.require_enrollment_liveness = c.require_enrollment_liveness;
        Ok(cfg)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SiapCore {
    /// Opens (creating on first use) the device database and key. `signer`: a platform key to sign
    /// with; `None` keeps a software key sealed under the master key. `clock`: the platform's clocks,
    /// read by the core for every event and to anchor server time.
    #[uniffi::constructor]
    pub fn open(
        config: CoreConfig,
        signer: Option<Arc<dyn PlatformSigner>>,
        clock: Arc<dyn PlatformClock>,
    ) -> Result<Arc<Self>, SiapError> {
        guard(|| {
            let signer =
                signer.map(|s| Arc::new(ForeignSigner(s)) as Arc<dyn siap_core::ledger::Signer>);
            let device = Device::open(config.try_into()?, signer, Arc::new(ForeignClock(clock)))?;
            Ok(Arc::new(SiapCore {
                inner: Arc::new(device),
            }))
        })
    }

    /// Identity and counters for a status screen.
    pub fn status(&self) -> Result<DeviceStatus, SiapError> {
        guard(|| Ok(self.inner.status()?.into()))
    }

    /// Starts a liveness check for `employee_id`: the core draws the challenge; the app shows it, feeds
    /// frames to the session, then checks in with `FaceInput.Liveness`. An employee without an enrolled
    /// face gets `NotEnrolled` here, before any frame is captured.
    pub fn start_liveness(&self, employee_id: String) -> Result<Arc<LivenessSession>, SiapError> {
        guard(|| {
            Ok(Arc::new(LivenessSession {
                inner: self.inner.start_liveness(&employee_id)?,
            }))
        })
    }

    /// Checks in or out. Always writes a record (rejected attempts are evidence) unless the input is
    /// bad or the call is cancelled before the write. `face`: `None` when no face was captured (the
    /// city's policy then decides, by default: rejected).
    pub async fn check(
        &self,
        employee_id: String,
        direction: CheckDirection,
        face: Option<FaceInput>,
        fix: LocationFix,
    ) -> Result<CheckResult, SiapError> {
        let device = self.inner.clone();
        blocking(move |cancel| {
            let check = Check {
                employee_id,
                direction: direction.into(),
                face: face.map(Into::into),
                fix: fix.into(),
            };
            Ok(CheckResult::from(&device.check(check, cancel)?))
        })
        .await
    }

    /// Kiosk mode (1:N): every face in `photo` compared with every employee enrolled on this device. A
    /// face below the threshold, or failing the quality gate, has no employee id. Identifies only.
    pub async fn identify(&self, photo: CameraImage) -> Result<Vec<IdentifiedPerson>, SiapError> {
        let device = self.inner.clone();
        blocking(move |cancel| {
            let outcome = device.identify(&ImageInput::from(photo), cancel)?;
            Ok(outcome.faces.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Starts the liveness check an enrollment must pass (the city's default policy): like
    /// `start_liveness`, for someone not enrolled yet. Pass the finished session to `enroll_face`.
    pub fn start_enrollment(&self, employee_id: String) -> Result<Arc<LivenessSession>, SiapError> {
        guard(|| {
            Ok(Arc::new(LivenessSession {
                inner: self.inner.start_enrollment(&employee_id)?,
            }))
        })
    }

    /// Enrolls an employee's face from 3 to 5 photos (each must pass the quality gate) and a finished
    /// `start_enrollment` session. Always records a signed enrollment (refused attempts too, with
    /// their reasons); a stored template is pending until the city's approval arrives with `sync`,
    /// and replaces an earlier one. Cancelled before the record, nothing changes.
    #[uniffi::method(default(liveness = None))]
    pub async fn enroll_face(
        &self,
        employee_id: String,
        photos: Vec<CameraImage>,
        liveness: Option<Arc<LivenessSession>>,
    ) -> Result<EnrollmentResult, SiapError> {
        let device = self.inner.clone();
        blocking(move |cancel| {
            let photos: Vec<ImageInput> = photos.into_iter().map(Into::into).collect();
            let session = liveness.as_ref().map(|s| s.inner.as_ref());
            Ok(device
                .enroll(&employee_id, &photos, session, cancel)?
                .into())
        })
        .await
    }

    /// The employee's enrolled face on this device and its standing with the city; `None` when
    /// nobody is enrolled under that id here.
    pub fn face_status(&self, employee_id: String) -> Result<Option<FaceStatus>, SiapError> {
        guard(|| {
            Ok(self
                .inner
                .face_status(&employee_id)?
                .map(|(template_sha256, status)| FaceStatus {
                    template_sha256,
                    approval: status.into(),
                }))
        })
    }

    /// Deletes an employee's face data (the right to erasure) and records the erasure. Returns whether
    /// there was any.
    pub fn delete_face(&self, employee_id: String) -> Result<bool, SiapError> {
        guard(|| Ok(self.inner.delete_face(&employee_id)?))
    }

    /// Records an asset inspection with up to 10 photos (JPEG/PNG, bytes or files).
    pub async fn inspect(
        &self,
        asset_id: String,
        condition: AssetCondition,
        notes: String,
        photos: Vec<Photo>,
        fix: LocationFix,
    ) -> Result<InspectionResult, SiapError> {
        let device = self.inner.clone();
        blocking(move |cancel| {
            let inspection = Inspection {
                asset_id,
                condition: condition.into(),
                notes,
                photos: photos.into_iter().map(Into::into).collect(),
                fix: fix.into(),
            };
            Ok(InspectionResult::from(&device.inspect(inspection, cancel)?))
        })
        .await
    }

    /// Every cached permit, re-verified against the city's key; overdue at trusted time.
    pub fn permits(&self) -> Result<Vec<PermitInfo>, SiapError> {
        guard(|| Ok(self.inner.permits()?.into_iter().map(Into::into).collect()))
    }

    /// One cached permit.
    pub fn permit(&self, permit_id: String) -> Result<PermitInfo, SiapError> {
        guard(|| Ok(self.inner.permit(&permit_id)?.into()))
    }

    /// Registers this device with a one-time enrollment code from the city's administrator. Returns
    /// the device id the server confirmed. Safe to retry with the same code after a lost answer.
    pub async fn register(&self, enrollment_code: String) -> Result<String, SiapError> {
        let device = self.inner.clone();
        task(async move { Ok(device.register(&enrollment_code).await?) }).await
    }

    /// Uploads pending records and photos, pulls signed changes (sites, employees, assets, permits),
    /// and stores server time anchors. Safe to call at any time, to retry and to cancel: nothing is
    /// lost or duplicated by a timeout, a dropped connection, a cancelled call or a killed app.
    pub async fn sync(&self) -> Result<SyncSummary, SiapError> {
        let device = self.inner.clone();
        task(async move { Ok(device.sync().await?.into()) }).await
    }
}
