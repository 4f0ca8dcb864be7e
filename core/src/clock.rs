//! Trusted time: "really now", even when the user has changed the phone's clock.
//!
//! The phone's wall clock is a claim anyone can change in Settings. The monotonic clock
//! (Android `SystemClock.elapsedRealtime()`, iOS `mach_continuous_time`) cannot be set by the user but
//! restarts at boot. Every server response carries the server's time; the device stores an *anchor*
//! (server time, monotonic reading, boot id) and later estimates the true time as
//! `anchor.server_time + (monotonic_now - anchor.monotonic)`, valid only within the same boot.
//!
//! The estimate carries an uncertainty (half the round trip of the anchoring request plus clock drift
//! since), and when there is no usable anchor it says so: no fake precision. A record whose wall clock
//! disagrees with the estimate beyond the tolerance gets the `clock_skew` flag.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::{Error, Result};

/// How far the monotonic clock may drift from true time, in parts per million (generous for phone
/// oscillators, which are typically within ±50 ppm).
pub const DRIFT_PPM: i64 = 200;

/// Default tolerance between the wall clock and the trusted estimate before `clock_skew` is flagged.
pub const DEFAULT_SKEW_TOLERANCE_MS: i64 = 2 * 60 * 1000;

/// Anchors older than this (monotonic time) are too old to trust: sync first.
pub const MAX_ANCHOR_AGE_MS: i64 = 7 * 24 * 3600 * 1000;

/// Anchors kept in the store (older ones are pruned).
const KEEP_ANCHORS: i64 = 32;

/// A reading of the platform's monotonic clock, taken by the shell at the moment of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonotonicReading {
    /// Milliseconds since boot, including deep sleep.
    pub monotonic_ms: i64,
    /// Identifies the boot session (Android: boot count or `/proc/sys/kernel/random/boot_id`; iOS: boot time).
    pub boot_id: String,
}

/// One (server time, monotonic clock) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// The server's time at the midpoint of the request.
    pub server_time_ms: i64,
    /// The device's monotonic clock at that midpoint.
    pub monotonic_ms: i64,
    /// Boot session of the monotonic reading.
    pub boot_id: String,
    /// Half the round trip: how far the midpoint assumption can be off.
    pub uncertainty_ms: i64,
}

/// Why there is no trusted estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unanchored {
    /// The device has never synced with the server.
    NoAnchor,
    /// The phone restarted since the last anchor (the monotonic clock restarted).
    Rebooted,
    /// The monotonic reading is before the anchor's: impossible within one boot, so not trusted.
    ClockWentBack,
    /// The last anchor is older than [`MAX_ANCHOR_AGE_MS`].
    AnchorTooOld,
}

/// The trusted-time estimate for a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrustedTime {
    /// An estimate from an anchor.
    Anchored {
        /// Estimated true time (ms since the Unix epoch).
        estimate_ms: i64,
        /// The true time is within ± this.
        uncertainty_ms: i64,
        /// Monotonic time elapsed since the anchor.
        anchor_age_ms: i64,
    },
    /// No estimate, and why.
    Unanchored {
        /// The reason.
        reason: Unanchored,
    },
}

impl TrustedTime {
    /// The estimate, if any.
    pub fn estimate_ms(&self) -> Option<i64> {
        match self {
            TrustedTime::Anchored { estimate_ms, .. } => Some(*estimate_ms),
            TrustedTime::Unanchored { .. } => None,
        }
    }
}

/// The time evidence a record carries: both clocks, and whether they disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeEvidence {
    /// The device's wall clock (what the phone claims).
    pub device_wall_ms: i64,
    /// The monotonic reading and boot id at the event.
    pub monotonic: MonotonicReading,
    /// The trusted estimate.
    pub trusted: TrustedTime,
    /// `device_wall_ms - estimate` when anchored.
    pub skew_ms: Option<i64>,
    /// The wall clock is off by more than the tolerance plus the estimate's uncertainty.
    pub clock_skew: bool,
}

