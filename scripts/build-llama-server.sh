#!/usr/bin/env bash
# Build llama.cpp's native `llama-server` from the llama.cpp sources vendored in
# the llama-cpp-python sdist, into a cache directory (never the repository).
# Idempotent: exits at once when the binary already exists.
#
# Usage: scripts/build-llama-server.sh [DEST_DIR]
#   DEST_DIR defaults to $LOCALCTL_LLAMA_BUILD_DIR or ~/.cache/localctl-test/llama-server
# Prints the path of the binary on its last line.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
DEST="${1:-${LOCALCTL_LLAMA_BUILD_DIR:-$HOME/.cache/localctl-test/llama-server}}"
JOBS="${JOBS:-2}"
PYTHON="${PYTHON:-python3}"
BIN="$DEST/bin/llama-server"

if [[ -x "$BIN" ]]; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$DEST"
WORK="$(mktemp -d "$DEST/work.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
    "llama-cpp-python==$VERSION" -d "$WORK"
tar -xzf "$WORK"/llama_cpp_python-"$VERSION".tar.gz -C "$WORK"
SRC="$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp"

# GGML_NATIVE=OFF: a -march=native build can use CPU features (AMX) that crash here.
nice -n 10 cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >"$WORK/cmake.log"
nice -n 10 cmake --build "$WORK/build" -j"$JOBS" --target llama-server >"$WORK/build.log"

mkdir -p "$DEST/bin"
cp "$WORK/build/bin/llama-server" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
