//! The liveness attempt as the server re-checks it ([`Transcript`]): the challenge, every frame's
//! observation and the passive score the device decided from, compressed into one blob uploaded beside
//! the check-in.
//!
//! Why: a phone's `passed` is a claim a modified app can flip. The decision is pure code over
//! observations ([`super::check`]), so the server can run the same code on the same observations and
//! hold the record to *its* verdict. The record signs the transcript's SHA-256
//! ([`super::LivenessEvidence::observations_sha256`]): the transcript cannot be swapped after signing,
//! and one transcript answers one check-in (the server refuses a second record naming the same hash).
//!
//! What this does not prove: that a camera produced the observations. An app rewritten to fabricate a
//! whole consistent head movement (landmarks, mesh, tracked points, embeddings) still passes; pixels
//! (sampled full frames) and hardware attestation are what close that. What it does close is the cheap
//! attack: a verdict flipped to `passed` over observations that fail, a transcript of another attempt
//! (another challenge, another nonce, another person's embeddings), and a failed answer reported as
//! passed with the observations left out.
//!
//! Size: the 11 real videos of `../shared/liveness-real` give 72-120 KB of JSON (26-47 frames, 96 tracked
//! points each, 6 embeddings), 29-51 KB deflated. The record payload is capped at 64 KB, hence a blob.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::observation::validate_embedding;
use super::{
    Challenge, FrameObservation, LivenessEvidence, LivenessPolicy, LivenessVerdict,
    PassiveObservation, check_with_passive,
};
use crate::clock::MonotonicReading;
use crate::{Error, Result};

/// Version of the [`Transcript`] format.
pub const TRANSCRIPT_VERSION: u32 = 1;

/// The blob type of an encoded transcript (JSON, raw deflate).
pub const TRANSCRIPT_MIME: &str = "application/vnd.siap.liveness-transcript+json+deflate";

/// Largest inflated transcript accepted (a deflate stream inflating beyond it is refused, not read).
/// A 240-frame attempt with 256 tracked points per frame is about 3 MB.
pub const MAX_TRANSCRIPT_JSON: u64 = 8 << 20;

/// Most frames a transcript may hold (the face engine keeps at most 240).
pub const MAX_TRANSCRIPT_FRAMES: usize = 600;

/// Smallest similarity between a re-checker's embedding of the uploaded face crop and the embedding
/// the transcript gives for the frame the device verified: the crop must be *that frame* (the same
/// pixels after a JPEG round trip, embedded on another machine), not merely the same person. The JPEG
/// round trip moves the embedding by at most 0.02 on `../shared/faces` (`face_pairs.rs`); frames a
/// tenth of a second apart in the real videos are 0.91 and more alike, other photos of the same person
/// less.
pub const CROP_IN_ATTEMPT: f32 = 0.95;

/// Everything the liveness decision of one attempt was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// [`TRANSCRIPT_VERSION`].
    pub v: u32,
    /// The challenge the frames answered.
    pub challenge: Challenge,
    /// The frames were mirrored (selfie preview): the one setting of the policy that belongs to the
    /// camera, not to the city. Every threshold comes from the re-checker's own policy.
    pub mirrored: bool,
    /// What the face engine saw, frame by frame, with the embeddings the decision computed.
    pub frames: Vec<FrameObservation>,
    /// The passive model's observation, when it ran (a score the device computed: without pixels the
    /// server cannot recompute it, only hold it to the policy).
    pub passive: Option<PassiveObservation>,
    /// The frame the identity was verified on, and its embedding: the uploaded face crop must be that
    /// frame, of the person who answered the challenge.
    pub verified: Option<VerifiedFrame>,
}

/// The frame of the attempt the face was verified on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifiedFrame {
    /// Index into [`Transcript::frames`].
    pub index: usize,
    /// Its embedding (L2-normalised).
    pub embedding: Vec<f32>,
}

/// What re-checking a transcript against a record's liveness evidence found.
#[derive(Debug, Clone, PartialEq)]
pub enum Recheck {
    /// The transcript is not the attempt the record names: another nonce, challenge or passive score.
    Mismatch,
    /// The verdict re-derived from the transcript.
    Verdict(Box<LivenessVerdict>),
}

