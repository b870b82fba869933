#!/usr/bin/env bash
# Installs what the web app's browser tests need: Debian's Chromium
# (/usr/bin/chromium; a test tool's own browser download cannot work here).
# Idempotent: prints one line when Chromium is already there.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    echo "setup-browser: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") (current)"
    exit 0
fi
if [ "$CHROMIUM" != /usr/bin/chromium ]; then
    echo "setup-browser: CHROMIUM=$CHROMIUM is not an executable" >&2
    exit 1
fi
command -v apt-get >/dev/null || { echo "setup-browser: $CHROMIUM is missing and apt-get is not available: install Chromium and set CHROMIUM=/path/to/it" >&2; exit 1; }
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup-browser: installing Chromium needs root (or sudo)" >&2; exit 1; }
    sudo="sudo"
fi
echo "setup-browser: installing Debian's chromium package (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "setup-browser: $("$CHROMIUM" --version)"
