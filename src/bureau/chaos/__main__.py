"""`python -m bureau.chaos` (what `make chaos` runs): one chaos run against
the PostgreSQL and Kafka given by PG_ADMIN_URL and KAFKA_BOOTSTRAP, with
KAFKA_CTL and PG_CTL the scripts that stop and start them. Prints the
summary, writes the report as JSON to CHAOS_REPORT if set, and exits 1 if an
invariant failed."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from bureau.chaos.run import run
from bureau.chaos.settings import ChaosSettings


def _need(*names: str) -> str:
    for name in names:
        if value := os.environ.get(name):
            return value
    sys.exit(f"set {' or '.join(names)} (scripts/chaos.sh does)")


def main() -> None:
    settings = ChaosSettings.from_env()
    work_dir = Path(os.environ.get("CHAOS_WORK_DIR") or tempfile.mkdtemp(prefix="chaos-"))
    report = asyncio.run(
        run(
            settings,
            pg_admin_url=_need("PG_ADMIN_URL", "TEST_PG_ADMIN_URL"),
            kafka_bootstrap=_need("KAFKA_BOOTSTRAP", "TEST_KAFKA_BOOTSTRAP"),
            kafka_ctl=_need("KAFKA_CTL"),
            pg_ctl=_need("PG_CTL"),
            work_dir=work_dir,
        )
    )
    print(report.summary())
    if path := os.environ.get("CHAOS_REPORT"):
        Path(path).write_text(json.dumps(report.__dict__, ensure_ascii=False, indent=2))
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
