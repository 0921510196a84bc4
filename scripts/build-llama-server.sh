#!/usr/bin/env bash
# Build llama.cpp's native `llama-server` from the llama.cpp sources vendored in
# the llama-cpp-python sdist (the same sources the Python bindings are built from).
# Idempotent: exits at once when DEST_DIR/bin/llama-server already exists.
#
# Usage: scripts/build-llama-server.sh [DEST_DIR]
#   DEST_DIR defaults to $LOCALCTL_LLAMA_BUILD_DIR or ~/.cache/localctl-test/llama-server.
#   The binary and the shared libraries it needs go to DEST_DIR/bin (found through an
#   $ORIGIN run path, so the folder can be linked from anywhere), with build-info.json.
# Environment:
#   LLAMA_CPP_PYTHON_SRC  an extracted llama-cpp-python sdist to use (else one is downloaded)
#   LLAMA_REUSE_BUILD     the CMake build tree that built llama-cpp-python (install.sh keeps
#                         it): only the server's own sources are compiled on top of it,
#                         with exactly the flags the bindings were built with
#   CMAKE_ARGS            extra CMake flags (e.g. -DGGML_CUDA=on), as for llama-cpp-python
#   JOBS                  parallel compile jobs (default: all cores)
# Prints the path of the binary on its last line; progress goes to stderr.
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
DEST="${1:-${LOCALCTL_LLAMA_BUILD_DIR:-$HOME/.cache/localctl-test/llama-server}}"
JOBS="${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}"
PYTHON="${PYTHON:-python3}"
BIN="$DEST/bin/llama-server"
# GGML_NATIVE=OFF: a -march=native build can use CPU features (AMX) that crash in VMs.
FLAGS="-DGGML_NATIVE=OFF -DLLAMA_CURL=OFF ${CMAKE_ARGS:-}"
# Only what llama-server needs: no tests, examples or prebuilt web UI download.
SERVER_FLAGS="-DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
-DLLAMA_BUILD_UI=OFF -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON"

if [[ -x "$BIN" ]]; then
    echo "$BIN"
    exit 0
fi

# progress LABEL LOG: keep the whole build output in LOG; show the compile step count.
progress() {
    local tty=0
    [[ -t 2 ]] && tty=1
    awk -v label="$1" -v logf="$2" -v tty="$tty" '
        { print > logf; fflush(logf) }
        match($0, /\[[0-9]+\/[0-9]+\]/) {
            split(substr($0, RSTART + 1, RLENGTH - 2), p, "/")
            pct = int(100 * p[1] / p[2])
            if (tty) { printf "\r  %s: step %d/%d (%d%%)  ", label, p[1], p[2], pct > "/dev/stderr" }
            else if (pct >= shown + 10) { printf "  %s: %d%%\n", label, pct > "/dev/stderr"; shown = pct }
        }
        END { if (tty) printf "\n" > "/dev/stderr" }'
}

fail() {
    echo "llama-server build failed; last lines of $1:" >&2
    tail -n 25 "$1" >&2
    exit 1
}

mkdir -p "$DEST"
WORK="$(mktemp -d "$DEST/work.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

SRC_ROOT="${LLAMA_CPP_PYTHON_SRC:-}"
if [[ -z "$SRC_ROOT" ]]; then
    echo "  downloading the llama-cpp-python $VERSION sources ..." >&2
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
        "llama-cpp-python==$VERSION" -d "$WORK"
    tar -xzf "$WORK"/llama_cpp_python-"$VERSION".tar.gz -C "$WORK"
    SRC_ROOT="$WORK/llama_cpp_python-$VERSION"
fi

GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
REUSE="${LLAMA_REUSE_BUILD:-}"
CMAKE=cmake
if [[ -n "$REUSE" && -f "$REUSE/CMakeCache.txt" ]]; then
    CACHED_CMAKE="$(sed -n 's/^CMAKE_COMMAND:INTERNAL=//p' "$REUSE/CMakeCache.txt")"
    [[ -x "$CACHED_CMAKE" ]] || REUSE=""   # the build env's own cmake is gone: build afresh
    CMAKE="${CACHED_CMAKE:-cmake}"
else
    REUSE=""
fi

if [[ -n "$REUSE" ]]; then
    # The bindings' tree: add the server on top. LLAVA_BUILD=OFF because llama.cpp's
    # tools/ brings the same mtmd library itself (two definitions would clash).
    BUILD="$REUSE"
    MODE="extends the llama-cpp-python build tree"
    # shellcheck disable=SC2086
    nice -n 10 "$CMAKE" -S "$SRC_ROOT" -B "$BUILD" -DLLAVA_BUILD=OFF $SERVER_FLAGS \
        >"$WORK/cmake.log" 2>&1 || fail "$WORK/cmake.log"
else
    BUILD="$WORK/build"
    MODE="standalone build of the vendored llama.cpp"
    # shellcheck disable=SC2086
    nice -n 10 cmake -S "$SRC_ROOT/vendor/llama.cpp" -B "$BUILD" "${GENERATOR[@]}" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF $FLAGS $SERVER_FLAGS \
        >"$WORK/cmake.log" 2>&1 || fail "$WORK/cmake.log"
fi

echo "  building llama-server ($MODE, $JOBS jobs) ..." >&2
nice -n 10 "$CMAKE" --build "$BUILD" -j"$JOBS" --target llama-server 2>&1 \
    | progress "llama-server" "$WORK/build.log" || fail "$WORK/build.log"

mkdir -p "$DEST/bin"
shopt -s nullglob
for lib in "$BUILD"/bin/lib*.so* "$BUILD"/bin/lib*.dylib; do
    cp -P "$lib" "$DEST/bin/"
done
cp "$BUILD/bin/llama-server" "$BIN.tmp"
if command -v ldd >/dev/null && ldd "$BIN.tmp" | grep -q "not found"; then
    ldd "$BIN.tmp" | grep "not found" >&2
    fail "$WORK/build.log"
fi
VERSION_LINE="$("$BIN.tmp" --version 2>&1 | grep -m1 '^version' || true)"
"$PYTHON" - "$DEST/bin/build-info.json" "$VERSION" "$FLAGS" "$MODE" "$VERSION_LINE" <<'PY'
import json, sys, time
path, version, flags, mode, version_line = sys.argv[1:]
info = {
    "source": f"llama.cpp vendored in llama-cpp-python {version}",
    "llama_cpp_python": version,
    "llama_cpp_version": version_line.removeprefix("version:").strip(),
    "cmake_args": flags.split(),
    "build": mode,
    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
}
with open(path, "w", encoding="utf-8") as fh:
    json.dump(info, fh, indent=1)
PY
mv "$BIN.tmp" "$BIN"
echo "$BIN"
