"""Benchmark: what logs, metrics and traces cost a write request.

One quota-svc app in-process (httpx's ASGI transport, no network), on
PostgreSQL when TEST_PG_ADMIN_URL is set (else SQLite), answering
POST /quota/reservations (a hold: one transaction, journal, outbox, audit).
CPU time of the whole process per request (client included) and wall time,
for each configuration, each in a fresh process, alternated over rounds:

- `quiet`:   LOG_LEVEL=WARNING: no request line (the metrics middleware runs)
- `logs`:    the default: one JSON request line per request (to /dev/null)
- `traces`:  the default plus tracing on (spans exported to a null exporter)

    [TEST_PG_ADMIN_URL=…] .venv/bin/python bench/observability_overhead.py [-n 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

CONFIGS = ("quiet", "logs", "traces")


async def measure(config: str, n: int, warmup: int) -> dict[str, Any]:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from quota_svc.app import create
    from quota_svc.settings import Settings
    from svc_common import testing, tracing

    class NullExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    admin = testing.auth("admin", sub="bench.admin")
    officer = testing.auth("officer", ["120119"], sub="bench.officer")
    level = "WARNING" if config == "quiet" else "INFO"
    url = os.environ.get("BENCH_DB_URL") or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/q.db"
    if config == "traces":
        with tracing.use_exporter(NullExporter()):
            app = create(Settings(database_url=url, log_level=level))
    else:
        app = create(Settings(database_url=url, log_level=level))
    async with testing.running(app) as c:
        r = await c.post(
            "/quota/pools/120119/VOCs/baseline", json={"amount_t": "900000"}, headers=admin
        )
        assert r.status_code == 201, r.text

        async def one(i: int) -> None:
            r = await c.post(
                "/quota/reservations",
                json={"district": "120119", "increment_t": "0.001", "project_ref": f"B-{i}"},
                headers=officer,
            )
            assert r.status_code == 201, r.text

        for i in range(warmup):
            await one(i)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(warmup, warmup + n):
            await one(i)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"config": config, "cpu_ms": cpu / n * 1000, "wall_ms": wall / n * 1000}


def middleware_us(n: int) -> float:
    """The request middleware around an app that answers at once: ids,
    language, metrics and (at INFO) the request line, to /dev/null."""
    from svc_common.observability import RequestContextMiddleware, configure_logging

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    configure_logging("INFO")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    mw = RequestContextMiddleware(app, service="bench-svc")
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/bench",
        "headers": [(b"x-request-id", b"req-1"), (b"accept-language", b"zh-CN")],
    }

    async def send(message: Any) -> None:
        return None

    async def loop() -> float:
        for _ in range(1000):
            await mw(dict(scope), None, send)
        start = time.process_time()
        for _ in range(n):
            await mw(dict(scope), None, send)
        return (time.process_time() - start) / n * 1e6

    result = asyncio.run(loop())
    sys.stdout = sys.__stdout__
    return result


async def fresh_database() -> tuple[str | None, Any]:
    if not os.environ.get("TEST_PG_ADMIN_URL"):
        return None, None
    from svc_common import testing

    url = await testing.create_pg_database("obsbench")
    return url, testing.drop_pg_database


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=300)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", choices=CONFIGS)
    p.add_argument(
        "--middleware", action="store_true", help="time the request middleware alone (-n calls)"
    )
    args = p.parse_args()
    if args.middleware:
        print(f"RequestContextMiddleware alone: {middleware_us(args.n):.1f} µs per request")
        return
    if args.child:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the logs' sink for the run
        result = asyncio.run(measure(args.child, args.n, args.warmup))
        sys.__stdout__.write(json.dumps(result) + "\n")
        return
    results: dict[str, list[dict[str, float]]] = {c: [] for c in CONFIGS}
    for _ in range(args.rounds):
        for config in CONFIGS:
            url, drop = asyncio.run(fresh_database())
            env = {**os.environ, **({"BENCH_DB_URL": url} if url else {})}
            out = subprocess.run(
                [sys.executable, __file__, "--child", config, "-n", str(args.n)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            results[config].append(json.loads(out.stdout.strip().splitlines()[-1]))
            if url and drop:
                asyncio.run(drop(url))
    db = "PostgreSQL" if os.environ.get("TEST_PG_ADMIN_URL") else "SQLite"
    print(f"POST /quota/reservations on {db}, {args.n} requests x {args.rounds} rounds")
    print("| configuration | CPU ms/request (median) | wall ms/request (median) |")
    print("|---|---:|---:|")
    base = statistics.median(r["cpu_ms"] for r in results["quiet"])
    for config in CONFIGS:
        cpu = statistics.median(r["cpu_ms"] for r in results[config])
        wall = statistics.median(r["wall_ms"] for r in results[config])
        print(f"| {config} | {cpu:.3f} ({(cpu / base - 1) * 100:+.1f} %) | {wall:.3f} |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
