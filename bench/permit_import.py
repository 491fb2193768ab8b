"""Bulk enterprise import rate of permit-svc, against the raw INSERT rate of
the same rows straight to the same database, measured side by side.

    TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/permit_import.py --rows 50000

For each database (SQLite file, PostgreSQL): a fresh migrated database, then
(1) raw: plain INSERTs of the same columns by the driver itself, in one
transaction, by each of executemany, multi-row VALUES and (PostgreSQL) unnest
of column arrays; the fastest is the yardstick; (2) API: POST
/permit/enterprises:import (JSON lines, `--batch` rows per request) through the
app in-process (httpx ASGI transport, no
network), which validates every row (USCC check, district, industry) and
upserts. Each figure is rows per second; the ratio is API / raw. The same rows
(deterministic USCCs) are used for both, in separate fresh databases.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
from measure import print_verdicts
from permit_svc.app import create
from permit_svc.settings import Settings
from svc_common import testing
from svc_common.migrate import upgrade_async
from svc_common.uscc import make_uscc

MIGRATIONS = Path(create.__code__.co_filename).parent / "migrations"
DISTRICTS = ["120115", "120119", "120116", "120114"]
INDUSTRIES = ["2641", "2614", "2110", "3311", "2921", "3670", "1320", "3130"]
COLUMNS = (
    "uscc",
    "name",
    "district",
    "industry_code",
    "category",
    "address",
    "operating_status",
    "created_at",
    "updated_at",
)
CATEGORY = {"2641": "key", "2614": "key", "3130": "key", "2110": "simplified"}
NATIONAL_REGISTER = 3_600_000


def rows(n: int) -> list[dict[str, str]]:
    return [
        {
            "uscc": make_uscc(DISTRICTS[i % 4], i),
            "name": f"天津市测试企业{i:07d}有限公司",
            "district": DISTRICTS[i % 4],
            "industry_code": INDUSTRIES[i % len(INDUSTRIES)],
            "address": f"工业园区{i % 500}号路{i}号",
        }
        for i in range(n)
    ]


def raw_tuples(data: list[dict[str, str]]) -> list[tuple[object, ...]]:
    now = dt.datetime.now(dt.UTC)
    return [
        (
            r["uscc"],
            r["name"],
            r["district"],
            r["industry_code"],
            CATEGORY.get(r["industry_code"], "registration"),
            r["address"],
            "operating",
            now,
            now,
        )
        for r in data
    ]


def _insert_sql(placeholders: str) -> str:
    return f"INSERT INTO enterprises ({', '.join(COLUMNS)}) VALUES {placeholders}"


async def raw_pg(url: str, data: list[dict[str, str]], method: str) -> float:
    """Straight to PostgreSQL with asyncpg, in one transaction."""
    await upgrade_async(MIGRATIONS, url)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    n = len(COLUMNS)
    tuples = raw_tuples(data)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            if method == "executemany":
                one = "(" + ", ".join(f"${i + 1}" for i in range(n)) + ")"
                await conn.executemany(_insert_sql(one), tuples)
            elif method == "multi-row VALUES":
                per = 3000  # 27,000 parameters: under PostgreSQL's 32,767
                for i in range(0, len(tuples), per):
                    part = tuples[i : i + per]
                    values = ", ".join(
                        "(" + ", ".join(f"${r * n + c + 1}" for c in range(n)) + ")"
                        for r in range(len(part))
                    )
                    await conn.execute(_insert_sql(values), *[v for t in part for v in t])
            else:  # unnest: one array per column, one statement per 2,000 rows
                for i in range(0, len(tuples), 2000):
                    part = tuples[i : i + 2000]
                    cols = [[t[c] for t in part] for c in range(n)]
                    casts = ", ".join(
                        f"${c + 1}::{'timestamptz' if c >= 7 else 'text'}[]" for c in range(n)
                    )
                    await conn.execute(
                        f"INSERT INTO enterprises ({', '.join(COLUMNS)}) "
                        f"SELECT * FROM unnest({casts})",
                        *cols,
                    )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def raw_sqlite(url: str, data: list[dict[str, str]], method: str) -> float:
    """Straight to SQLite with the sqlite3 module, same pragmas as the service."""
    await upgrade_async(MIGRATIONS, url)
    conn = sqlite3.connect(url.split(":///", 1)[1])
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    n = len(COLUMNS)
    tuples = [(*t[:7], str(t[7]), str(t[8])) for t in raw_tuples(data)]
    try:
        started = time.perf_counter()
        with conn:
            if method == "executemany":
                conn.executemany(_insert_sql("(" + ", ".join("?" * n) + ")"), tuples)
            else:  # multi-row VALUES, 500 rows (4,500 variables) a statement
                for i in range(0, len(tuples), 500):
                    part = tuples[i : i + 500]
                    values = ", ".join(["(" + ", ".join("?" * n) + ")"] * len(part))
                    conn.execute(_insert_sql(values), [v for t in part for v in t])
        return time.perf_counter() - started
    finally:
        conn.close()


RAW_METHODS = {
    "sqlite": ("executemany", "multi-row VALUES"),
    "pg": ("executemany", "multi-row VALUES", "unnest"),
}


async def through_api(
    url: str,
    data: list[dict[str, str]],
    batch: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds of `clock` the import's posts took (the wall's by default;
    bench/permit_import_cpu.py asks the process's CPU)."""
    app = create(Settings(database_url=url, log_json=False, log_level="WARNING"))
    headers = {**testing.auth("admin"), "content-type": "application/x-ndjson"}
    bodies = [
        "\n".join(json.dumps(r, ensure_ascii=False) for r in data[i : i + batch]).encode()
        for i in range(0, len(data), batch)
    ]
    async with testing.running(app) as client:
        started = clock()
        answers = [
            await client.post("/permit/enterprises:import", content=body, headers=headers)
            for body in bodies
        ]
        seconds = clock() - started
    # Read after the clock stops: parsing a 10,000-row report is the client's
    # CPU, not the service's (the raw side has no report to read).
    for r in answers:
        assert r.status_code == 200 and r.json()["totals"]["error"] == 0, r.text[:300]
    return seconds


