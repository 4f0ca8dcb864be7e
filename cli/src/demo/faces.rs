//! The faces of the demo: the labelled photos of `../shared/faces` stand in for the phone's camera.
//! Enrollment is a city-governed event: the evening before the working day, a colleague enrolls his
//! own face under Maria's id on her phone (the city rejects it), Maria enrolls her own (the city
//! approves it), and the colleague enrolls himself on her phone (the server refuses: the phone is not
//! his). A photo held up to the camera through a liveness challenge is built here too.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use siap_core::Device;
use siap_core::device::{Cancel, EnrollmentOutcome, ImageInput};
use siap_core::enrollment::FaceDecisionKind;
use siap_core::enrollment::decisions::TemplateStatus;
use siap_core::face::FaceImage;

use super::city::City;
use super::{MARIA, PhoneClock, YOHANES};

/// The labelled photos standing in for the phone's camera.
pub(super) struct Faces {
    pub(super) dir: PathBuf,
}

/// What the city decided the evening before.
pub(super) struct Enrollments {
    /// Maria's own face: approved for her phone.
    pub(super) maria_approved: bool,
    /// Yohanes's face enrolled as Maria's: rejected by the city.
    pub(super) buddy_rejected: bool,
    /// Yohanes enrolled on Maria's phone under his own id: refused by the server (not bound).
    pub(super) yohanes_refused: bool,
}

impl Faces {
    /// The photos in `dir`, if any (the models were loaded when the device opened, `started` ago).
    pub(super) fn open(dir: Option<PathBuf>, started: std::time::Instant) -> Option<Faces> {
        let dir = dir?;
        println!("\n-- faces --");
        println!(
            "  device opened, models loaded, hash-checked and optimised in {} ms",
            started.elapsed().as_millis()
        );
        Some(Faces { dir })
    }

    fn enroll(
        &self,
        device: &Device,
        employee: &str,
        photos: [&str; 3],
    ) -> anyhow::Result<EnrollmentOutcome> {
        let imgs: Vec<ImageInput> = photos
            .iter()
            .map(|p| ImageInput::File(self.dir.join(p)))
            .collect();
        device
            .enroll(employee, &imgs, None, &Cancel::never())
            .with_context(|| format!("enrolling from {photos:?}"))
    }

    /// The evening before (a previous boot of the phone, online): three enrollments and the city's
    /// decisions on them, pulled by the phone.
    pub(super) async fn evening_before(
        &self,
        device: &Device,
        phone: &PhoneClock,
        city: &City,
    ) -> anyhow::Result<Enrollments> {
        let kit = [
            "kit_harington/1.jpg",
            "kit_harington/2.jpg",
            "kit_harington/3.jpg",
        ];
        phone.set(60_000);
        let buddy = self.enroll(device, MARIA, kit)?;
        println!(
            "  record #{}: Yohanes, holding Maria's phone, enrolls HIS face under Maria's id: template {}…, pending the city's approval",
            buddy.seq,
            &buddy.payload.template_sha256[..12]
        );
        sync(device).await?;
        let held = city.enrollments(MARIA).await?;
        let on_server = held
            .iter()
            .find(|e| e.template_sha256 == buddy.payload.template_sha256)
            .context("the enrollment did not reach the server")?;
        println!(
            "  the server holds it as {} with {} aligned face crops for HR to look at",
            on_server.status,
            on_server.crops.len()
        );
        city.decide(
            MARIA,
            &buddy.payload.template_sha256,
            FaceDecisionKind::Rejected,
            "wajah pada foto pendaftaran bukan wajah Maria (foto resmi kepegawaian)",
        )
        .await?;
        println!("  HR compares the crops with Maria's personnel photo: rejected");

        phone.set(20 * 60_000);
        let own = self.enroll(device, MARIA, ["obama/1.jpg", "obama/2.jpg", "obama/3.jpg"])?;
        println!(
            "  record #{}: Maria enrolls her own face: template {}… replaces the one above, pending",
            own.seq,
            &own.payload.template_sha256[..12]
        );
        phone.set(22 * 60_000);
        let yohanes = self.enroll(device, YOHANES, kit)?;
        println!(
            "  record #{}: Yohanes enrolls himself on Maria's phone, to check in on it later: pending",
            yohanes.seq
        );
        sync(device).await?;
        city.decide(
            MARIA,
            &own.payload.template_sha256,
            FaceDecisionKind::Approved,
            "",
        )
        .await?;
        println!("  HR approves Maria's template for her phone (a signed decision in the feed)");
        let refused = city
            .enrollments(YOHANES)
            .await?
            .into_iter()
            .find(|e| e.template_sha256 == yohanes.payload.template_sha256)
            .is_some_and(|e| e.status == "refused" && e.refused.iter().any(|r| r == "not_bound"));
        println!(
            "  the server refuses Yohanes's enrollment on Maria's phone (not bound to him): nobody can approve it"
        );
        phone.set(30 * 60_000);
        sync(device).await?;
        let status = |e: &str| -> anyhow::Result<String> {
            Ok(match device.face_status(e)? {
                Some((_, s)) => format!("{s:?}"),
                None => "none".into(),
            })
        };
        println!(
            "  after the phone pulled the decisions: Maria's face {}, Yohanes's face {}",
            status(MARIA)?,
            status(YOHANES)?
        );
        let buddy_rejected =
            city.enrollments(MARIA).await?.iter().any(|e| {
                e.template_sha256 == buddy.payload.template_sha256 && e.status == "rejected"
            });
        Ok(Enrollments {
            maria_approved: matches!(
                device.face_status(MARIA)?,
                Some((_, TemplateStatus::Approved))
            ),
            buddy_rejected,
            yohanes_refused: refused,
        })
    }

    /// A photo of `employee` held up to the camera and tilted to imitate the challenge of a liveness
    /// session started at `issued_ms` since boot: the frames go through the device's liveness session
    /// as a phone's camera frames would.
    pub(super) fn photo_attack(
        &self,
        device: &Device,
        employee: &str,
        photo: &str,
        issued_ms: i64,
    ) -> anyhow::Result<(Arc<siap_core::device::LivenessSession>, String)> {
        use siap_core::liveness::attack::{HeldPicture, Rgb, held_picture_frames};
        use siap_core::liveness::synth::Rng;

        let file = ImageInput::File(self.dir.join(photo));
        let img = file.decode()?;
        // The kiosk's identification finds the face to hold up.
        let face = device
            .identify(&file, &Cancel::never())?
            .faces
            .first()
            .map(|f| f.detection.bbox)
            .context("no face in the photo")?;
        let picture = Rgb::new(img.width(), img.height(), img.rgb().to_vec())?;
        let session = device.start_liveness(employee)?;
        let challenge = session.challenge();
        let steps = challenge
            .steps
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let frames = held_picture_frames(
            &picture,
            face,
            &challenge.steps,
            &HeldPicture::default(),
            10.0,
            &mut Rng::new(2026),
        )?;
        for (t, frame) in frames {
            let frame = FaceImage::from_rgb8(frame.width, frame.height, frame.data)?;
            session.push_frame(&frame, issued_ms + 300 + t)?;
        }
        Ok((session, format!("[{steps}]")))
    }
}

async fn sync(device: &Device) -> anyhow::Result<()> {
    let r = device.sync().await?;
    anyhow::ensure!(r.is_complete(), "sync incomplete: {:?}", r.errors);
    Ok(())
}
