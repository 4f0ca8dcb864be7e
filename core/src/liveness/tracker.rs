//! The movement state machine, one usable frame at a time: the person's neutral pose (median of the
//! first frames), the step being answered, its peak, its return to neutral, the nose parallax over it,
//! and the wrong or extra movement that ends an attempt. Per frame it costs a pose comparison; the nose
//! parallax is computed once per completed step.

use super::consistency::UsedFrame;
use super::planarity;
use super::stats::median;
use super::{Challenge, Landmarks, LivenessPolicy, LivenessReason, Movement, Pose, StepEvidence};

/// Neutral frames before a movement used as planarity references (residual = median over pairs of
/// these with the frames past the movement threshold, which halves the effect of landmark noise).
const REFERENCE_FRAMES: usize = 3;

/// How strongly a pose change expresses a movement, in units of that movement's threshold.
pub(super) fn strength(m: Movement, dyaw: f32, dpitch: f32, p: &LivenessPolicy) -> f32 {
    match m {
        Movement::TurnLeft => dyaw / p.yaw_threshold,
        Movement::TurnRight => -dyaw / p.yaw_threshold,
        Movement::LookUp => dpitch / p.pitch_threshold,
        Movement::LookDown => -dpitch / p.pitch_threshold,
    }
}

/// A frame kept as a planarity reference.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    idx: usize,
    landmarks: Landmarks,
}

impl From<&UsedFrame> for Reference {
    fn from(u: &UsedFrame) -> Self {
        Reference {
            idx: u.idx,
            landmarks: u.landmarks,
        }
    }
}

/// The strongest frame of the movement in progress.
#[derive(Debug, Clone, PartialEq)]
struct Peak {
    idx: usize,
    pose: Pose,
    strength: f32,
}

/// The steps as they stand, with their deadlines, and the movement reasons.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StepOutcome {
    /// One entry per requested movement.
    pub steps: Vec<StepEvidence>,
    /// Wrong or extra movement, steps answered late, the first step not completed.
    pub reasons: Vec<LivenessReason>,
}

/// The movement state machine of one attempt.
#[derive(Debug, Clone)]
pub(super) struct StepTracker {
    policy: LivenessPolicy,
    issued_ms: i64,
    step_timeout_ms: i64,
    /// Absolute deadline of the whole challenge, monotonic ms.
    deadline_ms: i64,
    /// Usable frames seen before the neutral pose is known (fewer than `baseline_frames`).
    pending: Vec<UsedFrame>,
    neutral: Option<Pose>,
    /// The first usable frame: the reference of a movement that starts before any neutral frame.
    first: Option<Reference>,
    steps: Vec<StepEvidence>,
    /// Capture time of each completed step, monotonic ms (for the deadlines).
    completed_at: Vec<i64>,
    /// Index of the step being answered.
    current: usize,
    /// The last few neutral frames while waiting for the current movement.
    neutral_run: Vec<Reference>,
    /// The planarity references of the movement in progress.
    refs: Vec<Reference>,
    /// Landmarks of the frames past the threshold of the movement in progress.
    outs: Vec<Landmarks>,
    peak: Option<Peak>,
    /// The wrong or extra movement that ended the tracking; no later frame is looked at.
    ended: Option<LivenessReason>,
}

impl StepTracker {
    /// A tracker for `challenge` (validated) under `policy` (validated).
    pub fn new(challenge: &Challenge, policy: &LivenessPolicy) -> StepTracker {
        StepTracker {
            policy: policy.clone(),
            issued_ms: challenge.issued_at_ms,
            step_timeout_ms: challenge.step_timeout_ms,
            deadline_ms: challenge.deadline_ms(),
            pending: Vec::new(),
            neutral: None,
            first: None,
            steps: challenge
                .steps
                .iter()
                .map(|&m| StepEvidence::pending(m))
                .collect(),
            completed_at: Vec::new(),
            current: 0,
            neutral_run: Vec::new(),
            refs: Vec::new(),
            outs: Vec::new(),
            peak: None,
            ended: None,
        }
    }

    /// Takes the next usable frame.
    pub fn push(&mut self, u: UsedFrame) {
        if self.neutral.is_some() {
            self.advance(&u);
            return;
        }
        self.first.get_or_insert_with(|| Reference::from(&u));
        self.pending.push(u);
        if self.pending.len() >= self.policy.baseline_frames {
            self.settle();
        }
    }

    /// Fixes the neutral pose from the frames seen so far and runs them through the state machine.
    fn settle(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let Some(base) = pending.first() else {
            return;
        };
        self.neutral = Some(Pose {
            yaw: median(pending.iter().map(|u| u.pose.yaw).collect()).unwrap_or(0.0),
            pitch_ratio: median(pending.iter().map(|u| u.pose.pitch_ratio).collect())
                .unwrap_or(0.0),
            inter_ocular_px: base.pose.inter_ocular_px,
            roll_deg: base.pose.roll_deg,
        });
        for u in &pending {
            self.advance(u);
        }
    }