impl Transcript {
    /// The transcript of an attempt at `challenge` decided under `policy` from `frames` (with the
    /// embeddings the decision computed), whose `verdict` carries the passive score it used.
    pub fn new(
        challenge: &Challenge,
        policy: &LivenessPolicy,
        frames: Vec<FrameObservation>,
        verdict: &LivenessVerdict,
        verified: Option<VerifiedFrame>,
    ) -> Transcript {
        Transcript {
            v: TRANSCRIPT_VERSION,
            challenge: challenge.clone(),
            mirrored: policy.mirrored,
            frames,
            passive: verdict.passive.score.map(|score| PassiveObservation {
                score,
                sharp_pixels: verdict.passive.sharp_pixels,
            }),
            verified,
        }
    }

    /// JSON, raw-deflated.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(self)?;
        let mut z = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(json.len() / 2),
            flate2::Compression::default(),
        );
        z.write_all(&json)?;
        Ok(z.finish()?)
    }

    /// Reads and validates an encoded transcript. Anything else (not deflate, inflating past
    /// [`MAX_TRANSCRIPT_JSON`], not a transcript, invalid values) is [`Error::InvalidInput`].
    pub fn decode(blob: &[u8]) -> Result<Transcript> {
        let mut json = Vec::new();
        flate2::read::DeflateDecoder::new(blob)
            .take(MAX_TRANSCRIPT_JSON + 1)
            .read_to_end(&mut json)
            .map_err(|_| Error::invalid("liveness_transcript", "not a deflate stream"))?;
        if json.len() as u64 > MAX_TRANSCRIPT_JSON {
            return Err(Error::invalid("liveness_transcript", "too large"));
        }
        let t: Transcript = serde_json::from_slice(&json)
            .map_err(|_| Error::invalid("liveness_transcript", "not a liveness transcript"))?;
        t.validate()?;
        Ok(t)
    }

    /// Refuses another version, too many frames, an invalid challenge, frame or passive observation, and
    /// a verified frame that is not one of the frames.
    pub fn validate(&self) -> Result<()> {
        if self.v != TRANSCRIPT_VERSION {
            return Err(Error::invalid("liveness_transcript.v", "unknown version"));
        }
        if self.frames.len() > MAX_TRANSCRIPT_FRAMES {
            return Err(Error::invalid("liveness_transcript.frames", "too many"));
        }
        self.challenge.validate()?;
        for f in &self.frames {
            f.validate()?;
        }
        if let Some(p) = &self.passive {
            p.validate()?;
        }
        if let Some(v) = &self.verified {
            if v.index >= self.frames.len() {
                return Err(Error::invalid(
                    "liveness_transcript.verified",
                    "not one of the frames",
                ));
            }
            validate_embedding(&v.embedding)?;
        }
        Ok(())
    }

    /// Re-derives the verdict of the attempt a record's `evidence` names, as the device would have at
    /// `now` (the record's monotonic reading: an attempt used after its challenge expired fails), under
    /// `policy`'s thresholds (the transcript only says whether frames were mirrored).
    pub fn recheck(
        &self,
        evidence: &LivenessEvidence,
        now: &MonotonicReading,
        policy: &LivenessPolicy,
    ) -> Result<Recheck> {
        let same_passive = self.passive.map(|p| p.score) == evidence.passive_score;
        if self.challenge.nonce != evidence.nonce
            || self.challenge.step_names() != evidence.challenge
            || !same_passive
        {
            return Ok(Recheck::Mismatch);
        }
        let policy = LivenessPolicy {
            mirrored: self.mirrored,
            ..policy.clone()
        };
        let mut verdict = check_with_passive(&self.challenge, &self.frames, self.passive, &policy)?;
        verdict.expire_at(&self.challenge, now);
        Ok(Recheck::Verdict(Box::new(verdict)))
    }

    /// Cosine similarity of `embedding` with the verified frame's, `None` without one, with an
    /// embedding of another length, or when it is not a number (a zero vector).
    pub fn verified_similarity(&self, embedding: &[f32]) -> Option<f32> {
        let v = self.verified.as_ref()?;
        (v.embedding.len() == embedding.len())
            .then(|| super::stats::cosine(&v.embedding, embedding))
            .filter(|s| s.is_finite())
    }
}

