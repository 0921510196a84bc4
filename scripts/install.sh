#!/usr/bin/env bash
# Install localctl into ./.venv. llama-cpp-python is built from source with a
# portable CPU build (GGML_NATIVE=OFF): a -march=native build uses AMX on CPUs that
# advertise it, which crashes inside many VMs. Add your own flags, e.g. for CUDA:
#   CMAKE_ARGS="-DGGML_CUDA=on" ./scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip wheel
if ! .venv/bin/python -c "import llama_cpp, llama_cpp.server" 2>/dev/null; then
  echo "Building llama-cpp-python (a few minutes)..."
  CMAKE_ARGS="-DGGML_NATIVE=OFF ${CMAKE_ARGS:-}" .venv/bin/python -m pip install -q --no-cache-dir \
    "llama-cpp-python[server]==0.3.36"
fi
.venv/bin/python -m pip install -q -e ".[dev]"
echo "Installed: .venv/bin/localctl"
