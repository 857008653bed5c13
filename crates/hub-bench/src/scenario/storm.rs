//! `connect-storm`: open-loop connects at a fixed rate.
//!
//! Connection `i` is due at `start + i / rate`, whether or not earlier ones have finished.
//! Time-to-OPEN is measured from that intended time (TCP connect + WebSocket upgrade + the
//! server's `OPEN`), so a backlog at the server or in this process shows as latency. All
//! connections are held until the last one finished, so the server ends with `conns` clients.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::{Common, CpuMark, LOADGEN_SATURATED};
use crate::conn::{self, OpenFailure};
use crate::schedule::{Clock, OpenLoop};
use crate::stats::{Latency, Summary, ratio, round3};

const READ_BUFFER: usize = 4 * 1024;

#[derive(Debug, Serialize)]
pub struct StormResult {
    pub scenario: &'static str,
    pub conns: usize,
    pub rate: f64,
    pub opened: u64,
    pub failed: BTreeMap<OpenFailure, u64>,
    pub first_error: Option<String>,
    /// Successful handshakes over the time from the first intended connect to the last OPEN.
    pub handshakes_per_sec: f64,
    pub time_to_open: Summary,
    pub server_cpu_us_per_handshake: Option<f64>,
    pub loadgen_cpu_fraction: f64,
    pub loadgen_saturated: bool,
    /// Cores' worth of CPU used meanwhile by other processes on this machine (should be ~0).
    pub other_load_cores: Option<f64>,
    /// How late this process started connects, worst case (its own lag, not the server's).
    pub max_start_lag_ms: f64,
}

#[derive(Debug, Default)]
struct Tally {
    latency: Latency,
    failed: BTreeMap<OpenFailure, u64>,
    first_error: Option<String>,
    last_open_ns: u64,
}

pub async fn run(common: Common, conns: usize, rate: f64) -> anyhow::Result<StormResult> {
    let common = Arc::new(common);
    let clock = Clock::start();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let cpu = CpuMark::now(common.server);
    let start_ns = clock.now_ns() + 20_000_000;
    let schedule = OpenLoop::new(start_ns, rate);
    let mut tasks = Vec::with_capacity(conns);
    let mut max_lag_ns = 0u64;
    let mut i = 0usize;
    while i < conns {
        let due = (schedule.due_by(clock.now_ns()) as usize).min(conns);
        while i < due {
            let intended = schedule.intended_ns(i as u64);
            max_lag_ns = max_lag_ns.max(clock.now_ns().saturating_sub(intended));
            let (common, tally) = (Arc::clone(&common), Arc::clone(&tally));
            tasks.push(tokio::spawn(async move {
                let id = common.id("s", i);
                let r = conn::open(
                    &common.endpoint,
                    &id,
                    &Common::token(i),
                    common.sources.for_index(i),
                    conn::ws_config(READ_BUFFER),
                    common.open_timeout,
                )
                .await;
                let now = clock.now_ns();
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                match r {
                    Ok(ws) => {
                        t.latency.record_ns(now.saturating_sub(intended));
                        t.last_open_ns = t.last_open_ns.max(now);
                        Some(ws)
                    }
                    Err(e) => {
                        *t.failed.entry(e.kind).or_default() += 1;
                        t.first_error.get_or_insert_with(|| format!("{id}: {e}"));
                        None
                    }
                }
            }));
            i += 1;
        }
        if i < conns {
            tokio::time::sleep_until(clock.instant_at(schedule.intended_ns(i as u64))).await;
        }
    }
    // Hold every connection until the last one is done, then close them all.
    let mut held = Vec::with_capacity(conns);
    for t in tasks {
        if let Ok(Some(ws)) = t.await {
            held.push(ws);
        }
    }
    let used = cpu.since(common.server);
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let t = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    let opened = t.latency.count();
    let span_s = t.last_open_ns.saturating_sub(start_ns) as f64 / 1e9;
    Ok(StormResult {
        scenario: "connect-storm",
        conns,
        rate,
        opened,
        failed: t.failed,
        first_error: t.first_error,
        handshakes_per_sec: round3(ratio(opened as f64, span_s)),
        time_to_open: t.latency.summary(),
        server_cpu_us_per_handshake: used.server_us_per(opened),
        loadgen_cpu_fraction: round3(used.own_core_fraction()),
        loadgen_saturated: used.own_core_fraction() >= LOADGEN_SATURATED,
        other_load_cores: used.other_cores(),
        max_start_lag_ms: round3(max_lag_ns as f64 / 1e6),
    })
}
