#!/usr/bin/env bash
# The web app's WebAssembly: crates/p2pos-age-stream built for wasm32 with SIMD, embedded in
# apps/web/src/lib/ageStreamWasm.ts (base64, with its SHA-256) so that the page, its workers and
# the Node tests load it the same way, with no fetch.
#
#   scripts/wasm.sh build   rebuild it and rewrite the embedded module (commit the result)
#   scripts/wasm.sh check   rebuild it and fail if the embedded module differs; skipped, with a
#                           note, where the wasm32 target cannot be installed
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
out=apps/web/src/lib/ageStreamWasm.ts
target=wasm32-unknown-unknown

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  if ! rustup target add "$target" >/dev/null 2>&1; then
    if [ "$mode" = check ]; then
      echo "wasm check skipped: the $target target is not installed and rustup cannot fetch it"
      exit 0
    fi
    echo "cannot install the $target target (rustup target add $target)" >&2
    exit 1
  fi
fi

# Its own target dir: RUSTFLAGS would otherwise make cargo rebuild the native crates. Panic
# messages carry source paths: cargo's home is renamed so that any machine builds the same bytes.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
RUSTFLAGS="-C target-feature=+simd128 --remap-path-prefix=$cargo_home=/cargo" cargo build --quiet --locked --release \
  --target "$target" -p p2pos-age-stream --target-dir target/wasm
wasm=target/wasm/$target/release/p2pos_age_stream.wasm

case "$mode" in
  build)
    node apps/web/scripts/embed-wasm.mjs "$wasm" "$out"
    echo "wrote $out ($(stat -c %s "$wasm") bytes of WebAssembly)"
    ;;
  check)
    built=$(sha256sum "$wasm" | cut -d' ' -f1)
    embedded=$(sed -n 's/^export const AGE_STREAM_WASM_SHA256 = "\([0-9a-f]*\)";$/\1/p' "$out")
    if [ "$built" != "$embedded" ]; then
      echo "$out is not the build of crates/p2pos-age-stream (embedded $embedded, built $built): run scripts/wasm.sh build and commit it" >&2
      exit 1
    fi
    echo "wasm check: $out is the build of crates/p2pos-age-stream ($built)"
    ;;
  *)
    echo "usage: scripts/wasm.sh build|check" >&2
    exit 2
    ;;
esac
