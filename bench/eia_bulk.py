"""Bulk registration filing (登记表备案) on PostgreSQL: rows/s through the API
versus raw INSERTs of the same rows into the same table, in one run.

    TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:55432/postgres \
        .venv/bin/python bench/eia_bulk.py [--rows 50000] [--batch 10000]

A fresh database is created and dropped. The app runs in-process (httpx
ASGITransport, full middleware, auth, validation, screening, numbering, audit
and outbox); its outbox relay runs too, as in production. The baseline writes
the same column values with asyncpg: executemany of a prepared INSERT, and
COPY as the floor of what PostgreSQL itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import logging
import os
import sys
import time
import uuid
from typing import Any

import asyncpg
from eia_svc.app import create
from eia_svc.settings import Settings
from measure import print_verdicts
from svc_common import testing
from svc_common.types import utcnow
from svc_common.uscc import check_character

DISTRICTS = ["120101", "120110", "120114", "120115", "120116", "120119"]
TYPES = ["Q8412", "C2011", "C1431", "O8111", "G5942", "C3311"]
COLUMNS = [
    "row_key",
    "project_name",
    "uscc",
    "enterprise_name",
    "district",
    "project_type",
    "vocs_increment_t",
]


def uscc(i: int) -> str:
    body = f"91120{i:012d}"[:17]
    return body + check_character(body)


def rows(n: int, offset: int) -> list[dict[str, str]]:
    return [
        {
            "row_key": f"bench-{offset + i}",
            "project_name": f"登记表项目 {offset + i}",
            "uscc": uscc(offset + i),
            "enterprise_name": f"天津某企业 {offset + i} 有限公司",
            "district": DISTRICTS[i % len(DISTRICTS)],
            "project_type": TYPES[i % len(TYPES)],
            "vocs_increment_t": "0.075",
        }
        for i in range(n)
    ]


def as_csv(batch: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(batch)
    return buf.getvalue().encode()


def raw_records(batch: list[dict[str, str]], filer: str, tag: str) -> list[tuple[Any, ...]]:
    now = utcnow()
    return [
        (
            str(uuid.uuid4()),
            f"RAW{tag}-{r['district']}-{i:07d}",
            filer,
            r["row_key"],
            r["project_name"],
            r["uscc"],
            r["enterprise_name"],
            r["district"],
            r["project_type"],
            r["project_type"],
            125,
            "filed",
            None,
            now,
        )
        for i, r in enumerate(batch)
    ]


RAW_COLUMNS = [
    "id",
    "filing_no",
    "filer",
    "row_key",
    "project_name",
    "uscc",
    "enterprise_name",
    "district",
    "project_type",
    "industry_code",
    "vocs_increment_kg",
    "status",
    "review_status",
    "filed_at",
]


async def via_api(url: str, batches: list[list[dict[str, str]]]) -> tuple[float, float, int]:
    settings = Settings(database_url=url, log_json=False, log_level="WARNING")
    app = create(settings)
    headers = {**testing.auth("filer", sub="bench.filer"), "content-type": "text/csv"}
    bodies = [as_csv(b) for b in batches]
    async with testing.running(app) as c:
        await c.get("/eia/health")
        t0 = time.perf_counter()
        answers = [
            await c.post("/eia/registrations:bulk", content=body, headers=headers, timeout=300)
            for body in bodies
        ]
        api_s = time.perf_counter() - t0
        # Read after the clock stops: parsing a 10,000-row report is the
        # client's CPU, not the service's (the raw side has no report to read).
        filed = 0
        for r in answers:
            r.raise_for_status()
            filed += r.json()["totals"]["created"]
        t0 = time.perf_counter()
        r = await c.post("/eia/registrations:bulk", content=bodies[0], headers=headers, timeout=300)
        assert r.json()["totals"]["replayed"] == len(batches[0]), r.text[:300]
        replay_s = time.perf_counter() - t0
    return api_s, replay_s, filed


async def raw(url: str, batches: list[list[dict[str, str]]]) -> tuple[float, float]:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    cols = ", ".join(RAW_COLUMNS)
    marks = ", ".join(f"${i + 1}" for i in range(len(RAW_COLUMNS)))
    sql = f"INSERT INTO registrations ({cols}) VALUES ({marks})"
    try:
        recs = [raw_records(b, "raw.insert", f"I{k}") for k, b in enumerate(batches)]
        t0 = time.perf_counter()
        for batch in recs:
            async with conn.transaction():
                await conn.executemany(sql, batch)
        insert_s = time.perf_counter() - t0
        recs = [raw_records(b, "raw.copy", f"C{k}") for k, b in enumerate(batches)]
        t0 = time.perf_counter()
        for batch in recs:
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "registrations", records=batch, columns=RAW_COLUMNS
                )
        copy_s = time.perf_counter() - t0
    finally:
        await conn.close()
    return insert_s, copy_s


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    if not os.environ.get("TEST_PG_ADMIN_URL"):
        sys.exit("TEST_PG_ADMIN_URL is not set (a PostgreSQL admin URL)")
    logging.disable(logging.INFO)
    all_rows = rows(args.rows, 0)
    batches = [all_rows[i : i + args.batch] for i in range(0, len(all_rows), args.batch)]
    url = await testing.create_pg_database("bench_eia")
    try:
        api_s, replay_s, filed = await via_api(url, batches)
        insert_s, copy_s = await raw(url, batches)
    finally:
        await testing.drop_pg_database(url)
    n = len(all_rows)
    assert filed == n, f"only {filed} of {n} rows were filed"
    api_rate, insert_rate, copy_rate = n / api_s, n / insert_s, n / copy_s
    print(f"rows: {n} in uploads of {args.batch} (CSV), PostgreSQL, one run")
    print(f"API bulk filing        : {api_rate:10,.0f} rows/s  ({api_s:.2f} s)")
    print(
        f"API replay (same keys) : {len(batches[0]) / replay_s:10,.0f} rows/s  ({replay_s:.2f} s)"
    )
    print(f"raw INSERT executemany : {insert_rate:10,.0f} rows/s  ({insert_s:.2f} s)")
    print(f"raw COPY               : {copy_rate:10,.0f} rows/s  ({copy_s:.2f} s)")
    print(f"API / raw INSERT       : {api_rate / insert_rate:10.2f}")
    print(f"API / raw COPY         : {api_rate / copy_rate:10.2f}")
    print_verdicts(
        [
            (
                "eia bulk filing / raw INSERT",
                "≥ 50 %",
                f"{api_rate / insert_rate:.0%}",
                api_rate >= 0.5 * insert_rate,
            ),
            (
                "eia bulk filing / raw COPY",
                "≥ 25 %",
                f"{api_rate / copy_rate:.0%}",
                api_rate >= 0.25 * copy_rate,
            ),
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
