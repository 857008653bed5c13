//! `relay`: open-loop OFFER relays between pairs, stepped up until p99 passes the limit.
//!
//! `pairs` callers `a<i>` and callees `b<i>` connect. Message `n` of a step goes through pair
//! `n % pairs`, from `a` to `b` and back on alternate rounds, at `start + n / rate` — sent
//! at that time whether or not the server has kept up. Each message carries the step and that
//! intended time; the receiver charges `now - intended`, so a stalled server (or a stalled
//! sender in this process) shows as latency instead of silently lowering the rate.
//! The sender wakes on tokio's 1 ms timer, so up to ~1 ms of each latency is the timer's.
//!
//! After the last send of a step the run waits up to `drain` for stragglers; messages still
//! missing are recorded at that drain time (a lower bound of their latency), so more than 1 %
//! loss always fails the p99 limit.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use super::{Common, CpuMark, LOADGEN_SATURATED, open_fleet};
use crate::conn::{Handler, Sender};
use crate::peerjs::{self, Incoming, PeerId, StampedPayload};
use crate::procfs::Proc;
use crate::schedule::{Clock, OpenLoop, rate_steps};
use crate::stats::{Latency, Summary, ratio, round3};

const READ_BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub pairs: usize,
    pub rate: u64,
    pub duration: Duration,
    pub step: Option<u64>,
    pub max_rate: u64,
    /// Bisection steps between the last passing and the first failing rate.
    pub refine: u32,
    pub p99_limit_ms: f64,
    /// The fixed rate at which server CPU per message is reported (`None`: skip that run).
    pub cpu_rate: Option<u64>,
    pub cpu_duration: Duration,
    pub warmup: Duration,
    pub msg_bytes: usize,
    pub drain: Duration,
    pub pause: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub rate: u64,
    pub secs: f64,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    /// Received rate over the step, from its first intended send to its last receipt.
    pub achieved_per_sec: f64,
    pub latency: Summary,
    pub passed: bool,
    pub server_cpu_us_per_msg: Option<f64>,
    /// Server CPU seconds per wall second (1.0 = one full core).
    pub server_cpu_cores: Option<f64>,
    pub loadgen_cpu_fraction: f64,
    pub loadgen_saturated: bool,
    pub max_send_lag_ms: f64,
    /// Cores' worth of CPU used meanwhile by other processes on this machine (should be ~0).
    pub other_load_cores: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct RelayResult {
    pub scenario: &'static str,
    pub pairs: usize,
    pub msg_bytes: usize,
    pub p99_limit_ms: f64,
    /// The run at `--cpu-rate`, for CPU per message at the same load on every server.
    pub fixed_rate: Option<StepResult>,
    pub server_cpu_us_per_msg: Option<f64>,
    pub steps: Vec<StepResult>,
    /// Highest stepped rate whose p99 stayed under the limit with nothing lost.
    pub max_rate_p99_ok: Option<u64>,
    /// What stopped the stepping: `server`, `loadgen` (this process used ≥ 90 % of its core
    /// on the failing step, so the server may go higher) or `max-rate` (every step passed).
    pub limited_by: &'static str,
    /// The highest passing rate divided by the server's CPU use there (in cores): roughly
    /// what one full core would relay. A projection, for when the load generator runs out
    /// first; `None` if the server used under 0.2 cores.
    pub projected_one_core_rate: Option<f64>,
    pub connections_lost: u64,
    /// The most other processes used during any measured run (should be ~0).
    pub max_other_load_cores: Option<f64>,
}

#[derive(Debug)]
struct Shared {
    clock: Clock,
    step: AtomicU32,
    received: AtomicU64,
    last_receipt_ns: AtomicU64,
    latency: Mutex<Latency>,
}

#[derive(Debug)]
struct Receiver {
    shared: Arc<Shared>,
}

impl Handler for Receiver {
    fn on_text(&mut self, text: &str, _replies: &mut Vec<Message>) {
        let Some(m) = Incoming::<StampedPayload>::parse(text) else { return };
        let Some(p) = m.payload else { return };
        let shared = &self.shared;
        if m.kind != "OFFER" || p.s != shared.step.load(Ordering::Acquire) {
            return; // a straggler from an earlier step: already counted as lost there
        }
        let now = shared.clock.now_ns();
        shared.latency.lock().unwrap_or_else(|e| e.into_inner()).record_ns(now.saturating_sub(p.t));
        shared.received.fetch_add(1, Ordering::AcqRel);
        shared.last_receipt_ns.fetch_max(now, Ordering::AcqRel);
    }
}

/// Both ends of one pair.
#[derive(Debug)]
struct Pair {
    a: (PeerId, Sender),
    b: (PeerId, Sender),
}

