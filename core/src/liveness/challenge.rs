//! The active challenge: a short random sequence of head movements bound to a nonce and a time window.
//!
//! The sequence is what a pre-recorded video cannot know in advance; the nonce names this one attempt in
//! the signed record; the window (monotonic milliseconds from the moment the core issued it) makes frames
//! captured before the challenge existed, or long after, useless.

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::clock::MonotonicReading;
use crate::{Error, Result};

/// One requested head movement. Directions are the person's own (their left), see
/// [`super::LivenessPolicy::mirrored`] for how they map to image directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Turn the head to the person's left.
    TurnLeft,
    /// Turn the head to the person's right.
    TurnRight,
    /// Tilt the head back (chin up).
    LookUp,
    /// Tilt the head forward (chin down).
    LookDown,
}

impl Movement {
    /// All movements, in a fixed order.
    pub const ALL: [Movement; 4] = [
        Movement::TurnLeft,
        Movement::TurnRight,
        Movement::LookUp,
        Movement::LookDown,
    ];

    /// Stable snake_case name (used in records and in `challenge.json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Movement::TurnLeft => "turn_left",
            Movement::TurnRight => "turn_right",
            Movement::LookUp => "look_up",
            Movement::LookDown => "look_down",
        }
    }
}

/// How challenges are drawn. No randomness lives here: the core uses the system CSPRNG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeConfig {
    /// Fewest movements in a challenge (>= 1).
    pub min_steps: usize,
    /// Most movements in a challenge (<= 8).
    pub max_steps: usize,
    /// Each movement must be completed within this many ms after the previous one (or after issue).
    pub step_timeout_ms: i64,
    /// The whole challenge must be completed within this many ms after issue.
    pub total_timeout_ms: i64,
}

impl Default for ChallengeConfig {
    fn default() -> Self {
        ChallengeConfig {
            min_steps: 2,
            max_steps: 4,
            step_timeout_ms: 4_000,
            total_timeout_ms: 12_000,
        }
    }
}

impl ChallengeConfig {
    fn validate(&self) -> Result<()> {
        if self.min_steps == 0 || self.min_steps > self.max_steps || self.max_steps > 8 {
            return Err(Error::invalid(
                "challenge_config",
                "need 1 <= min_steps <= max_steps <= 8",
            ));
        }
        if self.step_timeout_ms <= 0 || self.total_timeout_ms <= 0 {
            return Err(Error::invalid(
                "challenge_config",
                "timeouts must be positive",
            ));
        }
        Ok(())
    }
}

/// A challenge as shown to the person and as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// 128-bit random nonce, lowercase hex.
    pub nonce: String,
    /// The movements, in order; never the same movement twice in a row.
    pub steps: Vec<Movement>,
    /// Monotonic time of issue (ms since boot).
    pub issued_at_ms: i64,
    /// Boot session of `issued_at_ms`.
    pub boot_id: String,
    /// Per-movement deadline, ms after the previous movement's completion (or issue).
    pub step_timeout_ms: i64,
    /// Overall deadline, ms after issue.
    pub total_timeout_ms: i64,
}

/// Uniform random integer below `n` (n >= 1) from the CSPRNG, by rejection sampling (no modulo bias).
fn random_below(rng: &SystemRandom, n: u32) -> Result<u32> {
    let n = u64::from(n.max(1));
    let limit = (1u64 << 32) - ((1u64 << 32) % n);
    loop {
        let mut b = [0u8; 4];
        rng.fill(&mut b)
            .map_err(|_| Error::Crypto("system random failed"))?;
        let v = u64::from(u32::from_le_bytes(b));
        if v < limit {
            return Ok((v % n) as u32);
        }
    }
}

/// Number of movement sequences of length `len` with no immediate repeat: 4 * 3^(len-1).
fn sequences_of_len(len: usize) -> u32 {
    4 * 3u32.pow(len.saturating_sub(1) as u32)
}

impl Challenge {
    /// Draw a fresh challenge at `now`: uniformly among all sequences of `min_steps..=max_steps` movements
    /// with no immediate repeat (156 for the default 2-4), with a fresh 128-bit nonce from ring's
    /// `SystemRandom`.
    pub fn issue(now: &MonotonicReading, config: &ChallengeConfig) -> Result<Challenge> {
        config.validate()?;
        let rng = SystemRandom::new();
        let mut nonce = [0u8; 16];
        rng.fill(&mut nonce)
            .map_err(|_| Error::Crypto("system random failed"))?;
        // Uniform over *all* allowed sequences (not over lengths first): a recording of any one answer
        // matches a fresh challenge with probability 1 / (number of sequences), 1/156 for 2-4 steps.
        let total: u32 = (config.min_steps..=config.max_steps)
            .map(sequences_of_len)
            .sum();
        let mut r = random_below(&rng, total)?;
        let mut len = config.min_steps;
        while r >= sequences_of_len(len) {
            r -= sequences_of_len(len);
            len += 1;
        }
        let mut steps: Vec<Movement> = Vec::with_capacity(len);
        steps.push(Movement::ALL[(r % 4) as usize]);
        r /= 4;
        for _ in 1..len {
            let allowed: Vec<Movement> = Movement::ALL
                .into_iter()
                .filter(|m| steps.last() != Some(m))
                .collect();
            steps.push(allowed[(r % 3) as usize]);
            r /= 3;
        }
        Challenge::from_parts(hex::encode(nonce), steps, now, config)
    }

