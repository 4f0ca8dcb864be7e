//! The face engine's side of liveness: camera frames in, [`FrameObservation`]s and a verified face out.
//!
//! [`crate::liveness`] decides from landmarks; this module produces them, frame by frame, while the person
//! answers the challenge, and keeps what the decision and the record need afterwards. It is built so that
//! a 2-second challenge at 10 frames per second stays cheap on one core:
//!
//! - a full detection (on a copy of longest side [`LiveConfig::max_side`], 480 px by default, with the
//!   check-in search that looks for large faces first) runs on the first frame and then on every
//!   [`LiveConfig::full_detection_every`]-th frame, and counts the faces; in between, the face is
//!   *tracked*: O-Net alone on the previous frame's box gives the new box and landmarks at a fraction of
//!   the cost (a lost track falls back to a full detection at once). So the one-face rule is checked
//!   2.5 times a second at 10 fps, not on every frame;
//! - every frame's face is aligned (a 112x112 warp) for its sharpness, and the crop is kept (37 KB);
//! - the liveness check is fed one frame at a time ([`Progress`]): the guidance after each frame costs
//!   the same at the 200th frame as at the 5th, and the final verdict comes from the same state;
//! - embeddings are computed only where the decision needs them, at [`LivenessAttempt::finish`]: the
//!   neutral frames and the peak of every step (so the head that turned is the head that was verified),
//!   the first and the last frame; at most [`LiveConfig::max_embeddings`].
//!
//! The identity check of a live check-in is made on the frames of the attempt itself (the most frontal
//! frame that passes the quality gate), not on a separate selfie: a photo of a colleague cannot be verified
//! while the attacker's own head answers the challenge, because every embedded frame must also be the
//! same person ([`LivenessPolicy::min_embedding_similarity`]).

use serde::{Deserialize, Serialize};

use super::align::align;
use super::detect::{Detection, DetectorConfig};
use super::engine::{FaceEngine, VerifyOutcome};
use super::flow::FlowTracker;
use super::input::FaceImage;
use super::quality::{self, QualityReport};
use super::template::Template;
use crate::liveness::pose::POSE_POINTS;
use crate::liveness::{
    AttemptStatus, Challenge, FrameObservation, LivenessPolicy, LivenessVerdict, Movement,
    PassiveObservation, Pose, Progress, StepEvidence, Transcript, VerifiedFrame,
};
use crate::{Error, Result};

/// Settings of the frame pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveConfig {
    /// Longest side frames are detected at (larger frames are shrunk first; landmarks are mapped back).
    pub max_side: u32,
    /// Most frames one attempt accepts (memory bound: one 112x112 crop per frame).
    pub max_frames: usize,
    /// Most embeddings computed at the end of an attempt.
    pub max_embeddings: usize,
    /// A full detection (which counts faces) every this many frames; the frames between are tracked
    /// (1 = a full detection on every frame).
    pub full_detection_every: usize,
    /// Score the attempt's most frontal good frame with the passive anti-spoof model, when it is
    /// installed (one run per attempt, ~300 ms on one x86 core: see `models/README.md`).
    pub passive: bool,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            max_side: 480,
            max_frames: 240,
            max_embeddings: 6,
            full_detection_every: 4,
            passive: true,
        }
    }
}

/// What the person should do now, beyond the movement asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// No face in the frame.
    NoFace,
    /// More than one face: only the person checking in should be in the picture.
    OneFaceOnly,
    /// The face is too small for the geometry: come closer to the camera.
    MoveCloser,
    /// Look at the camera and hold still while the neutral pose is measured.
    HoldStill,
    /// The movement has started but is not far enough yet.
    TurnFurther,
    /// Far enough: now come back to looking at the camera.
    ComeBack,
}

