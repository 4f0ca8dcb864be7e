//! Presentation-attack evaluation: APCER / BPCER (ISO/IEC 30107-3) from labelled liveness verdicts.
//!
//! The thresholds in [`super::LivenessPolicy`] were chosen on a synthetic face model only; a city must
//! measure them on its own recordings. This module is the core of `siap face liveness-eval DIR`: it finds
//! the labelled sequences, and, given the verdicts, computes the error rates. The CLI only has to run the
//! face engine on each frame (or read precomputed observations) and call [`super::check`].
//!
//! Folder layout (one sequence = one attempt at one challenge):
//!
//! ```text
//! DIR/bona_fide/<sequence>/challenge.json        a serialised Challenge (nonce, steps, issued_at_ms, ...)
//! DIR/bona_fide/<sequence>/frames/<t_ms>.jpg     frames named by their monotonic capture time (ms), or .png
//! DIR/bona_fide/<sequence>/observations.json     optional: Vec<FrameObservation> already computed
//! DIR/attack/<species>/<sequence>/...            the same, per attack instrument species
//!                                                (e.g. printed_photo, screen_replay, bent_printout)
//! ```
//!
//! Definitions (ISO/IEC 30107-3): APCER = share of attack presentations of one species wrongly accepted
//! as bona fide, reported per species and as the maximum over species; BPCER = share of bona fide
//! presentations wrongly rejected as attacks. A sequence the engine could not process counts as rejected
//! (it raises BPCER for bona fide, lowers APCER for attacks) and is listed separately.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Challenge, FrameObservation};
use crate::{Error, Result};

/// Ground truth of one sequence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PresentationLabel {
    /// A live person answering the challenge.
    BonaFide,
    /// A presentation attack of one instrument species.
    Attack {
        /// The species (folder name under `attack/`).
        species: String,
    },
}

/// One sequence found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceEntry {
    /// Ground truth.
    pub label: PresentationLabel,
    /// The sequence folder.
    pub dir: PathBuf,
    /// Its challenge.
    pub challenge: Challenge,
    /// Frame files with their capture times, in time order (empty when only observations are given).
    pub frames: Vec<(i64, PathBuf)>,
    /// Precomputed observations, when `observations.json` exists.
    pub observations: Option<Vec<FrameObservation>>,
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

fn read_sequence(label: PresentationLabel, dir: PathBuf) -> Result<SequenceEntry> {
    let challenge: Challenge = serde_json::from_slice(&std::fs::read(dir.join("challenge.json"))?)?;
    challenge.validate()?;
    let mut frames = Vec::new();
    let fdir = dir.join("frames");
    if fdir.is_dir() {
        for e in std::fs::read_dir(&fdir)? {
            let p = e?.path();
            let ext = p
                .extension()
                .and_then(|x| x.to_str())
                .map(str::to_ascii_lowercase);
            if !matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png")) {
                continue;
            }
            let t = p
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    Error::invalid("frames", "frame file names must be <t_ms>.jpg|png")
                })?;
            frames.push((t, p));
        }
    }
    frames.sort();
    let obs = dir.join("observations.json");
    let observations = if obs.is_file() {
        Some(serde_json::from_slice(&std::fs::read(obs)?)?)
    } else {
        None
    };
    if frames.is_empty() && observations.is_none() {
        return Err(Error::invalid(
            "sequence",
            "no frames/ and no observations.json",
        ));
    }
    Ok(SequenceEntry {
        label,
        dir,
        challenge,
        frames,
        observations,
    })
}