    /// Build a challenge from known parts (server re-check, tests, `challenge.json`), validated like an
    /// issued one.
    pub fn from_parts(
        nonce: String,
        steps: Vec<Movement>,
        now: &MonotonicReading,
        config: &ChallengeConfig,
    ) -> Result<Challenge> {
        config.validate()?;
        let c = Challenge {
            nonce,
            steps,
            issued_at_ms: now.monotonic_ms,
            boot_id: now.boot_id.clone(),
            step_timeout_ms: config.step_timeout_ms,
            total_timeout_ms: config.total_timeout_ms,
        };
        c.validate()?;
        Ok(c)
    }

    /// Check the invariants (used on challenges read back from storage or JSON).
    pub fn validate(&self) -> Result<()> {
        if self.nonce.len() < 16 || !self.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                "challenge.nonce",
                "must be at least 16 hex digits",
            ));
        }
        if self.steps.is_empty() || self.steps.len() > 8 {
            return Err(Error::invalid("challenge.steps", "need 1 to 8 movements"));
        }
        if self.steps.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::invalid(
                "challenge.steps",
                "a movement is repeated immediately",
            ));
        }
        if self.step_timeout_ms <= 0 || self.total_timeout_ms <= 0 {
            return Err(Error::invalid("challenge", "timeouts must be positive"));
        }
        if self
            .issued_at_ms
            .checked_add(self.total_timeout_ms)
            .is_none()
        {
            return Err(Error::invalid("challenge.issued_at_ms", "out of range"));
        }
        Ok(())
    }

    /// Monotonic time after which the challenge has expired.
    pub fn deadline_ms(&self) -> i64 {
        self.issued_at_ms.saturating_add(self.total_timeout_ms)
    }

    /// The movement names, for the record.
    pub fn step_names(&self) -> Vec<String> {
        self.steps.iter().map(|m| m.as_str().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> MonotonicReading {
        MonotonicReading {
            monotonic_ms: 1_000,
            boot_id: "boot".into(),
        }
    }

    #[test]
    fn issued_challenges_are_random_valid_and_unique() {
        let cfg = ChallengeConfig::default();
        let mut nonces = std::collections::HashSet::new();
        let mut lengths = std::collections::HashSet::new();
        let mut firsts = std::collections::HashSet::new();
        let mut per_len = std::collections::BTreeMap::new();
        for _ in 0..300 {
            let c = Challenge::issue(&now(), &cfg).unwrap();
            c.validate().unwrap();
            assert_eq!(c.nonce.len(), 32);
            assert!((2..=4).contains(&c.steps.len()));
            *per_len.entry(c.steps.len()).or_insert(0) += 1;
            assert!(c.steps.windows(2).all(|w| w[0] != w[1]));
            assert_eq!(c.issued_at_ms, 1_000);
            nonces.insert(c.nonce.clone());
            lengths.insert(c.steps.len());
            firsts.insert(c.steps[0]);
        }
        assert_eq!(nonces.len(), 300);
        assert_eq!(lengths.len(), 3);
        assert_eq!(firsts.len(), 4);
        // Uniform over sequences: lengths 2, 3, 4 in proportion 12 : 36 : 108.
        assert!(
            per_len[&4] > per_len[&3] && per_len[&3] > per_len[&2],
            "{per_len:?}"
        );
        assert_eq!(
            sequences_of_len(2) + sequences_of_len(3) + sequences_of_len(4),
            156
        );
    }

    #[test]
    fn bad_configs_and_parts_are_typed_errors() {
        let bad = ChallengeConfig {
            min_steps: 3,
            max_steps: 2,
            ..ChallengeConfig::default()
        };
        assert!(matches!(
            Challenge::issue(&now(), &bad),
            Err(Error::InvalidInput { .. })
        ));
        let cfg = ChallengeConfig::default();
        let n = "00112233445566778899aabbccddeeff".to_owned();
        let rep = vec![Movement::LookUp, Movement::LookUp];
        assert!(Challenge::from_parts(n.clone(), rep, &now(), &cfg).is_err());
        assert!(Challenge::from_parts(n.clone(), vec![], &now(), &cfg).is_err());
        assert!(Challenge::from_parts("zz".into(), vec![Movement::LookUp], &now(), &cfg).is_err());
        let json = serde_json::to_string(
            &Challenge::from_parts(
                n,
                vec![Movement::TurnLeft, Movement::LookDown],
                &now(),
                &cfg,
            )
            .unwrap(),
        )
        .unwrap();
        assert!(json.contains("\"turn_left\"") && json.contains("\"look_down\""));
    }
}
