//! The `SiapCore` object: one per app process, opened with the app's configuration.

use std::path::PathBuf;
use std::sync::Arc;

use siap_core::attendance::{self, AttendancePolicy, CheckRequest, Direction};
use siap_core::device::{KeySource, open_ledger};
use siap_core::face::{FaceConfig, FaceEngine, LivenessAttempt, template_store};
use siap_core::geo::GeoPolicy;
use siap_core::inspection::{self, Condition, InspectionRequest, Photo};
use siap_core::ledger::Ledger;
use siap_core::liveness::{Challenge, ChallengeConfig};
use siap_core::permit::PermitCache;
use siap_core::sealed::MasterKey;
use siap_core::store::Store;
use siap_core::sync::client::{ClientConfig, SyncClient};

use crate::error::{SiapError, guard};
use crate::liveness::{LivenessSession, live_config};
use crate::signer::{ForeignClock, ForeignSigner, PlatformClock, PlatformSigner};
use crate::types::{
    AssetCondition, CameraImage, CheckDirection, CheckResult, ClockReading, CoreConfig,
    DeviceStatus, IdentifiedPerson, LocationFix, PermitInfo, SyncSummary, decode,
};

/// The SIAP core for one app install.
#[derive(uniffi::Object)]
pub struct SiapCore {
    ledger: Ledger,
    store: Arc<Store>,
    master: MasterKey,
    face: Option<Arc<FaceEngine>>,
    sync: Option<Arc<SyncClient>>,
    config: CoreConfig,
    policy: AttendancePolicy,
}

impl SiapCore {
    fn engine(&self) -> Result<&Arc<FaceEngine>, SiapError> {
        self.face
            .as_ref()
            .ok_or_else(|| SiapError::NotReady("no models directory configured".into()))
    }

    fn client(&self) -> Result<Arc<SyncClient>, SiapError> {
        self.sync
            .clone()
            .ok_or_else(|| SiapError::NotReady("no server configured".into()))
    }

    fn server_key(&self) -> Result<&[u8], SiapError> {
        self.config
            .server_public_key
            .as_deref()
            .ok_or_else(|| SiapError::NotReady("no server public key configured".into()))
    }
}