pub async fn run(common: Common, cfg: RelayConfig) -> anyhow::Result<RelayResult> {
    let shared = Arc::new(Shared {
        clock: Clock::start(),
        step: AtomicU32::new(0),
        received: AtomicU64::new(0),
        last_receipt_ns: AtomicU64::new(0),
        latency: Mutex::new(Latency::new()),
    });
    let handler = |_| Receiver { shared: Arc::clone(&shared) };
    let callers = open_fleet(&common, "a", 0..cfg.pairs, READ_BUFFER, handler).await;
    let callees = open_fleet(&common, "b", 0..cfg.pairs, READ_BUFFER, handler).await;
    if callers.failed() + callees.failed() > 0 {
        bail!(
            "{} of {} clients failed to connect; first error: {}",
            callers.failed() + callees.failed(),
            2 * cfg.pairs,
            callers.first_error.as_deref().or(callees.first_error.as_deref()).unwrap_or("?")
        );
    }
    let pairs: Vec<Pair> = callers
        .peers
        .iter()
        .zip(&callees.peers)
        .map(|((_, a, sa), (_, b, sb))| Pair { a: (a.clone(), sa.clone()), b: (b.clone(), sb.clone()) })
        .collect();

    let run_at = |step_id: u32, rate: u64, duration: Duration| {
        run_step(&shared, &pairs, common.server, &cfg, step_id, rate, duration)
    };
    let mut step_id = 1;
    let warm_rate = cfg.cpu_rate.unwrap_or(cfg.rate);
    if !cfg.warmup.is_zero() {
        run_at(step_id, warm_rate, cfg.warmup).await;
        step_id += 1;
        tokio::time::sleep(cfg.pause).await;
    }
    let mut fixed_rate = None;
    if let Some(rate) = cfg.cpu_rate {
        let fixed = run_at(step_id, rate, cfg.cpu_duration).await;
        progress("fixed rate", &fixed);
        fixed_rate = Some(fixed);
        step_id += 1;
        tokio::time::sleep(cfg.pause).await;
    }
    let mut steps = Vec::new();
    let mut last_pass = None;
    let mut first_fail = None;
    for rate in rate_steps(cfg.rate, cfg.step, cfg.max_rate) {
        let result = run_at(step_id, rate, cfg.duration).await;
        step_id += 1;
        let passed = result.passed;
        progress("step", &result);
        steps.push(result);
        tokio::time::sleep(cfg.pause).await;
        if !passed {
            first_fail = Some(rate);
            break;
        }
        last_pass = Some(rate);
    }
    // Narrow the gap between the last pass and the first failure by bisection.
    if let (Some(mut lo), Some(mut hi)) = (last_pass, first_fail) {
        for _ in 0..cfg.refine {
            let mid = bisect(lo, hi);
            if mid == lo {
                break;
            }
            let result = run_at(step_id, mid, cfg.duration).await;
            step_id += 1;
            progress("refine", &result);
            if result.passed {
                lo = mid
            } else {
                hi = mid
            }
            steps.push(result);
            tokio::time::sleep(cfg.pause).await;
        }
    }

    drop(pairs);
    let lost = callers.close().await + callees.close().await;
    let best = steps.iter().filter(|s| s.passed).max_by_key(|s| s.rate);
    let max_rate_p99_ok = best.map(|s| s.rate);
    let projected_one_core_rate = best
        .and_then(|s| Some((s.rate, s.server_cpu_cores?)))
        .filter(|(_, cores)| *cores >= 0.2)
        .map(|(rate, cores)| (rate as f64 / cores).round());
    let first_failure = steps.iter().filter(|s| !s.passed).min_by_key(|s| s.rate);
    let limited_by = match first_failure {
        None => "max-rate",
        Some(f) if f.loadgen_saturated => "loadgen",
        Some(_) => "server",
    };
    let max_other_load_cores = fixed_rate.iter().chain(&steps).filter_map(|s| s.other_load_cores).reduce(f64::max);
    Ok(RelayResult {
        scenario: "relay",
        pairs: cfg.pairs,
        msg_bytes: cfg.msg_bytes,
        p99_limit_ms: cfg.p99_limit_ms,
        server_cpu_us_per_msg: fixed_rate.as_ref().and_then(|f| f.server_cpu_us_per_msg),
        fixed_rate,
        steps,
        max_rate_p99_ok,
        limited_by,
        projected_one_core_rate,
        connections_lost: lost,
        max_other_load_cores,
    })
}

/// The rate halfway between a passing and a failing one, rounded down to a multiple of 500.
fn bisect(pass: u64, fail: u64) -> u64 {
    let mid = pass + (fail.saturating_sub(pass)) / 2;
    (mid / 500 * 500).max(pass)
}