/// What one frame showed, for the app to guide the person ("move closer", "now turn left").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameFeedback {
    /// Faces that count for the one-face rule in this frame.
    pub faces: u32,
    /// Steps of the challenge completed so far (in order).
    pub steps_completed: usize,
    /// The movement to make now; `None` when every step is completed.
    pub next: Option<Movement>,
    /// The attempt has already failed for a reason no further frame can fix (wrong movement, extra
    /// movement, several faces, frames out of order): the app should start a new challenge.
    pub failed: bool,
    /// How far the head has gone towards [`Self::next`], 0..1 (1: far enough, now come back).
    pub progress: f32,
    /// What to tell the person beyond the movement, if anything.
    pub hint: Option<Hint>,
    /// The head pose in this frame, degrees (yaw + = the person's left in an unmirrored frame, pitch +
    /// = up), when the face mesh found the face.
    pub pose: Option<crate::liveness::Pose>,
}

/// The hint for a frame with head pose `pose`: the face first (none, several, too small), then the
/// movement.
fn hint(
    obs: &FrameObservation,
    pose: Option<&Pose>,
    status: &AttemptStatus,
    policy: &LivenessPolicy,
) -> Option<Hint> {
    // Several faces first: the face mesh may have missed the main one in such a frame, and "no face"
    // would then send the person looking for a problem that is someone else in the picture.
    if obs.faces > 1 {
        return Some(Hint::OneFaceOnly);
    }
    if obs.faces == 0 || pose.is_none() {
        return Some(Hint::NoFace);
    }
    if pose.is_some_and(|p| p.inter_ocular_px < policy.min_inter_ocular_px) {
        return Some(Hint::MoveCloser);
    }
    if !status.settled {
        return Some(Hint::HoldStill);
    }
    if status.returning {
        return Some(Hint::ComeBack);
    }
    (status.next.is_some() && status.towards >= 0.3).then_some(Hint::TurnFurther)
}

/// One frame as kept by the attempt.
#[derive(Debug, Clone)]
struct Kept {
    obs: FrameObservation,
    aligned: Option<Vec<u8>>,
    quality: Option<QualityReport>,
}

/// A liveness attempt in progress: the challenge and what every frame showed.
#[derive(Debug, Clone)]
pub struct LivenessAttempt {
    challenge: Challenge,
    config: LiveConfig,
    frames: Vec<Kept>,
    /// The check of the frames so far, fed one frame at a time under the policy of the calls (rebuilt
    /// from `frames` if a call brings another policy). The per-frame feedback and the final verdict both
    /// come from it.
    progress: Option<Progress>,
    /// The face of the last frame, and how many frames ago the last full detection ran.
    last: Option<(Detection, usize)>,
    /// Hash of the last frame's pixels: a camera never delivers the same frame twice, a frozen or
    /// replayed feed does; such a frame gets exactly the previous frame's observation.
    last_pixels: Option<u64>,
    /// The most frontal frame that passed the quality gate so far (|yaw|, image, face), for the passive
    /// model.
    best: Option<(f32, FaceImage, Detection)>,
    /// Feature points followed from frame to frame, for the flat-versus-3-D test.
    flow: FlowTracker,
}

/// The result of a finished attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveOutcome {
    /// The liveness decision with all its evidence.
    pub verdict: LivenessVerdict,
    /// 1:1 verification of the attempt's best frame against the template.
    pub verify: VerifyOutcome,
    /// Index of the frame the identity was verified on.
    pub verified_frame: Option<usize>,
    /// What the verdict was decided from, for the server to decide again (uploaded beside the record).
    pub transcript: Transcript,
}

/// A hash of a frame's size and pixels (not cryptographic: it only has to tell a repeated frame).
fn fingerprint(img: &FaceImage) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write_u32(img.width());
    h.write_u32(img.height());
    h.write(img.rgb());
    h.finish()
}

impl LivenessAttempt {
    /// Starts an attempt at `challenge` (issued by the core, see [`Challenge::issue`]).
    pub fn new(challenge: Challenge, config: LiveConfig) -> Result<LivenessAttempt> {
        challenge.validate()?;
        if config.max_side < 64
            || config.max_frames == 0
            || config.max_embeddings < 2
            || config.full_detection_every == 0
        {
            return Err(Error::invalid(
                "live_config",
                "need max_side >= 64, max_frames >= 1, max_embeddings >= 2, full_detection_every >= 1",
            ));
        }
        Ok(LivenessAttempt {
            challenge,
            config,
            frames: Vec::new(),
            progress: None,
            last: None,
            last_pixels: None,
            best: None,
            flow: FlowTracker::new(),
        })
    }

