//! The liveness evidence signed into attendance records ([`LivenessEvidence`]), and how it reads the
//! records of other versions.
//!
//! The form is the one the first version signed: `passed`, `nonce`, `challenge` (movement codes),
//! `passive_score`, and a `details` object holding the verdict's `reasons`, `steps`, `planarity`,
//! `consistency` and `passive` parts. Records are verified on their signed bytes and never re-serialised,
//! so reading has to cope with whatever another version wrote:
//!
//! - unknown fields are ignored and missing ones take their defaults (a `details` of `null` or absent
//!   reads as empty details);
//! - a reason code this version does not know reads as [`LivenessReason::Unknown`];
//! - a part of `details` this version cannot read at all (a movement it does not know, say) reads as that
//!   part's default instead of failing the whole payload: the server's reports parse attendance payloads
//!   with these types, and an unreadable payload would lose its report columns. `passed` is never
//!   defaulted.
//!
//! Numbers: the first version widened the `details` floats to f64 before writing them
//! (`0.11999999731779099` for 0.12 as an f32); this one writes them as f32 (`0.12`). Both read back as
//! the same f32 (`core/tests/liveness_evidence_compat.rs` checks this on records signed by the first
//! version).

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

use super::{
    ConsistencyEvidence, LivenessReason, LivenessReasonKind, LivenessVerdict, PassiveEvidence,
    PlanarityEvidence, StepEvidence,
};

/// Liveness result carried by the record (filled by the liveness check, see
/// [`LivenessVerdict::to_evidence`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessEvidence {
    /// Overall verdict.
    pub passed: bool,
    /// The challenge nonce the frames answered.
    pub nonce: String,
    /// The requested movements, in order (snake_case codes such as `turn_left`).
    pub challenge: Vec<String>,
    /// Passive anti-spoof score, if computed.
    pub passive_score: Option<f32>,
    /// Why it failed, per-step measurements, planarity, consistency and passive summaries.
    #[serde(default, deserialize_with = "or_default")]
    pub details: LivenessDetails,
    /// SHA-256 (hex) of the attempt's [`super::Transcript`], uploaded as a blob beside the record: what
    /// the server re-runs the check on. Absent in records of versions before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations_sha256: Option<String>,
}

impl LivenessEvidence {
    /// The kinds of the reasons the attempt failed for, in the order the check found them (empty when it
    /// passed).
    pub fn reasons(&self) -> Vec<LivenessReasonKind> {
        self.details
            .reasons
            .iter()
            .map(LivenessReason::kind)
            .collect()
    }
}

/// Everything the check measured, beyond the verdict: the parts of the [`LivenessVerdict`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LivenessDetails {
    /// Why it failed (empty when passed).
    #[serde(deserialize_with = "reasons_or_unknown")]
    pub reasons: Vec<LivenessReason>,
    /// One entry per requested movement.
    #[serde(deserialize_with = "or_default")]
    pub steps: Vec<StepEvidence>,
    /// The planarity test.
    #[serde(deserialize_with = "or_default")]
    pub planarity: PlanarityEvidence,
    /// Frames, faces, embeddings.
    #[serde(deserialize_with = "or_default")]
    pub consistency: ConsistencyEvidence,
    /// Passive model and sharpness.
    #[serde(deserialize_with = "or_default")]
    pub passive: PassiveEvidence,
}

impl LivenessVerdict {
    /// The record's liveness evidence: verdict, nonce, challenge, passive score, and the rest of the
    /// verdict (reasons, per-step evidence, residuals, consistency, passive summary) in `details`.
    pub fn to_evidence(&self) -> LivenessEvidence {
        LivenessEvidence {
            passed: self.passed,
            nonce: self.nonce.clone(),
            challenge: self
                .challenge
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            passive_score: self.passive.score,
            details: LivenessDetails {
                reasons: self.reasons.clone(),
                steps: self.steps.clone(),
                planarity: self.planarity.clone(),
                consistency: self.consistency.clone(),
                passive: self.passive.clone(),
            },
            observations_sha256: None,
        }
    }
}

