#!/usr/bin/env bash
# What `make bench` needs beyond scripts/setup.sh: the ONNX Runtime 1.32.0
# library, for the determinism matrix's runtime-version column. It comes out
# of the onnxruntime 1.32.0 wheel from PyPI (downloaded, not installed) and
# is SHA-256 checked:
#
#   .local/bench/onnxruntime-1.32.0/libonnxruntime.so.1.32.0
#
# Idempotent. Never used by a node: nodes load only the pinned 1.31.1.
set -euo pipefail

VERSION="1.32.0"
LIB="libonnxruntime.so.${VERSION}"
LIB_SHA256="6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEST_DIR=".local/bench/onnxruntime-${VERSION}"
DEST="$DEST_DIR/$LIB"
PY=".local/venv/bin/python"

if [ -f "$DEST" ] && [ "$(sha256sum "$DEST" | cut -d' ' -f1)" = "$LIB_SHA256" ]; then
    echo "bench-setup: ONNX Runtime $VERSION in $DEST_DIR (current)"
    exit 0
fi
[ -x "$PY" ] || { echo "bench-setup: run scripts/setup.sh first" >&2; exit 1; }
mkdir -p "$DEST_DIR/wheel"
echo "bench-setup: downloading the onnxruntime $VERSION wheel (~17 MB)"
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "onnxruntime==$VERSION" -d "$DEST_DIR/wheel"
"$PY" - "$DEST_DIR" "$LIB" <<'PY'
import glob, sys, zipfile
dest, lib = sys.argv[1], sys.argv[2]
wheel = glob.glob(f"{dest}/wheel/onnxruntime-*.whl")[0]
with zipfile.ZipFile(wheel) as archive, open(f"{dest}/{lib}", "wb") as out:
    out.write(archive.read(f"onnxruntime/capi/{lib}"))
PY
got="$(sha256sum "$DEST" | cut -d' ' -f1)"
if [ "$got" != "$LIB_SHA256" ]; then
    rm -f "$DEST"
    echo "bench-setup: $LIB has SHA-256 $got, expected $LIB_SHA256" >&2
    exit 1
fi
rm -rf "$DEST_DIR/wheel"
echo "bench-setup: ONNX Runtime $VERSION in $DEST_DIR"
