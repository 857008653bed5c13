#!/usr/bin/env bash
# The demo story of DESIGN.md §1, played by a real browser (Debian's Chromium, headless) against
# real processes: a hub and two nodes, Oak and Pine. Each step is narrated as it happens and
# screenshotted into demo-screens/ (or $P2POS_SCREENSHOTS).
#
#   scripts/demo-two-nodes.sh
#
# To click through it yourself instead, run `make run` and follow the URLs it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
shots="${P2POS_SCREENSHOTS:-$PWD/demo-screens}"
mkdir -p "$shots"

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "Building p2pos and the web app…"
cargo build --locked -p p2pos >/dev/null
(cd apps/web && { [ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null; } && npm run -s build >/dev/null)

say "The River family has two houses: node Oak and node Pine, and a hub that only introduces them."
cat <<'STORY'
  1. At Oak, Ada creates her identity, claims Oak with its setup code, creates the album
     "Summer 2026" and uploads five photos (encrypted in her browser). They live on Oak only.
  2. Oak issues an enrolment token (Nodes page); Pine joins with `p2pos peer add`. Replication
     runs over a WebRTC data channel and every photo shows "Oak ✓ Pine ✓".
  3. Oak goes offline (SIGKILL). In a fresh browser Ada opens Pine, restores her identity from
     its backup, and the album decrypts and displays there.
  4. She adds two photos at Pine. Oak comes back and catches up on its own: both show seven.
STORY
say "Playing it (times are seconds since the start):"
P2POS_SCREENSHOTS="$shots" node --test --test-reporter=spec apps/web/e2e/replication.test.mjs
say "Done. Screenshots of each step: $shots"
