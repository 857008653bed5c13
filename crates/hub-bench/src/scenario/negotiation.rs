//! `negotiation`: WebRTC-style offer/answer through the server, open-loop by pair.
//!
//! `2 × pairs` clients connect first (caller `a<i>`, callee `b<i>`). Pair `i` starts at its
//! intended time: the caller sends an `OFFER` (~3 KB SDP) and trickles 4 `CANDIDATE`s; the
//! callee, on the `OFFER`, sends an `ANSWER` (~3 KB) and its own 4 `CANDIDATE`s — 10 relayed
//! messages, 8 of them candidates. The pair is complete when each side has received all 5
//! messages from the other; its latency runs from the intended start to that moment.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use super::{Common, CpuMark, LOADGEN_SATURATED, open_fleet};
use crate::conn::Handler;
use crate::peerjs::{self, Incoming, NegotiationPayload};
use crate::schedule::{Clock, OpenLoop};
use crate::stats::{Latency, Summary, ratio, round3};

const READ_BUFFER: usize = 16 * 1024;
/// Candidates each side trickles (8 per negotiation in all).
const CANDIDATES_PER_SIDE: u32 = 4;
/// Messages each side must receive: the SDP plus the other side's candidates.
const EXPECTED_PER_SIDE: u32 = 1 + CANDIDATES_PER_SIDE;

#[derive(Debug, Clone, Copy)]
pub struct NegotiationConfig {
    pub pairs: usize,
    pub rate: f64,
    pub sdp_bytes: usize,
    pub drain: Duration,
}

#[derive(Debug, Serialize)]
pub struct NegotiationResult {
    pub scenario: &'static str,
    pub pairs: usize,
    pub rate: f64,
    pub connected_clients: usize,
    pub connect_failures: u64,
    pub first_error: Option<String>,
    pub completed: u64,
    pub incomplete: u64,
    pub messages_per_negotiation: u32,
    pub offer_bytes: usize,
    pub negotiations_per_sec: f64,
    pub latency: Summary,
    pub server_cpu_us_per_negotiation: Option<f64>,
    pub loadgen_cpu_fraction: f64,
    pub loadgen_saturated: bool,
    /// Cores' worth of CPU used meanwhile by other processes on this machine (should be ~0).
    pub other_load_cores: Option<f64>,
    pub connections_lost: u64,
}

#[derive(Debug)]
struct Shared {
    clock: Clock,
    /// Sides done, per pair; the second side to finish records the latency.
    sides_done: Vec<AtomicU8>,
    completed: AtomicU64,
    last_done_ns: AtomicU64,
    latency: Mutex<Latency>,
}

impl Shared {
    fn side_done(&self, pair: u32, t_ns: u64) {
        let Some(slot) = self.sides_done.get(pair as usize) else { return };
        if slot.fetch_add(1, Ordering::AcqRel) == 1 {
            let now = self.clock.now_ns();
            self.latency.lock().unwrap_or_else(|p| p.into_inner()).record_ns(now.saturating_sub(t_ns));
            self.completed.fetch_add(1, Ordering::AcqRel);
            self.last_done_ns.fetch_max(now, Ordering::AcqRel);
        }
    }
}

#[derive(Debug)]
struct Side {
    shared: Arc<Shared>,
    received: u32,
    /// The callee's prebuilt ANSWER SDP.
    answer_sdp: Option<Arc<str>>,
}

impl Handler for Side {
    fn on_text(&mut self, text: &str, replies: &mut Vec<Message>) {
        let Some(m) = Incoming::<NegotiationPayload>::parse(text) else { return };
        let (Some(p), Some(src)) = (m.payload, m.src) else { return };
        if let ("OFFER", Some(sdp)) = (m.kind.as_ref(), &self.answer_sdp) {
            replies.push(Message::text(peerjs::negotiation_sdp_message("ANSWER", &src, p.pair, p.t, sdp)));
            for n in 0..CANDIDATES_PER_SIDE {
                replies.push(Message::text(peerjs::negotiation_candidate(&src, p.pair, p.t, n)));
            }
        }
        if matches!(m.kind.as_ref(), "OFFER" | "ANSWER" | "CANDIDATE") {
            self.received += 1;
            if self.received == EXPECTED_PER_SIDE {
                self.shared.side_done(p.pair, p.t);
            }
        }
    }
}

