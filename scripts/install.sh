#!/usr/bin/env bash
# Install localctl into ./.venv with both llama.cpp backends, built from one source:
#   1. llama-cpp-python (Python bindings + its OpenAI-compatible server, the fallback),
#      built from its sdist with a kept CMake build tree;
#   2. the native llama-server (what `auto` runs), compiled on top of that tree, so only
#      the server's own sources are compiled and it uses the same libraries and flags;
#   3. localctl itself (editable, with the dev tools).
# Portable CPU build (GGML_NATIVE=OFF): a -march=native build uses AMX on CPUs that
# advertise it, which crashes inside many VMs. Add your own flags, e.g. for CUDA:
#   CMAKE_ARGS="-DGGML_CUDA=on" ./scripts/install.sh
# Build logs and sources stay in .venv/llama.cpp/; a rerun only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VERSION=0.3.36
LLAMA="$(pwd)/.venv/llama.cpp"
SRC="$LLAMA/llama_cpp_python-$VERSION"
FLAGS="-DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON ${CMAKE_ARGS:-}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip wheel
mkdir -p "$LLAMA"

sources() {
  [ -f "$SRC/CMakeLists.txt" ] && return
  echo "Fetching the llama-cpp-python $VERSION sources (llama.cpp is vendored in them) ..."
  .venv/bin/python -m pip download -q --no-deps --no-binary :all: \
    "llama-cpp-python==$VERSION" -d "$LLAMA"
  tar -xzf "$LLAMA/llama_cpp_python-$VERSION.tar.gz" -C "$LLAMA"
}

# progress LABEL LOG: keep the whole output in LOG; show ninja's step count.
progress() {
  local tty=0
  [ -t 1 ] && tty=1
  awk -v label="$1" -v logf="$2" -v tty="$tty" '
    { print > logf; fflush(logf) }
    match($0, /\[[0-9]+\/[0-9]+\]/) {
      split(substr($0, RSTART + 1, RLENGTH - 2), p, "/")
      pct = int(100 * p[1] / p[2])
      if (tty) { printf "\r  %s: step %d/%d (%d%%)  ", label, p[1], p[2], pct; fflush() }
      else if (pct >= shown + 10) { printf "  %s: %d%%\n", label, pct; fflush(); shown = pct }
    }
    END { if (tty) printf "\n" }'
}

if ! .venv/bin/python -c "import llama_cpp, llama_cpp.server" 2>/dev/null; then
  sources
  echo "[1/3] Building llama-cpp-python $VERSION (a few minutes; log: $LLAMA/bindings.log)"
  rm -rf "$LLAMA/build"
  if ! CMAKE_ARGS="$FLAGS" .venv/bin/python -m pip install -v --no-cache-dir \
      --config-settings=build-dir="$LLAMA/build" "$SRC[server]" 2>&1 \
      | progress "llama.cpp for Python" "$LLAMA/bindings.log"; then
    tail -n 25 "$LLAMA/bindings.log"
    exit 1
  fi
else
  echo "[1/3] llama-cpp-python is installed"
fi

if [ ! -x "$LLAMA/bin/llama-server" ]; then
  sources
  echo "[2/3] Building the native llama-server from the same llama.cpp sources"
  PYTHON=.venv/bin/python LLAMA_CPP_PYTHON_SRC="$SRC" LLAMA_REUSE_BUILD="$LLAMA/build" \
    CMAKE_ARGS="${CMAKE_ARGS:-}" bash scripts/build-llama-server.sh "$LLAMA" >/dev/null
else
  echo "[2/3] llama-server is built"
fi
ln -sf ../llama.cpp/bin/llama-server .venv/bin/llama-server

echo "[3/3] Installing localctl"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "Installed: .venv/bin/localctl (native backend: .venv/bin/llama-server)"