#[uniffi::export]
impl SiapCore {
    /// Opens (creating on first use) the device database and key. `signer`: a platform key to sign with;
    /// `None` keeps a software key sealed under the master key.
    #[uniffi::constructor]
    /// `clock` reads the platform's monotonic clock (the same one the app puts in every
    /// [`ClockReading`]), so that server time anchors and check-ins share one timebase.
    pub fn open(
        config: CoreConfig,
        signer: Option<Arc<dyn PlatformSigner>>,
        clock: Arc<dyn PlatformClock>,
    ) -> Result<Arc<Self>, SiapError> {
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
                Some(dir) => Some(Arc::new(FaceEngine::open(
                    &PathBuf::from(dir),
                    FaceConfig::default(),
                )?)),
                None => None,
            };
            let policy = AttendancePolicy {
                require_face: face.is_some(),
                require_liveness: face.is_some() && config.require_liveness,
                ..AttendancePolicy::default()
            };
            let sync = match (&config.server_url, &config.server_public_key) {
                (Some(url), Some(key)) => Some(Arc::new(SyncClient::new(
                    ClientConfig::new(url.clone(), key.clone()),
                    ledger.clone(),
                    Arc::new(ForeignClock(clock)),
                )?)),
                _ => None,
            };
            Ok(Arc::new(SiapCore {
                ledger,
                store,
                master,
                face,
                sync,
                config,
                policy,
            }))
        })
    }

    /// Identity and counters for a status screen.
    pub fn status(&self) -> Result<DeviceStatus, SiapError> {
        guard(|| {
            let head = self.ledger.head()?.map_or(0, |h| h.seq);
            let acked: i64 = self.store.with_conn(|c| {
                Ok(
                    c.query_row("SELECT acked_seq FROM outbox WHERE id = 1", [], |r| {
                        r.get(0)
                    })?,
                )
            })?;
            Ok(DeviceStatus {
                device_id: self.ledger.device_id().to_owned(),
                public_key: self.ledger.public_key().to_vec(),
                records: head,
                pending_records: head.saturating_sub(acked as u64),
                face_ready: self.face.is_some(),
            })
        })
    }

    /// Starts a liveness check for `employee_id` at `clock`: the core draws the challenge; the app shows
    /// it, feeds frames to the session, then passes the session to [`Self::check`]. An employee without
    /// an enrolled face gets [`SiapError::NotEnrolled`] here, before any frame is captured.
    pub fn start_liveness(
        &self,
        employee_id: String,
        clock: ClockReading,
    ) -> Result<Arc<LivenessSession>, SiapError> {
        guard(|| {
            let engine = self.engine()?.clone();
            if !template_store::list(&self.store)?.contains(&employee_id) {
                return Err(SiapError::NotEnrolled);
            }
            let challenge = Challenge::issue(&clock.monotonic(), &ChallengeConfig::default())?;
            let attempt = LivenessAttempt::new(challenge, live_config())?;
            Ok(Arc::new(LivenessSession::new(
                engine,
                self.policy.liveness.clone(),
                employee_id,
                attempt,
            )))
        })
    }

    /// Checks in or out. Always writes a record (rejected attempts are evidence) unless the input is bad.
    ///
    /// The face comes either from a finished liveness session (the identity is verified on the
    /// session's own frames; the session is used up) or, where the city's policy allows it, from one
    /// still `selfie`. Giving both is bad input.
    pub fn check(
        &self,
        employee_id: String,
        direction: CheckDirection,
        selfie: Option<CameraImage>,
        liveness: Option<Arc<LivenessSession>>,
        fix: LocationFix,
        clock: ClockReading,
    ) -> Result<CheckResult, SiapError> {
        guard(|| {
            let face = match (selfie, liveness) {
                (Some(_), Some(_)) => {
                    return Err(SiapError::BadInput(
                        "give a selfie or a liveness session, not both".into(),
                    ));
                }
                (Some(img), None) => Some(attendance::verify_face(
                    self.engine()?,
                    &self.store,
                    &self.master,
                    &employee_id,
                    &decode(img)?,
                )?),
                (None, Some(session)) => {
                    let attempt = session.take(&employee_id)?;
                    Some(attendance::verify_live(
                        self.engine()?,
                        &self.store,
                        &self.master,
                        &employee_id,
                        &attempt,
                        None,
                        &self.policy.liveness,
                        &clock.monotonic(),
                    )?)
                }
                (None, None) => None,
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
            Ok(CheckResult::from(&attendance::check(
                &self.ledger,
                &self.policy,
                &req,
            )?))
        })
    }

    /// Kiosk mode (1:N): every face in `photo` compared with every employee enrolled on this device.
    /// A face below the threshold, or failing the quality gate, comes back with no employee id. This
    /// identifies only; attendance is still recorded through [`Self::check`].
    pub fn identify(&self, photo: CameraImage) -> Result<Vec<IdentifiedPerson>, SiapError> {
        guard(|| {
            let engine = self.engine()?;
            let key = template_store::sealing_key(&self.master);
            let gallery = template_store::load_all(&self.store, &key)?;
            let outcome = engine.identify(&gallery, &decode(photo)?)?;
            Ok(outcome
                .faces
                .into_iter()
                .map(|f| IdentifiedPerson {
                    employee_id: f.id,
                    similarity: f.similarity,
                    face_box: f.detection.bbox.to_vec(),
                    quality_passed: f.quality.passed,
                })
                .collect())
        })
    }

    /// Enrolls an employee's face from 3 to 5 photos (each must pass the quality gate). Replaces any
    /// earlier enrollment. The template is sealed at rest.
    pub fn enroll_face(
        &self,
        employee_id: String,
        photos: Vec<CameraImage>,
    ) -> Result<(), SiapError> {
        guard(|| {
            let engine = self.engine()?;
            let imgs = photos
                .into_iter()
                .map(decode)
                .collect::<Result<Vec<_>, _>>()?;
            let template = engine.enroll(&imgs)?;
            let key = template_store::sealing_key(&self.master);
            template_store::save(
                &self.store,
                &key,
                &employee_id,
                &template,
                siap_core::time::wall_now_ms(),
            )?;
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
                .map(|bytes| Photo {
                    mime: if bytes.starts_with(b"\x89PNG") {
                        "image/png"
                    } else {
                        "image/jpeg"
                    }
                    .into(),
                    bytes,
                })
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
        guard(|| {
            Ok(PermitCache::new(&self.store, self.server_key()?)
                .list(now_ms)?
                .into_iter()
                .map(PermitInfo::from)
                .collect())
        })
    }

    /// One cached permit.
    pub fn permit(&self, permit_id: String, now_ms: i64) -> Result<PermitInfo, SiapError> {
        guard(|| {
            Ok(PermitCache::new(&self.store, self.server_key()?)
                .get(&permit_id, now_ms)?
                .into())
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SiapCore {
    /// Registers this device with a one-time enrollment code from the city's administrator. Returns
    /// the device id the server confirmed.
    pub async fn register(&self, enrollment_code: String) -> Result<String, SiapError> {
        let client = self.client()?;
        // Run on a task: a panic inside becomes a JoinError, mapped to an error, never a crash.
        let task = tokio::spawn(async move { client.register(&enrollment_code).await });
        Ok(task.await.map_err(join_error)??.device_id)
    }

    /// Uploads pending records and photos, pulls signed changes (sites, employees, assets, permits),
    /// and stores server time anchors. Safe to call at any time and to retry: nothing is lost or
    /// duplicated by a timeout, a dropped connection or a killed app.
    pub async fn sync(&self) -> Result<SyncSummary, SiapError> {
        let client = self.client()?;
        let task = tokio::spawn(async move { client.sync().await });
        let report = task.await.map_err(join_error)??;
        Ok(SyncSummary {
            sent: report.sent,
            acknowledged: report.acknowledged,
            pending: report.pending,
            blobs_uploaded: report.blobs_uploaded,
            pulled: report.pulled,
            complete: report.is_complete(),
            errors: report
                .errors
                .iter()
                .map(|(phase, e)| format!("{phase:?}: {e}"))
                .collect(),
        })
    }
}

fn join_error(e: tokio::task::JoinError) -> SiapError {
    SiapError::Internal(if e.is_panic() {
        "panic caught in a sync task".into()
    } else {
        "sync task cancelled".into()
    })
}
