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
use siap_core::liveness::{
    Challenge, ChallengeConfig, FrameObservation, LivenessPolicy, LivenessVerdict, Movement,
};

/// How `liveness-eval` runs.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// The policy applied to every sequence.
    pub policy: LivenessPolicy,
    /// Where to write each sequence's observations, if anywhere.
    pub dump: Option<PathBuf>,
}

/// The policy from a JSON file (fields not given keep their defaults), with `mirrored` set when asked.
pub fn read_policy(file: Option<&Path>, mirrored: bool) -> Result<LivenessPolicy> {
    let mut policy = match file {
        None => LivenessPolicy::default(),
        Some(f) => {
            let mut value = serde_json::to_value(LivenessPolicy::default())?;
            let given: serde_json::Value = serde_json::from_slice(
                &std::fs::read(f).with_context(|| format!("reading {}", f.display()))?,
            )
            .with_context(|| format!("parsing {}", f.display()))?;
            let (Some(base), Some(given)) = (value.as_object_mut(), given.as_object()) else {
                bail!("{}: the policy must be a JSON object", f.display());
            };
            for (k, v) in given {
                if !base.contains_key(k) {
                    bail!("{}: unknown policy field {k}", f.display());
                }
                base.insert(k.clone(), v.clone());
            }
            serde_json::from_value(value)?
        }
    };
    policy.mirrored |= mirrored;
    policy.validate()?;
    Ok(policy)
}

/// One step as printed: what was measured against what the policy requires.
#[derive(Debug, Serialize)]
struct StepLine {
    movement: Movement,
    completed: bool,
    /// Peak change along the step's axis, degrees, and the threshold.
    peak_deg: f32,
    threshold_deg: f32,
    /// The other axis at the peak, degrees.
    off_axis_deg: f32,
    /// Tracked-point parallax and its threshold (inter-ocular distances), and the points used.
    parallax: Option<f32>,
    min_parallax: f32,
    parallax_points: Option<usize>,
    /// Five-landmark nose parallax (recorded).
    nose_residual: Option<f32>,
    /// The peak frame and the frame its parallax was measured against.
    peak_frame: Option<usize>,
    parallax_frame: Option<usize>,
}

fn step_lines(v: &LivenessVerdict, policy: &LivenessPolicy) -> Vec<StepLine> {
    v.steps
        .iter()
        .map(|s| {
            let turn = matches!(s.movement, Movement::TurnLeft | Movement::TurnRight);
            let sign = if matches!(s.movement, Movement::TurnLeft | Movement::LookUp) {
                1.0
            } else {
                -1.0
            };
            let (on, off) = if turn {
                (s.peak_yaw_deg, s.peak_pitch_deg)
            } else {
                (s.peak_pitch_deg, s.peak_yaw_deg)
            };
            StepLine {
                movement: s.movement,
                completed: s.completed,
                peak_deg: sign * on,
                threshold_deg: if turn {
                    policy.yaw_threshold_deg
                } else {
                    policy.pitch_threshold_deg
                },
                off_axis_deg: off,
                parallax: s.parallax,
                min_parallax: policy.min_parallax,
                parallax_points: s.parallax_points,
                nose_residual: s.nose_residual,
                peak_frame: s.peak_frame,
                parallax_frame: s.parallax_frame,
            }
        })
        .collect()
}

/// One sequence's result, as printed.
#[derive(Debug, Serialize)]
struct SequenceResult {
    label: PresentationLabel,
    sequence: String,
    outcome: Outcome,
    reasons: Vec<String>,
    steps: Vec<StepLine>,
}

fn reasons(v: &LivenessVerdict) -> Vec<String> {
    v.reasons
        .iter()
        .filter_map(|r| Some(serde_json::to_value(r).ok()?["reason"].as_str()?.to_owned()))
        .collect()
}

/// Runs the liveness check on one sequence: its precomputed observations, or the face engine on its
/// frames. Returns the verdict and the observations it was made from.
fn run_sequence(
    engine: &FaceEngine,
    e: &SequenceEntry,
    policy: &LivenessPolicy,
) -> Result<(LivenessVerdict, Vec<FrameObservation>)> {
    if let Some(obs) = &e.observations {
        return Ok((
            siap_core::liveness::check(&e.challenge, obs, policy)?,
            obs.clone(),
        ));
    }
    let mut attempt = LivenessAttempt::new(e.challenge.clone(), LiveConfig::default())?;
    for (t_ms, path) in &e.frames {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let img =
            FaceImage::decode(&bytes).with_context(|| format!("decoding {}", path.display()))?;
        engine.observe(&mut attempt, &img, *t_ms, policy)?;
    }
    Ok(engine.finish_observations(&attempt, None, policy)?)
}

/// Writes a sequence's challenge and observations under `dump`, at its path relative to `root`.
fn dump_sequence(
    dump: &Path,
    root: &Path,
    e: &SequenceEntry,
    obs: &[FrameObservation],
) -> Result<()> {
    let dir = dump.join(e.dir.strip_prefix(root).unwrap_or(&e.dir));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("challenge.json"),
        serde_json::to_vec_pretty(&e.challenge)?,
    )?;
    std::fs::write(dir.join("observations.json"), serde_json::to_vec(obs)?)?;
    Ok(())
}

/// `siap face liveness-eval DIR`: prints one JSON line per sequence (outcome, reasons, and per step
/// the measured angle and parallax against their thresholds), then the report.
pub fn evaluate(engine: &FaceEngine, dir: &Path, options: &EvalOptions) -> Result<()> {
    let entries = eval::discover(dir)?;
    if entries.is_empty() {
        bail!("no sequences under {}", dir.display());
    }
    let policy = &options.policy;
    let mut results = Vec::with_capacity(entries.len());
    for e in &entries {
        let (outcome, why, steps) = match run_sequence(engine, e, policy) {
            Ok((v, obs)) => {
                if let Some(d) = &options.dump {
                    dump_sequence(d, dir, e, &obs)?;
                }
                let steps = step_lines(&v, policy);
                if v.passed {
                    (Outcome::Accepted, Vec::new(), steps)
                } else {
                    (Outcome::Rejected, reasons(&v), steps)
                }
            }
            Err(err) => (Outcome::Error, vec![format!("{err:#}")], Vec::new()),
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
            steps,
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
/// `OUT/attack/{printed_photo,screen}/<photo>/` (challenge.json + frames/<t_ms>.jpg), `<photo>` being
/// the photo's path under `photos` with `/` as `_` and no extension. The tilt that imitates the
/// movements varies from photo to photo (15 to 40 degrees).
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
        let name = file
            .strip_prefix(photos)
            .unwrap_or(file)
            .with_extension("")
            .to_string_lossy()
            .replace(['/', '\\'], "_");
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
                tilt_deg: rng.uniform(15.0, 40.0),
                ..HeldPicture::default()
            };
            let frames =
                held_picture_frames(&picture, face, &challenge.steps, &how, 10.0, &mut rng)?;
            let dir = out.join("attack").join(species).join(&name);
            std::fs::create_dir_all(dir.join("frames"))?;
            std::fs::write(
                dir.join("challenge.json"),
                serde_json::to_vec_pretty(&challenge)?,
            )?;
            for (t, frame) in frames {
                let t_ms = issued.monotonic_ms + 300 + t;
                let rgb = image::RgbImage::from_raw(frame.width, frame.height, frame.data)
                    .context("frame buffer")?;
                let mut jpeg = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
                    .encode_image(&rgb)?;
                std::fs::write(dir.join("frames").join(format!("{t_ms}.jpg")), jpeg)?;
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
