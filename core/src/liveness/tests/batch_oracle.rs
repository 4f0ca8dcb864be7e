//! The batch check as it was before it became incremental (frozen copy, test only): the oracle the
//! incremental [`super::super::Progress`] is compared with, frame by frame and at the end.

#![allow(clippy::pedantic)]

use super::super::planarity;
use super::super::{
    Challenge, ConsistencyEvidence, FrameObservation, Landmarks, LivenessPolicy, LivenessReason,
    LivenessVerdict, Movement, PassiveEvidence, PassiveObservation, PlanarityEvidence, Pose,
    StepEvidence,
};
use crate::{Error, Result};

fn validate_frames(frames: &[FrameObservation], passive: Option<PassiveObservation>) -> Result<()> {
    for f in frames {
        if f.landmarks
            .is_some_and(|l| l.iter().flatten().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid("frames.landmarks", "not finite"));
        }
        if f.face_box.is_some_and(|b| b.iter().any(|v| !v.is_finite())) {
            return Err(Error::invalid("frames.face_box", "not finite"));
        }
        if let Some(e) = &f.embedding {
            if e.is_empty() || e.iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid("frames.embedding", "empty or not finite"));
            }
            if e.iter().all(|v| *v == 0.0) {
                return Err(Error::invalid("frames.embedding", "all zero"));
            }
        }
        if f.sharpness.is_some_and(|s| !s.is_finite()) {
            return Err(Error::invalid("frames.sharpness", "not finite"));
        }
    }
    if passive.is_some_and(|p| !p.score.is_finite()) {
        return Err(Error::invalid("passive.score", "not finite"));
    }
    Ok(())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (ab / (aa.sqrt() * bb.sqrt())) as f32
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// Neutral frames before a movement used as planarity references (residual = median over pairs of
/// these with the frames past the movement threshold, which halves the effect of landmark noise).
const REFERENCE_FRAMES: usize = 3;

/// A usable frame: index into the input, landmarks and pose.
struct Used {
    idx: usize,
    t_ms: i64,
    landmarks: Landmarks,
    pose: Pose,
}

/// How strongly a pose change expresses a movement, in units of that movement's threshold.
fn strength(m: Movement, dyaw: f32, dpitch: f32, p: &LivenessPolicy) -> f32 {
    match m {
        Movement::TurnLeft => dyaw / p.yaw_threshold,
        Movement::TurnRight => -dyaw / p.yaw_threshold,
        Movement::LookUp => dpitch / p.pitch_threshold,
        Movement::LookDown => -dpitch / p.pitch_threshold,
    }
}

