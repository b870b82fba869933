#!/usr/bin/env bash
# The standard-client suites of `make test` (docs/localnet.md): a scripted
# wallet session against `sibyl-demo --serve` (a localnet with oracle nodes)
# through libraries the project does not own, each suite starting its own
# cluster:
#   python  Solana's Python client (solana-py and solders, in .local/venv)
#   kit     @solana/kit and @solana-program/* (app/'s dev dependencies)
# Needs target/debug/sibyl-demo (cargo test builds it) and app/node_modules
# (app/scripts/check.sh installs them). One line per step; exits non-zero on
# the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

.local/venv/bin/python tests/clients/python/wallet_session.py
app/scripts/npm-install.sh >/dev/null
(cd app && npm run --silent clients)