async def measure(kind: str, data: list[dict[str, str]], batch: int) -> dict[str, float]:
    """Seconds for each raw method and for the API, each into a fresh database."""
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in RAW_METHODS[kind]:
            async with testing.database_url(kind, tmp, prefix="bench_raw") as url:
                raw = raw_pg if kind == "pg" else raw_sqlite
                seconds[method] = await raw(url, data, method)
        async with testing.database_url(kind, tmp, prefix="bench_api") as url:
            seconds["API"] = await through_api(url, data, batch)
    return seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per import request")
    parser.add_argument("--only", choices=["sqlite", "pg"], default=None)
    args = parser.parse_args()
    data = rows(args.rows)
    kinds = [args.only] if args.only else ["sqlite", "pg"]
    if "pg" in kinds and not os.environ.get("TEST_PG_ADMIN_URL"):
        raise SystemExit("set TEST_PG_ADMIN_URL for the PostgreSQL run (or --only sqlite)")
    print(f"rows={args.rows} batch={args.batch} cpus={os.cpu_count()}")
    verdicts = []
    for kind in kinds:
        seconds = await measure(kind, data, args.batch)
        rates = {k: args.rows / v for k, v in seconds.items()}
        best = max((k for k in rates if k != "API"), key=rates.__getitem__)
        print(f"\n{kind}")
        for k, rate in rates.items():
            print(f"  {k:<18} {rate:>10,.0f} rows/s  ({seconds[k]:.2f} s)")
        ratio = rates["API"] / rates[best]
        national = dt.timedelta(seconds=round(NATIONAL_REGISTER / rates["API"]))
        print(f"  API / best raw ({best}): {ratio:.0%}")
        print(f"  3.6 million sources through the API at this rate: {national}")
        if kind == "sqlite":
            share = rates["API"] / rates["executemany"]
            verdicts.append(
                ("permit import, SQLite / raw executemany", "≥ 50 %", f"{share:.0%}", share >= 0.5)
            )
    print_verdicts(verdicts)


if __name__ == "__main__":
    asyncio.run(main())