/// SHA-256 of an encoded transcript, lowercase hex (what the record signs).
pub fn transcript_sha256(blob: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, blob))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::synth::{self, Identity, Rng, SequenceSpec};
    use crate::liveness::{ChallengeConfig, Movement};

    fn now() -> MonotonicReading {
        MonotonicReading {
            monotonic_ms: 1_000,
            boot_id: "boot-1".into(),
        }
    }

    fn attempt(presenter: synth::Presenter) -> (Transcript, LivenessVerdict) {
        let steps = vec![Movement::TurnLeft, Movement::LookUp];
        let challenge = Challenge::from_parts(
            "00112233445566778899aabbccddeeff".into(),
            steps.clone(),
            &now(),
            &ChallengeConfig::default(),
        )
        .unwrap();
        let spec = SequenceSpec {
            start_ms: 1_100,
            presenter,
            ..SequenceSpec::default()
        };
        let mut rng = Rng::new(7);
        let who = Identity::random(&mut rng);
        let frames = synth::sequence(&steps, &spec, &who, &mut rng);
        let policy = LivenessPolicy::default();
        let verdict = check_with_passive(&challenge, &frames, None, &policy).unwrap();
        let verified = VerifiedFrame {
            index: 0,
            embedding: who.0.clone(),
        };
        let t = Transcript {
            v: TRANSCRIPT_VERSION,
            challenge,
            mirrored: false,
            frames,
            passive: None,
            verified: Some(verified),
        };
        (t, verdict)
    }

    fn at(ms: i64) -> MonotonicReading {
        MonotonicReading {
            monotonic_ms: ms,
            boot_id: "boot-1".into(),
        }
    }

    #[test]
    fn round_trip_reproduces_the_device_verdict() {
        for presenter in [synth::Presenter::Live, synth::Presenter::Photo] {
            let (t, device) = attempt(presenter);
            let blob = t.encode().unwrap();
            let back = Transcript::decode(&blob).unwrap();
            assert_eq!(back, t);
            let Recheck::Verdict(server) = back
                .recheck(
                    &device.to_evidence(),
                    &at(4_000),
                    &LivenessPolicy::default(),
                )
                .unwrap()
            else {
                panic!("the transcript names the record's attempt");
            };
            assert_eq!(*server, device);
            assert_eq!(server.passed, presenter == synth::Presenter::Live);
        }
    }

    #[test]
    fn another_attempt_or_a_late_use_does_not_pass() {
        let (t, device) = attempt(synth::Presenter::Live);
        let policy = LivenessPolicy::default();
        let mut other = device.to_evidence();
        other.nonce = "ffeeddccbbaa99887766554433221100".into();
        assert_eq!(
            t.recheck(&other, &at(4_000), &policy).unwrap(),
            Recheck::Mismatch
        );
        let mut steps = device.to_evidence();
        steps.challenge = vec!["turn_left".into()];
        assert_eq!(
            t.recheck(&steps, &at(4_000), &policy).unwrap(),
            Recheck::Mismatch
        );
        let mut passive = device.to_evidence();
        passive.passive_score = Some(0.01);
        assert_eq!(
            t.recheck(&passive, &at(4_000), &policy).unwrap(),
            Recheck::Mismatch
        );
        // Used an hour after the challenge: the server's verdict fails like the device's would.
        let late = t
            .recheck(&device.to_evidence(), &at(3_600_000), &policy)
            .unwrap();
        assert!(matches!(late, Recheck::Verdict(v) if !v.passed));
    }

    #[test]
    fn bad_blobs_are_typed_errors() {
        let (t, _) = attempt(synth::Presenter::Live);
        for blob in [
            Vec::new(),
            b"not deflate at all".to_vec(),
            t.encode().unwrap()[..40].to_vec(),
        ] {
            assert!(matches!(
                Transcript::decode(&blob),
                Err(Error::InvalidInput { .. })
            ));
        }
        // Valid deflate of something else.
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"{\"v\":1}").unwrap();
        assert!(Transcript::decode(&z.finish().unwrap()).is_err());
        // A verified frame that is not one of the frames, a frame with a NaN.
        let mut bad = t.clone();
        bad.verified.as_mut().unwrap().index = bad.frames.len();
        assert!(Transcript::decode(&bad.encode().unwrap()).is_err());
        let mut nan = t.clone();
        nan.frames[2].landmarks.as_mut().unwrap()[0][0] = f32::NAN;
        // serde_json writes NaN as null, which is not a landmark: refused either way.
        assert!(Transcript::decode(&nan.encode().unwrap()).is_err());
    }

    #[test]
    fn a_deflate_bomb_is_refused_without_inflating_it_all() {
        // 64 MB of spaces deflate to about 64 KB.
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..64 {
            z.write_all(&chunk).unwrap();
        }
        let bomb = z.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        assert!(matches!(
            Transcript::decode(&bomb),
            Err(Error::InvalidInput { reason, .. }) if reason == "too large"
        ));
    }
}
