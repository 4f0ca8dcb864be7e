//! `siap demo`: a working day on an embedded default, end to end, in a fresh temporary directory.
//!
//! It starts the city's server on loopback, creates a device, sets up two offices of a city in eastern
//! Indonesia and registers the phone to Maria. With the labelled photos of `../shared/faces` (or
//! `SIAP_FACES_DIR`), the evening before, a colleague enrolls his own face as Maria's (the city
//! rejects it), Maria enrolls hers (approved) and the colleague enrolls himself on her phone (refused:
//! not his phone). The working day walks through an accepted check-in, one outside the fence, one with
//! a mock location, the colleague on Maria's phone (and the same check-in signed "accepted" by a
//! modified app: the server disputes it), an impostor's face, a photo held up to a liveness challenge,
//! an asset inspection with a photo, and a permit signed by the city; then it verifies and exports the
//! chain, syncs, and prints the server's verdict beside the phone's. Without the photos it says so and
//! runs without the face step.
//!
//! `city` is the server's side, `faces` the photos and the enrollments. Every number printed comes
//! from the real core, driven through `siap_core::Device`, the same type the phone apps call through
//! the FFI; only the phone's clock and camera are simulated.

mod city;
mod faces;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::Context;
use clap::Args;
use siap_core::Device;
use siap_core::attendance::{CheckOutcome, Direction};
use siap_core::clock::{ClockStore, MonotonicReading, TrustedTime};
use siap_core::device::{
    Cancel, Check, ClockNow, DeviceClock, DeviceConfig, FaceInput, ImageInput, Inspection,
    PhotoInput,
};

use city::City;
use faces::Faces;
use siap_core::face::default_models_dir;
use siap_core::geo::{Fence, Fix, LatLon, Site};
use siap_core::inspection::Condition;
use siap_core::ledger::{Ledger, Signer, SoftwareSigner};
use siap_core::permit::{PermitCache, PermitDocument, PermitEvent, PermitStatus};
use siap_core::reference::{Asset, Employee, Reference};
use siap_core::sealed::MasterKey;
use siap_core::signed::{PERMIT_DOMAIN, SignedBlob};

/// Options of `siap demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Keep the data directory here instead of a temporary one.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

const HOUR: i64 = 3_600_000;
const MARIA: &str = "198503122010011001";
const YOHANES: &str = "199001012015031002";
/// The simulated phone's clocks: the demo sets the time since boot; the wall clock runs with it.
struct PhoneClock {
    since_boot_ms: AtomicI64,
    wall_at_boot: AtomicI64,
    boot: AtomicI64,
}

impl PhoneClock {
    fn set(&self, since_boot_ms: i64) {
        self.since_boot_ms.store(since_boot_ms, Ordering::SeqCst);
    }

    /// The phone restarts at `wall_ms` (a new boot: the monotonic clock starts again).
    fn reboot(&self, wall_ms: i64) {
        self.boot.fetch_add(1, Ordering::SeqCst);
        self.wall_at_boot.store(wall_ms, Ordering::SeqCst);
        self.set(0);
    }

    fn at(&self, since_boot_ms: i64) -> ClockNow {
        ClockNow {
            monotonic: MonotonicReading {
                monotonic_ms: since_boot_ms,
                boot_id: format!("demo-boot-{}", self.boot.load(Ordering::SeqCst)),
            },
            wall_ms: self.wall_at_boot.load(Ordering::SeqCst) + since_boot_ms,
        }
    }
}

impl DeviceClock for PhoneClock {
    fn now(&self) -> siap_core::Result<ClockNow> {
        Ok(self.at(self.since_boot_ms.load(Ordering::SeqCst)))
    }
}

