"""Process CPU seconds of permit-svc's enterprise import on SQLite, in
process (as bench/permit_import.py runs it), with nothing but the posts
measured: the figure to compare two versions by on a busy machine, where
the wall-time ratio of bench/permit_import.py moves with the hour.

    .venv/bin/python bench/permit_import_cpu.py --rows 30000 [--repeat 3]

Each repeat imports the rows into a fresh database; the client's reading of
the report is after the clock stops. Not part of `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time

from permit_import import rows, through_api
from svc_common import testing


async def once(n: int, batch: int) -> float:
    data = rows(n)
    with tempfile.TemporaryDirectory() as tmp:
        async with testing.database_url("sqlite", tmp, prefix="bench_cpu") as url:
            return await through_api(url, data, batch, clock=time.process_time)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--batch", type=int, default=10_000, help="rows per import request")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    logging.disable(logging.INFO)
    runs = [await once(args.rows, args.batch) for _ in range(args.repeat)]
    print(" ".join(f"{c:.3f}" for c in runs), f"median {statistics.median(runs):.3f} s CPU")


if __name__ == "__main__":
    asyncio.run(main())
