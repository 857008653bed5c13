//! `idle`: memory per idle connection on the server.
//!
//! Samples the server's RSS, opens half the connections, samples, opens the rest, samples,
//! holding all of them with PeerJS heartbeats. Reports the average cost
//! `(after - before) / n` and the marginal cost of the second half (which leaves out
//! one-time growth such as the first hash-table resizes).
//!
//! One process holds at most `Max open files - 64` sockets (20,000 here, hard). With
//! `--procs K` the connections are split over K worker processes (this binary, run as
//! `idle-worker`, driven over stdin/stdout), each from its own block of 127.0.0.x sources.
//! The server is bound by the same per-process cap, so it cannot hold more than ~19,900.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::{Common, Fleet, open_fleet};
use crate::conn::{Ignore, OpenFailure};
use crate::procfs::{self, Proc};

const READ_BUFFER: usize = 4 * 1024;
/// Sockets a process keeps for itself (stdio, epoll, /proc reads).
const FD_RESERVE: u64 = 64;

#[derive(Debug, Clone)]
pub struct IdleConfig {
    pub conns: usize,
    pub procs: usize,
    pub settle: Duration,
    pub samples: usize,
    pub worker_args: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct IdleResult {
    pub scenario: &'static str,
    pub conns_requested: usize,
    pub conns_open: u64,
    pub failed: BTreeMap<OpenFailure, u64>,
    pub first_error: Option<String>,
    pub procs: usize,
    pub rss_before_bytes: u64,
    pub rss_half_bytes: u64,
    pub rss_after_bytes: u64,
    pub bytes_per_conn: f64,
    pub marginal_bytes_per_conn: f64,
    pub fd_cap_per_process: u64,
    pub open_secs: f64,
    /// Cores' worth of CPU used meanwhile by other processes (with --procs > 1 this
    /// includes the idle workers).
    pub other_load_cores: Option<f64>,
}

/// One batch's outcome, also the line a worker prints.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Batch {
    pub opened: u64,
    pub failed: BTreeMap<OpenFailure, u64>,
    pub first_error: Option<String>,
}

