//! Open-loop schedules: when each event is *meant* to happen, independent of how fast the
//! server answers. Latency is always measured from these intended times, so a server that
//! stalls the sender is charged for the wait (no coordinated omission).
//!
//! Times are nanoseconds since the run's [`Clock`] origin, so one process can compare a send
//! time and a receive time without a shared wall clock.
//!
//! ```text
//! let s = OpenLoop::new(start_ns, 1000.0); // 1000 events/s
//! s.intended_ns(3) == start_ns + 3_000_000
//! s.due_by(start_ns + 2_500_000) == 3      // events 0, 1, 2 are due
//! ```

use std::time::Duration;

/// The run's time origin; everything else is an offset from it in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: tokio::time::Instant,
}

impl Clock {
    pub fn start() -> Self {
        Self { origin: tokio::time::Instant::now() }
    }

    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn instant_at(&self, ns: u64) -> tokio::time::Instant {
        self.origin + Duration::from_nanos(ns)
    }
}

/// Events at a constant rate starting at `start_ns`: event `i` is due at `start + i / rate`.
#[derive(Debug, Clone, Copy)]
pub struct OpenLoop {
    start_ns: u64,
    period_ns: f64,
}

impl OpenLoop {
    /// `rate_per_sec` must be positive.
    pub fn new(start_ns: u64, rate_per_sec: f64) -> Self {
        Self { start_ns, period_ns: 1e9 / rate_per_sec.max(1e-9) }
    }

    pub fn intended_ns(&self, i: u64) -> u64 {
        self.start_ns + (i as f64 * self.period_ns).round() as u64
    }

    /// How many events (counting from 0) are due at `now_ns`: the number of `i` with
    /// `intended_ns(i) <= now_ns`, exactly, despite float rounding.
    pub fn due_by(&self, now_ns: u64) -> u64 {
        if now_ns < self.start_ns {
            return 0;
        }
        let elapsed = (now_ns - self.start_ns) as f64;
        let mut count = (elapsed / self.period_ns).floor() as u64 + 1;
        while self.intended_ns(count) <= now_ns {
            count += 1;
        }
        while count > 0 && self.intended_ns(count - 1) > now_ns {
            count -= 1;
        }
        count
    }

    /// Number of events in `duration` at this rate.
    pub fn count_in(rate_per_sec: f64, duration: Duration) -> u64 {
        (rate_per_sec * duration.as_secs_f64()).round() as u64
    }
}

/// The rates a stepped run tries: `start, start + step, …` up to and including `max`.
pub fn rate_steps(start: u64, step: Option<u64>, max: u64) -> Vec<u64> {
    match step {
        None | Some(0) => vec![start],
        Some(step) => {
            let mut rates = Vec::new();
            let mut rate = start;
            while rate <= max.max(start) {
                rates.push(rate);
                rate += step;
            }
            rates
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_due_at_their_intended_times_and_not_before() {
        let s = OpenLoop::new(1_000, 1000.0);
        assert_eq!(s.intended_ns(0), 1_000);
        assert_eq!(s.intended_ns(3), 3_001_000);
        assert_eq!(s.due_by(999), 0);
        assert_eq!(s.due_by(1_000), 1);
        assert_eq!(s.due_by(2_500_999), 3);
        for i in 0..10_000 {
            assert_eq!(s.due_by(s.intended_ns(i)), i + 1, "event {i}");
            assert_eq!(s.due_by(s.intended_ns(i) - 1), i, "just before event {i}");
        }
    }

    #[test]
    fn odd_rates_keep_the_average_rate_exact() {
        let s = OpenLoop::new(0, 30_000.0);
        let n = OpenLoop::count_in(30_000.0, Duration::from_secs(10));
        assert_eq!(n, 300_000);
        // The last of 300k events at 30k/s is due just under 10 s after the start.
        assert_eq!(s.intended_ns(n - 1), 9_999_966_667);
        assert_eq!(s.due_by(10_000_000_000), n + 1);
    }

    #[test]
    fn steps_go_up_to_the_maximum_inclusive() {
        assert_eq!(rate_steps(5_000, Some(5_000), 20_000), vec![5_000, 10_000, 15_000, 20_000]);
        assert_eq!(rate_steps(5_000, Some(4_000), 15_000), vec![5_000, 9_000, 13_000]);
        assert_eq!(rate_steps(7_000, None, 100_000), vec![7_000]);
        assert_eq!(rate_steps(7_000, Some(1_000), 1_000), vec![7_000]);
    }
}
