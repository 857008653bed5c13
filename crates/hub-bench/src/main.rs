//! hub-bench: an open-loop load generator speaking the PeerJS server protocol, so the same
//! load can be put on our signaling hub (`p2pos signal`) and on `peer` (PeerJS server 1.0.2).
//! See `bench/README.md` and `hub-bench --help`.

mod app;
mod cli;
mod conn;
mod peerjs;
mod procfs;
mod report;
mod scenario;
mod schedule;
mod stats;

use clap::Parser;

fn main() -> anyhow::Result<std::process::ExitCode> {
    app::run(cli::Cli::parse())
}