/// Estimates the true time at `now` from `anchor`.
pub fn estimate(anchor: Option<&Anchor>, now: &MonotonicReading) -> TrustedTime {
    let Some(a) = anchor else {
        return TrustedTime::Unanchored {
            reason: Unanchored::NoAnchor,
        };
    };
    if a.boot_id != now.boot_id {
        return TrustedTime::Unanchored {
            reason: Unanchored::Rebooted,
        };
    }
    let age = now.monotonic_ms - a.monotonic_ms;
    if age < 0 {
        return TrustedTime::Unanchored {
            reason: Unanchored::ClockWentBack,
        };
    }
    if age > MAX_ANCHOR_AGE_MS {
        return TrustedTime::Unanchored {
            reason: Unanchored::AnchorTooOld,
        };
    }
    TrustedTime::Anchored {
        estimate_ms: a.server_time_ms.saturating_add(age),
        uncertainty_ms: a.uncertainty_ms + age.saturating_mul(DRIFT_PPM) / 1_000_000,
        anchor_age_ms: age,
    }
}

/// Builds the time evidence for an event at `now` whose wall clock reads `device_wall_ms`.
pub fn evidence(
    anchor: Option<&Anchor>,
    now: &MonotonicReading,
    device_wall_ms: i64,
    tolerance_ms: i64,
) -> TimeEvidence {
    let trusted = estimate(anchor, now);
    let (skew_ms, clock_skew) = match trusted {
        TrustedTime::Anchored {
            estimate_ms,
            uncertainty_ms,
            ..
        } => {
            let skew = device_wall_ms.saturating_sub(estimate_ms);
            (
                Some(skew),
                skew.saturating_abs() > tolerance_ms.saturating_add(uncertainty_ms),
            )
        }
        TrustedTime::Unanchored { .. } => (None, false),
    };
    TimeEvidence {
        device_wall_ms,
        monotonic: now.clone(),
        trusted,
        skew_ms,
        clock_skew,
    }
}

/// Anchors in the device store.
#[derive(Debug, Clone, Copy)]
pub struct ClockStore<'a>(pub &'a Store);

