//! One attempt's decision, fed one frame at a time ([`Progress`]) or all at once ([`check`]).
//!
//! Both are the same code: [`check`] pushes every frame into a [`Progress`] and asks for the verdict. The
//! face engine keeps one `Progress` per attempt, reads its status after every camera frame (what to ask
//! the person next, whether the attempt has already failed) and asks it for the verdict at the end, so
//! the guidance on screen and the recorded decision cannot disagree, and a frame costs the same whether
//! it is the 5th or the 200th of the attempt.

use super::consistency::FrameChecks;
use super::observation::validate_embedding;
use super::tracker::StepTracker;
use super::{
    Challenge, FrameObservation, LivenessPolicy, LivenessReason, LivenessVerdict, Movement,
    PassiveEvidence, PassiveObservation, PlanarityEvidence, StepEvidence,
};
use crate::Result;

/// Where an attempt stands after the frames so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptStatus {
    /// Steps of the challenge completed so far (in order).
    pub steps_completed: usize,
    /// The movement to make now; `None` when every step is completed.
    pub next: Option<Movement>,
    /// The attempt has already failed for a reason no further frame can fix (see
    /// [`LivenessReason::is_final`]): the app should start a new challenge.
    pub failed: bool,
    /// How far the last usable frame went towards the movement asked for now, 0..1 (1: far enough).
    pub towards: f32,
    /// The movement asked for now went far enough: the head should come back to neutral.
    pub returning: bool,
    /// The person's neutral pose is known (enough usable frames at the start).
    pub settled: bool,
}

/// The check of one attempt, fed one frame at a time.
#[derive(Debug, Clone)]
pub struct Progress {
    challenge: Challenge,
    policy: LivenessPolicy,
    frames: FrameChecks,
    steps: StepTracker,
}

impl Progress {
    /// Starts checking an answer to `challenge` under `policy` (both validated here).
    pub fn new(challenge: &Challenge, policy: &LivenessPolicy) -> Result<Progress> {
        challenge.validate()?;
        policy.validate()?;
        Ok(Progress {
            challenge: challenge.clone(),
            policy: policy.clone(),
            frames: FrameChecks::new(challenge.issued_at_ms, policy),
            steps: StepTracker::new(challenge, policy),
        })
    }

    /// The challenge being answered.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The policy it is checked under.
    pub fn policy(&self) -> &LivenessPolicy {
        &self.policy
    }

    /// Takes the next frame, in capture order. Bad input (non-finite values, an embedding of another
    /// length than the earlier ones) is an [`crate::Error::InvalidInput`] and the frame is not taken.
    pub fn push(&mut self, frame: &FrameObservation) -> Result<()> {
        frame.validate()?;
        if let Some(used) = self.frames.push(frame)? {
            self.steps.push(used);
        }
        Ok(())
    }

    /// Takes the embedding of a frame already pushed (embeddings can be computed after the fact, on
    /// the frames the decision needs). Validated like one pushed with its frame.
    pub fn add_embedding(&mut self, embedding: &[f32]) -> Result<()> {
        validate_embedding(embedding)?;
        self.frames.add_embedding(embedding)
    }

    /// The steps as they stand (completed ones with their peak and neutral frames).
    pub fn steps(&self) -> Vec<StepEvidence> {
        self.steps.outcome().steps
    }

    /// Where the attempt stands.
    pub fn status(&self) -> AttemptStatus {
        let (reasons, steps) = self.decide();
        let steps_completed = steps.iter().take_while(|s| s.completed).count();
        let progress = self.steps.progress();
        AttemptStatus {
            steps_completed,
            next: self.challenge.steps.get(steps_completed).copied(),
            failed: reasons.iter().any(LivenessReason::is_final),
            towards: progress.towards,
            returning: progress.returning,
            settled: self.steps.settled(),
        }
    }

