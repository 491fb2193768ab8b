"""Report and report-form filings on every channel, and the quota saga
as their applicants and officers live it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from svc_common.districts import DISTRICTS

from bureau_sim.client import Actor, Op
from bureau_sim.workload.city import DISTRICT_CODES, Enterprise, Story

if TYPE_CHECKING:
    from bureau_sim.workload.base import Workload


def _project(w: Workload) -> tuple[Enterprise, str, str, bool]:
    """An enterprise, the project type of its new project, its category,
    and whether the enterprise is on permit-svc's register."""
    city, rng = w.city, w.rng
    types = city.filing_types()
    if rng.random() < 0.8:
        matching = [
            e
            for e in rng.sample(city.enterprises, min(200, len(city.enterprises)))
            if any(city.project_types[t][0][1:] == e.industry for t in types)
        ]
        if matching:
            e = rng.choice(matching)
            code = next(t for t in types if city.project_types[t][0][1:] == e.industry)
            return e, code, city.project_types[code][1], True
    code = rng.choice(types)
    d = rng.choice(DISTRICT_CODES)
    industry = city.project_types[code][0][1:]
    e = Enterprise(
        w.uscc(d),
        f"新投资企业{w._serial}",
        d,
        industry,
        city.industries.get(industry, ""),
    )
    return e, code, city.project_types[code][1], False


def _park_project(w: Workload) -> tuple[Enterprise, str, str, tuple[str, str, list[str]]]:
    """A new enterprise settling in a park, with a project its bundled EIA covers."""
    park = w.rng.choice(w.city.parks)
    code = w.rng.choice(park[2])
    industry, category = w.city.project_types[code]
    e = Enterprise(
        w.uscc(park[1]),
        f"园区入驻企业{w._serial}",
        park[1],
        industry[1:],
        w.city.industries.get(industry[1:], ""),
    )
    return e, code, category, park


