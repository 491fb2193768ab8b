#!/usr/bin/env bash
# `make test-browser`: only the console's browser tests (they start their own
# embedded server; no PostgreSQL or Kafka needed). UPDATE_SCREENSHOTS=1 also
# refreshes docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/test-deps.sh
.venv/bin/pytest -q -p no:cacheprovider -m browser services/console/tests "$@"
