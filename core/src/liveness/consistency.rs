//! Frame consistency, one frame at a time: timestamps in order and inside the challenge's window, the
//! one-face rule, a usable face mesh (the pose), a face large enough, a feed that is not one frame repeated, and the
//! same person in every embedded frame. Also picks out the frames the movement tracker can use.

use super::observation::Tracks;
use super::stats::{cosine, median};
use super::{
    ConsistencyEvidence, FrameObservation, Landmarks, LivenessPolicy, LivenessReason, Pose,
};
use crate::{Error, Result};

/// A frame usable for the pose: exactly one face with a usable mesh, not before the challenge.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct UsedFrame {
    /// Index of the frame in the attempt.
    pub idx: usize,
    /// Its capture time, monotonic ms.
    pub t_ms: i64,
    /// Its five detector landmarks, when given (for the recorded nose parallax).
    pub landmarks: Option<Landmarks>,
    /// The head pose fitted to its mesh.
    pub pose: Pose,
    /// Its tracked feature points, when given.
    pub tracks: Option<Tracks>,
}

/// What the consistency checks have seen so far.
#[derive(Debug, Clone, Default)]
pub(super) struct FrameChecks {
    issued_ms: i64,
    max_frame_gap_ms: i64,
    frames: usize,
    last_t_ms: Option<i64>,
    /// First frame whose timestamp is not after the previous one.
    not_increasing: Option<usize>,
    before_challenge: usize,
    /// First gap longer than the policy allows: (frame after it, gap).
    gap: Option<(usize, i64)>,
    first_multiple_faces: Option<usize>,
    multiple_faces: usize,
    without_face: usize,
    first_missing_landmarks: Option<usize>,
    used: usize,
    min_inter_ocular_px: Option<f32>,
    /// The first usable frame's mesh points and inter-ocular distance (the origin of the motion
    /// measure).
    first_used: Option<(Vec<[f32; 2]>, f32)>,
    /// Largest landmark displacement from the first usable frame, pixels.
    max_displacement_px: f32,
    embeddings: Vec<Vec<f32>>,
    min_similarity: Option<f32>,
    sharpness: Vec<f32>,
}

impl FrameChecks {
    /// Checks for an attempt at a challenge issued at `issued_ms`.
    pub fn new(issued_ms: i64, policy: &LivenessPolicy) -> FrameChecks {
        FrameChecks {
            issued_ms,
            max_frame_gap_ms: policy.max_frame_gap_ms,
            ..FrameChecks::default()
        }
    }

    /// Takes the next frame (already validated, see [`FrameObservation::validate`]) and returns it as a
    /// frame the movement tracker can use, if it is one. An embedding of another length than the earlier
    /// ones is an error, and then nothing is recorded.
    pub fn push(&mut self, f: &FrameObservation) -> Result<Option<UsedFrame>> {
        if let Some(e) = &f.embedding {
            self.check_embedding_len(e)?;
        }
        let idx = self.frames;
        self.frames += 1;
        if let Some(last) = self.last_t_ms {
            if f.t_ms <= last && self.not_increasing.is_none() {
                self.not_increasing = Some(idx);
            }
            let gap = f.t_ms.saturating_sub(last);
            if gap > self.max_frame_gap_ms && self.gap.is_none() {
                self.gap = Some((idx, gap));
            }
        }
        self.last_t_ms = Some(f.t_ms);
        if f.t_ms < self.issued_ms {
            self.before_challenge += 1;
        }
        if f.faces > 1 {
            self.first_multiple_faces.get_or_insert(idx);
            self.multiple_faces += 1;
        }
        if f.faces == 0 {
            self.without_face += 1;
        }
        if let Some(e) = &f.embedding {
            self.record_embedding(e.clone());
        }
        if let Some(s) = f.sharpness {
            self.sharpness.push(s);
        }
        if f.faces != 1 || f.t_ms < self.issued_ms {
            return Ok(None);
        }
        let Some((mesh, pose)) = f
            .mesh
            .as_ref()
            .and_then(|m| Pose::from_mesh(m).map(|p| (m, p)))
        else {
            self.first_missing_landmarks.get_or_insert(idx);
            return Ok(None);
        };
        self.used += 1;
        let iod = pose.inter_ocular_px;
        self.min_inter_ocular_px = Some(self.min_inter_ocular_px.map_or(iod, |m| m.min(iod)));
        let (origin, _) = self.first_used.get_or_insert_with(|| (mesh.clone(), iod));
        for (a, b) in mesh.iter().zip(origin.iter()) {
            self.max_displacement_px = self
                .max_displacement_px
                .max((a[0] - b[0]).hypot(a[1] - b[1]));
        }
        Ok(Some(UsedFrame {
            idx,
            t_ms: f.t_ms,
            landmarks: f.landmarks,
            pose,
            tracks: f.tracks.clone(),
        }))
    }