    /// The challenge being answered.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The observations so far (embeddings are only filled in by [`FaceEngine::finish`]).
    pub fn observations(&self) -> Vec<FrameObservation> {
        self.frames.iter().map(|k| k.obs.clone()).collect()
    }

    /// Frames received.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// No frame received yet.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The check of every frame so far under `policy`, from scratch.
    fn replay(&self, policy: &LivenessPolicy) -> Result<Progress> {
        let mut progress = Progress::new(&self.challenge, policy)?;
        for k in &self.frames {
            progress.push(&k.obs)?;
        }
        Ok(progress)
    }

    /// The check of every frame so far under `policy`: the one kept, or a replay when it was built
    /// under another policy.
    fn progress_under(&self, policy: &LivenessPolicy) -> Result<Progress> {
        match &self.progress {
            Some(p) if p.policy() == policy => Ok(p.clone()),
            _ => self.replay(policy),
        }
    }

    /// Keeps a frame: feeds it to the check (a frame the check refuses is not kept) and says how far
    /// the attempt has got.
    fn keep(&mut self, kept: Kept, policy: &LivenessPolicy) -> Result<FrameFeedback> {
        let mut progress = match self.progress.take() {
            Some(p) if p.policy() == policy => p,
            _ => self.replay(policy)?,
        };
        if let Err(e) = progress.push(&kept.obs) {
            self.progress = Some(progress);
            return Err(e);
        }
        let status = progress.status();
        let pose = kept.obs.mesh.as_deref().and_then(Pose::from_mesh);
        let hint = hint(&kept.obs, pose.as_ref(), &status, policy);
        self.progress = Some(progress);
        let faces = kept.obs.faces;
        self.frames.push(kept);
        Ok(FrameFeedback {
            faces,
            steps_completed: status.steps_completed,
            next: status.next,
            failed: status.failed,
            // 1 from the frame the threshold is reached until the head is back (the tracker keeps it).
            progress: status.towards,
            hint: if status.failed { None } else { hint },
            pose,
        })
    }

    /// Frames worth embedding: the steps' neutral and peak frames, then the first and last frames with a
    /// face, then evenly spaced ones, up to the limit.
    fn frames_to_embed(&self, steps: &[StepEvidence]) -> Vec<usize> {
        let with_crop: Vec<usize> = (0..self.frames.len())
            .filter(|&i| self.frames[i].aligned.is_some())
            .collect();
        let mut chosen: Vec<usize> = Vec::new();
        let push = |i: usize, chosen: &mut Vec<usize>| {
            if self.frames.get(i).is_some_and(|k| k.aligned.is_some()) && !chosen.contains(&i) {
                chosen.push(i);
            }
        };
        for s in steps {
            for i in [s.neutral_frame, s.peak_frame].into_iter().flatten() {
                push(i, &mut chosen);
            }
        }
        for i in [with_crop.first(), with_crop.last()].into_iter().flatten() {
            push(*i, &mut chosen);
        }
        let n = with_crop.len();
        let limit = self.config.max_embeddings;
        for k in 0..limit {
            if chosen.len() >= limit || n == 0 {
                break;
            }
            push(with_crop[k * n / limit], &mut chosen);
        }
        chosen.truncate(limit);
        chosen.sort_unstable();
        chosen
    }
}

