#!/usr/bin/env bash
# Debian's Chromium and a Chinese font for the console's browser tests:
# installed with apt-get (as root) when missing. Playwright drives this
# /usr/bin/chromium; it never downloads a browser of its own.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then missing+=(fonts-wqy-zenhei); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "the browser tests need: ${missing[*]} (apt-get install -y ${missing[*]}, as root)" >&2
    exit 1
  fi
  echo "== installing ${missing[*]} (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