    /// Takes an embedding computed after its frame was pushed (the face engine embeds only the frames
    /// the decision needs, at the end). The same checks as an embedding pushed with its frame.
    pub fn add_embedding(&mut self, e: &[f32]) -> Result<()> {
        self.check_embedding_len(e)?;
        self.record_embedding(e.to_vec());
        Ok(())
    }

    fn check_embedding_len(&self, e: &[f32]) -> Result<()> {
        if self.embeddings.first().is_some_and(|f| f.len() != e.len()) {
            return Err(Error::invalid(
                "frames.embedding",
                "embeddings of different lengths",
            ));
        }
        Ok(())
    }

    fn record_embedding(&mut self, e: Vec<f32>) {
        for other in &self.embeddings {
            let s = cosine(other, &e);
            self.min_similarity = Some(self.min_similarity.map_or(s, |m| m.min(s)));
        }
        self.embeddings.push(e);
    }

    /// Largest mesh-point displacement from the first usable frame, inter-ocular distances.
    fn max_motion(&self) -> f32 {
        self.first_used
            .as_ref()
            .map_or(0.0, |(_, iod)| self.max_displacement_px / iod)
    }

    /// The reasons found so far, in the check's order.
    pub fn reasons(&self, policy: &LivenessPolicy, out: &mut Vec<LivenessReason>) {
        if self.frames < policy.min_frames {
            out.push(LivenessReason::TooFewFrames {
                frames: self.frames,
                required: policy.min_frames,
            });
        }
        if let Some(frame) = self.not_increasing {
            out.push(LivenessReason::TimestampsNotIncreasing { frame });
        }
        if self.before_challenge > 0 {
            out.push(LivenessReason::FramesBeforeChallenge {
                frames: self.before_challenge,
            });
        }
        if let Some((frame, gap_ms)) = self.gap {
            out.push(LivenessReason::FrameGap { frame, gap_ms });
        }
        if let Some(frame) = self.first_multiple_faces {
            out.push(LivenessReason::MultipleFaces {
                frame,
                frames: self.multiple_faces,
            });
        }
        if self.without_face > policy.max_frames_without_face {
            out.push(LivenessReason::TooManyFramesWithoutFace {
                frames: self.without_face,
            });
        }
        if let Some(frame) = self.first_missing_landmarks {
            out.push(LivenessReason::MissingLandmarks { frame });
        }
        if let Some(small) = self
            .min_inter_ocular_px
            .filter(|s| *s < policy.min_inter_ocular_px)
        {
            out.push(LivenessReason::FaceTooSmall {
                inter_ocular_px: small,
            });
        }
        if self.used < policy.min_frames && self.frames >= policy.min_frames {
            out.push(LivenessReason::TooFewFrames {
                frames: self.used,
                required: policy.min_frames,
            });
        }
        let max_motion = self.max_motion();
        if self.used > 0 && max_motion < policy.static_epsilon {
            out.push(LivenessReason::StaticSequence { max_motion });
        }
        if self.embeddings.len() < policy.min_embeddings {
            out.push(LivenessReason::TooFewEmbeddings {
                embeddings: self.embeddings.len(),
                required: policy.min_embeddings,
            });
        }
        if let Some(s) = self
            .min_similarity
            .filter(|s| *s < policy.min_embedding_similarity)
        {
            out.push(LivenessReason::EmbeddingMismatch { min_similarity: s });
        }
    }

    /// The consistency summary for the verdict.
    pub fn evidence(&self) -> ConsistencyEvidence {
        ConsistencyEvidence {
            frames: self.frames,
            frames_used: self.used,
            frames_without_face: self.without_face,
            embeddings: self.embeddings.len(),
            min_embedding_similarity: self.min_similarity,
            max_motion: self.max_motion(),
        }
    }

    /// Median sharpness over the frames that carry one.
    pub fn median_sharpness(&self) -> Option<f32> {
        median(self.sharpness.clone())
    }
}