pub async fn run(common: Common, cfg: NegotiationConfig) -> anyhow::Result<NegotiationResult> {
    let clock = Clock::start();
    let shared = Arc::new(Shared {
        clock,
        sides_done: (0..cfg.pairs).map(|_| AtomicU8::new(0)).collect(),
        completed: AtomicU64::new(0),
        last_done_ns: AtomicU64::new(0),
        latency: Mutex::new(Latency::new()),
    });
    let offer_sdp: Arc<str> = peerjs::fake_sdp("offer", cfg.sdp_bytes).into();
    let answer_sdp: Arc<str> = peerjs::fake_sdp("answer", cfg.sdp_bytes).into();
    let side = |answer: Option<Arc<str>>| {
        let shared = Arc::clone(&shared);
        move |_| Side { shared: Arc::clone(&shared), received: 0, answer_sdp: answer.clone() }
    };
    let callers = open_fleet(&common, "a", 0..cfg.pairs, READ_BUFFER, side(None)).await;
    let callees = open_fleet(&common, "b", 0..cfg.pairs, READ_BUFFER, side(Some(answer_sdp))).await;
    let connect_failures = callers.failed() + callees.failed();
    let first_error = callers.first_error.clone().or_else(|| callees.first_error.clone());

    // Only pairs whose two clients are both connected take part.
    let mut callee_of = vec![None; cfg.pairs];
    for (i, id, _) in &callees.peers {
        callee_of[*i] = Some(id.clone());
    }
    let pairs: Vec<_> = callers
        .peers
        .iter()
        .filter_map(|(i, _, sender)| Some((*i as u32, sender.clone(), callee_of[*i].clone()?)))
        .collect();

    let cpu = CpuMark::now(common.server);
    let start_ns = clock.now_ns() + 20_000_000;
    let schedule = OpenLoop::new(start_ns, cfg.rate);
    let total = pairs.len();
    let mut k = 0usize;
    while k < total {
        let due = (schedule.due_by(clock.now_ns()) as usize).min(total);
        while k < due {
            let (pair, caller, callee) = &pairs[k];
            let t = schedule.intended_ns(k as u64);
            caller.send(peerjs::negotiation_sdp_message("OFFER", callee.as_str(), *pair, t, &offer_sdp));
            for n in 0..CANDIDATES_PER_SIDE {
                caller.send(peerjs::negotiation_candidate(callee.as_str(), *pair, t, n));
            }
            k += 1;
        }
        if k < total {
            tokio::time::sleep_until(clock.instant_at(schedule.intended_ns(k as u64))).await;
        }
    }
    let deadline = tokio::time::Instant::now() + cfg.drain;
    while (shared.completed.load(Ordering::Acquire) as usize) < total && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let used = cpu.since(common.server);
    // Pairs that never completed count at least as long as they have waited so far, so a
    // server that drops work cannot look fast.
    let now = clock.now_ns();
    {
        let mut latency = shared.latency.lock().unwrap_or_else(|p| p.into_inner());
        for (k, (pair, _, _)) in pairs.iter().enumerate() {
            if shared.sides_done[*pair as usize].load(Ordering::Acquire) < 2 {
                latency.record_ns(now.saturating_sub(schedule.intended_ns(k as u64)));
            }
        }
    }
    drop(pairs);
    let lost = callers.close().await + callees.close().await;

    let completed = shared.completed.load(Ordering::Acquire);
    let span_s = shared.last_done_ns.load(Ordering::Acquire).saturating_sub(start_ns) as f64 / 1e9;
    let latency = shared.latency.lock().unwrap_or_else(|p| p.into_inner()).summary();
    Ok(NegotiationResult {
        scenario: "negotiation",
        pairs: cfg.pairs,
        rate: cfg.rate,
        connected_clients: 2 * cfg.pairs - connect_failures as usize,
        connect_failures,
        first_error,
        completed,
        incomplete: total as u64 - completed,
        messages_per_negotiation: 2 * EXPECTED_PER_SIDE,
        offer_bytes: peerjs::negotiation_sdp_message("OFFER", "b0", 0, 0, &offer_sdp).len(),
        negotiations_per_sec: round3(ratio(completed as f64, span_s)),
        latency,
        server_cpu_us_per_negotiation: used.server_us_per(completed),
        loadgen_cpu_fraction: round3(used.own_core_fraction()),
        loadgen_saturated: used.own_core_fraction() >= LOADGEN_SATURATED,
        other_load_cores: used.other_cores(),
        connections_lost: lost,
    })
}
