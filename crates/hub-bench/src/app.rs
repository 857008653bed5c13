//! Turns parsed arguments into a scenario run on a tokio runtime, and its result into the
//! two output lines.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::{Cli, Command, CommonArgs, RelayArgs};
use crate::conn::SourceAddrs;
use crate::peerjs::Endpoint;
use crate::procfs::Proc;
use crate::report::emit;
use crate::scenario::{self, Common};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let threads = match &cli.command {
        Command::Probe { common, .. }
        | Command::Idle { common, .. }
        | Command::IdleWorker { common, .. }
        | Command::ConnectStorm { common, .. }
        | Command::Negotiation { common, .. }
        | Command::Relay { common, .. } => common.threads,
    };
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    }
    .context("starting the tokio runtime")?;
    runtime.block_on(dispatch(cli.command))
}

fn secs(name: &str, value: f64) -> anyhow::Result<Duration> {
    if !(value.is_finite() && value >= 0.0) {
        bail!("--{name} must be a non-negative number of seconds");
    }
    Ok(Duration::from_secs_f64(value))
}

fn positive(name: &str, value: f64) -> anyhow::Result<f64> {
    if !(value.is_finite() && value > 0.0) {
        bail!("--{name} must be positive");
    }
    Ok(value)
}

fn default_prefix() -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() % 100_000_000)
        .unwrap_or(0);
    format!("hb{}x{nonce}-", std::process::id())
}

fn common(args: &CommonArgs, worker: Option<u32>) -> anyhow::Result<Common> {
    let mut sources = SourceAddrs::new(args.src_first, args.src_count)?;
    let mut id_prefix = args.id_prefix.clone().unwrap_or_else(default_prefix);
    if let Some(k) = worker {
        sources = sources.shifted(k + 1);
        id_prefix = format!("{id_prefix}w{k}-");
    }
    Ok(Common {
        endpoint: Endpoint::parse(&args.url, &args.key)?,
        server: args.server_pid.map(Proc::Pid),
        sources,
        id_prefix,
        heartbeat: (args.heartbeat_ms > 0).then(|| Duration::from_millis(args.heartbeat_ms)),
        open_timeout: Duration::from_millis(args.open_timeout_ms.max(1)),
        parallel: args.parallel.max(1),
    })
}