impl FaceEngine {
    /// Detects the face in one frame of an attempt (captured at monotonic `t_ms`), keeps its landmarks,
    /// box, sharpness and aligned crop, and says how far the challenge has got.
    pub fn observe(
        &self,
        attempt: &mut LivenessAttempt,
        img: &FaceImage,
        t_ms: i64,
        policy: &LivenessPolicy,
    ) -> Result<FrameFeedback> {
        if attempt.frames.len() >= attempt.config.max_frames {
            return Err(Error::invalid("frames", "too many frames for one attempt"));
        }
        let pixels = fingerprint(img);
        if attempt.last_pixels == Some(pixels)
            && let Some(previous) = attempt.frames.last()
        {
            let repeated = Kept {
                obs: FrameObservation {
                    t_ms,
                    ..previous.obs.clone()
                },
                ..previous.clone()
            };
            return attempt.keep(repeated, policy);
        }
        attempt.last_pixels = Some(pixels);
        let tracked = match &attempt.last {
            Some((previous, since)) if since + 1 < attempt.config.full_detection_every => {
                self.track(img, previous)?.map(|d| (d, since + 1))
            }
            _ => None,
        };
        let (dets, faces) = if let Some((d, since)) = tracked {
            attempt.last = Some((d.clone(), since));
            (vec![d], 1)
        } else {
            let detector = DetectorConfig {
                max_side: self.config().detector.max_side.min(attempt.config.max_side),
                ..self.config().detector.clone()
            };
            let dets = self.detect_checkin_with(&detector, img)?;
            attempt.last = dets.first().map(|d| (d.clone(), 0));
            let faces = quality::meaningful_faces(&self.config().quality, &dets) as u32;
            (dets, faces)
        };
        let mesh = match dets.first() {
            Some(main) => self.mesh(img, &main.landmarks)?,
            None => None,
        };
        let tracks = attempt.flow.next(img, mesh.as_ref());
        let kept = match dets.first() {
            Some(main) => {
                let aligned = align(img, &main.landmarks);
                let quality = aligned.as_ref().map(|a| {
                    quality::assess(
                        &self.config().quality,
                        main,
                        a,
                        (img.width(), img.height()),
                        dets.len(),
                        faces.saturating_sub(1) as usize,
                    )
                });
                Kept {
                    obs: FrameObservation {
                        t_ms,
                        faces,
                        landmarks: Some(main.landmarks),
                        face_box: Some(main.bbox),
                        embedding: None,
                        sharpness: quality.as_ref().map(|q| q.sharpness),
                        mesh: mesh.as_ref().map(|m| m.select(&POSE_POINTS)),
                        tracks,
                    },
                    aligned,
                    quality,
                }
            }
            None => Kept {
                obs: FrameObservation {
                    t_ms,
                    faces: 0,
                    landmarks: None,
                    face_box: None,
                    embedding: None,
                    sharpness: None,
                    mesh: None,
                    tracks,
                },
                aligned: None,
                quality: None,
            },
        };
        let best = match (&kept.quality, dets.first()) {
            (Some(q), Some(main))
                if attempt.config.passive
                    && q.passed
                    && attempt.best.as_ref().is_none_or(|b| q.yaw.abs() < b.0) =>
            {
                Some((q.yaw.abs(), img.clone(), main.clone()))
            }
            _ => None,
        };
        let feedback = attempt.keep(kept, policy)?;
        if best.is_some() {
            attempt.best = best;
        }
        Ok(feedback)
    }

    /// Ends an attempt: embeds the frames the decision needs and runs the liveness check. `passive`: a
    /// score computed elsewhere; when `None`, the most frontal good frame is scored with the passive
    /// anti-spoof model if it is installed and [`LiveConfig::passive`] is on.
    pub fn finish(
        &self,
        attempt: &LivenessAttempt,
        passive: Option<PassiveObservation>,
        policy: &LivenessPolicy,
    ) -> Result<LivenessVerdict> {
        Ok(self.finish_observations(attempt, passive, policy)?.0)
    }

    /// [`Self::finish`], then verifies the most frontal frame that passes the quality gate against the
    /// person's template.
    pub fn finish_and_verify(
        &self,
        attempt: &LivenessAttempt,
        template: &Template,
        passive: Option<PassiveObservation>,
        policy: &LivenessPolicy,
    ) -> Result<LiveOutcome> {
        let (verdict, frames) = self.finish_observations(attempt, passive, policy)?;
        let (verify, verified) = self.verify_attempt(template, attempt, &frames)?;
        let verified_frame = verified.as_ref().map(|v| v.index);
        let transcript = Transcript::new(&attempt.challenge, policy, frames, &verdict, verified);
        Ok(LiveOutcome {
            verdict,
            verify,
            verified_frame,
            transcript,
        })
    }

