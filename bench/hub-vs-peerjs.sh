#!/usr/bin/env bash
# Puts the same PeerJS-protocol load on our hub (`p2pos signal`) and on `peer` 1.0.2 (the npm
# PeerJS server) on this machine, and prints one table: metric | ours | peer | ratio.
#
#   bench/hub-vs-peerjs.sh            # full run, under 10 minutes once built
#   bench/hub-vs-peerjs.sh --quick    # about a minute
#   bench/hub-vs-peerjs.sh --only peer|ours
#   bench/hub-vs-peerjs.sh --wait-quiet 120   # before each scenario, wait up to 120 s for
#                                             # other processes to leave the cores idle
#
# Each scenario gets a freshly started server pinned to core $SERVER_CPU; the load generator
# runs on core $LOADGEN_CPU. Only 127.0.0.0/8 is ever contacted. Raw JSON results, server
# logs and the table are kept in $OUT_DIR (default: a new /tmp/hub-vs-peerjs.* directory).
# Environment: PEER_PORT (19000), HUB_PORT (19001), SERVER_CPU (0), LOADGEN_CPU (1),
# CARGO_TARGET_DIR, HUB_ARGS (extra `p2pos signal` flags; default lifts the hub's per-IP,
# connection and per-connection rate limits, which protect production, to peer's level).
set -euo pipefail

QUICK=0
ONLY=both
WAIT_QUIET=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY=${2:?--only needs peer or ours}; shift ;;
    --wait-quiet) WAIT_QUIET=${2:?--wait-quiet needs seconds}; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$ONLY" in both|peer|ours) ;; *) echo "--only takes peer or ours" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PEER_PORT=${PEER_PORT:-19000}
HUB_PORT=${HUB_PORT:-19001}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
OUT=${OUT_DIR:-$(mktemp -d /tmp/hub-vs-peerjs.XXXXXX)}
mkdir -p "$OUT"
HUB_ARGS=${HUB_ARGS:---rate 0 --max-connections 100000 --max-connections-per-ip 100000}
START=$(date +%s)

# Sizes. The server, like this load generator, cannot hold more than ~19,900 sockets
# (open files are capped at 20,000 per process), so idle tops out there.
if [ "$QUICK" = 1 ]; then
  IDLE=(--conns 3000 --settle-secs 1 --samples 3)
  STORM=(--conns 2000 --rate 1000)
  STORM_MAX=(--conns 3000 --rate 20000)
  NEGOTIATION=(--pairs 500 --rate 250)
  RELAY=(--pairs 100 --rate 25000 --step 25000 --max-rate 150000 --refine 0 --duration 1.5 --cpu-rate 10000
         --cpu-duration 2 --warmup-secs 1 --drain-secs 1.5 --pause-secs 0.3)
else
  IDLE=(--conns 15000 --settle-secs 3 --samples 5)
  STORM=(--conns 10000 --rate 2000)
  STORM_MAX=(--conns 15000 --rate 20000)
  NEGOTIATION=(--pairs 3000 --rate 1000)
  RELAY=(--pairs 100 --rate 10000 --step 10000 --max-rate 160000 --refine 1 --duration 5 --cpu-rate 10000
         --cpu-duration 10 --warmup-secs 2 --drain-secs 3 --pause-secs 1)
fi

