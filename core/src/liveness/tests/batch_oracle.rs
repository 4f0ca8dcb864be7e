//! The decision written once more as a batch over all the frames (test only), independently of
//! `consistency`, `tracker` and `decision`: the oracle the incremental [`super::super::Progress`] is
//! compared with, frame by frame and at the end. It shares with them only the geometry of one frame and
//! of a pair of frames ([`Pose::from_mesh`], [`planarity::track_residual`],
//! [`planarity::nose_residual`]) and the types.
//!
//! The rules, as the module documents them:
//!
//! - usable frames: exactly one face, not before the challenge, a mesh the pose can be fitted to;
//! - the person's neutral pose: median yaw and pitch of the first `baseline_frames` usable frames (of
//!   all of them while there are fewer);
//! - a movement counts from strength 1 (change along its direction over its threshold, degrees); it is
//!   back when the signed change along the step's direction is at most the return threshold of its
//!   axis (past neutral counts as back);
//! - before the asked-for movement counts, another one ends the attempt (wrong movement) from strength 1
//!   on the same axis, from `deliberate_factor` on the other; after the last step, any movement from
//!   `deliberate_factor` ends it (extra movement);
//! - a completed step's parallax: the tracked points of its peak frame against those of the frame of
//!   the same generation, among the frames since the previous step completed, farthest from the peak
//!   along the step's axis (ties: the earlier frame);
//! - its nose residual: median over (one of the last 3 neutral frames before the movement, one frame
//!   past the threshold) pairs of the five landmarks.

#![allow(clippy::pedantic)]

use super::super::planarity;
use super::super::{
    Challenge, ConsistencyEvidence, FrameObservation, Landmarks, LivenessPolicy, LivenessReason,
    LivenessVerdict, MAX_TRACKS, Movement, PassiveEvidence, PassiveObservation, PlanarityEvidence,
    Pose, StepEvidence, Tracks, pose,
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
        if let Some(m) = &f.mesh
            && (m.len() != pose::POSE_POINTS.len() || m.iter().flatten().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid("frames.mesh", "bad"));
        }
        if let Some(t) = &f.tracks
            && (t.points.len() > MAX_TRACKS
                || t.points.iter().flatten().flatten().any(|v| !v.is_finite()))
        {
            return Err(Error::invalid("frames.tracks", "bad"));
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

/// The upper median.
fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// Neutral frames before a movement used as nose-residual references.
const REFERENCE_FRAMES: usize = 3;

/// A usable frame: index into the input, its mesh, pose, landmarks and tracked points.
struct Used<'a> {
    idx: usize,
    t_ms: i64,
    mesh: &'a [[f32; 2]],
    pose: Pose,
    landmarks: Option<Landmarks>,
    tracks: Option<&'a Tracks>,
}

fn is_turn(m: Movement) -> bool {
    matches!(m, Movement::TurnLeft | Movement::TurnRight)
}

/// How strongly a pose change expresses a movement, in units of that movement's threshold.
fn strength(m: Movement, dyaw: f32, dpitch: f32, p: &LivenessPolicy) -> f32 {
    match m {
        Movement::TurnLeft => dyaw / p.yaw_threshold_deg,
        Movement::TurnRight => -dyaw / p.yaw_threshold_deg,
        Movement::LookUp => dpitch / p.pitch_threshold_deg,
        Movement::LookDown => -dpitch / p.pitch_threshold_deg,
    }
}

/// What the face engine shows besides the verdict: how far the last usable frame went towards the
/// movement asked for now, whether it should come back, whether the neutral pose is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Guidance {
    pub towards: f32,
    pub returning: bool,
    pub settled: bool,
}

/// [`check_full`] without the guidance.
pub(super) fn check_with_passive(
    challenge: &Challenge,
    frames: &[FrameObservation],
    passive: Option<PassiveObservation>,
    policy: &LivenessPolicy,
) -> Result<LivenessVerdict> {
    check_full(challenge, frames, passive, policy).map(|(v, _)| v)
}