impl From<&LivenessVerdict> for LivenessEvidence {
    fn from(v: &LivenessVerdict) -> Self {
        v.to_evidence()
    }
}

/// Reads a `T`, or `T::default()` when the value is not a readable `T` (malformed input of the underlying
/// format is still an error).
fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// Reads a list of reasons, each one this version cannot read as [`LivenessReason::Unknown`] (anything
/// but a list: no reasons).
fn reasons_or_unknown<'de, D>(d: D) -> Result<Vec<LivenessReason>, D::Error>
where
    D: Deserializer<'de>,
{
    let serde_json::Value::Array(items) = serde_json::Value::deserialize(d)? else {
        return Ok(Vec::new());
    };
    Ok(items
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap_or(LivenessReason::Unknown))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_versions_details_read_leniently() {
        let json = serde_json::json!({
            "passed": false,
            "nonce": "00112233445566778899aabbccddeeff",
            "challenge": ["turn_left", "blink"],
            "passive_score": null,
            "future_field": {"x": 1},
            "details": {
                "reasons": [
                    {"reason": "step_not_completed", "step": 1, "expected": "turn_left"},
                    {"reason": "eyes_closed", "frames": 3},
                    {"reason": "planar_motion", "step": "not a number"},
                    {"reason": "wrong_movement", "step": 0, "expected": "blink", "observed": "turn_left"}
                ],
                "steps": [{"movement": "blink", "completed": false}],
                "planarity": {"residuals": [0.2], "threshold": 0.12, "new_stat": 7},
                "consistency": "unreadable",
                "passive": {"score": 0.1}
            }
        });
        let e: LivenessEvidence = serde_json::from_value(json).unwrap();
        assert!(!e.passed);
        assert_eq!(
            e.reasons(),
            vec![
                LivenessReasonKind::StepNotCompleted,
                LivenessReasonKind::Unknown,
                LivenessReasonKind::Unknown,
                LivenessReasonKind::Unknown,
            ]
        );
        assert!(e.details.steps.is_empty());
        assert_eq!(e.details.planarity.residuals, vec![0.2]);
        assert_eq!(e.details.planarity.min_residual, None);
        assert_eq!(e.details.consistency, ConsistencyEvidence::default());
        assert_eq!(e.details.passive.score, Some(0.1));
        assert_eq!(e.details.passive.sharp_pixels, None);
        assert_eq!(
            serde_json::to_value(LivenessReasonKind::Unknown).unwrap(),
            "unknown"
        );
        assert_eq!(
            serde_json::from_value::<LivenessReasonKind>("eyes_closed".into()).unwrap(),
            LivenessReasonKind::Unknown
        );
    }

    #[test]
    fn absent_or_null_details_are_empty() {
        for details in [None, Some(serde_json::Value::Null)] {
            let mut json = serde_json::json!({
                "passed": true,
                "nonce": "00112233445566778899aabbccddeeff",
                "challenge": ["look_up"],
                "passive_score": 0.05
            });
            if let Some(d) = details {
                json["details"] = d;
            }
            let e: LivenessEvidence = serde_json::from_value(json).unwrap();
            assert!(e.passed && e.reasons().is_empty());
            assert_eq!(e.details, LivenessDetails::default());
        }
        // The verdict itself is never defaulted.
        let missing = serde_json::json!({"nonce": "00", "challenge": [], "passive_score": null});
        assert!(serde_json::from_value::<LivenessEvidence>(missing).is_err());
    }

    #[test]
    fn reason_kinds_serialise_as_the_reason_codes() {
        let r = LivenessReason::PlanarMotion {
            step: 1,
            residual: 0.03,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap()["reason"],
            serde_json::to_value(r.kind()).unwrap()
        );
        assert_eq!(r.kind().as_str(), "planar_motion");
        assert_eq!(r.kind().to_string(), "planar_motion");
    }
}