fn fix(lat: f64, lon: f64, accuracy: f64, time_ms: i64, mock: bool) -> Fix {
    Fix {
        lat,
        lon,
        accuracy_m: Some(accuracy),
        time_ms,
        provider: if mock { "mock".into() } else { "fused".into() },
        is_mock: mock,
    }
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    // A fresh directory that is kept afterwards, so the exported ledger can be verified.
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => tempfile::Builder::new()
            .prefix("siap-demo-")
            .tempdir()?
            .keep(),
    };
    println!("SIAP demo — data directory {}", dir.display());

    // The city's server, on loopback, so that the device is configured as a phone is: with the
    // server's address and signing key.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let faces_dir = faces_dir();
    let mut server_cfg = siap_server::ServerConfig::in_dir(&dir.join("server"), "demo-admin-token");
    // This demo city accepts still photos (see the device's policy below): its server judges by the
    // same rule.
    server_cfg.device_config.require_liveness = false;
    // Nor can it answer one at enrollment (the photos are stills).
    server_cfg.device_config.require_enrollment_liveness = false;
    server_cfg.device_config.require_face = faces_dir.is_some();
    // With the models at hand, the server re-checks every face itself from the uploaded crops.
    server_cfg.face_models = faces_dir.as_ref().map(|_| default_models_dir());
    let city = rt.block_on(City::start(&server_cfg))?;

    // The simulated working day starts at 07:00 WITA (UTC+8, Kupang's time zone) on the latest day
    // whose 07:00 is at least four hours ago: the server judges event times against its own clock, so
    // the day must lie in its past. One trusted-time anchor from the server, at boot.
    let now = siap_core::time::wall_now_ms();
    let mut server_now = (now + 8 * HOUR).div_euclid(24 * HOUR) * 24 * HOUR - HOUR;
    if server_now > now - 4 * HOUR {
        server_now -= 24 * HOUR;
    }
    // The phone is first switched on the evening before (15:00 WITA), for the enrollments.
    let phone = Arc::new(PhoneClock {
        since_boot_ms: AtomicI64::new(0),
        wall_at_boot: AtomicI64::new(server_now - 16 * HOUR),
        boot: AtomicI64::new(0),
    });

    // The device: one SQLite file, a P-256 key sealed under the app's master key. On phones a
    // check-in needs a face and a liveness challenge answered on camera (the default policy). There is
    // no camera video here, so this demo city accepts still photos for the check-ins below, and shows
    // the liveness challenge on a photo held up to the camera at the end.
    let mut config =
        DeviceConfig::new(&dir, MasterKey::generate()?).with_server(city.url(), city.public_key());
    config.models_dir = faces_dir.as_ref().map(|_| default_models_dir());
    config.policy.require_face = faces_dir.is_some();
    config.policy.require_liveness = false;
    config.policy.require_enrollment_liveness = false;
    let started = std::time::Instant::now();
    let device = Device::open(config, None, phone.clone())?;
    let store = device.store().clone();
    let ledger = device.ledger();
    println!(
        "device {}  public key {}",
        ledger.device_id(),
        hex::encode(ledger.public_key())
    );

    // Reference data as the city's server would publish it (two offices in Kota Kupang, NTT).
    let refs = Reference(&store);
    let balai_kota = Site {
        id: "balai-kota".into(),
        name: "Kantor Wali Kota Kupang".into(),
        fence: Fence::Polygon {
            vertices: vec![
                LatLon {
                    lat: -10.16250,
                    lon: 123.58850,
                },
                LatLon {
                    lat: -10.16250,
                    lon: 123.59050,
                },
                LatLon {
                    lat: -10.16450,
                    lon: 123.59050,
                },
                LatLon {
                    lat: -10.16450,
                    lon: 123.58850,
                },
            ],
        },
    };
    let dinas_pu = Site {
        id: "dinas-pu".into(),
        name: "Dinas Pekerjaan Umum".into(),
        fence: Fence::Circle {
            center: LatLon {
                lat: -10.17800,
                lon: 123.60700,
            },
            radius_m: 120.0,
        },
    };
    refs.upsert_site(&balai_kota)?;
    refs.upsert_site(&dinas_pu)?;
    refs.upsert_employee(&Employee {
        id: MARIA.into(),
        name: "Maria Bere".into(),
        site_ids: vec!["balai-kota".into()],
    })?;
    refs.upsert_employee(&Employee {
        id: YOHANES.into(),
        name: "Yohanes Lado".into(),
        site_ids: vec!["dinas-pu".into()],
    })?;
    refs.upsert_asset(&Asset {
        id: "JBT-017".into(),
        name: "Jembatan Liliba".into(),
        category: "bridge".into(),
        location: LatLon {
            lat: -10.15600,
            lon: 123.63200,
        },
        radius_m: 60.0,
    })?;
    println!(
        "sites: {}  employees: {}  assets: {}",
        refs.sites()?.len(),
        refs.employees()?.len(),
        refs.assets()?.len()
    );

    println!("\n-- the evening before: registration and enrollment --");
    rt.block_on(city.register(&device, MARIA, &dir.join("server")))?;
    let faces = Faces::open(faces_dir, started);
    let enrolled = match &faces {
        Some(f) => Some(rt.block_on(f.evening_before(&device, &phone, &city))?),
        None => None,
    };

    // The working day: the phone was restarted at 07:00 and anchored its clock to the server's once.
    phone.reboot(server_now);
    ClockStore(&store).record(
        server_now + 10_090,
        &phone.at(10_000).monotonic,
        &phone.at(10_180).monotonic,
    )?;
    let check_face = |employee: &str, at_ms: i64, place: (f64, f64, f64), mock: bool, face| {
        phone.set(at_ms);
        let check = Check {
            employee_id: employee.into(),
            direction: Direction::In,
            face,
            fix: fix(
                place.0,
                place.1,
                place.2,
                phone.at(at_ms).wall_ms - 1_000,
                mock,
            ),
        };
        anyhow::Ok(device.check(check, &Cancel::never())?)
    };
    let check = |employee: &str, at_ms: i64, place: (f64, f64, f64), mock: bool, photo: &str| {
        let face = faces
            .as_ref()
            .map(|f| FaceInput::Selfie(ImageInput::File(f.dir.join(photo))));
        check_face(employee, at_ms, place, mock, face)
    };

    println!("\n-- attendance --");
    println!(
        "  (phones require a liveness challenge by default; with no camera video here, this demo city \
         accepts still photos, and a liveness attempt is shown on a photo held up to the camera)"
    );
    let ok = check(
        MARIA,
        20 * 60_000,
        (-10.16350, 123.58950, 12.0),
        false,
        "obama/4.jpg",
    )?;
    report("Maria checks in at Balai Kota", &ok);
    // The set has only three photos of Yohanes's stand-in, all used for enrollment; his selfies reuse
    // one (his checks are decided by location anyway).
    let outside = check(
        YOHANES,
        25 * 60_000,
        (-10.17000, 123.59500, 8.0),
        false,
        "kit_harington/3.jpg",
    )?;
    report("Yohanes checks in from a warung 1.6 km away", &outside);
    let mock = check(
        YOHANES,
        27 * 60_000,
        (-10.17800, 123.60700, 3.0),
        true,
        "kit_harington/3.jpg",
    )?;
    report("Yohanes tries again with a fake-GPS app", &mock);
    // This phone is registered to Maria. Yohanes uses it to check himself in at his own office: his
    // face is enrolled on it, but the city never approved it for this phone.
    let borrowed = check(
        YOHANES,
        28 * 60_000,
        (-10.17790, 123.60690, 8.0),
        false,
        "kit_harington/3.jpg",
    )?;
    report("Yohanes checks in at Dinas PU on Maria's phone", &borrowed);
    // So he patches the app on the rooted phone to sign the same check-in as accepted: the phone's
    // record says accepted; the server re-checks it.
    let mut patched = borrowed.payload.clone();
    patched.decision = siap_core::attendance::Decision::Accepted;
    patched.reasons.clear();
    if let Some(t) = patched.face.as_mut().and_then(|f| f.template.as_mut()) {
        t.approved = true;
    }
    let modified = ledger.append(
        siap_core::attendance::KIND_CHECK_IN,
        &serde_json::to_vec(&patched)?,
    )?;
    println!(
        "  record #{}: a modified app signs Yohanes's check-in on Maria's phone as Accepted",
        modified.seq
    );
    // A colleague checks in "for" Maria with his own face, at the right place and time.
    let impostor = match &faces {
        Some(_) => {
            let o = check(
                MARIA,
                30 * 60_000,
                (-10.16340, 123.58960, 9.0),
                false,
                "biden/2.jpg",
            )?;
            report("someone else presents his face as Maria's", &o);
            Some(o)
        }
        None => None,
    };
    // The same colleague holds a photo of Maria up to the camera and tilts it through the challenge.
    let photo_attack = match &faces {
        Some(f) => {
            phone.set(32 * 60_000);
            let (session, steps) = f.photo_attack(&device, MARIA, "obama/4.jpg", 32 * 60_000)?;
            println!(
                "  liveness challenge {steps}: a photo of Maria is held up and tilted in time"
            );
            let o = check_face(
                MARIA,
                32 * 60_000 + 4_000,
                (-10.16345, 123.58955, 9.0),
                false,
                Some(FaceInput::Liveness(session)),
            )?;
            report("a photo of Maria held up to the camera", &o);
            Some(o)
        }
        None => None,
    };

    println!("\n-- inspection --");
    phone.set(3 * HOUR);
    let insp = device.inspect(
        Inspection {
            asset_id: "JBT-017".into(),
            condition: Condition::MinorDamage,
            notes: "Retak pada sambungan ekspansi sisi timur.".into(),
            photos: vec![PhotoInput::Bytes(demo_photo())],
            fix: fix(
                -10.15610,
                123.63190,
                6.0,
                phone.at(3 * HOUR).wall_ms - 1_000,
                false,
            ),
        },
        &Cancel::never(),
    )?;
    println!(
        "  record #{}: bridge JBT-017 {:?}, {} photo(s) {}…, {:?} the asset's radius ({:.0} m from its edge)",
        insp.seq,
        insp.payload.condition,
        insp.payload.photos.len(),
        &insp.payload.photos[0][..12],
        insp.payload.proximity.containment,
        insp.payload
            .proximity
            .distance_to_edge_m
            .unwrap_or(f64::NAN)
            .abs(),
    );

    println!("\n-- permit --");
    // Signed here with a key standing in for the city's (the server signs permits in production; the
    // device below is configured with the server's key, so this cache is given the stand-in's).
    let permit_office = SoftwareSigner::generate()?;
    let city_pk = permit_office.public_key()?;
    let doc = PermitDocument {
        permit_id: "PBG-2026-000317".into(),
        version: 3,
        permit_type: "Persetujuan Bangunan Gedung".into(),
        status: PermitStatus::InReview,
        official_fee_idr: 1_250_000,
        deadline_ms: server_now + 10 * 24 * HOUR,
        submitted_at_ms: server_now - 4 * 24 * HOUR,
        timeline: vec![
            PermitEvent {
                at_ms: server_now - 4 * 24 * HOUR,
                status: PermitStatus::Submitted,
                note: "Berkas diterima".into(),
            },
            PermitEvent {
                at_ms: server_now - 2 * 24 * HOUR,
                status: PermitStatus::InReview,
                note: "Verifikasi teknis".into(),
            },
        ],
        office: "DPMPTSP Kota Kupang".into(),
    };
    let cache = PermitCache::new(&store, &city_pk);
    cache.apply(&SignedBlob::sign_json(&permit_office, PERMIT_DOMAIN, &doc)?)?;
    let mut forged = SignedBlob::sign_json(&permit_office, PERMIT_DOMAIN, &doc)?;
    forged.body = serde_json::to_vec(&PermitDocument {
        official_fee_idr: 5_000_000,
        version: 4,
        ..doc.clone()
    })?;
    let forged_refused = cache.apply(&forged).is_err();
    let view = cache.get(&doc.permit_id, server_now)?;
    println!(
        "  {} ({}): {:?}, official fee Rp {}, deadline in {} days, overdue: {}, signed by the city: verified",
        view.document.permit_id,
        view.document.permit_type,
        view.document.status,
        view.document.official_fee_idr,
        (view.document.deadline_ms - server_now) / (24 * HOUR),
        view.overdue
    );
    println!(
        "  a copy with the fee raised to Rp 5000000 was {}",
        if forged_refused {
            "refused (bad signature)"
        } else {
            "ACCEPTED — BUG"
        }
    );

    println!("\n-- ledger --");
    finish(ledger, &dir)?;

    println!("\n-- sync --");
    let disputed = rt.block_on(city.report(&device, server_now))?;
    anyhow::ensure!(
        ok.accepted()
            && !outside.accepted()
            && !mock.accepted()
            && forged_refused
            && !borrowed.accepted()
            && disputed == vec![modified.seq]
            && impostor.is_none_or(|o| !o.accepted())
            && photo_attack.is_none_or(|o| !o.accepted())
            && enrolled.is_none_or(|e| e.maria_approved && e.buddy_rejected && e.yohanes_refused),
        "demo outcome differs from the script"
    );
    Ok(())
}

