"""Permits through their lifecycle, quality audits, registrations."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from bureau_sim.workload.city import Story

if TYPE_CHECKING:
    from bureau_sim.workload.base import Workload


async def permit_life(w: Workload) -> Story:
    rng, city = w.rng, w.city
    live = [p for p in city.permits if p.status not in ("cancelled",)]
    if not live:
        return
    p = rng.choice(live)
    officer = w.officers[p.district][rng.randrange(2)]
    for _ in range(rng.randint(1, 4)):
        yield w.days(1, 60)
        if w.over or p.status == "cancelled":
            return
        kind = rng.choice(
            [
                "decrease",
                "decrease",
                "increase",
                "suspend",
                "renew",
                "cancel",
                "cancel",
                "revoke",
            ]
        )
        base = f"/permit/permits/{p.id}"
        if kind in ("decrease", "increase"):
            vocs = float(p.pollutants.get("VOCs", "0"))
            new = vocs * rng.uniform(0.3, 0.9) if kind == "decrease" else vocs + rng.uniform(0.5, 3)
            pollutants = dict(p.pollutants, VOCs=f"{new:.3f}")
            body = {
                "pollutants": [{"pollutant": k, "amount_t": v} for k, v in pollutants.items()],
                "reason": "VOCs治理设施升级" if kind == "decrease" else "扩产",
            }
            op = w.post("permit", f"{base}/change", officer, body, "permit.change")
            async for pause in w.send(op):
                yield pause
            if op.status == 200:
                p.pollutants = pollutants
        elif kind == "suspend":
            op = w.post(
                "permit", f"{base}/suspend", officer, {"reason": "超标排放"}, "permit.suspend"
            )
            async for pause in w.send(op):
                yield pause
            if op.status == 200:
                p.status = "suspended"
                yield w.days(2, 30)
                op = w.post(
                    "permit",
                    f"{base}/reinstate",
                    officer,
                    {"reason": "整改完成"},
                    "permit.reinstate",
                )
                async for pause in w.send(op):
                    yield pause
                if op.status == 200:
                    p.status = "issued"
        elif kind == "renew":
            async for pause in w.send(
                w.post("permit", f"{base}/renew", officer, {}, "permit.renew")
            ):
                yield pause
        elif kind == "revoke":
            op = w.post(
                "permit", f"{base}/revoke", officer, {"reason": "严重违法"}, "permit.revoke"
            )
            async for pause in w.send(op):
                yield pause
            if op.status == 200:
                p.status = "revoked"
                yield w.days(1, 20)
                kind = "cancel"
        if kind == "cancel":
            reason = rng.choice(["closure", "closure", "process_closed", "merger", "other"])
            cancellation: dict[str, Any] = {
                "reason": reason,
                "note": "企业关停" if reason == "closure" else None,
            }
            op = w.post("permit", f"{base}/cancel", officer, cancellation, "permit.cancel")
            async for pause in w.send(op):
                yield pause
            if op.status == 200:
                p.status = "cancelled"
                return


async def audit(w: Workload) -> Story:
    rng, city = w.rng, w.city
    live = [p for p in city.permits if p.status == "issued"]
    if not live:
        return
    p = rng.choice(live)
    officer = w.officers[p.district][rng.randrange(2)]
    findings = [
        {
            "description": rng.choice(["排放口信息不全", "自行监测方案缺项", "台账记录不规范"]),
            "rectification_deadline": (
                w.today() + dt.timedelta(days=rng.randint(0, 60))
            ).isoformat(),
        }
        for _ in range(rng.choice([0, 1, 1, 2, 3]))
    ]
    body = {"result": "findings" if findings else "pass", "findings": findings}
    op = w.post("permit", f"/permit/permits/{p.id}/audits", officer, body, "permit.audit")
    async for pause in w.send(op):
        yield pause
    if op.status != 201:
        return
    audit = op.response.body if op.response else {}
    for finding in audit.get("findings", []):
        if rng.random() < 0.3:
            continue  # never rectified: stays on the overdue list
        yield w.days(1, 80)
        if w.over:
            return
        path = f"/permit/audits/{audit['id']}/findings/{finding['id']}/rectify"
        rectify = w.post("permit", path, officer, {"note": "已整改"}, "finding.rectify")
        async for pause in w.send(rectify):
            yield pause


async def registration(w: Workload) -> Story:
    rng = w.rng
    regs = [e for e in w.city.enterprises if e.category == "registration"]
    if not regs:
        return
    e = rng.choice(regs)
    officer = w.officers[e.district][rng.randrange(2)]
    body = {"uscc": e.uscc, "details": {"outlets": rng.randint(1, 4)}}
    op = w.post("permit", "/permit/registrations", officer, body, "registration.file")
    async for pause in w.send(op):
        yield pause
    if op.status != 201 or op.response is None:
        return
    rid = op.response.body["id"]
    yield w.days(5, 120)
    if w.over:
        return
    if rng.random() < 0.5:
        body = {"details": {"outlets": rng.randint(1, 6)}, "reason": "排放口调整"}
        op = w.post(
            "permit",
            f"/permit/registrations/{rid}/change",
            officer,
            body,
            "registration.change",
        )
    else:
        op = w.post(
            "permit",
            f"/permit/registrations/{rid}/cancel",
            officer,
            {"reason": "停产"},
            "registration.cancel",
        )
    async for pause in w.send(op):
        yield pause
