//! Throttling of enrollment-code guessing: failed registrations cost tokens from two buckets, one per
//! source address and one per code prefix; when either is empty, registration answers 429 with
//! `Retry-After` before looking at the code.
//!
//! Only *failures* cost tokens, so a city hall where hundreds of staff register from behind one NAT
//! address is never slowed down by its own successful registrations:
//!
//! - **per source** (an IPv4 address, or an IPv6 /64 — one home or phone network): 20 failures at once,
//!   then one more every 10 s (≈ 360 per hour). A typo now and then never reaches it; a guesser is cut
//!   from about 3,000 guesses per second to 0.1 per second.
//! - **per code prefix** (the first 3 of the 10 normalised characters; 29,791 buckets): 10 failures at
//!   once, then one per minute. This bounds guessing spread over many addresses (a botnet) at the codes
//!   that share a prefix, e.g. one read over a shoulder. An attacker can make an honest person with that
//!   prefix wait up to a minute; that is the price, and it is logged as a 429.
//!
//! With 10-character codes (≈ 50 bits) that expire within days, both limits together put a successful
//! guess far out of reach. The buckets live in memory per server instance (several instances multiply
//! the rates by their number); their number is bounded so that spoofed or rotating sources cannot grow
//! memory without limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A keyed token bucket that only failures drain.
#[derive(Debug)]
pub struct FailureBuckets {
    capacity: f64,
    refill: Duration,
    max_keys: usize,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl FailureBuckets {
    /// `capacity` failures at once, one more every `refill`; at most `max_keys` keys remembered.
    pub fn new(capacity: u32, refill: Duration, max_keys: usize) -> Self {
        FailureBuckets {
            capacity: f64::from(capacity),
            refill,
            max_keys,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, tokens: f64, since: Instant, now: Instant) -> f64 {
        let refilled =
            now.saturating_duration_since(since).as_secs_f64() / self.refill.as_secs_f64();
        (tokens + refilled).min(self.capacity)
    }

    /// `Err(wait)` when `key` has no failure left; never drains.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(key) {
            Some(&(tokens, at)) => {
                let level = self.level(tokens, at, now);
                if level >= 1.0 {
                    Ok(())
                } else {
                    Err(self.refill.mul_f64(1.0 - level))
                }
            }
            None => Ok(()),
        }
    }

    /// Drains one token for a failure of `key`.
    pub fn fail(&self, key: &str, now: Instant) {
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= self.max_keys && !map.contains_key(key) {
            // Forget the buckets that have refilled completely; they hold no information.
            let full = self.capacity;
            map.retain(|_, (t, at)| self.level(*t, *at, now) < full);
            if map.len() >= self.max_keys {
                // Still full (a flood of distinct sources): forget the oldest half.
                let mut ages: Vec<Instant> = map.values().map(|(_, at)| *at).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                map.retain(|_, (_, at)| *at > cut);
            }
        }
        let entry = map.entry(key.to_owned()).or_insert((self.capacity, now));
        let level = self.level(entry.0, entry.1, now);
        *entry = ((level - 1.0).max(0.0), now);
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// No key remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The registration throttle: per source and per code prefix.
#[derive(Debug)]
pub struct RegistrationThrottle {
    /// Failures per source address.
    pub per_source: FailureBuckets,
    /// Failures per code prefix.
    pub per_prefix: FailureBuckets,
}

/// Characters of the normalised code that make its prefix bucket.
pub const PREFIX_LEN: usize = 3;

impl Default for RegistrationThrottle {
    fn default() -> Self {
        RegistrationThrottle {
            per_source: FailureBuckets::new(20, Duration::from_secs(10), 100_000),
            per_prefix: FailureBuckets::new(10, Duration::from_mins(1), 100_000),
        }
    }
}

/// The bucket key of a source: the IPv4 address, or the /64 of an IPv6 address.
pub fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                v4.to_string()
            } else {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

/// The bucket key of a code: its first [`PREFIX_LEN`] normalised characters.
pub fn prefix_key(code: &str) -> String {
    siap_core::sync::protocol::normalise_code(code)
        .chars()
        .take(PREFIX_LEN)
        .collect()
}

impl RegistrationThrottle {
    /// `Err(wait)` when the source or the code's prefix has no failure left.
    pub fn check(&self, source: Option<IpAddr>, code: &str, now: Instant) -> Result<(), Duration> {
        if let Some(ip) = source {
            self.per_source.check(&source_key(ip), now)?;
        }
        self.per_prefix.check(&prefix_key(code), now)
    }

    /// Counts a failed registration.
    pub fn fail(&self, source: Option<IpAddr>, code: &str, now: Instant) {
        if let Some(ip) = source {
            self.per_source.fail(&source_key(ip), now);
        }
        self.per_prefix.fail(&prefix_key(code), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_drain_and_buckets_refill() {
        let b = FailureBuckets::new(3, Duration::from_secs(10), 10);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(b.check("a", t0).is_ok(), "checks alone never drain");
        }
        for _ in 0..3 {
            b.fail("a", t0);
        }
        let wait = b.check("a", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(10) && wait > Duration::from_secs(9));
        assert!(b.check("b", t0).is_ok(), "other keys are not affected");
        assert!(b.check("a", t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let b = FailureBuckets::new(3, Duration::from_secs(10), 100);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            b.fail(&i.to_string(), t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(b.len() <= 100);
    }

    #[test]
    fn ipv6_sources_are_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
        let m: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(source_key(m), "10.0.0.1");
        assert_eq!(prefix_key("abc-def-ghjk"), "ABC");
    }
}
