# Sibyl: the two commands of README.md, and their parts.
#   make test  - build everything and run every test (what CI runs)
#   make demo  - a localnet, three oracle nodes (one faulty) and paid requests, end to end
#   make bench - speed, cost and determinism, measured; rewrites docs/performance.md
#   make app   - the web app (http://127.0.0.1:5173) against a localnet with oracle nodes
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
# One target directory for every build, reused across runs.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# The runtime logs every instruction at debug level; tests assert on results instead.
export RUST_LOG ?= error

.PHONY: test demo app app-screenshots attack bench demo-program localnet setup build fmt-check lint idl idl-check fixtures fixtures-check

## Everything CI checks: formatting, the IDL is current, clippy with
## warnings as errors, unit and runtime tests, then the web app: its generated client is current, it typechecks,
## passes its unit tests, builds, and passes its browser tests in headless
## Chromium against `target/debug/sibyl-demo --serve` (which `cargo test`
## builds for demo/tests); then the standard-client suites (Solana's Python
## client and @solana/kit, each a wallet session against the same demo).
test: setup fmt-check idl-check lint
	$(CARGO) test --workspace --locked
	scripts/setup-browser.sh
	app/scripts/check.sh
	tests/clients/run.sh

## Builds what `make test` builds (the whole workspace, every target, so a
## `make test` after it compiles nothing again), then runs the demo.
demo: setup build
	$(CARGO_TARGET_DIR)/debug/sibyl-demo

## The web app (app/, docs/app.md) on http://127.0.0.1:5173 against a
## localnet with three oracle nodes on 127.0.0.1:8899. APP_ARGS passes
## options to sibyl-demo, e.g. APP_ARGS="--fund <your wallet>".
app: setup
	$(CARGO) build --workspace --all-targets --locked
	scripts/app.sh $(APP_ARGS)

## Reruns the browser tests, writing their screenshots to docs/app/.
app-screenshots: setup
	$(CARGO) build --workspace --all-targets --locked
	scripts/setup-browser.sh
	app/scripts/npm-install.sh
	cd app && npm run --silent build && SIBYL_SCREENSHOTS=docs/app npm run --silent e2e

## Benchmarks (bench/, docs/performance.md): the same build as `make test`
## (so nothing is compiled twice), plus the ONNX Runtime 1.32.0 library for
## the determinism matrix. BENCH_ARGS passes options (`--help` lists them).
bench: setup
	scripts/bench-setup.sh
	$(CARGO) build --workspace --all-targets --locked
	$(CARGO_TARGET_DIR)/debug/sibyl-bench $(BENCH_ARGS)

## The program alone: the request lifecycle in solana-program-test, step by step.
demo-program: setup
	$(CARGO) run --locked --quiet -p sibyl-tests --bin sibyl-lifecycle-demo

## A local cluster with Sibyl on 127.0.0.1:8899 (see docs/localnet.md).
localnet: setup
	$(CARGO) run --locked -p sibyl-localnet -- $(LOCALNET_ARGS)

## The toolchain comes with the machine (rustc 1.95 by rustup); scripts/setup.sh
## installs the rest into .local/: ONNX Runtime 1.31.1 (from its PyPI wheel,
## SHA-256 checked) and the Python tools that generate models/.
setup:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust 1.95 with rustup" >&2; exit 1; }
	@$(CARGO) --version
	@scripts/setup.sh

## Regenerates models/ (fixtures, reference outputs, samples) with Python.
fixtures: setup
	.local/venv/bin/python models/generate.py

## Fails if regenerating models/ changes a byte (run on the machine that made them).
fixtures-check: fixtures
	git diff --exit-code -- models/

build: setup
	$(CARGO) build --workspace --all-targets --locked

fmt-check:
	$(CARGO) fmt --all -- --check

## Clippy on every target (the workspace build, with the demo's
## `test-faults` and `test-cluster`), then on the shipped `sibyl` alone, which lacks them.
lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy --locked -p sibyl-oracle --lib --bin sibyl -- -D warnings

## Writes target/idl/sibyl.json and refreshes the committed idl/sibyl.json.
idl: setup
	$(CARGO) run --locked --quiet -p sibyl-idl
	cp target/idl/sibyl.json idl/sibyl.json
	node tools/ts-client/generate.mjs

## Fails if idl/sibyl.json differs from a fresh build of the program's IDL.
idl-check: setup
	$(CARGO) run --locked --quiet -p sibyl-idl -- --check idl/sibyl.json

## The adversarial run of issue 14 at full size: three honest `sibyl node
## run` processes against a lying server and every kind of adversary, over
## 1000 requests on the localnet; prints its table (`make test` runs it with
## 30). ATTACK_REQUESTS sets the size.
ATTACK_REQUESTS ?= 1000
attack: setup
	SIBYL_ATTACK_REQUESTS=$(ATTACK_REQUESTS) $(CARGO) test --locked -p sibyl-oracle --features test-faults,test-cluster --test node attack:: -- --nocapture
