"""Quota administration: settings, candidates by hand, holds through the
API, the reclaim desk; and the reads of investment staff and officers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bureau_sim.client import Actor
from bureau_sim.workload.city import DISTRICT_CODES, Story

if TYPE_CHECKING:
    from bureau_sim.workload.base import Workload


async def policy_change(w: Workload) -> Story:
    rng = w.rng
    d = rng.choice(DISTRICT_CODES)
    body = {
        "offset_ratio": rng.choice(["1.2", "1.5", "2.0", "3.0"]),
        "hold_days": rng.randint(15, 200),
    }
    op = w.client.op(
        "quota",
        "PUT",
        f"/quota/settings/{d}/VOCs",
        w.admin,
        json_body=body,
        effect="quota.settings.set",
    )
    async for pause in w.send(op):
        yield pause


async def manual_reclaim(w: Workload) -> Story:
    rng = w.rng
    d = rng.choice(DISTRICT_CODES)
    a, b = w.officers[d]
    body = {
        "district": d,
        "amount_t": f"{rng.uniform(0.2, 6):.3f}",
        "source": rng.choice(["manual", "reduction"]),
        "note": "现场核查关停" if rng.random() < 0.5 else "深度治理减排核定",
    }
    op = w.post("quota", "/quota/reclaims", a, body, "quota.reclaim.candidate")
    async for pause in w.send(op):
        yield pause
    if op.status != 201 or op.response is None:
        return
    rid = op.response.body["id"]
    yield w.days(0.5, 10)
    if rng.random() < 0.25:
        # Four eyes: the officer who entered it may not confirm it.
        async for pause in w.send(
            w.post("quota", f"/quota/reclaims/{rid}/confirm", a, {}, "quota.reclaim.confirm")
        ):
            yield pause
    if rng.random() < 0.85:
        op = w.post("quota", f"/quota/reclaims/{rid}/confirm", b, {}, "quota.reclaim.confirm")
    else:
        op = w.post(
            "quota",
            f"/quota/reclaims/{rid}/reject",
            b,
            {"reason": "核查不实"},
            "quota.reclaim.reject",
        )
    async for pause in w.send(op):
        yield pause


async def manual_reservation(w: Workload, district: str | None = None) -> Story:
    rng = w.rng
    d = district or rng.choice(DISTRICT_CODES)
    officer = w.officers[d][rng.randrange(2)]
    w._serial += 1
    body = {
        "district": d,
        "increment_t": f"{rng.uniform(0.1, 3):.3f}",
        "project_ref": f"plan-{w._serial}",
    }
    op = w.post("quota", "/quota/reservations", officer, body, "quota.reserve")
    async for pause in w.send(op):
        yield pause
    if op.status != 201 or op.response is None:
        return
    rid = op.response.body["id"]
    yield w.days(1, 40)
    x = rng.random()
    if x < 0.45:
        op = w.post("quota", f"/quota/reservations/{rid}/allocate", officer, {}, "quota.allocate")
    elif x < 0.75:
        op = w.post(
            "quota",
            f"/quota/reservations/{rid}/release",
            officer,
            {"reason": "项目调整"},
            "quota.release",
        )
    else:
        return  # left to expire
    async for pause in w.send(op):
        yield pause


async def desk_round(w: Workload) -> Story:
    """The reclaim desk confirms or rejects the pending candidates."""
    rng = w.rng
    read = w.get("quota", "/quota/reclaims", w.desk, "status=pending&limit=100")
    async for pause in w.send(read):
        yield pause
    if read.response is None or read.response.status != 200:
        return
    for item in read.response.body["items"]:
        if item["source"] in ("manual", "reduction"):
            continue  # their second officer decides them
        yield rng.uniform(60, 3600)
        # Four eyes: the officer who cancelled or cut the permit does not
        # decide its reclaim; the district's other officer does.
        a, b = w.officers[item["district"]]
        if item.get("created_by") == b.sub:
            a, b = b, a
        if item.get("created_by") == a.sub and rng.random() < 0.25:
            # ... and is refused when he tries (409).
            async for pause in w.send(
                w.post(
                    "quota",
                    f"/quota/reclaims/{item['id']}/confirm",
                    a,
                    {},
                    "quota.reclaim.confirm",
                )
            ):
                yield pause
        if rng.random() < 0.85:
            op = w.post(
                "quota", f"/quota/reclaims/{item['id']}/confirm", b, {}, "quota.reclaim.confirm"
            )
        else:
            op = w.post(
                "quota",
                f"/quota/reclaims/{item['id']}/reject",
                b,
                {"reason": "已合并至其他企业"},
                "quota.reclaim.reject",
            )
        async for pause in w.send(op):
            yield pause


async def reads(w: Workload) -> Story:
    rng = w.rng
    d = rng.choice(DISTRICT_CODES)
    officer = w.officers[d][0]
    choices: list[tuple[str, str, Actor, str]] = [
        ("quota", "/quota/availability", w.investment, ""),
        ("eia", "/eia/filings", officer, "overdue=true"),
        ("permit", "/permit/permits", officer, "expiring_within_days=60"),
        ("permit", "/permit/audits", officer, "overdue=true"),
        ("permit", "/permit/reports/coverage", officer, f"district={d}"),
    ]
    node, path, who, query = rng.choice(choices)
    async for pause in w.send(w.get(node, path, who, query)):
        yield pause
    body = {"district": d, "increment_t": f"{rng.uniform(0.1, 5):.3f}"}
    check = w.post("quota", "/quota/checks", w.investment, body, None)
    async for pause in w.send(check):
        yield pause
