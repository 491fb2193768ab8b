"""Inspections, enforcement cases and permit suspensions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bureau_sim.workload.city import Story

if TYPE_CHECKING:
    from bureau_sim.workload.base import Workload


async def enforcement(w: Workload) -> Story:
    """An inspection finds a problem at a permit holder; a case is proposed
    and decided by a second officer; a suspension is applied by permit-svc."""
    rng = w.rng
    live = [p for p in w.city.permits if p.status == "issued"]
    if not live:
        return
    p = rng.choice(live)
    a, b = w.officers[p.district]
    inspection = {
        "uscc": p.uscc,
        "inspected_at": w.sim.at_time.isoformat(),
        "inspectors": ["执法人员甲", "执法人员乙"],
        "items": [
            {
                "item": "treatment_facilities",
                "result": "problem",
                "findings": [{"description": "治污设施未正常运行", "severity": "serious"}],
            },
            {"item": "ledger", "result": "compliant"},
        ],
    }
    op = w.post("supervision", "/supervision/inspections", a, inspection, "inspection.record")
    async for pause in w.send(op):
        yield pause
    if op.status != 201 or op.response is None:
        return
    finding = op.response.body["findings"][0]["id"]
    yield w.days(0.5, 8)
    if w.over:
        return
    measure: dict[str, Any] = rng.choice(
        [
            {"kind": "permit_suspension"},
            {"kind": "permit_suspension"},
            {"kind": "fine", "fine_cny": rng.randint(10, 500) * 1000},
            {"kind": "warning"},
        ]
    )
    case = {
        "finding_id": finding,
        "legal_basis": "《排污许可管理条例》第三十四条",
        "measure": measure,
    }
    op = w.post("supervision", "/supervision/cases", a, case, "case.propose")
    async for pause in w.send(op):
        yield pause
    if op.status != 201 or op.response is None:
        return
    case_id = op.response.body["id"]
    yield w.days(0.5, 6)
    decision = {"approve": rng.random() < 0.85, "note": "集体讨论决定"}
    op = w.post("supervision", f"/supervision/cases/{case_id}/decide", b, decision, "case.decide")
    async for pause in w.send(op):
        yield pause
