#!/usr/bin/env bash
# Runs the given make targets one after another and prints how long each took: `make test`'s time
# per suite. Stops at the first suite that fails.
set -euo pipefail
rows=()
all_start=$(date +%s)
for target in "$@"; do
  start=$(date +%s)
  if ! "${MAKE:-make}" --no-print-directory "$target"; then
    echo "make test: $target failed after $(( $(date +%s) - start )) s" >&2
    exit 1
  fi
  rows+=("$(printf '%-12s %5d s' "$target" $(( $(date +%s) - start )))")
done
echo
echo "make test: time per suite"
printf '  %s\n' "${rows[@]}"
printf '  %-12s %5d s\n' total $(( $(date +%s) - all_start ))