async def filing(w: Workload) -> Story:
    rng, city = w.rng, w.city
    park: tuple[str, str, list[str]] | None = None
    if city.parks and rng.random() < 0.15:
        e, code, category, park = _park_project(w)
    else:
        e, code, category, _known = _project(w)
        park = next((p for p in city.parks if p[1] == e.district and code in p[2]), None)
    pair = w.officers[e.district]
    seat = rng.randrange(2)
    officer = pair[seat]
    channel = "normal"
    body: dict[str, Any] = {
        "project_name": f"{DISTRICTS[e.district]}项目",
        "uscc": e.uscc,
        "enterprise_name": e.name,
        "district": e.district,
        "project_type": code,
        "category": category,
        "vocs_increment_t": rng.choice(["0", "0.5", "1.2", "2", "3.5", "6", "12.345"]),
    }
    roll = rng.random()
    if park is not None and roll < 0.4:
        body["park_id"], channel = park[0], "bundled"
    elif roll < 0.25:
        body["major_project"], channel = True, "green"
        body["major_kind"] = rng.choice(["infrastructure", "livelihood", "industrial_layout"])
    submitter = rng.choice(w.applicants) if rng.random() < 0.5 else officer
    # Four eyes: a filing an officer entered for its applicant is decided
    # (approved or rejected) by the district's other officer.
    decider = pair[1 - seat] if submitter is officer else officer
    op = w.post("eia", "/eia/filings", submitter, body, "filing.create")
    async for pause in w.send(op):
        yield pause
    if op.response is None or op.response.status != 201:
        return
    fid = op.response.body["id"]
    increment = body["vocs_increment_t"] != "0"

    def act(
        action: str,
        who: Actor = officer,
        reason: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Op:
        return w.post(
            "eia",
            f"/eia/filings/{fid}/{action}",
            who,
            body if body is not None else {"reason": reason} if reason else {},
            f"filing.{action}",
        )

    # Every filing is accepted (受理) by an officer before it asks quota; a
    # major project's claim is confirmed then (green channel), at once
    # (即到即受理), a bundled filing's within the day, a normal one's later.
    yield {"green": w.days(0, 0.05), "bundled": w.days(0.05, 1)}.get(channel, w.days(0.3, 6))
    op = act("accept", body={"green_channel": True} if channel == "green" else {})
    async for pause in w.send(op):
        yield pause
    if op.status != 200:
        return
    if increment and rng.random() < w.cfg.quick_withdraw:
        # Withdrawn moments after acceptance: races quota-svc's answer.
        yield rng.uniform(0.05, 20)
        who = submitter if submitter.role == "filer" else officer
        async for pause in w.send(act("withdraw", who, "申请人撤回")):
            yield pause
        return
    steps = {"normal": ["evaluation-done", "review-done"], "bundled": []}.get(
        channel, rng.sample(["evaluation-done", "review-done"], 2)
    )
    # Now and then a review stalls for months: the quota hold may expire
    # meanwhile (the filing's quota lapses and is retried).
    stalled = rng.random() < 0.12
    for step in steps:
        yield w.days(0.5, 10) if channel == "normal" else w.days(0.2, 4)
        if stalled:
            yield w.days(30, 150)
        if w.over:
            return
        if rng.random() < 0.03:
            async for pause in w.send(act("withdraw", submitter, "项目取消")):
                yield pause
            return
        async for pause in w.send(act(step)):
            yield pause
    approved = False
    for _ in range(30):
        yield w.days(0.3, 3)
        if w.over:
            return
        read = w.get("eia", f"/eia/filings/{fid}", officer)
        async for pause in w.send(read):
            yield pause
        if read.response is None or read.response.status != 200:
            return
        f = read.response.body
        if f["status"] in ("approved", "rejected", "withdrawn"):
            return
        q = f["quota_status"]
        if q in ("secured", "not_required") and decider is not officer and rng.random() < 0.2:
            # Now and then the officer who entered it tries to decide it
            # himself: refused (four eyes), the other officer decides.
            async for pause in w.send(act("approve", officer)):
                yield pause
        if q in ("secured", "not_required"):
            if rng.random() < 0.85:
                op = act("approve", decider)
                async for pause in w.send(op):
                    yield pause
                approved = op.status == 200
            else:
                async for pause in w.send(act("reject", decider, "不符合审批条件")):
                    yield pause
            break
        if q in ("blocked", "lapsed"):
            x = rng.random()
            if x < 0.55:
                async for pause in w.send(act("quota-retry")):
                    yield pause
            elif x < 0.7:
                async for pause in w.send(act("reject", decider, "总量指标不足")):
                    yield pause
                break
            elif x < 0.8:
                async for pause in w.send(act("withdraw", officer, "总量指标不足，撤回")):
                    yield pause
                break
        elif q == "pending" and rng.random() < 0.2:
            # An impatient officer: refused while quota-svc has not answered.
            op = act("approve", decider)
            async for pause in w.send(op):
                yield pause
            if op.status == 200:
                approved = True
                break
    if approved and increment and e.category in ("key", "simplified"):
        async for pause in issue_drafted_permit(w, fid, e):
            yield pause


async def issue_drafted_permit(w: Workload, fid: str, e: Enterprise) -> Story:
    """The approved project's permit application is issued, once the
    allocation has reached permit-svc (until then: 409, try later)."""
    officer = w.officers[e.district][0]
    for _ in range(6):
        yield w.days(1, 10)
        if w.over:
            return
        read = w.get(
            "permit",
            "/permit/permits",
            officer,
            f"district={e.district}&status=applied&limit=200",
        )
        async for pause in w.send(read):
            yield pause
        if read.response is None or read.response.status != 200:
            return
        draft = next((p for p in read.response.body["items"] if p["source_filing_id"] == fid), None)
        if draft is None:
            continue
        op = w.post("permit", f"/permit/permits/{draft['id']}/issue", officer, {}, "permit.issue")
        async for pause in w.send(op):
            yield pause
        if op.status == 200 or (op.status is not None and op.status != 409):
            return
