//! Hybrid logical clocks for last-writer-wins metadata.
//!
//! A timestamp is (wall milliseconds, counter). It never goes backwards on a node, it moves past
//! every timestamp the node has seen, and it stays close to real time. Conflicting writes are
//! ordered by `(Hlc, signer)`, so every node picks the same winner. Time is a parameter: the
//! clock never reads the system time itself.
//!
//! ```
//! use p2pos_core::hlc::HlcClock;
//! let mut clock = HlcClock::default();
//! let a = clock.tick(1_000);
//! let b = clock.tick(1_000); // same millisecond: the counter moves
//! assert!(b > a);
//! ```

use serde::{Deserialize, Serialize};

/// How far ahead of our own clock a peer's timestamp may be before we refuse it (one minute).
pub const DEFAULT_MAX_DRIFT_MS: u64 = 60_000;

/// A hybrid logical timestamp. Ordered by wall time, then counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HlcError {
    #[error("a peer's clock is {ahead_ms} ms ahead of ours (more than the {max_ms} ms we accept)")]
    TooFarAhead { ahead_ms: u64, max_ms: u64 },
}

/// One node's clock state.
#[derive(Debug, Clone)]
pub struct HlcClock {
    last: Hlc,
    max_drift_ms: u64,
}

impl Default for HlcClock {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_DRIFT_MS)
    }
}

impl HlcClock {
    pub fn new(max_drift_ms: u64) -> Self {
        Self { last: Hlc::default(), max_drift_ms }
    }

    /// Resumes from the newest timestamp a node persisted, so a restart never goes backwards.
    pub fn resume(last: Hlc, max_drift_ms: u64) -> Self {
        Self { last, max_drift_ms }
    }

    pub fn last(&self) -> Hlc {
        self.last
    }

    /// A timestamp for a local event at physical time `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        self.last = if now_ms > self.last.wall_ms { Hlc { wall_ms: now_ms, counter: 0 } } else { bump(self.last) };
        self.last
    }

    /// Merges a timestamp received from a peer; the result is after both it and our last one.
    pub fn observe(&mut self, remote: Hlc, now_ms: u64) -> Result<Hlc, HlcError> {
        let ahead_ms = remote.wall_ms.saturating_sub(now_ms);
        if ahead_ms > self.max_drift_ms {
            return Err(HlcError::TooFarAhead { ahead_ms, max_ms: self.max_drift_ms });
        }
        let newest = self.last.max(remote);
        self.last = if now_ms > newest.wall_ms { Hlc { wall_ms: now_ms, counter: 0 } } else { bump(newest) };
        Ok(self.last)
    }
}

fn bump(t: Hlc) -> Hlc {
    match t.counter.checked_add(1) {
        Some(counter) => Hlc { wall_ms: t.wall_ms, counter },
        // Counter exhausted within one millisecond: borrow the next millisecond.
        None => Hlc { wall_ms: t.wall_ms + 1, counter: 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_backwards_when_the_wall_clock_does() {
        let mut clock = HlcClock::default();
        let a = clock.tick(5_000);
        let b = clock.tick(4_000);
        assert!(b > a);
        assert_eq!(b.wall_ms, 5_000);
    }

    #[test]
    fn observing_moves_past_the_remote_and_tracks_real_time() {
        let mut clock = HlcClock::default();
        clock.tick(1_000);
        let seen = clock.observe(Hlc { wall_ms: 2_000, counter: 7 }, 1_500).unwrap();
        assert_eq!(seen, Hlc { wall_ms: 2_000, counter: 8 });
        assert_eq!(clock.tick(3_000), Hlc { wall_ms: 3_000, counter: 0 });
    }

    #[test]
    fn a_peer_far_in_the_future_is_refused_and_changes_nothing() {
        let mut clock = HlcClock::new(1_000);
        let before = clock.tick(1_000);
        let err = clock.observe(Hlc { wall_ms: 10_000, counter: 0 }, 1_000).unwrap_err();
        assert_eq!(err, HlcError::TooFarAhead { ahead_ms: 9_000, max_ms: 1_000 });
        assert_eq!(clock.last(), before);
    }

    #[test]
    fn counter_overflow_borrows_a_millisecond() {
        let mut clock = HlcClock::resume(Hlc { wall_ms: 10, counter: u32::MAX }, 1_000);
        assert_eq!(clock.tick(10), Hlc { wall_ms: 11, counter: 0 });
    }
}