/// Find every sequence under `root` (layout in the module docs). Fails on the first malformed sequence
/// so that a typo in a folder does not silently shrink the evaluation.
pub fn discover(root: &Path) -> Result<Vec<SequenceEntry>> {
    let mut out = Vec::new();
    let bona = root.join("bona_fide");
    if bona.is_dir() {
        for d in subdirs(&bona)? {
            out.push(read_sequence(PresentationLabel::BonaFide, d)?);
        }
    }
    let attack = root.join("attack");
    if attack.is_dir() {
        for species_dir in subdirs(&attack)? {
            let species = species_dir
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            for d in subdirs(&species_dir)? {
                out.push(read_sequence(
                    PresentationLabel::Attack {
                        species: species.clone(),
                    },
                    d,
                )?);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "dir",
            "no bona_fide/<seq> or attack/<species>/<seq> folders",
        ));
    }
    Ok(out)
}

/// Outcome of one sequence: accepted as live, rejected, or not processable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check passed.
    Accepted,
    /// The check rejected it.
    Rejected,
    /// The engine or the check failed with an error (counted as rejected).
    Error,
}

/// Error rate of one population.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Presentations.
    pub presentations: usize,
    /// Wrongly classified ones.
    pub errors: usize,
    /// Processing errors among them (counted as rejected).
    pub processing_errors: usize,
    /// `errors / presentations` (None when there were none).
    pub rate: Option<f64>,
}

/// APCER per species and overall, BPCER.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Bona fide presentations rejected.
    pub bpcer: Rate,
    /// Attack presentations accepted, per species.
    pub apcer_per_species: BTreeMap<String, Rate>,
    /// Highest APCER over the species (ISO/IEC 30107-3 reports the worst species).
    pub apcer_max: Option<f64>,
}

