"""Where a quota write request's CPU goes: quota-svc runs in this process
under uvicorn, wrk drives reservation+allocation pairs from outside, and the
profiler records only the measured window (start-up and warm-up excluded).

    TEST_PG_ADMIN_URL=… .venv/bin/python bench/profile_quota.py [--seconds 10]
        [--sort tottime|cumulative] [--limit 40] [--districts hot|all]

Not part of `make bench`: a tool for the one who optimises. The profiler's
own overhead inflates small functions; read the shares, not the absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import time

import httpx
import uvicorn
from measure import cpu_by_group
from quota_reservations import (
    BASELINE_T,
    DISTRICT_CODES,
    HOT,
    INCREMENT_T,
    ROOT,
    create_database,
    drop_database,
    free_port,
)
from svc_common.auth import mint_token
from svc_common.settings import DEV_JWT_SECRET

#: Where a function's own time is counted, by the path of its module.
GROUPS = [
    ("sqlalchemy", "/sqlalchemy/"),
    ("asyncpg", "/asyncpg/"),
    ("pydantic", "/pydantic"),
    ("fastapi+starlette", "/fastapi/"),
    ("fastapi+starlette", "/starlette/"),
    ("uvicorn+httptools", "/uvicorn/"),
    ("uvicorn+httptools", "httptools"),
    ("structlog+logging", "/structlog/"),
    ("structlog+logging", "/logging/"),
    ("prometheus", "/prometheus_client/"),
    ("jwt+crypto", "/jwt/"),
    ("svc_common", "/svc_common/"),
    ("quota_svc", "/quota_svc/"),
    ("asyncio+uvloop", "/asyncio/"),
    ("asyncio+uvloop", "uvloop"),
    ("json", "/json/"),
]


def print_shares(stats: pstats.Stats, wrk: dict[str, int]) -> None:
    """Own CPU time per library, per write request (each pair is two)."""
    totals = cpu_by_group(stats, GROUPS)
    requests = max(wrk["requests"], 1)
    whole = sum(totals.values())
    print(
        f"profiled CPU {whole:.2f} s over {requests} requests:"
        f" {1000 * whole / requests:.2f} ms each"
    )
    for group, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<22} {1000 * t / requests:6.3f} ms/request  {t / whole:6.1%}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--districts", choices=["hot", "all"], default="all")
    args = ap.parse_args()
    admin = os.environ["TEST_PG_ADMIN_URL"]
    name, dsn = await create_database(admin)
    port = free_port()
    os.environ.update(
        {
            "DATABASE_URL": dsn,
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "HOLD_SWEEP_SECONDS": "3600",
        }
    )
    from quota_svc.app import create
    from quota_svc.settings import Settings

    settings = Settings()
    server = uvicorn.Server(
        uvicorn.Config(
            create(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    base = f"http://127.0.0.1:{port}"
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        admin_h = {"Authorization": "Bearer " + mint_token(DEV_JWT_SECRET, sub="p", role="admin")}
        async with httpx.AsyncClient(base_url=base, headers=admin_h) as c:
            for d in DISTRICT_CODES:
                (
                    await c.post(f"/quota/pools/{d}/VOCs/baseline", json={"amount_t": BASELINE_T})
                ).raise_for_status()
        token = mint_token(
            DEV_JWT_SECRET, sub="p.officer", role="officer", districts=DISTRICT_CODES
        )
        districts = ",".join(HOT if args.districts == "hot" else DISTRICT_CODES)

        async def drive(seconds: float, nonce: str) -> str:
            proc = await asyncio.create_subprocess_exec(
                "wrk",
                f"-t{args.clients}",
                f"-c{args.clients}",
                f"-d{seconds:.0f}s",
                "-s",
                str(ROOT / "bench/wrk/quota_pair.lua"),
                base,
                "--",
                token,
                districts,
                nonce,
                INCREMENT_T,
                stdout=subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            return out.decode()

        await drive(2, "warm")
        prof = cProfile.Profile(time.process_time)  # CPU, not wall time
        prof.enable()
        out = await drive(args.seconds, "measured")
        prof.disable()
        print(next(x for x in out.splitlines() if x.startswith("WRK_RESULT")))
        if os.environ.get("PROFILE_OUT"):
            prof.dump_stats(os.environ["PROFILE_OUT"])
        stats = pstats.Stats(prof, stream=sys.stdout)
        print_shares(stats, json.loads(out.split("WRK_RESULT ", 1)[1].splitlines()[0]))
        stats.sort_stats(args.sort).print_stats(args.limit)
    finally:
        server.should_exit = True
        await serving
        await drop_database(admin, name)


if __name__ == "__main__":
    asyncio.run(main())
