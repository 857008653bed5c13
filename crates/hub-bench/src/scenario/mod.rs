//! The scenarios. Each one builds its load from [`Common`], runs open-loop against one server,
//! and returns a serializable result that `main` prints as one JSON line plus a human line.

pub mod idle;
pub mod negotiation;
pub mod probe;
pub mod relay;
pub mod storm;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::conn::{self, DriverEnd, Handler, OpenFailure, Sender, SourceAddrs};
use crate::peerjs::{Endpoint, PeerId};
use crate::procfs::Proc;

/// Settings every scenario shares (see `cli::CommonArgs` for defaults).
#[derive(Debug, Clone)]
pub struct Common {
    pub endpoint: Endpoint,
    pub server: Option<Proc>,
    pub sources: SourceAddrs,
    pub id_prefix: String,
    pub heartbeat: Option<Duration>,
    pub open_timeout: Duration,
    /// Most handshakes in flight while setting connections up (not in `connect-storm`).
    pub parallel: usize,
}

impl Common {
    pub fn id(&self, role: &str, index: usize) -> PeerId {
        PeerId::new(&format!("{}{role}", self.id_prefix), index)
    }

    pub fn token(index: usize) -> String {
        format!("tok{index}")
    }
}

/// Connections a scenario holds open, with their ids, in index order.
#[derive(Debug, Default)]
pub struct Fleet {
    pub peers: Vec<(usize, PeerId, Sender)>,
    pub drivers: Vec<JoinHandle<DriverEnd>>,
    pub failures: BTreeMap<OpenFailure, u64>,
    pub first_error: Option<String>,
}

impl Fleet {
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Closes every connection and reports how many had died before they were let go.
    pub async fn close(self) -> u64 {
        let Fleet { peers, drivers, .. } = self;
        drop(peers);
        let mut died = 0;
        for d in drivers {
            if matches!(d.await, Ok(DriverEnd { error: Some(_) }) | Err(_)) {
                died += 1;
            }
        }
        died
    }
}

/// Opens connections `indices` (`role` names them, e.g. `a`/`b`), at most
/// `common.parallel` handshakes at a time, and drives each with `make_handler(index)`.
pub async fn open_fleet<H, F>(
    common: &Common,
    role: &str,
    indices: std::ops::Range<usize>,
    read_buffer: usize,
    mut make_handler: F,
) -> Fleet
where
    H: Handler,
    F: FnMut(usize) -> H,
{
    let count = indices.len().max(1);
    let opened = futures_util::stream::iter(indices.map(|i| {
        let id = common.id(role, i);
        let source = common.sources.for_index(i);
        async move {
            let r = conn::open(
                &common.endpoint,
                &id,
                &Common::token(i),
                source,
                conn::ws_config(read_buffer),
                common.open_timeout,
            )
            .await;
            (i, id, r)
        }
    }))
    .buffer_unordered(common.parallel.max(1))
    .collect::<Vec<_>>()
    .await;

    let mut fleet = Fleet::default();
    let period = common.heartbeat.unwrap_or(Duration::ZERO);
    for (i, id, result) in opened {
        match result {
            Ok(ws) => {
                // Spread first heartbeats evenly over one period.
                let phase = period.mul_f64((i % count) as f64 / count as f64);
                let (sender, task) = conn::spawn_driver(ws, make_handler(i), common.heartbeat, phase);
                fleet.peers.push((i, id, sender));
                fleet.drivers.push(task);
            }
            Err(e) => {
                *fleet.failures.entry(e.kind).or_default() += 1;
                fleet.first_error.get_or_insert_with(|| format!("{id}: {e}"));
            }
        }
    }
    fleet.peers.sort_by_key(|(i, _, _)| *i);
    fleet
}

/// CPU time of the server, of this process and of the whole machine between two moments.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    server: Option<Duration>,
    own: Option<Duration>,
    machine: Option<Duration>,
    at: tokio::time::Instant,
}

impl CpuMark {
    pub fn now(server: Option<Proc>) -> Self {
        Self {
            server: server.and_then(|p| p.cpu_time().ok()),
            own: Proc::OwnProcess.cpu_time().ok(),
            machine: crate::procfs::machine_busy_time().ok(),
            at: tokio::time::Instant::now(),
        }
    }

    /// (server CPU seconds, own CPU seconds, wall seconds) since `self`.
    pub fn since(&self, server: Option<Proc>) -> CpuUse {
        let later = Self::now(server);
        let sub = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
            _ => None,
        };
        CpuUse {
            server_s: sub(self.server, later.server),
            own_s: sub(self.own, later.own).unwrap_or(0.0),
            machine_s: sub(self.machine, later.machine),
            wall_s: later.at.duration_since(self.at).as_secs_f64(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub server_s: Option<f64>,
    pub own_s: f64,
    pub machine_s: Option<f64>,
    pub wall_s: f64,
}

impl CpuUse {
    /// Cores' worth of CPU used by everything except the server and this process (other
    /// builds, other benchmarks). Above ~0.1 the figures are disturbed: rerun on a quiet machine.
    /// Idle worker processes of `idle` count as "other".
    pub fn other_cores(&self) -> Option<f64> {
        let other = self.machine_s? - self.server_s.unwrap_or(0.0) - self.own_s;
        Some(crate::stats::round3(crate::stats::ratio(other.max(0.0), self.wall_s)))
    }

    /// Fraction of one core this load generator used.
    pub fn own_core_fraction(&self) -> f64 {
        crate::stats::ratio(self.own_s, self.wall_s)
    }

    /// Server CPU microseconds per unit of work (`None` without `--server-pid`).
    pub fn server_us_per(&self, units: u64) -> Option<f64> {
        let s = self.server_s?;
        (units > 0).then(|| crate::stats::round3(s * 1e6 / units as f64))
    }
}

/// Above this share of one core the load generator, not the server, may be what limits.
pub const LOADGEN_SATURATED: f64 = 0.90;
