"""Benchmark: the CPU a read request costs each service (issue 14's aim:
≤ 0.7 ms a read, in every service).

Each service runs in its own process (uvloop, httptools) on a fresh
PostgreSQL database holding what it reads; wrk (compiled) reads it again
and again:

  quota health       GET /quota/health: the whole app's middleware, no
                     token, no database — the floor every request pays;
  quota reservation  GET /quota/reservations/{id}: a bearer token, its role
                     and district, one row read, the JSON answer;
  quota availability GET /quota/availability?district=…: what investment
                     staff read (the pool, the ratio in force, what fits),
                     and without a district: all sixteen, their default view;
  eia filing         GET /eia/filings/{id}: an EIA filing under review;
  permit enterprise  GET /permit/enterprises/{uscc}: a registered enterprise;
  supervision complaint
                     GET /supervision/complaints/{id}, read by the handling
                     district's officer (its complainant's contact too).

The service's CPU per request is read from /proc around each run.

    TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/read_request.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable

import httpx
from measure import print_verdicts, tree_cpu_seconds
from quota_reservations import create_database, drop_database, free_port, start_server, wait_ready
from svc_common.auth import mint_token
from svc_common.settings import DEV_JWT_SECRET
from svc_common.uscc import make_uscc

AIM_MS = 0.7
BAOHE, DONGLI = "120115", "120110"
#: (what is read, requests/s, service CPU ms per request)
Rows = list[tuple[str, float, float]]


def wrk(url: str, seconds: int, token: str | None) -> tuple[int, int]:
    """(requests answered, non-2xx answers) of one wrk run."""
    cmd = ["wrk", "-t4", "-c16", f"-d{seconds}s"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    done = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if done is None:
        raise RuntimeError(f"wrk said: {out}")
    return int(done.group(1)), int(bad.group(1)) if bad else 0


def cpu_per_request(pid: int, url: str, seconds: int, token: str | None) -> tuple[float, float]:
    """(requests/s, service CPU ms per request), after a 2 s warm-up."""
    wrk(url, 2, token)
    before = tree_cpu_seconds(pid)
    done, bad = wrk(url, seconds, token)
    spent = tree_cpu_seconds(pid) - before
    if bad:
        raise RuntimeError(f"{bad} of {done} answers to {url} were not 2xx")
    return done / seconds, 1000 * spent / max(done, 1)


async def _quota(c: httpx.AsyncClient) -> list[tuple[str, str, bool]]:
    r = await c.post("/quota/pools/120101/VOCs/baseline", json={"amount_t": "1000"})
    r.raise_for_status()
    r = await c.post(
        "/quota/reservations",
        json={"district": "120101", "increment_t": "1", "project_ref": "bench-read"},
    )
    r.raise_for_status()
    return [
        ("quota health", "/quota/health", False),
        ("quota reservation", f"/quota/reservations/{r.json()['id']}", True),
        ("quota availability", "/quota/availability?district=120101", True),
        ("quota availability, all districts", "/quota/availability", True),
    ]


async def _eia(c: httpx.AsyncClient) -> list[tuple[str, str, bool]]:
    body = {
        "project_name": "基准项目",
        "uscc": make_uscc(BAOHE, 1),
        "enterprise_name": "基准企业",
        "district": BAOHE,
        "project_type": "C2641",
        "category": "report_form",
        "vocs_increment_t": "0.01",
        "major_project": False,
    }
    r = await c.post("/eia/filings", json=body)
    r.raise_for_status()
    return [("eia filing", f"/eia/filings/{r.json()['id']}", True)]


async def _permit(c: httpx.AsyncClient) -> list[tuple[str, str, bool]]:
    uscc = make_uscc(BAOHE, 8)
    body = {"uscc": uscc, "name": "基准企业", "district": BAOHE, "industry_code": "2641"}
    (await c.post("/permit/enterprises", json=body)).raise_for_status()
    return [("permit enterprise", f"/permit/enterprises/{uscc}", True)]


async def _supervision(c: httpx.AsyncClient) -> list[tuple[str, str, bool]]:
    body = {
        "channel": "hotline",
        "received_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
        "district": DONGLI,
        "address": "东丽区金钟街道欢庆路88号附近",
        "category": "odor",
        "description": "某化工厂夜间排放刺鼻气味，影响居民休息",
        "complainant": {"name": "王女士", "phone": "13800138000"},
    }
    r = await c.post("/supervision/complaints", json=body)
    r.raise_for_status()
    return [
        ("supervision complaint", f"/supervision/complaints/{r.json()['complaint']['id']}", True)
    ]


#: Per service: what it holds to be read (made through its API) and what is read.
READS: dict[str, Callable[[httpx.AsyncClient], Awaitable[list[tuple[str, str, bool]]]]] = {
    "quota": _quota,
    "eia": _eia,
    "permit": _permit,
    "supervision": _supervision,
}


async def one_service(admin: str, service: str, seconds: int) -> Rows:
    name, dsn = await create_database(admin)
    port = free_port()
    server = start_server(dsn, port, service=service)
    base = f"http://127.0.0.1:{port}"
    # An admin makes what is read; an officer of its districts reads it (the
    # complainant's contact is read for the handling district's officers).
    admin_token = mint_token(DEV_JWT_SECRET, sub="bench.admin", role="admin")
    officer = mint_token(
        DEV_JWT_SECRET, sub="bench.officer", role="officer", districts=["120101", BAOHE, DONGLI]
    )
    try:
        await wait_ready(base, service)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {admin_token}"}
        ) as c:
            reads = await READS[service](c)
        return [
            (what, *cpu_per_request(server.pid, base + path, seconds, officer if auth else None))
            for what, path, auth in reads
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
        await drop_database(admin, name)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    args = ap.parse_args()
    admin = os.environ.get("TEST_PG_ADMIN_URL")
    if not admin:
        sys.exit("set TEST_PG_ADMIN_URL (e.g. postgresql://postgres@127.0.0.1:55432/postgres)")
    rows: Rows = []
    for service in READS:
        rows += await one_service(admin, service, args.seconds)
    print(f"read requests, wrk 16 connections, {args.seconds} s per run")
    print(f"{'request':<34} {'req/s':>8} {'CPU ms/request':>15}")
    for what, rate, ms in rows:
        print(f"{what:<34} {rate:>8.0f} {ms:>15.3f}")
    print_verdicts(
        [
            (f"read request CPU ({what})", f"≤ {AIM_MS} ms", f"{ms:.2f} ms", ms <= AIM_MS)
            for what, _rate, ms in rows
            if what != "quota health"
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