SERVER_PID=""
LOADGEN_PID=""
cleanup() {
  local pid
  for pid in "$LOADGEN_PID" "$SERVER_PID"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

say() { printf '\n== %s\n' "$*" >&2; }

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing $1: $2" >&2; exit 1; }; }
need node "install Node 20"
need npm "install Node 20 with npm"
need cargo "install Rust"
need taskset "apt-get install util-linux"
need timeout "apt-get install coreutils"

say "installing peer 1.0.2 into bench/node_modules (npm ci)"
if [ ! -f "$BENCH/node_modules/.package-lock.json" ] || [ "$BENCH/package-lock.json" -nt "$BENCH/node_modules/.package-lock.json" ]; then
  (cd "$BENCH" && npm ci --no-audit --no-fund --loglevel=error)
fi

say "building hub-bench and p2pos (release) into $TARGET"
(cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release -p hub-bench)
HB="$TARGET/release/hub-bench"
OURS_OK=0
if [ "$ONLY" != peer ]; then
  if (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET" cargo build --release -p p2pos) \
     && "$TARGET/release/p2pos" signal --help >/dev/null 2>&1; then
    OURS_OK=1
  else
    echo "SKIPPING OURS: \`p2pos signal --help\` failed (the hub is not built yet); only peer is measured." >&2
  fi
fi

# Busy CPU ticks of the whole machine (user+nice+system+irq+softirq+steal), from /proc/stat.
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

# wait_quiet: up to $WAIT_QUIET s until a 2-second window shows < 0.15 busy cores, so that
# builds or tests running beside the bench do not distort it. Each result still reports the
# load it saw (other_load_cores).
wait_quiet() {
  [ "$WAIT_QUIET" -gt 0 ] || return 0
  local deadline=$(( $(date +%s) + WAIT_QUIET )) a b hz
  hz=$(getconf CLK_TCK)
  while :; do
    a=$(busy_ticks); sleep 2; b=$(busy_ticks)
    if [ $(( (b - a) * 100 / (2 * hz) )) -lt 15 ]; then return 0; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "machine still busy ($(( (b - a) * 100 / (2 * hz) ))% of a core used by others); measuring anyway" >&2
      return 0
    fi
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server SIDE: a fresh server pinned to $SERVER_CPU; sets SERVER_PID and URL.
start_server() {
  local side=$1 port
  if [ "$side" = peer ]; then port=$PEER_PORT; else port=$HUB_PORT; fi
  port_free "$port" || { echo "port $port is in use; set ${side^^}_PORT" >&2; exit 1; }
  if [ "$side" = peer ]; then
    taskset -c "$SERVER_CPU" node "$BENCH/peer-server.mjs" --port "$port" --host 127.0.0.1 \
      --concurrent_limit 100000 >>"$OUT/peer.log" 2>&1 &
  else
    # shellcheck disable=SC2086 # HUB_ARGS is a list of flags
    taskset -c "$SERVER_CPU" "$TARGET/release/p2pos" signal --listen "127.0.0.1:$port" $HUB_ARGS \
      >>"$OUT/ours.log" 2>&1 &
  fi
  SERVER_PID=$!
  URL="ws://127.0.0.1:$port/peerjs"
}

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

# run SIDE NAME LIMIT_SECS SCENARIO ARGS...: one scenario against a fresh server; the JSON line
# goes to $OUT/SIDE.jsonl, the human line and progress to the terminal.
run() {
  local side=$1 name=$2 limit=$3 scenario=$4
  shift 4
  wait_quiet
  start_server "$side"
  local out="$OUT/$side.$name.out" rc=0
  # The probe doubles as "wait until the server accepts connections".
  timeout 20 taskset -c "$LOADGEN_CPU" "$HB" probe --url "$URL" --server-pid "$SERVER_PID" --wait-secs 15 \
    >"$OUT/$side.$name.probe" 2>&1 || rc=$?
  if [ "$name" = probe ]; then
    cp "$OUT/$side.$name.probe" "$out"
  elif [ "$rc" = 0 ]; then
    timeout --kill-after=5 "$limit" taskset -c "$LOADGEN_CPU" "$HB" "$scenario" --url "$URL" \
      --server-pid "$SERVER_PID" --src-first "$SRC_FIRST" "$@" >"$out" 2> >(tee -a "$OUT/$side.$name.err" >&2) &
    LOADGEN_PID=$!
    wait "$LOADGEN_PID" || rc=$?
    LOADGEN_PID=""
  else
    echo "probe failed, skipping $name" >"$out"
  fi
  grep '^# ' "$out" >&2 || echo "# $side $name: failed (exit $rc); see $out and $OUT/$side.log" >&2
  if [ "$rc" = 0 ]; then
    grep '^{' "$out" | sed "s/^{/{\"side\":\"$side\",\"name\":\"$name\",/" >>"$OUT/results.jsonl" || true
  fi
  stop_server
  # Each scenario uses its own block of source addresses, so TIME_WAIT sockets left by the
  # previous one never exhaust ephemeral ports.
  SRC_FIRST=$((SRC_FIRST + 16))
}

: >"$OUT/results.jsonl"
sides=()
[ "$ONLY" != ours ] && sides+=(peer)
[ "$ONLY" != peer ] && [ "$OURS_OK" = 1 ] && sides+=(ours)
for side in "${sides[@]}"; do
  SRC_FIRST=16
  say "$side"
  run "$side" probe 30 probe
  run "$side" idle 120 idle "${IDLE[@]}"
  run "$side" storm 120 connect-storm "${STORM[@]}"
  run "$side" storm-max 120 connect-storm "${STORM_MAX[@]}"
  run "$side" negotiation 120 negotiation "${NEGOTIATION[@]}"
  run "$side" relay 420 relay "${RELAY[@]}"
done

say "results (raw: $OUT/results.jsonl)"
node "$BENCH/compare-table.mjs" "$OUT/results.jsonl" | tee "$OUT/table.txt"
echo "whole run: $(( $(date +%s) - START )) s; server on core $SERVER_CPU, load generator on core $LOADGEN_CPU; $(nproc) cores" >&2