/// One line per run on stderr, so a long stepped run shows where it is.
fn progress(what: &str, r: &StepResult) {
    eprintln!(
        "# relay {what} {} msg/s: {} received, {} lost, p99 {:.2} ms, server {} µs/msg ({} cores), \
         load generator {:.0}% (max lag {:.1} ms), other processes {} cores -> {}",
        r.rate,
        r.received,
        r.lost,
        r.latency.p99_ms,
        r.server_cpu_us_per_msg.map_or("?".to_owned(), |v| format!("{v:.1}")),
        r.server_cpu_cores.map_or("?".to_owned(), |v| format!("{v:.2}")),
        r.loadgen_cpu_fraction * 100.0,
        r.max_send_lag_ms,
        r.other_load_cores.map_or("?".to_owned(), |v| format!("{v:.2}")),
        if r.passed { "pass" } else { "FAIL" },
    );
}

async fn run_step(
    shared: &Shared,
    pairs: &[Pair],
    server: Option<Proc>,
    cfg: &RelayConfig,
    step_id: u32,
    rate: u64,
    duration: Duration,
) -> StepResult {
    let clock = shared.clock;
    *shared.latency.lock().unwrap_or_else(|e| e.into_inner()) = Latency::new();
    shared.received.store(0, Ordering::Release);
    shared.last_receipt_ns.store(0, Ordering::Release);
    shared.step.store(step_id, Ordering::Release);

    let cpu = CpuMark::now(server);
    let start_ns = clock.now_ns() + 10_000_000;
    let schedule = OpenLoop::new(start_ns, rate as f64);
    let total = OpenLoop::count_in(rate as f64, duration);
    let n_pairs = pairs.len().max(1) as u64;
    let mut max_lag_ns = 0;
    let mut n = 0u64;
    while n < total {
        let now = clock.now_ns();
        let due = schedule.due_by(now).min(total);
        if due > n {
            max_lag_ns = max_lag_ns.max(now.saturating_sub(schedule.intended_ns(n)));
        }
        while n < due {
            let pair = &pairs[(n % n_pairs) as usize];
            let ((_, from), (to, _)) = if (n / n_pairs).is_multiple_of(2) {
                ((&pair.a.0, &pair.a.1), (&pair.b.0, &pair.b.1))
            } else {
                ((&pair.b.0, &pair.b.1), (&pair.a.0, &pair.a.1))
            };
            from.send(peerjs::stamped_offer(to, step_id, schedule.intended_ns(n), cfg.msg_bytes));
            n += 1;
        }
        if n < total {
            tokio::time::sleep_until(clock.instant_at(schedule.intended_ns(n))).await;
        }
    }
    let sending = cpu.since(server);
    let deadline = tokio::time::Instant::now() + cfg.drain;
    while shared.received.load(Ordering::Acquire) < total && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let used = cpu.since(server);
    // Stop counting this step before reading its numbers; later arrivals are stragglers.
    shared.step.store(0, Ordering::Release);
    let received = shared.received.load(Ordering::Acquire);
    let lost = total.saturating_sub(received);
    let latency = {
        let mut lat = shared.latency.lock().unwrap_or_else(|e| e.into_inner());
        if lost > 0 {
            let waited = clock.now_ns().saturating_sub(schedule.intended_ns(total.saturating_sub(1)));
            lat.record_ns_n(waited, lost);
        }
        lat.summary()
    };
    let last = shared.last_receipt_ns.load(Ordering::Acquire);
    let span_s = last.saturating_sub(start_ns) as f64 / 1e9;
    let own = sending.own_core_fraction();
    StepResult {
        rate,
        secs: duration.as_secs_f64(),
        sent: total,
        received,
        lost,
        achieved_per_sec: round3(ratio(received as f64, span_s)),
        passed: lost == 0 && latency.p99_ms <= cfg.p99_limit_ms,
        latency,
        server_cpu_us_per_msg: used.server_us_per(received),
        server_cpu_cores: used.server_s.map(|s| round3(ratio(s, used.wall_s))),
        loadgen_cpu_fraction: round3(own),
        loadgen_saturated: own >= LOADGEN_SATURATED,
        max_send_lag_ms: round3(max_lag_ns as f64 / 1e6),
        other_load_cores: used.other_cores(),
    }
}

#[cfg(test)]
mod tests {
    use super::bisect;

    #[test]
    fn refinement_halves_the_gap_in_round_numbers() {
        assert_eq!(bisect(30_000, 40_000), 35_000);
        assert_eq!(bisect(30_000, 35_000), 32_500);
        assert_eq!(bisect(32_500, 35_000), 33_500);
        assert_eq!(bisect(30_000, 30_400), 30_000); // nothing left to try
    }
}