    /// The reasons from the frames, the movements and the planarity of the completed steps, in the
    /// order the verdict lists them; and the steps.
    fn decide(&self) -> (Vec<LivenessReason>, Vec<StepEvidence>) {
        let mut reasons = Vec::new();
        self.frames.reasons(&self.policy, &mut reasons);
        let outcome = self.steps.outcome();
        reasons.extend(outcome.reasons);
        // Planarity: every completed step must show parallax of the tracked points (and of the nose,
        // when the policy asks for it).
        for (i, s) in outcome.steps.iter().enumerate() {
            if !s.completed {
                continue;
            }
            match s.parallax {
                Some(r) if r < self.policy.min_parallax => {
                    reasons.push(LivenessReason::PlanarMotion {
                        step: i,
                        residual: r,
                    });
                }
                Some(_) => {}
                None => reasons.push(LivenessReason::PlanarityUndetermined { step: i }),
            }
            if let Some(th) = self.policy.min_nose_residual {
                match s.nose_residual {
                    Some(r) if r < th => reasons.push(LivenessReason::FlatNose {
                        step: i,
                        residual: r,
                    }),
                    Some(_) => {}
                    None => reasons.push(LivenessReason::PlanarityUndetermined { step: i }),
                }
            }
        }
        (reasons, outcome.steps)
    }

    /// The verdict on the frames so far, with the passive model's observation if it ran.
    pub fn verdict(&self, passive: Option<PassiveObservation>) -> Result<LivenessVerdict> {
        if let Some(p) = &passive {
            p.validate()?;
        }
        let (mut reasons, steps) = self.decide();
        let residuals: Vec<f32> = steps.iter().filter_map(|s| s.parallax).collect();
        let planarity = PlanarityEvidence {
            min_residual: residuals.iter().copied().min_by(f32::total_cmp),
            residuals,
            threshold: self.policy.min_parallax,
            nose_residuals: steps.iter().filter_map(|s| s.nose_residual).collect(),
        };
        let score = passive.map(|p| p.score);
        if let (Some(s), Some(th)) = (score, self.policy.passive_reject_above)
            && s > th
        {
            reasons.push(LivenessReason::PassiveSpoof { score: s });
        }
        let median_sharpness = self.frames.median_sharpness();
        if let (Some(s), Some(min)) = (median_sharpness, self.policy.min_sharpness)
            && s < min
        {
            reasons.push(LivenessReason::TooBlurry { sharpness: s });
        }
        Ok(LivenessVerdict {
            passed: reasons.is_empty(),
            reasons,
            steps,
            planarity,
            consistency: self.frames.evidence(),
            passive: PassiveEvidence {
                sharp_pixels: passive.and_then(|p| p.sharp_pixels),
                score,
                reject_above: self.policy.passive_reject_above,
                median_sharpness,
            },
            nonce: self.challenge.nonce.clone(),
            challenge: self.challenge.steps.clone(),
        })
    }
}

/// Check an attempt without a passive score. See [`check_with_passive`].
pub fn check(
    challenge: &Challenge,
    frames: &[FrameObservation],
    policy: &LivenessPolicy,
) -> Result<LivenessVerdict> {
    check_with_passive(challenge, frames, None, policy)
}

/// Check an attempt: did a live head answer `challenge` in `frames` (in capture order)?
///
/// Bad input (non-finite landmarks, boxes, embeddings, sharpness or score; embeddings of different
/// lengths; an invalid challenge or policy) is an [`crate::Error::InvalidInput`]. Everything a camera or
/// an attacker can produce (no frames, wrong timestamps, several faces, no movement...) is a verdict with
/// `passed = false` and its reasons. Never panics.
pub fn check_with_passive(
    challenge: &Challenge,
    frames: &[FrameObservation],
    passive: Option<PassiveObservation>,
    policy: &LivenessPolicy,
) -> Result<LivenessVerdict> {
    let mut progress = Progress::new(challenge, policy)?;
    for f in frames {
        progress.push(f)?;
    }
    progress.verdict(passive)
}