impl Batch {
    fn add(&mut self, other: Batch) {
        self.opened += other.opened;
        for (k, v) in other.failed {
            *self.failed.entry(k).or_default() += v;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Connections held in this process.
#[derive(Debug)]
struct LocalHolder {
    common: Common,
    next: usize,
    fleets: Vec<Fleet>,
}

impl LocalHolder {
    async fn open(&mut self, n: usize) -> Batch {
        let range = self.next..self.next + n;
        self.next += n;
        let fleet = open_fleet(&self.common, "i", range, READ_BUFFER, |_| Ignore).await;
        let batch = Batch {
            opened: fleet.peers.len() as u64,
            failed: fleet.failures.clone(),
            first_error: fleet.first_error.clone(),
        };
        self.fleets.push(fleet);
        batch
    }

    async fn close(self) {
        for f in self.fleets {
            f.close().await;
        }
    }
}

#[derive(Debug)]
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

#[derive(Debug)]
enum Holder {
    Local(Box<LocalHolder>),
    Workers(Vec<Worker>),
}

impl Holder {
    async fn open(&mut self, n: usize) -> anyhow::Result<Batch> {
        match self {
            Holder::Local(h) => Ok(h.open(n).await),
            Holder::Workers(ws) => {
                let k = ws.len();
                for (j, w) in ws.iter_mut().enumerate() {
                    let share = n / k + usize::from(j < n % k);
                    w.stdin.write_all(format!("open {share}\n").as_bytes()).await?;
                    w.stdin.flush().await?;
                }
                let mut total = Batch::default();
                for w in ws.iter_mut() {
                    let line = w.stdout.next_line().await?.context("an idle worker exited early (see its stderr)")?;
                    total.add(serde_json::from_str(&line).with_context(|| format!("worker said {line:?}"))?);
                }
                Ok(total)
            }
        }
    }

    async fn close(self) -> anyhow::Result<()> {
        match self {
            Holder::Local(h) => h.close().await,
            Holder::Workers(ws) => {
                for mut w in ws {
                    drop(w.stdin); // EOF: the worker closes its connections and exits
                    let _ = tokio::time::timeout(Duration::from_secs(30), w.child.wait()).await;
                    let _ = w.child.start_kill();
                }
            }
        }
        Ok(())
    }
}

pub async fn run(common: Common, cfg: IdleConfig) -> anyhow::Result<IdleResult> {
    let server = common.server.context("idle needs --server-pid: it measures the server's memory")?;
    server.check_exists()?;
    let fd_cap = procfs::max_open_files()?.saturating_sub(FD_RESERVE);
    let procs = cfg.procs.max(1);
    let per_proc = cfg.conns.div_ceil(procs) as u64;
    if per_proc > fd_cap {
        bail!(
            "{} connections over {procs} process(es) is {per_proc} per process, above the open-file \
             cap of {fd_cap}; use --procs {}",
            cfg.conns,
            cfg.conns.div_ceil(fd_cap.max(1) as usize)
        );
    }

    let mut holder = if procs == 1 {
        Holder::Local(Box::new(LocalHolder { common: common.clone(), next: 0, fleets: Vec::new() }))
    } else {
        Holder::Workers(spawn_workers(procs, &cfg.worker_args)?)
    };

    let cpu = super::CpuMark::now(Some(server));
    let sample = |label: &'static str| settled_rss(server, cfg.settle, cfg.samples, label);
    let before = sample("before").await?;
    let started = tokio::time::Instant::now();
    let half = cfg.conns / 2;
    let mut batch = holder.open(half).await?;
    let rss_half = sample("half").await?;
    let opened_first = batch.opened;
    batch.add(holder.open(cfg.conns - half).await?);
    let open_secs = started.elapsed().as_secs_f64();
    let after = sample("after").await?;
    let used = cpu.since(Some(server));
    holder.close().await?;

    let per = |delta: i128, n: u64| if n == 0 { 0.0 } else { (delta as f64 / n as f64).round() };
    Ok(IdleResult {
        scenario: "idle",
        conns_requested: cfg.conns,
        conns_open: batch.opened,
        failed: batch.failed,
        first_error: batch.first_error,
        procs,
        rss_before_bytes: before,
        rss_half_bytes: rss_half,
        rss_after_bytes: after,
        bytes_per_conn: per(i128::from(after) - i128::from(before), batch.opened),
        marginal_bytes_per_conn: per(i128::from(after) - i128::from(rss_half), batch.opened - opened_first),
        fd_cap_per_process: fd_cap,
        open_secs: crate::stats::round3(open_secs),
        other_load_cores: used.other_cores(),
    })
}

/// Waits `settle` (for the server's GC and our own heartbeats), then returns the median of
/// `samples` readings taken 200 ms apart.
async fn settled_rss(server: Proc, settle: Duration, samples: usize, label: &str) -> anyhow::Result<u64> {
    tokio::time::sleep(settle).await;
    let mut values = Vec::with_capacity(samples.max(1));
    for i in 0..samples.max(1) {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        values.push(server.rss_bytes().with_context(|| format!("sampling RSS ({label})"))?);
    }
    values.sort_unstable();
    Ok(values[values.len() / 2])
}

fn spawn_workers(procs: usize, worker_args: &[String]) -> anyhow::Result<Vec<Worker>> {
    let exe = std::env::current_exe().context("finding this executable to start idle workers")?;
    let mut workers = Vec::with_capacity(procs);
    for k in 0..procs {
        let mut child = tokio::process::Command::new(&exe)
            .arg("idle-worker")
            .args(worker_args)
            .arg("--worker-index")
            .arg(k.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting idle worker {k}"))?;
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        workers.push(Worker { child, stdin, stdout: BufReader::new(stdout).lines() });
    }
    Ok(workers)
}

/// The `idle-worker` side: `open N` on stdin opens N more connections and answers with one
/// JSON [`Batch`] line; end of input closes everything.
pub async fn worker(common: Common) -> anyhow::Result<()> {
    let mut holder = LocalHolder { common, next: 0, fleets: Vec::new() };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        let n: usize = line
            .strip_prefix("open ")
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| format!("idle-worker: expected 'open N', got {line:?}"))?;
        let batch = holder.open(n).await;
        out.write_all(format!("{}\n", serde_json::to_string(&batch)?).as_bytes()).await?;
        out.flush().await?;
    }
    holder.close().await;
    Ok(())
}
