"""How fast this machine runs Python and PostgreSQL's commits right now, printed
first by `make bench` so that each run says what it ran on.

The aims in milliseconds of CPU (a write request, a read, the saga's p50)
are absolute, and the API side of every ratio is Python on one core a
replica while the raw side is mostly PostgreSQL: on a machine slower at
running Python the same code misses aims it meets elsewhere
(bench/RESULTS.md, 2026-12-05). The figures here let two runs be compared:
a pure-Python loop (10^7 additions, best of three), one-row INSERT
transactions on one connection (commits a second) and `SELECT 1` on one
connection (round trips a second).

The cluster `make bench` starts has no durability to pay for (fsync,
synchronous_commit and full_page_writes off: deploy/local/postgres.sh), so
a commit never waits for the disk: both PostgreSQL figures are mostly the
round trip between two processes, a client woken when the server answers
and the server when the client writes. How long a wakeup takes is what
the host's load moves most: 45 µs a round trip on an idle machine, 300-400
µs on a busy one. The raw side of the hot-pool figure makes about six
round trips a transaction and the API's batches share theirs, so this
figure, not the disk, decides which side the hour favours (bench/RESULTS.md).

    TEST_PG_ADMIN_URL=… .venv/bin/python bench/machine_speed.py
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import asyncpg

#: Loops of the pure-Python figure.
LOOP = 10**7
#: Transactions of the commit figure.
COMMITS = 500


def python_loop_seconds() -> float:
    """The best of three runs of a loop of LOOP additions."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(LOOP):
            total += i
        best = min(best, time.perf_counter() - start)
    assert total == LOOP * (LOOP - 1) // 2
    return best


async def commits_per_second(admin: str) -> tuple[float, float]:
    """One-row INSERT transactions a second on one connection, in a
    database of its own (dropped after), and `SELECT 1` round trips a
    second on the same connection."""
    name = f"bench_speed_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        db = await asyncpg.connect(admin.rsplit("/", 1)[0] + "/" + name)
        try:
            await db.execute("CREATE TABLE t (id bigint PRIMARY KEY)")
            start = time.perf_counter()
            for i in range(COMMITS):
                await db.execute("INSERT INTO t VALUES ($1)", i)
            commits = COMMITS / (time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(COMMITS):
                await db.fetchval("SELECT 1")
            return commits, COMMITS / (time.perf_counter() - start)
        finally:
            await db.close()
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.close()


def main() -> None:
    print(f"this machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"pure-Python loop of 10^7 additions: {python_loop_seconds():.2f} s (best of 3)")
    admin = os.environ.get("TEST_PG_ADMIN_URL")
    if admin:
        commits, trips = asyncio.run(commits_per_second(admin))
        print(f"PostgreSQL one-row commits on one connection: {commits:.0f}/s")
        print(
            f"PostgreSQL round trips (SELECT 1) on one connection: {trips:.0f}/s"
            f" ({1e6 / trips:.0f} µs each; the cluster does not fsync)"
        )


if __name__ == "__main__":
    main()