/// Where the labelled photos standing in for the phone's camera are, if anywhere.
fn faces_dir() -> Option<PathBuf> {
    let ws = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("SIAP_FACES_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| ws.join("../shared/faces"), PathBuf::from);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "\n-- faces --\n  no labelled photos at {} (set SIAP_FACES_DIR): running without the face step",
            dir.display()
        );
        None
    }
}

fn report(what: &str, o: &CheckOutcome) {
    let p = &o.payload;
    let trusted = match p.time.trusted {
        TrustedTime::Anchored { uncertainty_ms, .. } => {
            format!("trusted time ±{uncertainty_ms} ms")
        }
        TrustedTime::Unanchored { reason } => format!("no trusted time ({reason:?})"),
    };
    let face = p.face.as_ref().map_or_else(String::new, |f| {
        let live = f.liveness.as_ref().map_or_else(String::new, |l| {
            let reasons: Vec<&str> = l
                .reasons()
                .into_iter()
                .map(siap_core::liveness::LivenessReasonKind::as_str)
                .collect();
            let passive = l.passive_score.map_or_else(String::new, |p| {
                format!(" (passive anti-spoof score {p:.2})")
            });
            format!(
                "liveness {} {reasons:?}{passive}, ",
                if l.passed { "passed" } else { "failed" }
            )
        });
        format!(
            "face {:.2} vs threshold {:.2}, {live}",
            f.similarity, f.threshold
        )
    });
    println!(
        "  record #{}: {what}: {:?}{}  [{face}site {}, {:?}, edge distance {:.0} m, flags {:?}, {trusted}]",
        o.seq,
        p.decision,
        if p.reasons.is_empty() {
            String::new()
        } else {
            format!(" {:?}", p.reasons)
        },
        p.geo.site_id.as_deref().unwrap_or("-"),
        p.geo.containment,
        p.geo.distance_to_edge_m.unwrap_or(f64::NAN),
        p.geo.flags,
    );
}

fn finish(ledger: &Ledger, dir: &std::path::Path) -> anyhow::Result<()> {
    let head = ledger.verify().context("chain verification")?;
    let path = dir.join("ledger.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let n = ledger.export_jsonl(&mut f)?;
    println!(
        "  {n} records, chain verified (head seq {})",
        head.map_or(0, |h| h.seq)
    );
    println!("  exported to {}; check it with:", path.display());
    // `--expect-head` pins the head, so a truncated copy of the export is caught too.
    println!(
        "  siap ledger verify {} --public-key {}{}",
        path.display(),
        hex::encode(ledger.public_key()),
        head.map_or_else(String::new, |h| format!(
            " --expect-head {}:{}",
            h.seq,
            hex::encode(h.hash)
        ))
    );
    Ok(())
}

/// A tiny real PNG (8x8, one colour) standing in for the inspector's camera photo.
fn demo_photo() -> Vec<u8> {
    const PNG: &str = "89504e470d0a1a0a0000000d4948445200000008000000080802000000\
4b6d29dc0000001549444154789c63f8cfc0f09f0106fe33e0071800df5c0fb1a7de4fe40000000049454e44ae426082";
    hex::decode(PNG).unwrap_or_default()
}