impl ClockStore<'_> {
    /// Records an anchor from a server response: `server_time_ms` read from the response, the
    /// monotonic clock read just before sending and just after receiving.
    pub fn record(
        &self,
        server_time_ms: i64,
        sent: &MonotonicReading,
        received: &MonotonicReading,
    ) -> Result<Anchor> {
        if sent.boot_id != received.boot_id || received.monotonic_ms < sent.monotonic_ms {
            return Err(Error::invalid(
                "monotonic",
                "readings around a request must be ordered and from one boot",
            ));
        }
        if server_time_ms <= 0 {
            return Err(Error::invalid(
                "server_time_ms",
                "must be a positive epoch time",
            ));
        }
        let rtt = received.monotonic_ms - sent.monotonic_ms;
        let anchor = Anchor {
            server_time_ms,
            monotonic_ms: sent.monotonic_ms + rtt / 2,
            boot_id: received.boot_id.clone(),
            uncertainty_ms: rtt / 2 + 1,
        };
        self.0.with_tx(|tx| {
            tx.execute(
                "INSERT INTO clock_anchors (server_time_ms, monotonic_ms, boot_id, uncertainty_ms, wall_time_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![anchor.server_time_ms, anchor.monotonic_ms, anchor.boot_id, anchor.uncertainty_ms, crate::time::wall_now_ms()],
            )?;
            tx.execute("DELETE FROM clock_anchors WHERE id <= (SELECT MAX(id) FROM clock_anchors) - ?1", [KEEP_ANCHORS])?;
            Ok(())
        })?;
        Ok(anchor)
    }

    /// The best anchor for `now`: among this boot's anchors, the one giving the smallest uncertainty.
    pub fn best_for(&self, now: &MonotonicReading) -> Result<Option<Anchor>> {
        self.0.with_conn(|c| {
            let mut st = c.prepare_cached(
                "SELECT server_time_ms, monotonic_ms, boot_id, uncertainty_ms FROM clock_anchors
                 WHERE boot_id = ?1 AND monotonic_ms <= ?2
                 ORDER BY uncertainty_ms + (?2 - monotonic_ms) * ?3 / 1000000 ASC, id DESC LIMIT 1",
            )?;
            let best = st
                .query_row(params![now.boot_id, now.monotonic_ms, DRIFT_PPM], |r| {
                    Ok(Anchor { server_time_ms: r.get(0)?, monotonic_ms: r.get(1)?, boot_id: r.get(2)?, uncertainty_ms: r.get(3)? })
                })
                .optional()?;
            if best.is_some() {
                return Ok(best);
            }
            // No usable anchor for this boot: return the latest one so `estimate` can say why.
            Ok(c.query_row(
                "SELECT server_time_ms, monotonic_ms, boot_id, uncertainty_ms FROM clock_anchors ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok(Anchor { server_time_ms: r.get(0)?, monotonic_ms: r.get(1)?, boot_id: r.get(2)?, uncertainty_ms: r.get(3)? }),
            )
            .optional()?)
        })
    }

    /// Time evidence for an event now.
    pub fn evidence(
        &self,
        now: &MonotonicReading,
        device_wall_ms: i64,
        tolerance_ms: i64,
    ) -> Result<TimeEvidence> {
        Ok(evidence(
            self.best_for(now)?.as_ref(),
            now,
            device_wall_ms,
            tolerance_ms,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mono(ms: i64, boot: &str) -> MonotonicReading {
        MonotonicReading {
            monotonic_ms: ms,
            boot_id: boot.into(),
        }
    }

    #[test]
    fn no_anchor_says_so() {
        let e = evidence(None, &mono(5, "b"), 1_000, DEFAULT_SKEW_TOLERANCE_MS);
        assert_eq!(
            e.trusted,
            TrustedTime::Unanchored {
                reason: Unanchored::NoAnchor
            }
        );
        assert!(!e.clock_skew);
        assert_eq!(e.skew_ms, None);
    }

    #[test]
    fn estimate_follows_the_monotonic_clock_and_flags_a_changed_wall_clock() {
        let s = Store::open_in_memory().unwrap();
        let cs = ClockStore(&s);
        let server = 1_800_000_000_000;
        cs.record(server, &mono(10_000, "b1"), &mono(10_200, "b1"))
            .unwrap();
        let now = mono(10_100 + 3_600_000, "b1");
        let honest = cs
            .evidence(&now, server + 3_600_000 + 500, DEFAULT_SKEW_TOLERANCE_MS)
            .unwrap();
        let TrustedTime::Anchored {
            estimate_ms,
            uncertainty_ms,
            ..
        } = honest.trusted
        else {
            panic!()
        };
        assert_eq!(estimate_ms, server + 3_600_000);
        assert!((100..1_000).contains(&uncertainty_ms), "{uncertainty_ms}");
        assert!(!honest.clock_skew);
        // The user set the phone back by one hour.
        let cheat = cs
            .evidence(&now, server, DEFAULT_SKEW_TOLERANCE_MS)
            .unwrap();
        assert!(cheat.clock_skew);
        assert_eq!(cheat.skew_ms, Some(-3_600_000));
    }

    #[test]
    fn reboot_and_backwards_clock_are_unanchored() {
        let s = Store::open_in_memory().unwrap();
        let cs = ClockStore(&s);
        cs.record(1_800_000_000_000, &mono(1_000, "b1"), &mono(1_050, "b1"))
            .unwrap();
        let e = cs.evidence(&mono(500, "b2"), 0, 1).unwrap();
        assert_eq!(
            e.trusted,
            TrustedTime::Unanchored {
                reason: Unanchored::Rebooted
            }
        );
        let a = cs.best_for(&mono(1_025, "b1")).unwrap().unwrap();
        assert_eq!(
            estimate(Some(&a), &mono(10, "b1")),
            TrustedTime::Unanchored {
                reason: Unanchored::ClockWentBack
            }
        );
        assert_eq!(
            estimate(
                Some(&a),
                &mono(a.monotonic_ms + MAX_ANCHOR_AGE_MS + 1, "b1")
            ),
            TrustedTime::Unanchored {
                reason: Unanchored::AnchorTooOld
            }
        );
    }

    #[test]
    fn tighter_anchor_wins_and_bad_readings_are_refused() {
        let s = Store::open_in_memory().unwrap();
        let cs = ClockStore(&s);
        cs.record(1_800_000_000_000, &mono(0, "b"), &mono(4_000, "b"))
            .unwrap();
        cs.record(1_800_000_010_000, &mono(9_990, "b"), &mono(10_010, "b"))
            .unwrap();
        assert_eq!(
            cs.best_for(&mono(20_000, "b"))
                .unwrap()
                .unwrap()
                .uncertainty_ms,
            11
        );
        assert!(cs.record(1, &mono(10, "b"), &mono(5, "b")).is_err());
        assert!(cs.record(1, &mono(10, "a"), &mono(15, "b")).is_err());
        assert!(cs.record(0, &mono(10, "b"), &mono(15, "b")).is_err());
    }
}