/// Check an attempt: did a live head answer `challenge` in `frames` (in capture order)?
///
/// Bad input (non-finite landmarks, boxes, embeddings, sharpness or score; embeddings of different
/// lengths; an invalid challenge or policy) is an [`Error::InvalidInput`]. Everything a camera or an
/// attacker can produce (no frames, wrong timestamps, several faces, no movement...) is a verdict with
/// `passed = false` and its reasons. Never panics.
pub(super) fn check_with_passive(
    challenge: &Challenge,
    frames: &[FrameObservation],
    passive: Option<PassiveObservation>,
    policy: &LivenessPolicy,
) -> Result<LivenessVerdict> {
    challenge.validate()?;
    policy.validate()?;
    validate_frames(frames, passive)?;
    let mut reasons = Vec::new();
    let issued = challenge.issued_at_ms;

    if frames.len() < policy.min_frames {
        reasons.push(LivenessReason::TooFewFrames {
            frames: frames.len(),
            required: policy.min_frames,
        });
    }
    if let Some(i) = (1..frames.len()).find(|&i| frames[i].t_ms <= frames[i - 1].t_ms) {
        reasons.push(LivenessReason::TimestampsNotIncreasing { frame: i });
    }
    let before = frames.iter().filter(|f| f.t_ms < issued).count();
    if before > 0 {
        reasons.push(LivenessReason::FramesBeforeChallenge { frames: before });
    }
    if let Some((i, gap)) = (1..frames.len())
        .map(|i| (i, frames[i].t_ms.saturating_sub(frames[i - 1].t_ms)))
        .find(|&(_, g)| g > policy.max_frame_gap_ms)
    {
        reasons.push(LivenessReason::FrameGap {
            frame: i,
            gap_ms: gap,
        });
    }
    let multi: Vec<usize> = (0..frames.len()).filter(|&i| frames[i].faces > 1).collect();
    if let Some(&first) = multi.first() {
        reasons.push(LivenessReason::MultipleFaces {
            frame: first,
            frames: multi.len(),
        });
    }
    let without = frames.iter().filter(|f| f.faces == 0).count();
    if without > policy.max_frames_without_face {
        reasons.push(LivenessReason::TooManyFramesWithoutFace { frames: without });
    }

    // Frames usable for the pose: exactly one face, usable landmarks, not before the challenge.
    let mut used = Vec::with_capacity(frames.len());
    let mut missing = None;
    for (idx, f) in frames.iter().enumerate() {
        if f.faces != 1 || f.t_ms < issued {
            continue;
        }
        match f
            .landmarks
            .and_then(|l| Pose::from_landmarks(&l).map(|p| (l, p)))
        {
            Some((landmarks, pose)) => used.push(Used {
                idx,
                t_ms: f.t_ms,
                landmarks,
                pose,
            }),
            None => {
                missing.get_or_insert(idx);
            }
        }
    }
    if let Some(frame) = missing {
        reasons.push(LivenessReason::MissingLandmarks { frame });
    }
    if let Some(small) = used
        .iter()
        .map(|u| u.pose.inter_ocular_px)
        .min_by(f32::total_cmp)
        .filter(|s| *s < policy.min_inter_ocular_px)
    {
        reasons.push(LivenessReason::FaceTooSmall {
            inter_ocular_px: small,
        });
    }
    if used.len() < policy.min_frames && frames.len() >= policy.min_frames {
        reasons.push(LivenessReason::TooFewFrames {
            frames: used.len(),
            required: policy.min_frames,
        });
    }

    // Static sequence: the landmarks never moved.
    let max_motion = used.first().map_or(0.0, |first| {
        used.iter()
            .flat_map(|u| {
                u.landmarks
                    .iter()
                    .zip(&first.landmarks)
                    .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
            })
            .fold(0.0f32, f32::max)
            / first.pose.inter_ocular_px
    });
    if !used.is_empty() && max_motion < policy.static_epsilon {
        reasons.push(LivenessReason::StaticSequence { max_motion });
    }

    // Same person throughout.
    let embeddings: Vec<&[f32]> = frames
        .iter()
        .filter_map(|f| f.embedding.as_deref())
        .collect();
    if embeddings.windows(2).any(|w| w[0].len() != w[1].len()) {
        return Err(Error::invalid(
            "frames.embedding",
            "embeddings of different lengths",
        ));
    }
    let mut min_sim: Option<f32> = None;
    for i in 0..embeddings.len() {
        for j in i + 1..embeddings.len() {
            let s = cosine(embeddings[i], embeddings[j]);
            min_sim = Some(min_sim.map_or(s, |m| m.min(s)));
        }
    }
    if embeddings.len() < policy.min_embeddings {
        reasons.push(LivenessReason::TooFewEmbeddings {
            embeddings: embeddings.len(),
            required: policy.min_embeddings,
        });
    }
    if let Some(s) = min_sim.filter(|s| *s < policy.min_embedding_similarity) {
        reasons.push(LivenessReason::EmbeddingMismatch { min_similarity: s });
    }

    // Movements, in order, in time.
    let steps = track_steps(challenge, &used, policy, &mut reasons);

    // Planarity: every completed step must show nose parallax.
    let residuals: Vec<f32> = steps.iter().filter_map(|s| s.nose_residual).collect();
    for (i, s) in steps.iter().enumerate() {
        if !s.completed {
            continue;
        }
        match s.nose_residual {
            Some(r) if r < policy.min_nose_residual => {
                reasons.push(LivenessReason::PlanarMotion {
                    step: i,
                    residual: r,
                });
            }
            Some(_) => {}
            None => reasons.push(LivenessReason::PlanarityUndetermined { step: i }),
        }
    }
    let planarity = PlanarityEvidence {
        min_residual: residuals.iter().copied().min_by(f32::total_cmp),
        residuals,
        threshold: policy.min_nose_residual,
    };

    // Passive.
    let score = passive.map(|p| p.score);
    if let (Some(s), Some(th)) = (score, policy.passive_reject_above)
        && s > th
    {
        reasons.push(LivenessReason::PassiveSpoof { score: s });
    }
    let median_sharpness = median(frames.iter().filter_map(|f| f.sharpness).collect());
    if let (Some(s), Some(min)) = (median_sharpness, policy.min_sharpness)
        && s < min
    {
        reasons.push(LivenessReason::TooBlurry { sharpness: s });
    }

    Ok(LivenessVerdict {
        passed: reasons.is_empty(),
        reasons,
        steps,
        planarity,
        consistency: ConsistencyEvidence {
            frames: frames.len(),
            frames_used: used.len(),
            frames_without_face: without,
            embeddings: embeddings.len(),
            min_embedding_similarity: min_sim,
            max_motion,
        },
        passive: PassiveEvidence {
            sharp_pixels: passive.and_then(|p| p.sharp_pixels),
            score,
            reject_above: policy.passive_reject_above,
            median_sharpness,
        },
        nonce: challenge.nonce.clone(),
        challenge: challenge.steps.clone(),
    })
}

