#!/usr/bin/env bash
# The Debian packages the tests drive, installed with apt-get (as root) when
# missing: Chromium and a Chinese font for the console's browser tests
# (Playwright drives this /usr/bin/chromium and never downloads a browser of
# its own), shellcheck for the deployment scripts, promtool (in Debian's
# prometheus package) for the alert rules and their unit tests.
set -euo pipefail
browser=()
tools=()
[ -x /usr/bin/chromium ] || browser+=(chromium)
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then browser+=(fonts-wqy-zenhei); fi
command -v shellcheck >/dev/null 2>&1 || tools+=(shellcheck)
command -v promtool >/dev/null 2>&1 || tools+=(prometheus)
if [ $((${#browser[@]} + ${#tools[@]})) -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "the tests need: ${browser[*]} ${tools[*]} (apt-get install -y …, as root)" >&2
    exit 1
  fi
  echo "== installing ${browser[*]} ${tools[*]} (Debian packages)"
  apt-get update -qq
  export DEBIAN_FRONTEND=noninteractive
  if [ ${#browser[@]} -gt 0 ]; then
    apt-get install -y -qq "${browser[@]}" >/dev/null
  fi
  if [ ${#tools[@]} -gt 0 ]; then
    # prometheus is wanted for promtool only: nothing it recommends
    apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
  fi
fi
