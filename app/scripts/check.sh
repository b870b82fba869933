#!/usr/bin/env bash
# The web app's checks, one summary line per step (the full output only
# when a step fails, except the browser tests, whose report always shows).
# Run from anywhere; `make test` calls it after building the workspace
# (the browser tests start target/debug/sibyl-demo) and installing Chromium.
#   1. npm ci        when node_modules is missing or package-lock.json changed
#   2. check:client  src/generated/sibyl.ts is current with idl/sibyl.json
#   3. typecheck     tsc --noEmit (strict) over src/, test/ and e2e/
#   4. test          Vitest unit tests
#   5. build         vite build
#   6. e2e           Vitest + playwright-core in headless Chromium against
#                    `sibyl-demo --serve` (a localnet and three oracle nodes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/npm-install.sh

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

step() { # step NAME COMMAND...
  local name="$1" start=$SECONDS
  shift
  if "$@" >"$log" 2>&1; then
    printf 'app: %-13s ok (%ds)\n' "$name" $((SECONDS - start))
  else
    local rc=$?
    cat "$log" >&2
    printf 'app: %-13s FAILED (exit %d)\n' "$name" "$rc" >&2
    exit "$rc"
  fi
}

step check:client npm run --silent check:client
step typecheck npm run --silent typecheck
step test npm run --silent test
step build npm run --silent build
echo "app: e2e (headless Chromium, playwright-core; screenshots in ${SIBYL_SCREENSHOTS:-app/e2e-output})"
npm run --silent e2e
