"""Benchmark: the CPU a read request costs quota-svc (issue 14's aim: ≤ 0.7 ms).

quota-svc runs in its own process (uvloop, httptools) on a fresh PostgreSQL
database with one reservation; wrk (compiled) reads it again and again:

  health       GET /quota/health: the whole app's middleware, no token, no
               database — the floor every request pays;
  reservation  GET /quota/reservations/{id}: a bearer token, its role and
               district, one row read, the JSON answer;
  availability GET /quota/availability?district=…: what investment staff
               read (the pool, the ratio in force, what fits).

The service's CPU per request is read from /proc around each run.

    TEST_PG_ADMIN_URL=postgresql://postgres@127.0.0.1:55432/postgres \\
        .venv/bin/python bench/read_request.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys

import httpx
from measure import print_verdicts, tree_cpu_seconds
from quota_reservations import create_database, drop_database, free_port, start_server, wait_ready
from svc_common.auth import mint_token
from svc_common.settings import DEV_JWT_SECRET

AIM_MS = 0.7


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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    args = ap.parse_args()
    admin = os.environ.get("TEST_PG_ADMIN_URL")
    if not admin:
        sys.exit("set TEST_PG_ADMIN_URL (e.g. postgresql://postgres@127.0.0.1:55432/postgres)")
    name, dsn = await create_database(admin)
    port = free_port()
    server = start_server(dsn, port)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        token = mint_token(DEV_JWT_SECRET, sub="bench.admin", role="admin")
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}
        ) as c:
            r = await c.post("/quota/pools/120101/VOCs/baseline", json={"amount_t": "1000"})
            r.raise_for_status()
            r = await c.post(
                "/quota/reservations",
                json={"district": "120101", "increment_t": "1", "project_ref": "bench-read"},
            )
            r.raise_for_status()
            rid = r.json()["id"]
        rows = [
            ("health", *cpu_per_request(server.pid, f"{base}/quota/health", args.seconds, None)),
            (
                "reservation",
                *cpu_per_request(
                    server.pid, f"{base}/quota/reservations/{rid}", args.seconds, token
                ),
            ),
            (
                "availability",
                *cpu_per_request(
                    server.pid, f"{base}/quota/availability?district=120101", args.seconds, token
                ),
            ),
            (
                "availability, all districts",
                *cpu_per_request(server.pid, f"{base}/quota/availability", args.seconds, token),
            ),
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
        await drop_database(admin, name)
    print(f"quota-svc read requests, wrk 16 connections, {args.seconds} s per run")
    print(f"{'request':<28} {'req/s':>8} {'CPU ms/request':>15}")
    for what, rate, ms in rows:
        print(f"{what:<28} {rate:>8.0f} {ms:>15.3f}")
    print_verdicts(
        [
            (f"quota read request CPU ({what})", f"≤ {AIM_MS} ms", f"{ms:.2f} ms", ms <= AIM_MS)
            for what, _rate, ms in rows[1:]
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
