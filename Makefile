# The two commands: `make run` (build and start) and `make test` (every check CI runs).
# Everything they need is installed from here, so a fresh clone on Debian + Rust + Node 20 works.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
WEB := apps/web
# Debian packages the tests use: the browser for end-to-end tests, the stock age CLI for
# interoperability checks, coturn for relay tests; iptables, iproute2 and curl for the network lab;
# systemd for `systemd-analyze` (the deploy/systemd units are checked offline, nothing is started).
TEST_PACKAGES := chromium age coturn iptables iproute2 curl systemd
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Where cargo puts binaries (honours CARGO_TARGET_DIR).
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
# CI builds once from a clean clone: incremental caches would only take disk space.
ifdef CI
export CARGO_INCREMENTAL := 0
endif

.PHONY: run test system-deps web-deps web build wasm check-rust test-rust test-web test-e2e soak vectors fuzz openapi clean

## run: build the web app and the binary, then start the demo family: a hub (with STUN/TURN) and
## two nodes, Oak and Pine, on this machine (Ctrl-C stops everything; the next run resumes it)
run: web
	cargo build --release --locked -p p2pos
	@echo
	@echo "  P2POS is starting. Open Oak's URL (below) in Chromium or Chrome (version 137 or newer),"
	@echo "  create your identity there and enter Oak's setup code to found the family."
	@echo
	$(TARGET_DIR)/release/p2pos up --dir .run/family --web-dir $(WEB)/dist

## test: formatting, lints, Rust tests (with the network lab, which serves the built web app),
## web unit tests, browser end-to-end tests
test: system-deps web-deps
	@MAKE="$(MAKE)" IN_MAKE_TEST=1 scripts/suite-times.sh check-rust web test-rust test-web test-e2e
	@echo "make test: all suites passed"

system-deps:
	@missing=""; for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

web-deps: $(WEB)/node_modules/.package-lock.json

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund

web: web-deps
	cd $(WEB) && npm run build

# The wasm check rebuilds crates/p2pos-age-stream for the browser and fails if the module
# embedded in the web app is not that build (scripts/wasm.sh).
check-rust:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	scripts/wasm.sh check

## wasm: rebuild the web app's WebAssembly (age's payload cipher) from crates/p2pos-age-stream
wasm:
	scripts/wasm.sh build

# cargo-nextest (on the Rust image; .config/nextest.toml) overlaps the test binaries, whose slow
# tests mostly wait on real processes and sockets; plain `cargo test` runs them one by one (the
# network lab first, alone, as nextest does: it shares the `p2pos` test binary with other stories).
test-rust:
	@if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --locked && cargo test --workspace --locked --doc; \
	else \
	  echo "cargo-nextest not found: running the Rust tests one binary at a time"; \
	  cargo test --workspace --locked --test it -- netlab:: && cargo test --workspace --locked -- --skip netlab::; \
	fi

## soak: the crash/soak test for 3 minutes (make test runs it for 40 s); SOAK_SECS to change
SOAK_SECS ?= 180
soak: web
	P2POS_SOAK_SECS=$(SOAK_SECS) cargo test --locked -p p2pos --test it -- soak:: --nocapture

# check:api fails when the web client's API types drift from docs/openapi.json (which a Rust test
# keeps equal to what the node's code generates).
test-web: web-deps
	cd $(WEB) && npm run check:api && npm run lint && npm run format:check && npm run typecheck && npm test

# Builds the web app and the binary (unless `make test` just did: IN_MAKE_TEST; its Rust tests
# built target/debug/p2pos, and `cargo build -p p2pos` alone would rebuild it with other features)
# and the harness, and the `seed_vault` example (the timeline test seeds 10,000 photos with it),
# then drives Debian's Chromium against the real binary, two test files at a time (E2E_JOBS).
test-e2e: web-deps
	@[ -n "$${IN_MAKE_TEST:-}" ] || $(MAKE) --no-print-directory web
	@[ -n "$${IN_MAKE_TEST:-}" ] || cargo build --locked -p p2pos
	cargo build --locked -p p2pos-node --example seed_vault
	cd $(WEB) && npm run build:harness && P2POS_BIN=$(TARGET_DIR)/debug/p2pos \
	  SEED_BIN=$(TARGET_DIR)/debug/examples/seed_vault npm run e2e:run

## fuzz: run each fuzz target for FUZZ_SECS seconds (needs `cargo install cargo-fuzz`)
FUZZ_SECS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for t in hub_messages core_parsers vault_rules; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$t -- -max_total_time=$(FUZZ_SECS) -max_len=4096 || exit 1; \
	done

## openapi: regenerate docs/openapi.json from the node's code and the web client's types from it
openapi: web-deps
	P2POS_UPDATE_OPENAPI=1 cargo test -p p2pos-node --test it -- openapi::
	cd $(WEB) && npm run gen:api

## vectors: regenerate testvectors/*.json (then run `make test` and commit them)
vectors:
	cargo run --locked -p p2pos-core --example testvectors
	cargo run --locked -p family-vault --example vault_state_vectors
	cargo run --locked -p p2pos-core --example chat_vectors

clean:
	cargo clean
	rm -rf $(WEB)/dist $(WEB)/dist-harness $(WEB)/node_modules
