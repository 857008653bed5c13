//! Latency recording and the summary every scenario reports.
//!
//! Values are recorded in microseconds in an HDR histogram (3 significant digits, up to
//! 10 minutes), so percentiles are exact to 0.1 % however many samples there are.

use hdrhistogram::Histogram;
use serde::Serialize;

const MAX_MICROS: u64 = 600 * 1_000_000;

#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts; failing here is a bug in this file.
        #[allow(clippy::expect_used)]
        let hist = Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds");
        Self { hist }
    }

    /// Records one sample given in nanoseconds (saturating at 10 minutes).
    pub fn record_ns(&mut self, ns: u64) {
        self.record_ns_n(ns, 1);
    }

    /// Records `count` samples of the same value.
    pub fn record_ns_n(&mut self, ns: u64, count: u64) {
        let micros = (ns / 1_000).clamp(1, MAX_MICROS);
        // Cannot fail: the value is clamped into the histogram's range.
        let _ = self.hist.record_n(micros, count);
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    pub fn summary(&self) -> Summary {
        let ms = |micros: u64| micros as f64 / 1_000.0;
        if self.hist.is_empty() {
            return Summary::default();
        }
        Summary {
            count: self.hist.len(),
            mean_ms: round3(self.hist.mean() / 1_000.0),
            p50_ms: round3(ms(self.hist.value_at_quantile(0.50))),
            p90_ms: round3(ms(self.hist.value_at_quantile(0.90))),
            p99_ms: round3(ms(self.hist.value_at_quantile(0.99))),
            p999_ms: round3(ms(self.hist.value_at_quantile(0.999))),
            max_ms: round3(ms(self.hist.max())),
        }
    }
}

/// Percentiles in milliseconds, as printed in every result line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms (n={})",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

/// Fraction of `part` over `whole`, 0 when `whole` is 0.
pub fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut lat = Latency::new();
        // 1..=1000 ms, one sample each.
        for ms in 1..=1000u64 {
            lat.record_ns(ms * 1_000_000);
        }
        let s = lat.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() <= 0.5, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.max_ms - 1000.0).abs() <= 1.0, "{s:?}");
        assert!((s.mean_ms - 500.5).abs() <= 0.5, "{s:?}");
    }

    #[test]
    fn repeated_samples_count_like_single_ones() {
        let mut once = Latency::new();
        let mut many = Latency::new();
        for i in 0..5_000u64 {
            let ns = (i % 100) * 1_000_000; // 0..99 ms, 50 times each
            many.record_ns(ns);
        }
        for ms in 0..100u64 {
            once.record_ns_n(ms * 1_000_000, 50);
        }
        assert_eq!(once.summary(), many.summary());
        assert_eq!(once.count(), 5_000);
    }

    #[test]
    fn one_percent_of_lost_messages_moves_p99_past_the_limit() {
        // Lost messages are recorded at the drain deadline; 2 % of them must show in p99.
        let mut lat = Latency::new();
        lat.record_ns_n(2_000_000, 980); // 2 ms
        lat.record_ns_n(3_000_000_000, 20); // lost, charged the 3 s drain
        assert!(lat.summary().p99_ms >= 2_999.0);
        assert!(lat.summary().p50_ms <= 2.01);
    }

    #[test]
    fn empty_and_out_of_range_values_are_safe() {
        let mut lat = Latency::new();
        assert_eq!(lat.summary(), Summary::default());
        lat.record_ns(0);
        lat.record_ns(u64::MAX);
        assert_eq!(lat.count(), 2);
        assert_eq!(ratio(1.0, 0.0), 0.0);
    }
}
