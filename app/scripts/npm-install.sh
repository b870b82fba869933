#!/usr/bin/env bash
# `npm ci` in app/ when node_modules is missing or was installed from
# another package-lock.json (node_modules/.sibyl-lock records which).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "app: $tool not found (Node >= 20 is needed)" >&2; exit 1; }
done
stamp=node_modules/.sibyl-lock
lock_sum="$(node -e 'process.stdout.write(require("node:crypto").createHash("sha256").update(require("node:fs").readFileSync("package-lock.json")).digest("hex"))')"
if [[ -d node_modules && -f $stamp && "$(cat "$stamp")" == "$lock_sum" ]]; then
  echo "app: npm ci        skipped (node_modules matches package-lock.json)"
  exit 0
fi
start=$SECONDS
npm ci --no-audit --no-fund --prefer-offline >/dev/null
echo "$lock_sum" >"$stamp"
echo "app: npm ci        ok ($((SECONDS - start))s)"
