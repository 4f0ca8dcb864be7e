//! `siap face liveness-eval` and `siap face liveness-attacks`: measure liveness on labelled recordings.
//!
//! The thresholds of the liveness check were set on a synthetic face model; there was no real video to
//! set them on. A city measures them on its own recordings with `liveness-eval` (APCER per attack species
//! and BPCER, ISO/IEC 30107-3 terms); `liveness-attacks` writes a folder in the same layout with printed-
//! photo and screen attacks built from still photos, so the command can be tried end to end and the
//! attack half of a test set does not have to be filmed by hand.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use siap_core::clock::MonotonicReading;
use siap_core::face::{FaceEngine, FaceImage, LiveConfig, LivenessAttempt};
use siap_core::liveness::attack::{HeldPicture, Rgb, held_picture_frames};
use siap_core::liveness::eval::{self, Outcome, PresentationLabel, SequenceEntry};
use siap_core::liveness::synth::Rng;
use siap_core::liveness::{Challenge, ChallengeConfig, LivenessPolicy, LivenessVerdict};

/// One sequence's result, as printed.
#[derive(Debug, Serialize)]
struct SequenceResult {
    label: PresentationLabel,
    sequence: String,
    outcome: Outcome,
    reasons: Vec<String>,
}

fn reasons(v: &LivenessVerdict) -> Vec<String> {
    v.reasons
        .iter()
        .filter_map(|r| Some(serde_json::to_value(r).ok()?["reason"].as_str()?.to_owned()))
        .collect()
}

/// Runs the liveness check on one sequence: its precomputed observations, or the face engine on its
/// frames.
fn run_sequence(
    engine: &FaceEngine,
    e: &SequenceEntry,
    policy: &LivenessPolicy,
) -> Result<LivenessVerdict> {
    if let Some(obs) = &e.observations {
        return Ok(siap_core::liveness::check(&e.challenge, obs, policy)?);
    }
    let mut attempt = LivenessAttempt::new(e.challenge.clone(), LiveConfig::default())?;
    for (t_ms, path) in &e.frames {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let img =
            FaceImage::decode(&bytes).with_context(|| format!("decoding {}", path.display()))?;
        engine.observe(&mut attempt, &img, *t_ms, policy)?;
    }
    Ok(engine.finish(&attempt, None, policy)?)
}

/// `siap face liveness-eval DIR`: prints one JSON line per sequence, then the report.
pub fn evaluate(engine: &FaceEngine, dir: &Path) -> Result<()> {
    let entries = eval::discover(dir)?;
    if entries.is_empty() {
        bail!("no sequences under {}", dir.display());
    }
    let policy = LivenessPolicy::default();
    let mut results = Vec::with_capacity(entries.len());
    for e in &entries {
        let (outcome, why) = match run_sequence(engine, e, &policy) {
            Ok(v) if v.passed => (Outcome::Accepted, Vec::new()),
            Ok(v) => (Outcome::Rejected, reasons(&v)),
            Err(err) => (Outcome::Error, vec![format!("{err:#}")]),
        };
        let line = SequenceResult {
            label: e.label.clone(),
            sequence: e
                .dir
                .strip_prefix(dir)
                .unwrap_or(&e.dir)
                .display()
                .to_string(),
            outcome,
            reasons: why,
        };
        println!("{}", serde_json::to_string(&line)?);
        results.push((e.label.clone(), outcome));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&eval::evaluate(&results))?
    );
    Ok(())
}

/// `siap face liveness-attacks --photos DIR --out OUT`: for every JPEG/PNG under `photos` (one face
/// each), writes a printed-photo and a screen attack sequence at a fresh challenge into
/// `OUT/attack/{printed_photo,screen}/<name>/` (challenge.json + frames/<t_ms>.png).
pub fn write_attacks(engine: &FaceEngine, photos: &Path, out: &Path, seed: u64) -> Result<usize> {
    let mut files: Vec<PathBuf> = walk(photos)?;
    files.sort();
    let mut rng = Rng::new(seed);
    let mut written = 0;
    for (n, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let img =
            FaceImage::decode(&bytes).with_context(|| format!("decoding {}", file.display()))?;
        let Some(face) = engine.detect(&img)?.first().map(|d| d.bbox) else {
            eprintln!("skipping {}: no face", file.display());
            continue;
        };
        let picture = Rgb::new(img.width(), img.height(), img.rgb().to_vec())?;
        for (species, screen_blur) in [("printed_photo", 0), ("screen", 2)] {
            let issued = MonotonicReading {
                monotonic_ms: 1_000_000 + 100_000 * n as i64,
                boot_id: "liveness-attacks".into(),
            };
            let challenge = Challenge::issue(&issued, &ChallengeConfig::default())?;
            let how = HeldPicture {
                screen_blur,
                flip: rng.next_u64() % 2 == 1,
                ..HeldPicture::default()
            };
            let frames =
                held_picture_frames(&picture, face, &challenge.steps, &how, 10.0, &mut rng)?;
            let dir = out.join("attack").join(species).join(format!("{n:03}"));
            std::fs::create_dir_all(dir.join("frames"))?;
            std::fs::write(
                dir.join("challenge.json"),
                serde_json::to_vec_pretty(&challenge)?,
            )?;
            for (t, frame) in frames {
                let t_ms = issued.monotonic_ms + 300 + t;
                image::RgbImage::from_raw(frame.width, frame.height, frame.data)
                    .context("frame buffer")?
                    .save(dir.join("frames").join(format!("{t_ms}.png")))?;
            }
            written += 1;
        }
    }
    Ok(written)
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["jpg", "jpeg", "png"]
                .iter()
                .any(|x| e.eq_ignore_ascii_case(x))
        }) {
            out.push(path);
        }
    }
    Ok(out)
}