/// The movement state machine. Pushes wrong-movement, not-completed and late reasons.
fn track_steps(
    challenge: &Challenge,
    used: &[Used],
    policy: &LivenessPolicy,
    reasons: &mut Vec<LivenessReason>,
) -> Vec<StepEvidence> {
    let issued = challenge.issued_at_ms;
    let mut steps: Vec<StepEvidence> = challenge
        .steps
        .iter()
        .map(|&movement| StepEvidence {
            movement,
            completed: false,
            neutral_frame: None,
            peak_frame: None,
            peak_yaw: 0.0,
            peak_pitch: 0.0,
            reached_ms: None,
            completed_ms: None,
            deadline_ms: 0,
            nose_residual: None,
        })
        .collect();
    let n_base = policy.baseline_frames.min(used.len());
    let neutral = (n_base > 0).then(|| {
        let base = &used[..n_base];
        Pose {
            yaw: median(base.iter().map(|u| u.pose.yaw).collect()).unwrap_or(0.0),
            pitch_ratio: median(base.iter().map(|u| u.pose.pitch_ratio).collect()).unwrap_or(0.0),
            inter_ocular_px: base[0].pose.inter_ocular_px,
            roll_deg: base[0].pose.roll_deg,
        }
    });
    let mut step = 0usize;
    // Indices into `used`: the last few neutral frames, the frames past the threshold of the current step.
    let mut neutral_run: Vec<usize> = Vec::new();
    let mut refs: Vec<usize> = Vec::new();
    let mut outs: Vec<usize> = Vec::new();
    let mut peak: Option<(usize, f32)> = None; // (index into `used`, strength)
    let mut stopped = false;
    if let Some(neutral) = neutral {
        for (k, u) in used.iter().enumerate() {
            let (mut dyaw, dpitch) = u.pose.delta(&neutral);
            if policy.mirrored {
                dyaw = -dyaw;
            }
            if step >= steps.len() {
                // The challenge is answered: any further clear movement means the frames are not an
                // answer to *this* challenge (e.g. a longer recording whose first moves match it).
                if let Some(observed) = Movement::ALL
                    .into_iter()
                    .find(|m| strength(*m, dyaw, dpitch, policy) >= 1.0)
                {
                    reasons.push(LivenessReason::ExtraMovement {
                        observed,
                        frame: u.idx,
                    });
                    break;
                }
                continue;
            }
            let is_neutral = dyaw.abs() <= policy.yaw_return && dpitch.abs() <= policy.pitch_return;
            let want = steps[step].movement;
            let s = strength(want, dyaw, dpitch, policy);
            match peak {
                None => {
                    if is_neutral {
                        neutral_run.push(k);
                        if neutral_run.len() > REFERENCE_FRAMES {
                            neutral_run.remove(0);
                        }
                    }
                    let (other, other_s) = Movement::ALL
                        .into_iter()
                        .filter(|m| *m != want)
                        .map(|m| (m, strength(m, dyaw, dpitch, policy)))
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .unwrap_or((want, 0.0));
                    if s >= 1.0 && s >= other_s {
                        peak = Some((k, s));
                        refs = if neutral_run.is_empty() {
                            vec![0]
                        } else {
                            neutral_run.clone()
                        };
                        outs = vec![k];
                        steps[step].reached_ms = Some(u.t_ms - issued);
                    } else if other_s >= 1.0 {
                        reasons.push(LivenessReason::WrongMovement {
                            step,
                            expected: want,
                            observed: other,
                        });
                        stopped = true;
                        break;
                    }
                }
                Some((_, best)) => {
                    if s > best {
                        peak = Some((k, s));
                    }
                    if s >= 1.0 && outs.last() != Some(&k) {
                        outs.push(k);
                    }
                    if is_neutral {
                        let (pk, _) = peak.unwrap_or((k, s));
                        let reference = refs.last().copied().unwrap_or(0);
                        let e = &mut steps[step];
                        let (mut py, pp) = used[pk].pose.delta(&neutral);
                        if policy.mirrored {
                            py = -py;
                        }
                        e.completed = true;
                        e.peak_frame = Some(used[pk].idx);
                        e.neutral_frame = Some(used[reference].idx);
                        e.peak_yaw = py;
                        e.peak_pitch = pp;
                        e.completed_ms = Some(u.t_ms - issued);
                        e.nose_residual = median(
                            refs.iter()
                                .flat_map(|&a| outs.iter().map(move |&b| (a, b)))
                                .filter_map(|(a, b)| {
                                    planarity::nose_residual(&used[a].landmarks, &used[b].landmarks)
                                })
                                .collect(),
                        );
                        step += 1;
                        peak = None;
                        neutral_run = vec![k];
                    }
                }
            }
        }
    }
    // Deadlines: each step within step_timeout of the previous completion, all within the total.
    let mut prev = issued;
    for (i, e) in steps.iter_mut().enumerate() {
        let deadline = prev
            .saturating_add(challenge.step_timeout_ms)
            .min(challenge.deadline_ms());
        e.deadline_ms = deadline - issued;
        if let Some(done) = e.completed_ms.map(|c| c + issued) {
            if done > deadline {
                reasons.push(LivenessReason::StepTooLate {
                    step: i,
                    late_by_ms: done - deadline,
                });
            }
            prev = done;
        } else if !stopped {
            reasons.push(LivenessReason::StepNotCompleted {
                step: i,
                expected: e.movement,
            });
            break;
        }
    }
    steps
}
