#!/usr/bin/env bash
# Install mmfusion (and extras) into a virtual environment, pinned by constraints.txt.
#
#   scripts/install.sh VENV_PYTHON CONSTRAINTS SPEC...      e.g. .venv/bin/python constraints.txt -e .
#
# Why uv: the CUDA build of torch comes with ~3 GB of nvidia wheels; pip unpacks (and byte-compiles)
# them on one core, 127 s for `make setup` on this 2-core machine, where uv unpacks in parallel.
# MMFUSION_COMPILE_BYTECODE=1 (set by `make setup-test`) then byte-compiles the whole environment
# with compileall (~30 s on 2 cores the first time, seconds after; uv's --compile-bytecode covers only
# the packages it installs in that call, not torch installed before): wherever .pyc files are not written
# (PYTHONDONTWRITEBYTECODE, read-only site-packages) every new Python process otherwise compiles
# torch's modules again, ~6 s each, and the tests start dozens of recipe subprocesses; the demo is
# one process, which the compile would cost more than it saves (docs/performance.md, "Demo end to end"). uv does not read pip's configuration, so the indexes pip is configured with
# (a local mirror, a wheel folder: `pip config list`, PIP_* variables) are passed on, and pip's
# resolution over several indexes is kept (--index-strategy unsafe-best-match: the best version
# found on any index, as pip does). Where uv cannot be installed (no PyPI access), or
# MMFUSION_INSTALLER=pip, pip does the job as before.
set -euo pipefail
PY=$1; CONSTRAINTS=$2; shift 2
BIN=$(dirname "$PY")

pip_install() {
  "$PY" -m pip install -q -c "$CONSTRAINTS" "$@"
}

if [ "${MMFUSION_INSTALLER:-uv}" = "pip" ]; then
  pip_install "$@"; exit 0
fi
if [ ! -x "$BIN/uv" ] && ! "$PY" -m pip install -q -c "$CONSTRAINTS" uv >/dev/null 2>&1; then
  echo "[setup] uv could not be installed; installing with pip (slower)" >&2
  pip_install "$@"; exit 0
fi

# pip's configured indexes -> uv flags (a value may hold several URLs separated by spaces)
args=()
cfg() {  # the first non-empty of: environment variable, pip config global.KEY, pip config install.KEY
  local key=$2 value=${!1:-}
  [ -n "$value" ] || value=$("$PY" -m pip config get "global.$key" 2>/dev/null || true)
  [ -n "$value" ] || value=$("$PY" -m pip config get "install.$key" 2>/dev/null || true)
  printf '%s' "$value"
}
index=$(cfg PIP_INDEX_URL index-url)
[ -z "$index" ] || args+=(--index-url "$index")
for url in $(cfg PIP_EXTRA_INDEX_URL extra-index-url); do args+=(--extra-index-url "$url"); done
for dir in $(cfg PIP_FIND_LINKS find-links); do args+=(--find-links "$dir"); done

"$BIN/uv" pip install -q --python "$PY" --index-strategy unsafe-best-match "${args[@]}" -c "$CONSTRAINTS" "$@"

if [ "${MMFUSION_COMPILE_BYTECODE:-0}" = 1 ]; then
  # a few vendored files in site-packages do not compile (old syntax): not an error for us
  "$PY" -m compileall -q -j 0 "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    >/dev/null 2>&1 || true
fi