    /// [`Self::finish`], also returning every frame's observation with the embeddings the decision
    /// computed (what an evaluation dumps to re-run policies without the engine).
    pub fn finish_observations(
        &self,
        attempt: &LivenessAttempt,
        passive: Option<PassiveObservation>,
        policy: &LivenessPolicy,
    ) -> Result<(LivenessVerdict, Vec<FrameObservation>)> {
        let mut progress = attempt.progress_under(policy)?;
        let mut frames = attempt.observations();
        for i in attempt.frames_to_embed(&progress.steps()) {
            if let Some(crop) = &attempt.frames[i].aligned {
                let embedding = self.embed_aligned(crop)?;
                progress.add_embedding(&embedding)?;
                frames[i].embedding = Some(embedding);
            }
        }
        let passive = match (passive, &attempt.best) {
            (Some(p), _) => Some(p),
            (None, Some((_, img, det))) if attempt.config.passive => self
                .passive_model()?
                .map(|m| m.score(img, det))
                .transpose()?
                .map(|s| PassiveObservation {
                    score: s.spoof,
                    sharp_pixels: Some(s.sharpness),
                }),
            _ => None,
        };
        let verdict = progress.verdict(passive)?;
        Ok((verdict, frames))
    }

    /// Verifies the attempt's most frontal frame that passed the quality gate (or, when none did, the
    /// most frontal frame, reported with its failed gate).
    fn verify_attempt(
        &self,
        template: &Template,
        attempt: &LivenessAttempt,
        frames: &[FrameObservation],
    ) -> Result<(VerifyOutcome, Option<VerifiedFrame>)> {
        let best = (0..attempt.frames.len())
            .filter_map(|i| attempt.frames[i].quality.as_ref().map(|q| (i, q)))
            .min_by(|a, b| {
                (!a.1.passed, a.1.yaw.abs())
                    .partial_cmp(&(!b.1.passed, b.1.yaw.abs()))
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        let Some((i, q)) = best else {
            return Ok((
                self.unverified(QualityReport::failed(quality::QualityIssue::NoFace, 0)),
                None,
            ));
        };
        let embedding = match (&frames[i].embedding, &attempt.frames[i].aligned) {
            (Some(e), _) => e.clone(),
            (None, Some(crop)) => self.embed_aligned(crop)?,
            (None, None) => return Ok((self.unverified(q.clone()), None)),
        };
        Self::check_template_model(template)?;
        let similarity = template.similarity(&embedding);
        let threshold = self.config().threshold;
        Ok((
            VerifyOutcome {
                similarity,
                threshold,
                matched: q.passed && similarity >= threshold,
                quality: q.clone(),
                model_sha256: self.model_hashes(),
                aligned: attempt.frames[i].aligned.clone(),
            },
            Some(VerifiedFrame {
                index: i,
                embedding,
            }),
        ))
    }

    fn unverified(&self, quality: QualityReport) -> VerifyOutcome {
        VerifyOutcome {
            similarity: 0.0,
            threshold: self.config().threshold,
            matched: false,
            quality,
            model_sha256: self.model_hashes(),
            aligned: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::Movement;

    fn status() -> AttemptStatus {
        AttemptStatus {
            steps_completed: 0,
            next: Some(Movement::TurnLeft),
            failed: false,
            towards: 0.0,
            returning: false,
            settled: true,
        }
    }

    fn frame(faces: u32) -> FrameObservation {
        FrameObservation {
            t_ms: 0,
            faces,
            landmarks: None,
            face_box: None,
            embedding: None,
            sharpness: None,
            mesh: None,
            tracks: None,
        }
    }

    #[test]
    fn several_faces_are_named_before_a_missing_mesh() {
        let policy = LivenessPolicy::default();
        let pose = Pose {
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            inter_ocular_px: 80.0,
        };
        assert_eq!(
            hint(&frame(2), None, &status(), &policy),
            Some(Hint::OneFaceOnly)
        );
        assert_eq!(
            hint(&frame(1), None, &status(), &policy),
            Some(Hint::NoFace)
        );
        assert_eq!(
            hint(&frame(0), None, &status(), &policy),
            Some(Hint::NoFace)
        );
        assert_eq!(hint(&frame(1), Some(&pose), &status(), &policy), None);
        let small = Pose {
            inter_ocular_px: 10.0,
            ..pose
        };
        assert_eq!(
            hint(&frame(1), Some(&small), &status(), &policy),
            Some(Hint::MoveCloser)
        );
    }
}
