#!/usr/bin/env bash
# Create .venv with the locked dependencies (uv.lock), installing uv itself
# first if this machine has none. Only needs Python 3.11 and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
# uv trusts the machine's certificate store (as pip and curl do), not only the
# roots it ships with: behind a proxy that re-signs TLS, those are not enough.
export UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

uv_bin() {
  if command -v uv >/dev/null 2>&1 && uv --version | grep -q "$UV_VERSION"; then
    command -v uv
    return
  fi
  local boot=".local/uv-$UV_VERSION"
  if [ ! -x "$boot/bin/uv" ]; then
    echo "installing uv $UV_VERSION into $boot" >&2
    "$PYTHON" -m venv "$boot"
    "$boot/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  echo "$boot/bin/uv"
}

UV=$(uv_bin)
# The stamp's name changed when the sync began to compile: a .venv made
# before is synced (and compiled) once more.
stamp=.venv/.synced-compiled
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ] || [ uv.lock -nt "$stamp" ] \
   || [ pyproject.toml -nt "$stamp" ]; then
  # Compiled once here, as pip does by default: a Python that may not write
  # its caches (PYTHONDONTWRITEBYTECODE) would otherwise compile every module
  # of FastAPI, SQLAlchemy and pydantic again in every process it starts.
  "$UV" sync --frozen --python "$PYTHON" --quiet --compile-bytecode
  touch "$stamp"
fi
