"""Benchmark: one relay claim on PostgreSQL against an outbox backlog.

After a broker outage the outbox holds thousands of unsent rows, and every
relay pass claims the oldest `limit` of them in key order (the claim's
`held_back`: an earlier unsent row of a key outside the claim holds the key
back). This times that one statement, alternating, each in a transaction
rolled back after it: before (an EXISTS per claimed row, on the indexes of
the time), the same statement on today's partial indexes of unsent rows,
and today's (one walk per key). Backlogs of several sizes
over 16 keys (a pool's events share its key) plus one key per project, with
the table's statistics fresh (ANALYZE) and stale (never analyzed, as in the
first minute after a backlog builds up).

    TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:55432/postgres \
        .venv/bin/python bench/outbox_claim.py [--rounds 20] [--limit 500]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import time
import uuid

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine
from svc_common.outbox import _CLAIM_IN_KEY_ORDER
from svc_common.tables import OutboxRow

#: The claim as it was before 2026-12-02: the key-order check row by row.
BEFORE = """
    WITH claimed AS (
        SELECT seq, key, topic, envelope, attempts FROM outbox
        WHERE sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
        ORDER BY seq
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    SELECT c.seq, c.key, c.topic, c.envelope, c.attempts,
        EXISTS (
            SELECT 1 FROM outbox o
            WHERE o.key = c.key AND o.sent_at IS NULL AND o.seq < c.seq
              AND o.seq NOT IN (SELECT seq FROM claimed)
        ) AS held_back
    FROM claimed c
    ORDER BY c.seq
"""
AFTER = (
    str(_CLAIM_IN_KEY_ORDER.compile())
    .replace(":now", "$1")
    .replace(":limit", "$2")
    .replace(":skip", "$3")
)

ENVELOPE = '{"specversion": "1.0", "data": {"reservation_id": "%s", "pad": "%s"}}'


async def fill(conn: asyncpg.Connection, sent: int, unsent: int) -> None:
    """`sent` rows already published and `unsent` waiting; half of each on
    16 pool keys, half on a key of their own (a reservation's)."""
    for n, sent_at in ((sent, "now()"), (unsent, "NULL")):
        await conn.execute(
            f"""
            INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at,
                                sent_at, attempts)
            SELECT md5(random()::text || g), 'quota.events',
                   CASE WHEN g % 2 = 0 THEN 'pool:' || (g % 32) ELSE 'res:' || g END,
                   'quota.reserved.v1', format($1, g, repeat('x', 600))::jsonb, now(),
                   {sent_at}, 0
            FROM generate_series(1, $2) g
            """,
            ENVELOPE,
            n,
        )


async def time_claim(conn: asyncpg.Connection, sql: str, limit: int) -> tuple[float, int]:
    tr = conn.transaction()
    await tr.start()
    t = time.perf_counter()
    args: list[object] = [dt.datetime.now(dt.UTC), limit]
    if "$3" in sql:
        args.append([])  # no keys left out: a drain's first claim
    rows = await conn.fetch(sql, *args)
    elapsed = (time.perf_counter() - t) * 1000
    await tr.rollback()
    return elapsed, sum(1 for r in rows if r["held_back"])


async def _database(admin: str, url: str, name: str, indexes: bool) -> asyncpg.Connection:
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as c:
        await c.run_sync(OutboxRow.metadata.create_all)
    await engine.dispose()
    conn = await asyncpg.connect(url)
    if not indexes:  # the table as it was: no partial indexes of unsent rows
        await conn.execute("DROP INDEX ix_outbox_unsent_seq, ix_outbox_unsent_key_seq")
    return conn


async def run(admin: str, unsent: int, analyzed: bool, rounds: int, limit: int) -> None:
    """Three claims side by side: the statement and indexes before, the
    statement before on today's indexes, and today's statement."""
    tag = uuid.uuid4().hex[:8]
    names = {"old": f"bench_claim_old_{tag}", "new": f"bench_claim_new_{tag}"}
    urls = {k: admin.rsplit("/", 1)[0] + "/" + n for k, n in names.items()}
    conns: dict[str, asyncpg.Connection] = {}
    try:
        for k in names:
            conn = conns[k] = await _database(admin, urls[k], names[k], indexes=k == "new")
            if not analyzed:
                await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
                await conn.execute("ANALYZE outbox")  # of the empty table
            await fill(conn, sent=20_000, unsent=unsent)
            # Four pool keys wait behind a row in back-off: their later rows are held back.
            await conn.execute(
                """
                UPDATE outbox SET next_attempt_at = now() + interval '1 hour'
                WHERE seq IN (
                    SELECT min(seq) FROM outbox WHERE sent_at IS NULL AND key LIKE 'pool:%'
                    GROUP BY key ORDER BY key LIMIT 4
                )
                """
            )
            if analyzed:
                await conn.execute("VACUUM ANALYZE outbox")
        cases = {
            "before": (conns["old"], BEFORE),
            "indexes": (conns["new"], BEFORE),
            "after": (conns["new"], AFTER),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        held: dict[str, int] = {}
        for _ in range(rounds):
            for label, (conn, sql) in cases.items():
                ms, held[label] = await time_claim(conn, sql, limit)
                times[label].append(ms)
        assert len(set(held.values())) == 1, held
        m = {k: statistics.median(v) for k, v in times.items()}
        stats = "fresh" if analyzed else "stale"
        print(
            f"{unsent:>7} {stats:<6} {m['before']:>10.2f} {m['indexes']:>10.2f}"
            f" {m['after']:>10.2f} {m['before'] / m['after']:>7.1f}×"
        )
    finally:
        for conn in conns.values():
            await conn.close()
        conn = await asyncpg.connect(admin)
        for n in names.values():
            await conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        await conn.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--backlogs", default="1000,5000,20000")
    args = ap.parse_args()
    admin = os.environ.get("TEST_PG_ADMIN_URL")
    if not admin:
        sys.exit("set TEST_PG_ADMIN_URL (e.g. postgresql://postgres@127.0.0.1:55432/postgres)")
    print(
        f"one relay claim of {args.limit} rows, median of {args.rounds} (ms), "
        "20,000 sent rows beside the backlog"
    )
    print(
        f"{'unsent':>7} {'stats':<6} {'before':>10} {'+indexes':>10} {'after':>10}"
        f" {'before/after':>8}"
    )
    for unsent in (int(n) for n in args.backlogs.split(",")):
        for analyzed in (True, False):
            await run(admin, unsent, analyzed, args.rounds, args.limit)


if __name__ == "__main__":
    asyncio.run(main())
