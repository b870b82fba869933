#!/usr/bin/env bash
# `make app`: the web app against a local cluster. Starts `sibyl-demo
# --serve` (a localnet on 127.0.0.1:8899/8900 with Sibyl, the payment mint,
# three models and three oracle nodes) and the Vite dev server on
# http://127.0.0.1:5173, and stops both on Ctrl-C. Arguments go to
# sibyl-demo: `--fund WALLET` gives a wallet 100 SOL and 1000 tokens.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

"$ROOT/app/scripts/npm-install.sh"
"$TARGET/debug/sibyl-demo" --serve "$@" &
cluster=$!
trap 'kill -TERM $cluster 2>/dev/null; wait $cluster 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
cd "$ROOT/app"
npx vite
