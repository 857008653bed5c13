//! The command-line grammar. `--help` is generated from these doc comments: keep them true.

use clap::{Args, Parser, Subcommand};

/// Open-loop load generator for PeerJS-protocol signaling servers (our hub and `peer`).
///
/// Every scenario prints one JSON line (for scripts) and one line starting with `# `.
/// Only loopback targets are accepted.
#[derive(Debug, Parser)]
#[command(name = "hub-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check that the server speaks the PeerJS protocol (OPEN, relay with src, ID-TAKEN).
    Probe {
        #[command(flatten)]
        common: CommonArgs,
        /// Keep retrying the first connection this long while the server starts.
        #[arg(long, default_value_t = 10.0)]
        wait_secs: f64,
    },
    /// Hold N idle clients and report the server's RSS growth per connection.
    Idle {
        #[command(flatten)]
        common: CommonArgs,
        /// Connections to hold in all (split over --procs processes).
        #[arg(long)]
        conns: usize,
        /// Load-generator processes. Default: as many as the open-file cap needs
        /// (one process holds at most about 19,900 sockets here).
        #[arg(long)]
        procs: Option<usize>,
        /// Wait before each RSS sample, for the server to settle (GC, heartbeats).
        #[arg(long, default_value_t = 3.0)]
        settle_secs: f64,
        /// RSS readings per sample, 200 ms apart; the median is used.
        #[arg(long, default_value_t = 5)]
        samples: usize,
    },
    /// Internal: one process of a multi-process `idle` (driven over stdin/stdout).
    #[command(hide = true)]
    IdleWorker {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long)]
        worker_index: u32,
    },
    /// Open connections at a fixed rate (open loop); report handshakes/s and time-to-OPEN.
    ConnectStorm {
        #[command(flatten)]
        common: CommonArgs,
        /// Connections to open (all are held until the last one finishes).
        #[arg(long)]
        conns: usize,
        /// Intended connects per second.
        #[arg(long)]
        rate: f64,
    },
    /// Offer/answer/candidates between pairs started at a fixed rate; completion latency.
    Negotiation {
        #[command(flatten)]
        common: CommonArgs,
        /// Pairs (each two clients, each pair negotiates once).
        #[arg(long)]
        pairs: usize,
        /// Negotiations started per second.
        #[arg(long)]
        rate: f64,
        /// SDP size in the OFFER and the ANSWER (the whole message is ~300 bytes more).
        #[arg(long, default_value_t = 2_800)]
        sdp_bytes: usize,
        /// How long to wait for the last negotiations after the last start.
        #[arg(long, default_value_t = 5.0)]
        drain_secs: f64,
    },
    /// Open-loop OFFER relays between pairs, stepped up until p99 passes the limit.
    Relay {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        relay: RelayArgs,
    },
}

#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Client pairs the messages go through (round robin, alternating direction).
    #[arg(long, default_value_t = 100)]
    pub pairs: usize,
    /// Messages per second, in all, for the first (or only) step.
    #[arg(long)]
    pub rate: u64,
    /// Seconds per step.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Raise the rate by this much after each passing step (omit for a single step).
    #[arg(long)]
    pub step: Option<u64>,
    /// Highest rate to try when stepping.
    #[arg(long, default_value_t = 200_000)]
    pub max_rate: u64,
    /// After the first failing step, bisect this many times between it and the last pass.
    #[arg(long, default_value_t = 1)]
    pub refine: u32,
    /// A step passes when its p99 is at most this and nothing was lost.
    #[arg(long, default_value_t = 50.0)]
    pub p99_limit_ms: f64,
    /// Fixed rate for the server-CPU-per-message figure (0 skips that run).
    #[arg(long, default_value_t = 10_000)]
    pub cpu_rate: u64,
    /// Seconds of the fixed-rate run.
    #[arg(long, default_value_t = 10.0)]
    pub cpu_duration: f64,
    /// Unrecorded warm-up (JIT, allocator) at the fixed rate before anything is measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup_secs: f64,
    /// Size of each OFFER as sent, in bytes.
    #[arg(long, default_value_t = 200)]
    pub msg_bytes: usize,
    /// After a step's last send, wait this long for stragglers; the rest count as lost.
    #[arg(long, default_value_t = 3.0)]
    pub drain_secs: f64,
    /// Pause between steps, for the server to settle.
    #[arg(long, default_value_t = 1.0)]
    pub pause_secs: f64,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Server WebSocket URL without query: `ws://IP:PORT/<path>/peerjs` (loopback only).
    #[arg(long, env = "HUB_BENCH_URL", default_value = "ws://127.0.0.1:9000/peerjs")]
    pub url: String,
    /// PeerJS key sent in the query.
    #[arg(long, default_value = crate::peerjs::DEFAULT_KEY)]
    pub key: String,
    /// Server process to sample for RSS and CPU time (from /proc). Required by `idle`.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// First source address, as an offset in 127.0.0.0/8 (16 = 127.0.0.16).
    #[arg(long, default_value_t = 16)]
    pub src_first: u32,
    /// Source addresses to rotate through (each has its own ~28k ephemeral ports);
    /// 0 lets the kernel choose.
    #[arg(long, default_value_t = 8)]
    pub src_count: u32,
    /// Prefix of client ids (default: unique per run, so reruns never collide).
    #[arg(long)]
    pub id_prefix: Option<String>,
    /// PeerJS heartbeat interval per client in ms (the browser client sends one every 5 s);
    /// 0 turns heartbeats off.
    #[arg(long, default_value_t = 5_000)]
    pub heartbeat_ms: u64,
    /// Give up on a connection that has not reached OPEN in this many ms.
    #[arg(long, default_value_t = 10_000)]
    pub open_timeout_ms: u64,
    /// Handshakes in flight at once while setting up clients (not in connect-storm).
    #[arg(long, default_value_t = 128)]
    pub parallel: usize,
    /// Runtime threads for this load generator; 1 (the default) runs single-threaded, to be
    /// pinned on one core with taskset.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

impl CommonArgs {
    /// The same settings as arguments, to start idle workers with.
    pub fn to_args(&self, id_prefix: &str) -> Vec<String> {
        let mut args = vec![
            format!("--url={}", self.url),
            format!("--key={}", self.key),
            format!("--src-first={}", self.src_first),
            format!("--src-count={}", self.src_count),
            format!("--id-prefix={id_prefix}"),
            format!("--heartbeat-ms={}", self.heartbeat_ms),
            format!("--open-timeout-ms={}", self.open_timeout_ms),
            format!("--parallel={}", self.parallel),
            format!("--threads={}", self.threads),
        ];
        if let Some(pid) = self.server_pid {
            args.push(format!("--server-pid={pid}"));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn worker_args_parse_back_to_the_same_settings() {
        let cli = Cli::try_parse_from([
            "hub-bench",
            "idle",
            "--conns",
            "10",
            "--url",
            "ws://127.0.0.1:1/peerjs",
            "--server-pid",
            "7",
        ])
        .unwrap();
        let Command::Idle { common, .. } = cli.command else { panic!("not idle") };
        let mut argv = vec!["hub-bench".to_owned(), "idle-worker".to_owned(), "--worker-index=1".to_owned()];
        argv.extend(common.to_args("x-"));
        let back = Cli::try_parse_from(argv).unwrap();
        let Command::IdleWorker { common: back, worker_index } = back.command else { panic!("not a worker") };
        assert_eq!(worker_index, 1);
        assert_eq!(back.url, common.url);
        assert_eq!(back.server_pid, Some(7));
        assert_eq!(back.id_prefix.as_deref(), Some("x-"));
    }
}
