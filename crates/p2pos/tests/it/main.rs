//! The `p2pos` binary's integration tests, one module per story, in one test binary: each test
//! binary links the whole workspace, so one instead of eight saves most of a cold build's linking.
//! Pick a story with a filter, e.g. `cargo test -p p2pos --test it -- soak:: --nocapture`.
//!
//! Most of them run real `p2pos` processes (`CARGO_BIN_EXE_p2pos`); `.config/nextest.toml` gives
//! the slow ones (by module: `netlab::`, `soak::`, ...) their priority and room.

mod chat;
mod cli;
mod common;
mod crash;
mod deploy;
mod drop;
mod export;
mod netlab;
mod replication;
mod replication_bench;
mod soak;
