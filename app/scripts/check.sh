#!/usr/bin/env bash
# The TypeScript client's checks, one summary line per step (the full output
# only when a step fails). Run from anywhere; `make test` calls it.
#   1. npm ci      when node_modules is missing or package-lock.json changed
#   2. check:client  app/src/generated/sibyl.ts is current with idl/sibyl.json
#   3. typecheck     tsc --noEmit (strict) over src/ and test/
#   4. test          node --test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "app: $tool not found (Node >= 20 is needed)" >&2; exit 1; }
done

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

# node_modules/.sibyl-lock records the package-lock.json it was installed from.
stamp=node_modules/.sibyl-lock
lock_sum="$(node -e 'process.stdout.write(require("node:crypto").createHash("sha256").update(require("node:fs").readFileSync("package-lock.json")).digest("hex"))')"
if [[ -d node_modules && -f $stamp && "$(cat "$stamp")" == "$lock_sum" ]]; then
  echo "app: npm ci        skipped (node_modules matches package-lock.json)"
else
  install() { npm ci --no-audit --no-fund --prefer-offline && echo "$lock_sum" >"$stamp"; }
  step "npm ci" install
fi
step check:client npm run --silent check:client
step typecheck npm run --silent typecheck
step test npm run --silent test