/// Check an attempt: did a live head answer `challenge` in `frames` (in capture order)? Bad input is an
/// [`Error::InvalidInput`], anything else a verdict.
pub(super) fn check_full(
    challenge: &Challenge,
    frames: &[FrameObservation],
    passive: Option<PassiveObservation>,
    policy: &LivenessPolicy,
) -> Result<(LivenessVerdict, Guidance)> {
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

    // Frames usable for the pose: exactly one face, a mesh the pose fits, not before the challenge.
    let mut used = Vec::with_capacity(frames.len());
    let mut missing = None;
    for (idx, f) in frames.iter().enumerate() {
        if f.faces != 1 || f.t_ms < issued {
            continue;
        }
        match f
            .mesh
            .as_deref()
            .and_then(|m| Pose::from_mesh(m).map(|p| (m, p)))
        {
            Some((mesh, pose)) => used.push(Used {
                idx,
                t_ms: f.t_ms,
                mesh,
                pose,
                landmarks: f.landmarks,
                tracks: f.tracks.as_ref(),
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

    // Static sequence: the mesh never moved.
    let max_motion = used.first().map_or(0.0, |first| {
        used.iter()
            .flat_map(|u| {
                u.mesh
                    .iter()
                    .zip(first.mesh)
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
    let (steps, guidance) = track_steps(challenge, &used, policy, &mut reasons);

    // Planarity: every completed step must show parallax of the tracked points (and of the nose when
    // the policy asks for it).
    for (i, s) in steps.iter().enumerate().filter(|(_, s)| s.completed) {
        let checks = [Some((s.parallax, policy.min_parallax, false))]
            .into_iter()
            .chain([policy
                .min_nose_residual
                .map(|th| (s.nose_residual, th, true))]);
        for (value, threshold, nose) in checks.flatten() {
            match value {
                None => reasons.push(LivenessReason::PlanarityUndetermined { step: i }),
                Some(r) if r < threshold && nose => reasons.push(LivenessReason::FlatNose {
                    step: i,
                    residual: r,
                }),
                Some(r) if r < threshold => reasons.push(LivenessReason::PlanarMotion {
                    step: i,
                    residual: r,
                }),
                Some(_) => {}
            }
        }
    }
    let residuals: Vec<f32> = steps.iter().filter_map(|s| s.parallax).collect();
    let planarity = PlanarityEvidence {
        min_residual: residuals.iter().copied().min_by(f32::total_cmp),
        residuals,
        threshold: policy.min_parallax,
        nose_residuals: steps.iter().filter_map(|s| s.nose_residual).collect(),
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

    let verdict = LivenessVerdict {
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
    };
    Ok((verdict, guidance))
}

/// The tracked-point parallax of a step: its peak (`used[peak]`) against the frame of `window` (indices
/// into `used`) with the same generation of points, farthest from the peak along the step's axis, the
/// earlier one on a tie. Returns that frame's index in the attempt and the parallax.
fn step_parallax(
    used: &[Used<'_>],
    window: std::ops::RangeInclusive<usize>,
    peak: usize,
    turn: bool,
    policy: &LivenessPolicy,
) -> Option<(usize, planarity::TrackParallax)> {
    let at_peak = used[peak].tracks?;
    let along = |u: &Used<'_>| if turn { u.pose.yaw } else { u.pose.pitch };
    let mut farthest: Option<(usize, f32)> = None;
    for k in window {
        let same = used[k]
            .tracks
            .is_some_and(|t| t.generation == at_peak.generation);
        if k == peak || !same {
            continue;
        }
        let d = (along(&used[k]) - along(&used[peak])).abs();
        if farthest.is_none_or(|(_, best)| d > best) {
            farthest = Some((k, d));
        }
    }
    let (k, _) = farthest?;
    let other = &used[k];
    planarity::track_residual(
        &other.tracks?.points,
        &at_peak.points,
        other.pose.inter_ocular_px,
        policy.min_parallax_points,
    )
    .map(|r| (other.idx, r))
}

/// The movement state machine. Pushes wrong-movement, extra-movement, not-completed and late reasons.
fn track_steps(
    challenge: &Challenge,
    used: &[Used<'_>],
    policy: &LivenessPolicy,
    reasons: &mut Vec<LivenessReason>,
) -> (Vec<StepEvidence>, Guidance) {
    let issued = challenge.issued_at_ms;
    let mut steps: Vec<StepEvidence> = challenge
        .steps
        .iter()
        .map(|&movement| StepEvidence {
            movement,
            completed: false,
            neutral_frame: None,
            peak_frame: None,
            peak_yaw_deg: 0.0,
            peak_pitch_deg: 0.0,
            reached_ms: None,
            completed_ms: None,
            deadline_ms: 0,
            nose_residual: None,
            parallax: None,
            parallax_points: None,
            parallax_frame: None,
        })
        .collect();
    let settled = used.len() >= policy.baseline_frames;
    let mut guidance = Guidance {
        towards: 0.0,
        returning: false,
        settled,
    };
    let n_base = policy.baseline_frames.min(used.len());
    let neutral = (n_base > 0).then(|| {
        let base = &used[..n_base];
        (
            median(base.iter().map(|u| u.pose.yaw).collect()).unwrap_or(0.0),
            median(base.iter().map(|u| u.pose.pitch).collect()).unwrap_or(0.0),
        )
    });
    let mut step = 0usize;
    // Indices into `used`: where the current step's window starts, the last few neutral frames, the
    // nose references and the frames past the threshold of the current step.
    let mut window_start = 0usize;
    let mut neutral_run: Vec<usize> = Vec::new();
    let mut refs: Vec<usize> = Vec::new();
    let mut outs: Vec<usize> = Vec::new();
    let mut peak: Option<(usize, f32)> = None; // (index into `used`, strength)
    let mut stopped = false;
    let mut completed_at: Vec<i64> = Vec::new();
    if let Some((yaw0, pitch0)) = neutral {
        for (k, u) in used.iter().enumerate() {
            let dyaw = if policy.mirrored {
                -(u.pose.yaw - yaw0)
            } else {
                u.pose.yaw - yaw0
            };
            let dpitch = u.pose.pitch - pitch0;
            let Some(want) = steps.get(step).map(|s| s.movement) else {
                // The challenge is answered: a further deliberate movement is not part of the answer.
                if let Some(observed) = Movement::ALL
                    .into_iter()
                    .find(|m| strength(*m, dyaw, dpitch, policy) >= policy.deliberate_factor)
                {
                    reasons.push(LivenessReason::ExtraMovement {
                        observed,
                        frame: u.idx,
                    });
                    break;
                }
                continue;
            };
            let turn = is_turn(want);
            let s = strength(want, dyaw, dpitch, policy);
            match peak {
                None => {
                    if settled {
                        guidance.towards = s.clamp(0.0, 1.0);
                        guidance.returning = false;
                    }
                    let e = &mut steps[step];
                    if s > strength(want, e.peak_yaw_deg, e.peak_pitch_deg, policy) {
                        e.peak_yaw_deg = dyaw;
                        e.peak_pitch_deg = dpitch;
                    }
                    if dyaw.abs() <= policy.yaw_return_deg
                        && dpitch.abs() <= policy.pitch_return_deg
                    {
                        neutral_run.push(k);
                        if neutral_run.len() > REFERENCE_FRAMES {
                            neutral_run.remove(0);
                        }
                    }
                    if s >= 1.0 {
                        peak = Some((k, s));
                        guidance.returning = settled;
                        refs = if neutral_run.is_empty() {
                            vec![0]
                        } else {
                            neutral_run.clone()
                        };
                        outs = vec![k];
                        e.reached_ms = Some(u.t_ms.saturating_sub(issued));
                        continue;
                    }
                    let wrong = Movement::ALL.into_iter().filter(|m| *m != want).find(|m| {
                        let from = if is_turn(*m) == turn {
                            1.0
                        } else {
                            policy.deliberate_factor
                        };
                        strength(*m, dyaw, dpitch, policy) >= from
                    });
                    if let Some(observed) = wrong {
                        reasons.push(LivenessReason::WrongMovement {
                            step,
                            expected: want,
                            observed,
                        });
                        stopped = true;
                        break;
                    }
                }
                Some((pk, best)) => {
                    let pk = if s > best {
                        peak = Some((k, s));
                        k
                    } else {
                        pk
                    };
                    if s >= 1.0 {
                        outs.push(k);
                    }
                    // Back: the signed change along the step's direction is within the return band.
                    let back = if turn {
                        s * policy.yaw_threshold_deg <= policy.yaw_return_deg
                    } else {
                        s * policy.pitch_threshold_deg <= policy.pitch_return_deg
                    };
                    let e = &mut steps[step];
                    let (py, pp) = (
                        if policy.mirrored {
                            -(used[pk].pose.yaw - yaw0)
                        } else {
                            used[pk].pose.yaw - yaw0
                        },
                        used[pk].pose.pitch - pitch0,
                    );
                    e.peak_yaw_deg = py;
                    e.peak_pitch_deg = pp;
                    if !back {
                        continue;
                    }
                    e.completed = true;
                    e.peak_frame = Some(used[pk].idx);
                    e.neutral_frame = refs.last().map(|&r| used[r].idx);
                    e.completed_ms = Some(u.t_ms.saturating_sub(issued));
                    e.nose_residual = median(
                        refs.iter()
                            .filter_map(|&a| used[a].landmarks)
                            .flat_map(|a| {
                                outs.iter()
                                    .filter_map(|&b| used[b].landmarks)
                                    .map(move |b| (a, b))
                            })
                            .filter_map(|(a, b)| planarity::nose_residual(&a, &b))
                            .collect(),
                    );
                    let parallax = step_parallax(used, window_start..=k, pk, turn, policy);
                    e.parallax_frame = parallax.map(|(i, _)| i);
                    e.parallax = parallax.map(|(_, r)| r.residual);
                    e.parallax_points = parallax.map(|(_, r)| r.points);
                    completed_at.push(u.t_ms);
                    step += 1;
                    peak = None;
                    neutral_run = vec![k];
                    window_start = k + 1;
                    if settled {
                        guidance.towards = 0.0;
                        guidance.returning = false;
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
        e.deadline_ms = deadline.saturating_sub(issued);
        if let Some(&done) = completed_at.get(i) {
            if done > deadline {
                reasons.push(LivenessReason::StepTooLate {
                    step: i,
                    late_by_ms: done.saturating_sub(deadline),
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
    (steps, guidance)
}
