//! The movement state machine, one usable frame at a time: the person's neutral pose (median of the
//! first frames), the step being answered, its peak, its return to neutral, the parallax over it, and
//! the deliberate wrong or extra movement that ends an attempt. Per frame it costs a pose comparison;
//! the parallax is computed once per completed step.
//!
//! Angles are degrees of head pose ([`Pose`]), with hysteresis: a movement counts from its threshold
//! and is back only below the (smaller) return threshold of its own axis (or past neutral the other
//! way), whatever the other axis does, so a turn with a chin lift still completes. A movement the challenge did not ask for ends the attempt
//! when it is deliberate: the opposite direction on the asked-for axis from its threshold, the other
//! axis from [`LivenessPolicy::deliberate_factor`] times its threshold (a nod instead of a turn), not the
//! pitch wobble of a turn or an expression.

use super::consistency::UsedFrame;
use super::observation::Tracks;
use super::planarity;
use super::stats::median;
use super::{Challenge, Landmarks, LivenessPolicy, LivenessReason, Movement, Pose, StepEvidence};

/// Neutral frames before a movement used as nose-parallax references.
const REFERENCE_FRAMES: usize = 3;

/// How strongly a pose change expresses a movement, in units of that movement's threshold.
pub(super) fn strength(m: Movement, dyaw: f32, dpitch: f32, p: &LivenessPolicy) -> f32 {
    match m {
        Movement::TurnLeft => dyaw / p.yaw_threshold_deg,
        Movement::TurnRight => -dyaw / p.yaw_threshold_deg,
        Movement::LookUp => dpitch / p.pitch_threshold_deg,
        Movement::LookDown => -dpitch / p.pitch_threshold_deg,
    }
}

/// Whether a movement turns the head (yaw) rather than nodding it (pitch).
fn is_turn(m: Movement) -> bool {
    matches!(m, Movement::TurnLeft | Movement::TurnRight)
}

/// The strength from which `other` counts as a deliberate movement while `want` is asked for (or, with
/// `want = None`, once the challenge is answered).
fn deliberate_from(other: Movement, want: Option<Movement>, p: &LivenessPolicy) -> f32 {
    match want {
        Some(w) if is_turn(w) == is_turn(other) => 1.0,
        _ => p.deliberate_factor,
    }
}

/// A frame kept as a nose-parallax reference.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    idx: usize,
    landmarks: Option<Landmarks>,
}

impl From<&UsedFrame> for Reference {
    fn from(u: &UsedFrame) -> Self {
        Reference {
            idx: u.idx,
            landmarks: u.landmarks,
        }
    }
}