    /// The change from neutral of a pose, in the person's directions.
    fn delta(&self, pose: &Pose, neutral: &Pose) -> (f32, f32) {
        let (dyaw, dpitch) = pose.delta(neutral);
        (if self.policy.mirrored { -dyaw } else { dyaw }, dpitch)
    }

    /// One frame through the state machine (the neutral pose is known).
    fn advance(&mut self, u: &UsedFrame) {
        let Some(neutral) = self.neutral else {
            return;
        };
        if self.ended.is_some() {
            return;
        }
        let p = &self.policy;
        let (dyaw, dpitch) = self.delta(&u.pose, &neutral);
        let Some(want) = self.steps.get(self.current).map(|s| s.movement) else {
            // The challenge is answered: any further clear movement means the frames are not an answer
            // to *this* challenge (e.g. a longer recording whose first moves match it).
            if let Some(observed) = Movement::ALL
                .into_iter()
                .find(|m| strength(*m, dyaw, dpitch, p) >= 1.0)
            {
                self.ended = Some(LivenessReason::ExtraMovement {
                    observed,
                    frame: u.idx,
                });
            }
            return;
        };
        let is_neutral = dyaw.abs() <= p.yaw_return && dpitch.abs() <= p.pitch_return;
        let s = strength(want, dyaw, dpitch, p);
        let Some(peak) = &mut self.peak else {
            if is_neutral {
                self.neutral_run.push(Reference::from(u));
                if self.neutral_run.len() > REFERENCE_FRAMES {
                    self.neutral_run.remove(0);
                }
            }
            let (other, other_s) = Movement::ALL
                .into_iter()
                .filter(|m| *m != want)
                .map(|m| (m, strength(m, dyaw, dpitch, p)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((want, 0.0));
            if s >= 1.0 && s >= other_s {
                self.peak = Some(Peak {
                    idx: u.idx,
                    pose: u.pose,
                    strength: s,
                });
                self.refs = if self.neutral_run.is_empty() {
                    self.first.iter().cloned().collect()
                } else {
                    self.neutral_run.clone()
                };
                self.outs = vec![u.landmarks];
                self.steps[self.current].reached_ms = Some(u.t_ms.saturating_sub(self.issued_ms));
            } else if other_s >= 1.0 {
                self.ended = Some(LivenessReason::WrongMovement {
                    step: self.current,
                    expected: want,
                    observed: other,
                });
            }
            return;
        };
        if s > peak.strength {
            *peak = Peak {
                idx: u.idx,
                pose: u.pose,
                strength: s,
            };
        }
        if s >= 1.0 {
            self.outs.push(u.landmarks);
        }
        if is_neutral {
            let peak = peak.clone();
            self.complete_step(&peak, u, &neutral);
        }
    }

    /// The movement in progress came back to neutral at `u`.
    fn complete_step(&mut self, peak: &Peak, u: &UsedFrame, neutral: &Pose) {
        let (peak_yaw, peak_pitch) = self.delta(&peak.pose, neutral);
        let nose_residual = median(
            self.refs
                .iter()
                .flat_map(|a| self.outs.iter().map(move |b| (a, b)))
                .filter_map(|(a, b)| planarity::nose_residual(&a.landmarks, b))
                .collect(),
        );
        let e = &mut self.steps[self.current];
        e.completed = true;
        e.peak_frame = Some(peak.idx);
        e.neutral_frame = self.refs.last().or(self.first.as_ref()).map(|r| r.idx);
        e.peak_yaw = peak_yaw;
        e.peak_pitch = peak_pitch;
        e.completed_ms = Some(u.t_ms.saturating_sub(self.issued_ms));
        e.nose_residual = nose_residual;
        self.completed_at.push(u.t_ms);
        self.current += 1;
        self.peak = None;
        self.neutral_run = vec![Reference::from(u)];
    }

    /// The steps and the movement reasons as they stand. Before the neutral pose is known (fewer usable
    /// frames than `baseline_frames`), the frames so far stand in for it, as a check of only these
    /// frames would do.
    pub fn outcome(&self) -> StepOutcome {
        if self.neutral.is_none() && !self.pending.is_empty() {
            let mut settled = self.clone();
            settled.settle();
            return settled.outcome();
        }
        let mut steps = self.steps.clone();
        let mut reasons: Vec<LivenessReason> = self.ended.iter().cloned().collect();
        let stopped = matches!(self.ended, Some(LivenessReason::WrongMovement { .. }));
        // Deadlines: each step within step_timeout of the previous completion, all within the total.
        let mut prev = self.issued_ms;
        for (i, e) in steps.iter_mut().enumerate() {
            let deadline = prev
                .saturating_add(self.step_timeout_ms)
                .min(self.deadline_ms);
            e.deadline_ms = deadline.saturating_sub(self.issued_ms);
            if let Some(&done) = self.completed_at.get(i) {
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
        StepOutcome { steps, reasons }
    }
}