/// Compute APCER / BPCER from labelled outcomes.
pub fn evaluate(results: &[(PresentationLabel, Outcome)]) -> EvalReport {
    let rate = |presentations: usize, errors: usize, processing_errors: usize| Rate {
        presentations,
        errors,
        processing_errors,
        rate: (presentations > 0).then(|| errors as f64 / presentations as f64),
    };
    let bona: Vec<Outcome> = results
        .iter()
        .filter(|(l, _)| *l == PresentationLabel::BonaFide)
        .map(|(_, o)| *o)
        .collect();
    let bpcer = rate(
        bona.len(),
        bona.iter().filter(|o| **o != Outcome::Accepted).count(),
        bona.iter().filter(|o| **o == Outcome::Error).count(),
    );
    let mut per: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for (l, o) in results {
        if let PresentationLabel::Attack { species } = l {
            let e = per.entry(species.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(*o == Outcome::Accepted);
            e.2 += usize::from(*o == Outcome::Error);
        }
    }
    let apcer_per_species: BTreeMap<String, Rate> = per
        .into_iter()
        .map(|(k, (n, e, p))| (k, rate(n, e, p)))
        .collect();
    let apcer_max = apcer_per_species
        .values()
        .filter_map(|r| r.rate)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    EvalReport {
        bpcer,
        apcer_per_species,
        apcer_max,
    }
}

/// Evaluate the sequences that carry `observations.json` with `policy` (no face engine needed); the CLI
/// does the same after running the engine on `frames/`. Sequences without observations are skipped and
/// counted in the second value.
pub fn evaluate_observations(
    entries: &[SequenceEntry],
    policy: &super::LivenessPolicy,
) -> (EvalReport, usize) {
    let mut results = Vec::new();
    let mut skipped = 0;
    for e in entries {
        let Some(obs) = &e.observations else {
            skipped += 1;
            continue;
        };
        let outcome = match super::check(&e.challenge, obs, policy) {
            Ok(v) if v.passed => Outcome::Accepted,
            Ok(_) => Outcome::Rejected,
            Err(_) => Outcome::Error,
        };
        results.push((e.label.clone(), outcome));
    }
    (evaluate(&results), skipped)
}

#[cfg(test)]
mod tests {
    use super::super::synth::{Identity, Presenter, Rng, SequenceSpec, sequence};
    use super::super::{ChallengeConfig, LivenessPolicy, Movement};
    use super::*;
    use crate::clock::MonotonicReading;

    #[test]
    fn rates_follow_the_iso_definitions() {
        let a = |s: &str| PresentationLabel::Attack { species: s.into() };
        let r = evaluate(&[
            (PresentationLabel::BonaFide, Outcome::Accepted),
            (PresentationLabel::BonaFide, Outcome::Rejected),
            (PresentationLabel::BonaFide, Outcome::Error),
            (PresentationLabel::BonaFide, Outcome::Accepted),
            (a("photo"), Outcome::Rejected),
            (a("photo"), Outcome::Accepted),
            (a("screen"), Outcome::Rejected),
            (a("screen"), Outcome::Error),
        ]);
        assert_eq!(r.bpcer.rate, Some(0.5));
        assert_eq!(r.bpcer.processing_errors, 1);
        assert_eq!(r.apcer_per_species["photo"].rate, Some(0.5));
        assert_eq!(r.apcer_per_species["screen"].rate, Some(0.0));
        assert_eq!(r.apcer_max, Some(0.5));
        let empty = evaluate(&[]);
        assert_eq!(empty.bpcer.rate, None);
        assert_eq!(empty.apcer_max, None);
    }

    #[test]
    fn folder_layout_round_trip_on_synthetic_observations() {
        let root = tempfile::tempdir().unwrap();
        let mut rng = Rng::new(42);
        let who = Identity::random(&mut rng);
        let cfg = ChallengeConfig::default();
        let write = |dir: &Path, c: &Challenge, obs: &[FrameObservation]| {
            std::fs::create_dir_all(dir.join("frames")).unwrap();
            std::fs::write(dir.join("challenge.json"), serde_json::to_vec(c).unwrap()).unwrap();
            std::fs::write(
                dir.join("observations.json"),
                serde_json::to_vec(obs).unwrap(),
            )
            .unwrap();
        };
        for i in 0..6 {
            let now = MonotonicReading {
                monotonic_ms: 1_000 * i,
                boot_id: "b".into(),
            };
            let c = Challenge::issue(&now, &cfg).unwrap();
            let live = SequenceSpec {
                start_ms: now.monotonic_ms + 20,
                ..SequenceSpec::default()
            };
            let photo = SequenceSpec {
                presenter: Presenter::Photo,
                ..live.clone()
            };
            write(
                &root.path().join(format!("bona_fide/s{i}")),
                &c,
                &sequence(&c.steps, &live, &who, &mut rng),
            );
            write(
                &root.path().join(format!("attack/printed_photo/s{i}")),
                &c,
                &sequence(&c.steps, &photo, &who, &mut rng),
            );
        }
        // A replay species: frames recorded for another challenge.
        let c = Challenge::from_parts(
            "00112233445566778899aabbccddeeff".into(),
            vec![Movement::LookDown, Movement::TurnRight],
            &MonotonicReading {
                monotonic_ms: 50_000,
                boot_id: "b".into(),
            },
            &cfg,
        )
        .unwrap();
        let old = sequence(
            &[Movement::TurnLeft, Movement::LookUp],
            &SequenceSpec::default(),
            &who,
            &mut rng,
        );
        write(&root.path().join("attack/replay/s0"), &c, &old);
        let entries = discover(root.path()).unwrap();
        assert_eq!(entries.len(), 13);
        let (report, skipped) = evaluate_observations(&entries, &LivenessPolicy::default());
        assert_eq!(skipped, 0);
        println!(
            "synthetic eval: {}",
            serde_json::to_string(&report).unwrap()
        );
        assert_eq!(report.bpcer.presentations, 6);
        assert_eq!(report.bpcer.errors, 0);
        assert_eq!(report.apcer_max, Some(0.0));
        // Malformed layouts are errors, not silently skipped.
        std::fs::create_dir_all(root.path().join("bona_fide/broken")).unwrap();
        assert!(discover(root.path()).is_err());
        assert!(discover(&root.path().join("nothing")).is_err());
    }
}