/// A frame of the current step, kept for its tracked-point parallax.
#[derive(Debug, Clone, PartialEq)]
struct StepFrame {
    idx: usize,
    pose: Pose,
    tracks: Option<Tracks>,
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

/// How far the step being answered has got, for the guidance on screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct StepProgress {
    /// The asked-for movement's strength in the last usable frame, 0..1 (1 = threshold reached).
    pub towards: f32,
    /// The threshold was reached: the head should now come back to neutral.
    pub returning: bool,
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
    /// The nose-parallax references of the movement in progress.
    refs: Vec<Reference>,
    /// Landmarks of the frames past the threshold of the movement in progress.
    outs: Vec<Landmarks>,
    /// Frames since the previous step completed (or the attempt began), for the tracked parallax.
    window: Vec<StepFrame>,
    peak: Option<Peak>,
    /// The last usable frame's progress on the step being answered.
    last: StepProgress,
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
            window: Vec::new(),
            peak: None,
            last: StepProgress {
                towards: 0.0,
                returning: false,
            },
            ended: None,
        }
    }

    /// Takes the next usable frame.
    pub fn push(&mut self, u: UsedFrame) {
        if self.neutral.is_some() {
            self.advance(u);
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
            pitch: median(pending.iter().map(|u| u.pose.pitch).collect()).unwrap_or(0.0),
            roll: base.pose.roll,
            inter_ocular_px: base.pose.inter_ocular_px,
        });
        for u in pending {
            self.advance(u);
        }
    }

    /// The change from neutral of a pose, in the person's directions.
    fn delta(&self, pose: &Pose, neutral: &Pose) -> (f32, f32) {
        let (dyaw, dpitch) = pose.delta(neutral);
        (if self.policy.mirrored { -dyaw } else { dyaw }, dpitch)
    }

    /// Whether the neutral pose is known.
    pub fn settled(&self) -> bool {
        self.neutral.is_some()
    }

    /// How far the step being answered has got (the last usable frame).
    pub fn progress(&self) -> StepProgress {
        self.last
    }

    /// One frame through the state machine (the neutral pose is known). Its tracked points move into
    /// the step's window.
    fn advance(&mut self, mut u: UsedFrame) {
        let Some(neutral) = self.neutral else {
            return;
        };
        if self.ended.is_some() {
            return;
        }
        let p = &self.policy;
        let (dyaw, dpitch) = self.delta(&u.pose, &neutral);
        let Some(want) = self.steps.get(self.current).map(|s| s.movement) else {
            // The challenge is answered: any further deliberate movement means the frames are not an
            // answer to *this* challenge (e.g. a longer recording whose first moves match it).
            if let Some(observed) = Movement::ALL
                .into_iter()
                .find(|m| strength(*m, dyaw, dpitch, p) >= deliberate_from(*m, None, p))
            {
                self.ended = Some(LivenessReason::ExtraMovement {
                    observed,
                    frame: u.idx,
                });
            }
            return;
        };
        self.window.push(StepFrame {
            idx: u.idx,
            pose: u.pose,
            tracks: u.tracks.take(),
        });
        let is_neutral = dyaw.abs() <= p.yaw_return_deg && dpitch.abs() <= p.pitch_return_deg;
        let s = strength(want, dyaw, dpitch, p);
        // Back: inside the return band of the step's own axis, or already past neutral the other way
        // (at 10 frames a second a quick return can skip the band).
        let is_back = if is_turn(want) {
            s * p.yaw_threshold_deg <= p.yaw_return_deg
        } else {
            s * p.pitch_threshold_deg <= p.pitch_return_deg
        };
        let Some(peak) = &mut self.peak else {
            self.last = StepProgress {
                towards: s.clamp(0.0, 1.0),
                returning: false,
            };
            // Until the threshold is reached, the step's peak fields hold the strongest frame so far
            // (how far the person got, for the evaluation and the guidance).
            let e = &mut self.steps[self.current];
            if s > strength(want, e.peak_yaw_deg, e.peak_pitch_deg, p) {
                e.peak_yaw_deg = dyaw;
                e.peak_pitch_deg = dpitch;
            }
            if is_neutral {
                self.neutral_run.push(Reference::from(&u));
                if self.neutral_run.len() > REFERENCE_FRAMES {
                    self.neutral_run.remove(0);
                }
            }
            if s >= 1.0 {
                self.peak = Some(Peak {
                    idx: u.idx,
                    pose: u.pose,
                    strength: s,
                });
                self.last.returning = true;
                self.refs = if self.neutral_run.is_empty() {
                    self.first.iter().cloned().collect()
                } else {
                    self.neutral_run.clone()
                };
                self.outs = u.landmarks.into_iter().collect();
                self.steps[self.current].reached_ms = Some(u.t_ms.saturating_sub(self.issued_ms));
            } else if let Some(observed) = Movement::ALL.into_iter().find(|m| {
                *m != want && strength(*m, dyaw, dpitch, p) >= deliberate_from(*m, Some(want), p)
            }) {
                self.ended = Some(LivenessReason::WrongMovement {
                    step: self.current,
                    expected: want,
                    observed,
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
            let e = &mut self.steps[self.current];
            e.peak_yaw_deg = dyaw;
            e.peak_pitch_deg = dpitch;
        }
        if s >= 1.0
            && let Some(l) = u.landmarks
        {
            self.outs.push(l);
        }
        if is_back {
            let peak = peak.clone();
            self.complete_step(&peak, &u, &neutral);
        }
    }

    /// The tracked-point parallax of a step: the peak frame against the frame of the same generation,
    /// in this step's window, farthest from it along the step's axis.
    fn step_parallax(&self, peak: &Peak) -> Option<(usize, planarity::TrackParallax)> {
        let want = self.steps.get(self.current)?.movement;
        let at_peak = self.window.iter().find(|f| f.idx == peak.idx)?;
        let tracks = at_peak.tracks.as_ref()?;
        let axis = |pose: &Pose| if is_turn(want) { pose.yaw } else { pose.pitch };
        let other = self
            .window
            .iter()
            .filter(|f| {
                f.idx != peak.idx
                    && f.tracks
                        .as_ref()
                        .is_some_and(|t| t.generation == tracks.generation)
            })
            .max_by(|a, b| {
                let da = (axis(&a.pose) - axis(&peak.pose)).abs();
                let db = (axis(&b.pose) - axis(&peak.pose)).abs();
                // Ties go to the earlier frame.
                da.total_cmp(&db).then(b.idx.cmp(&a.idx))
            })?;
        let theirs = other.tracks.as_ref()?;
        planarity::track_residual(
            &theirs.points,
            &tracks.points,
            other.pose.inter_ocular_px,
            self.policy.min_parallax_points,
        )
        .map(|r| (other.idx, r))
    }

    /// The movement in progress came back to neutral at `u`.
    fn complete_step(&mut self, peak: &Peak, u: &UsedFrame, neutral: &Pose) {
        let (peak_yaw, peak_pitch) = self.delta(&peak.pose, neutral);
        let nose_residual = median(
            self.refs
                .iter()
                .filter_map(|r| r.landmarks)
                .flat_map(|a| self.outs.iter().map(move |b| (a, *b)))
                .filter_map(|(a, b)| planarity::nose_residual(&a, &b))
                .collect(),
        );
        let parallax = self.step_parallax(peak);
        let e = &mut self.steps[self.current];
        e.completed = true;
        e.peak_frame = Some(peak.idx);
        e.neutral_frame = self.refs.last().or(self.first.as_ref()).map(|r| r.idx);
        e.peak_yaw_deg = peak_yaw;
        e.peak_pitch_deg = peak_pitch;
        e.completed_ms = Some(u.t_ms.saturating_sub(self.issued_ms));
        e.nose_residual = nose_residual;
        e.parallax_frame = parallax.map(|(i, _)| i);
        e.parallax = parallax.map(|(_, r)| r.residual);
        e.parallax_points = parallax.map(|(_, r)| r.points);
        self.completed_at.push(u.t_ms);
        self.current += 1;
        self.peak = None;
        self.neutral_run = vec![Reference::from(u)];
        self.window.clear();
        self.last = StepProgress {
            towards: 0.0,
            returning: false,
        };
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
