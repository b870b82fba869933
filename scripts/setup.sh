#!/usr/bin/env bash
# Sets up the project-local Python tooling and the ONNX Runtime shared library:
#
#   .local/venv/                               Python venv with models/requirements.txt
#                                              and tests/clients/python/requirements.txt
#   .local/onnxruntime/libonnxruntime.so.1.31.1  copied from the onnxruntime wheel,
#                                              SHA-256 verified
#   .local/setup.stamp                         marks a completed setup
#
# Idempotent: when everything is in place it prints one line and exits.
# Needs only python3 (with the venv module) and access to PyPI on first run.
set -euo pipefail

ORT_VERSION="1.31.1"
ORT_LIB="libonnxruntime.so.${ORT_VERSION}"
ORT_LIB_SHA256="fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOCAL=".local"
VENV="$LOCAL/venv"
VENV_PY="$VENV/bin/python"
REQS="models/requirements.txt"
CLIENT_REQS="tests/clients/python/requirements.txt"
LIB_DIR="$LOCAL/onnxruntime"
LIB_DEST="$LIB_DIR/$ORT_LIB"
STAMP="$LOCAL/setup.stamp"

say() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

[ -f "$REQS" ] || die "$REQS not found (is $ROOT the repository root?)"

# The stamp records what the last successful setup was done for.
want_stamp="requirements-sha256 $(sha256_of "$REQS")
client-requirements-sha256 $(sha256_of "$CLIENT_REQS")
onnxruntime-lib-sha256 $ORT_LIB_SHA256"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
    && [ -x "$VENV_PY" ] && [ -f "$LIB_DEST" ] \
    && [ "$(sha256_of "$LIB_DEST")" = "$ORT_LIB_SHA256" ]; then
    say "python venv and ONNX Runtime $ORT_VERSION in $LOCAL (current)"
    exit 0
fi
rm -f "$STAMP"

command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH"
mkdir -p "$LOCAL"

# 1. venv (recreated if missing or broken, e.g. after the system python moved,
#    or left without pip by a failed earlier attempt)
if [ ! -x "$VENV_PY" ] || ! "$VENV_PY" -m pip --version >/dev/null 2>&1; then
    say "creating python venv in $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" \
        || die "'python3 -m venv' failed (on Debian/Ubuntu install the python3-venv package)"
fi

# 2. pinned packages: the fixture tools and Solana's Python client
say "installing $REQS and $CLIENT_REQS into $VENV (a fresh install downloads ~110 MB)"
"$VENV_PY" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQS" -r "$CLIENT_REQS" \
    || die "pip install -r $REQS -r $CLIENT_REQS failed"

# 3. the ONNX Runtime shared library shipped inside the onnxruntime wheel
capi_dir="$("$VENV_PY" -c '
import importlib.util, os
spec = importlib.util.find_spec("onnxruntime")
print(os.path.join(os.path.dirname(spec.origin), "capi"))
')" || die "could not locate the installed onnxruntime package"
src="$capi_dir/$ORT_LIB"
[ -f "$src" ] || die "$src not found: the installed onnxruntime wheel does not ship $ORT_LIB"

got="$(sha256_of "$src")"
if [ "$got" != "$ORT_LIB_SHA256" ]; then
    die "SHA-256 mismatch for $src
    expected $ORT_LIB_SHA256
    got      $got
  The onnxruntime wheel pip installed is not the expected $ORT_VERSION build; refusing to use it."
fi

say "copying $ORT_LIB to $LIB_DIR"
mkdir -p "$LIB_DIR"
tmp="$LIB_DEST.tmp.$$"
cp "$src" "$tmp"
got="$(sha256_of "$tmp")"
if [ "$got" != "$ORT_LIB_SHA256" ]; then
    rm -f "$tmp"
    die "SHA-256 mismatch after copying to $LIB_DEST (expected $ORT_LIB_SHA256, got $got)"
fi
mv -f "$tmp" "$LIB_DEST"

printf '%s\n' "$want_stamp" > "$STAMP"
say "done: python venv in $VENV, ONNX Runtime $ORT_VERSION at $LIB_DEST (sha256 verified)"
