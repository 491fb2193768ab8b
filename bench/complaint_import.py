"""Seconds a bulk import of complaints takes in supervision-svc, most of
them spent finding each row's duplicates (重复反映) among the complaints of
its district and category received in the window before it.

    .venv/bin/python bench/complaint_import.py --rows 20000 --days 365

(the wall seconds and the process's CPU seconds of the request: on a
shared machine the CPU seconds are the figure to compare).

A synthetic file (seeded: the same rows every run): `--rows` complaints of
one district and one category spread evenly over `--days` days, their
descriptions made of a place, a problem and a time from short lists, so
that many rows repeat another (a few hundred distinct problems, reworded).
It is posted to POST /supervision/complaints:import (JSON lines) through the
app in-process (httpx ASGI transport) on a fresh SQLite file. Printed: the
seconds of the request, the clusters made, the rows marked as repeats, and
a digest of how the rows were grouped (each complaint's case number with
the case number of its cluster's first complaint), which two runs of
different code on the same rows must share.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from supervision_svc.app import create
from supervision_svc.complaints.models import Complaint
from supervision_svc.settings import Settings
from svc_common import clock, testing

DISTRICT = "120110"  # 东丽区
ROADS = [
    a + b
    for a in ("津塘", "先锋", "登州", "成林", "利津", "卫国", "跃进", "金钟", "外环", "新立")
    for b in ("路", "道", "大街")
]
PLACES = [f"{road}{n}号" for road in ROADS for n in range(1, 301)]
SOURCES = ["化工厂", "喷涂车间", "工地", "餐馆油烟", "汽修店", "物流园", "垃圾站", "印刷厂"]
PROBLEMS = ["刺鼻气味", "异味扰民", "夜间施工噪音", "扬尘严重", "黑烟排放", "污水直排"]
TIMES = ["夜间", "凌晨", "每天傍晚", "周末", "连续多日", "下雨天"]
TAILS = ["", "，群众反映强烈", "，请尽快处理", "，多次反映未解决", "，影响休息"]


def rows(n: int, days: int, seed: int = 59) -> list[dict[str, str]]:
    rnd = random.Random(seed)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    span = dt.timedelta(days=days).total_seconds()
    out = []
    for i in range(n):
        place = rnd.choice(PLACES)
        text = f"{place}{rnd.choice(SOURCES)}{rnd.choice(TIMES)}{rnd.choice(PROBLEMS)}"
        out.append(
            {
                "channel": "hotline",
                "received_at": (start + dt.timedelta(seconds=span * i / n)).isoformat(),
                "district": DISTRICT,
                "address": f"东丽区{place}",
                "category": "air",
                "description": text + rnd.choice(TAILS),
            }
        )
    return out


async def run(n: int, days: int) -> None:
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows(n, days))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'supervision.db'}"
        app = create(Settings(database_url=url, log_json=False, log_level="WARNING"))
        now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
        with clock.using(clock.ManualClock(now)):
            async with testing.running(app) as http:
                began, cpu = time.perf_counter(), time.process_time()
                r = await http.post(
                    "/supervision/complaints:import",
                    content=body.encode(),
                    headers={
                        **testing.auth("admin", sub="admin.bench"),
                        "content-type": "application/x-ndjson",
                    },
                    timeout=3600,
                )
                seconds = time.perf_counter() - began
                cpu = time.process_time() - cpu
                assert r.status_code == 200, r.text[:500]
                assert r.json()["totals"]["created"] == n, r.json()["totals"]
                async with app.state.db.session() as s:
                    found = (
                        await s.execute(
                            select(Complaint.case_no, Complaint.cluster_id, Complaint.repeat)
                        )
                    ).all()
    found.sort()
    first: dict[str, str] = {}
    for case_no, cluster, _ in found:
        first.setdefault(cluster, case_no)
    grouping = "\n".join(f"{case_no} {first[cluster]}" for case_no, cluster, _ in found)
    print(
        json.dumps(
            {
                "rows": n,
                "days": days,
                "seconds": round(seconds, 1),
                "cpu_seconds": round(cpu, 1),
                "clusters": len(first),
                "repeats": sum(1 for *_, repeat in found if repeat),
                "grouping_sha256": hashlib.sha256(grouping.encode()).hexdigest()[:16],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=365)
    args = ap.parse_args()
    asyncio.run(run(args.rows, args.days))


if __name__ == "__main__":
    main()
