#!/usr/bin/env bash
# Replication benchmarks on loopback (docs/BENCHMARKS.md): 1 GiB in 4 MiB blobs between two node
# processes over WebRTC and over HTTP, then catch-up after offline in vaults of 10,000 and 100,000
# photos. Release build; run on a quiet machine. P2POS_BENCH_MIB changes the 1 GiB.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked -p p2pos --test it -- replication_bench:: --ignored --nocapture --test-threads 1 2>&1 |
  grep -vE '^(running|test |$)|Running|Compiling|Finished'
