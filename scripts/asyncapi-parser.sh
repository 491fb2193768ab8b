#!/usr/bin/env bash
# Install the official AsyncAPI parser (@asyncapi/parser, pinned with its lock
# file in tests/contract/asyncapi-parser/) into .local/ with this machine's
# Node.js (20 or later), once; print the directory that holds node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/contract/asyncapi-parser
dir=.local/asyncapi-parser-$(sha256sum "$src/package-lock.json" | cut -c1-12)
if [ ! -f "$dir/node_modules/@asyncapi/parser/package.json" ]; then
  command -v npm >/dev/null || { echo "npm (Node.js 20+) is needed to check the AsyncAPI document" >&2; exit 1; }
  mkdir -p "$dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$(pwd)/$dir"
