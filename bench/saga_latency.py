"""Benchmark: quota-saga latency on local Kafka, from a filing's acceptance to
its quota being secured, p50 and p99.

The three services run as separate processes on PostgreSQL (one database
each) with a real Kafka broker between them, as in production. For each of N
filings: POST /eia/filings/{id}/accept, then poll GET /eia/filings/{id} until
quota_status leaves "pending". The path measured: eia outbox → relay → Kafka →
quota-svc inbox + reservation + outbox → relay → Kafka → eia-svc inbox.
Polling every 2 ms adds at most that much to each figure.

    TEST_PG_ADMIN_URL=… TEST_KAFKA_BOOTSTRAP=… .venv/bin/python bench/saga_latency.py [-n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from svc_common import testing
from svc_common.uscc import make_uscc

from bureau.stack import Stack

JIZHOU = "120119"
SECRET = testing.DISTRIBUTED_SECRET
OFFICER = testing.auth("officer", [JIZHOU], sub="bench.officer", secret=SECRET)
ADMIN = testing.auth("admin", sub="bench.admin", secret=SECRET)


async def run(n: int) -> None:
    stack = Stack(
        pg_admin_url=testing.pg_admin_url(),
        kafka_bootstrap=testing.kafka_bootstrap(),
        log_dir=Path(tempfile.mkdtemp(prefix="saga-bench-")),
        db_prefix=f"bench{uuid.uuid4().hex[:6]}",
        extra_env={"LOG_LEVEL": "WARNING"},
        jwt_secret=SECRET,
    )
    await stack.start()
    try:
        async with (
            httpx.AsyncClient(base_url=stack.url("eia"), timeout=30) as eia,
            httpx.AsyncClient(base_url=stack.url("quota"), timeout=30) as quota,
        ):
            r = await quota.post(
                f"/quota/pools/{JIZHOU}/VOCs/baseline",
                json={"amount_t": "100000"},
                headers=ADMIN,
            )
            r.raise_for_status()
            latencies: list[float] = []
            for i in range(n + 10):  # the first 10 warm up connections and caches
                body = {
                    "project_name": f"基准项目{i}",
                    "uscc": make_uscc(JIZHOU, 1000 + i),
                    "enterprise_name": f"基准企业{i}",
                    "district": JIZHOU,
                    "project_type": "C2641",
                    "category": "report_form",
                    "vocs_increment_t": "0.01",
                    "major_project": False,
                }
                r = await eia.post("/eia/filings", json=body, headers=OFFICER)
                r.raise_for_status()
                fid = r.json()["id"]
                t0 = time.perf_counter()
                r = await eia.post(f"/eia/filings/{fid}/accept", headers=OFFICER)
                r.raise_for_status()
                while True:
                    f = (await eia.get(f"/eia/filings/{fid}", headers=OFFICER)).json()
                    if f["quota_status"] != "pending":
                        break
                    await asyncio.sleep(0.002)
                if i >= 10:
                    latencies.append((time.perf_counter() - t0) * 1000)
                assert f["quota_status"] == "secured", f
    finally:
        stack.stop()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"saga acceptance → quota secured over Kafka, {len(latencies)} filings:")
    print(f"  p50 {p50:.1f} ms   p99 {p99:.1f} ms   max {latencies[-1]:.1f} ms")
    print("  (the accept request itself is included; aim p50 < 50 ms, p99 < 250 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    asyncio.run(run(parser.parse_args().n))


if __name__ == "__main__":
    main()