fn kb(bytes: f64) -> String {
    format!("{:.1} KB", bytes / 1000.0)
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Probe { common: args, wait_secs } => {
            let r = scenario::probe::run(common(&args, None)?, secs("wait-secs", wait_secs)?).await?;
            let failed: Vec<_> =
                r.checks.iter().filter(|c| !c.ok).map(|c| format!("{} ({})", c.name, c.detail)).collect();
            let human = if failed.is_empty() {
                format!("probe {}: all {} checks passed", args.url, r.checks.len())
            } else {
                format!(
                    "probe {}: {} ok; failed: {}",
                    args.url,
                    if r.ok { "required checks" } else { "NOT" },
                    failed.join("; ")
                )
            };
            emit(&r, &human)?;
            Ok(if r.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Idle { common: args, conns, procs, settle_secs, samples } => {
            let prefix = args.id_prefix.clone().unwrap_or_else(default_prefix);
            let fd_cap = crate::procfs::max_open_files()?.saturating_sub(64).max(1);
            let procs = procs.unwrap_or_else(|| conns.div_ceil(fd_cap as usize).max(1));
            let cfg = scenario::idle::IdleConfig {
                conns,
                procs,
                settle: secs("settle-secs", settle_secs)?,
                samples,
                worker_args: args.to_args(&prefix),
            };
            let mut c = common(&args, None)?;
            c.id_prefix = prefix;
            let r = scenario::idle::run(c, cfg).await?;
            let human = format!(
                "idle: {} of {} connections open ({} failed) over {} process(es); server RSS {:.1} -> {:.1} MB: \
                 {} per idle connection (marginal {}); fd cap {} per process",
                r.conns_open,
                r.conns_requested,
                r.failed.values().sum::<u64>(),
                r.procs,
                r.rss_before_bytes as f64 / 1e6,
                r.rss_after_bytes as f64 / 1e6,
                kb(r.bytes_per_conn),
                kb(r.marginal_bytes_per_conn),
                r.fd_cap_per_process,
            ) + &contention(if r.procs > 1 { None } else { r.other_load_cores });
            emit(&r, &human)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::IdleWorker { common: args, worker_index } => {
            scenario::idle::worker(common(&args, Some(worker_index))?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ConnectStorm { common: args, conns, rate } => {
            let r = scenario::storm::run(common(&args, None)?, conns, positive("rate", rate)?).await?;
            let human = format!(
                "connect-storm: {} of {} at {}/s: {:.0} handshakes/s; time-to-OPEN {}; server {} CPU/handshake; \
                 load generator {:.0}% of a core{}",
                r.opened,
                r.conns,
                r.rate,
                r.handshakes_per_sec,
                r.time_to_open,
                us(r.server_cpu_us_per_handshake),
                r.loadgen_cpu_fraction * 100.0,
                saturated(r.loadgen_saturated),
            ) + &contention(r.other_load_cores);
            emit(&r, &human)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Negotiation { common: args, pairs, rate, sdp_bytes, drain_secs } => {
            let cfg = scenario::negotiation::NegotiationConfig {
                pairs,
                rate: positive("rate", rate)?,
                sdp_bytes,
                drain: secs("drain-secs", drain_secs)?,
            };
            let r = scenario::negotiation::run(common(&args, None)?, cfg).await?;
            let human = format!(
                "negotiation: {} of {} pairs completed at {}/s ({:.0}/s achieved, {} messages each, \
                 {} B offers); latency {}; server {} CPU/negotiation; load generator {:.0}% of a core{}",
                r.completed,
                r.pairs,
                r.rate,
                r.negotiations_per_sec,
                r.messages_per_negotiation,
                r.offer_bytes,
                r.latency,
                us(r.server_cpu_us_per_negotiation),
                r.loadgen_cpu_fraction * 100.0,
                saturated(r.loadgen_saturated),
            ) + &contention(r.other_load_cores);
            emit(&r, &human)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Relay { common: args, relay } => {
            let cfg = relay_config(&relay)?;
            let r = scenario::relay::run(common(&args, None)?, cfg).await?;
            let max = match r.max_rate_p99_ok {
                Some(rate) => format!("{rate} msg/s"),
                None => "none of the steps".to_owned(),
            };
            let fixed = match &r.fixed_rate {
                Some(f) => format!(
                    "; at {} msg/s: {} CPU/msg, p99 {:.2} ms, load generator {:.0}% of a core",
                    f.rate,
                    us(f.server_cpu_us_per_msg),
                    f.latency.p99_ms,
                    f.loadgen_cpu_fraction * 100.0
                ),
                None => String::new(),
            };
            let limit = match r.limited_by {
                "loadgen" => " (LOAD GENERATOR saturated its core on the failing step: the server may go higher)",
                "max-rate" => " (every step passed: raise --max-rate)",
                _ => " (limited by the server)",
            };
            let human = format!(
                "relay: {} pairs, {} B OFFERs: p99 < {} ms up to {max}{limit}{fixed}",
                r.pairs, r.msg_bytes, r.p99_limit_ms
            ) + &contention(r.max_other_load_cores);
            emit(&r, &human)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn relay_config(a: &RelayArgs) -> anyhow::Result<scenario::relay::RelayConfig> {
    if a.pairs == 0 || a.rate == 0 {
        bail!("--pairs and --rate must be positive");
    }
    Ok(scenario::relay::RelayConfig {
        pairs: a.pairs,
        rate: a.rate,
        duration: secs("duration", positive("duration", a.duration)?)?,
        step: a.step,
        max_rate: a.max_rate,
        refine: a.refine,
        p99_limit_ms: a.p99_limit_ms,
        cpu_rate: (a.cpu_rate > 0).then_some(a.cpu_rate),
        cpu_duration: secs("cpu-duration", a.cpu_duration)?,
        warmup: secs("warmup-secs", a.warmup_secs)?,
        msg_bytes: a.msg_bytes,
        drain: secs("drain-secs", a.drain_secs)?,
        pause: secs("pause-secs", a.pause_secs)?,
    })
}

fn us(v: Option<f64>) -> String {
    v.map_or_else(|| "? µs (no --server-pid)".to_owned(), |v| format!("{v:.1} µs"))
}

/// A warning when other processes competed for the CPU during the measurement.
fn contention(other_cores: Option<f64>) -> String {
    match other_cores {
        Some(c) if c >= OTHER_LOAD_WARNING => {
            format!(" — WARNING: other processes used {c:.2} cores meanwhile; rerun on a quiet machine")
        }
        _ => String::new(),
    }
}

const OTHER_LOAD_WARNING: f64 = 0.15;

fn saturated(s: bool) -> &'static str {
    if s { " — LOAD GENERATOR SATURATED: figures are a lower bound" } else { "" }
}
