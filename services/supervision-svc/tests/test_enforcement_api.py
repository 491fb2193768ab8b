"""Double-random plans, inspections with findings, enforcement cases decided
with four eyes (a decided permit suspension goes out to permit-svc), and the
enforcement report."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from supervision_svc.inspections import rules
from svc_common import clock, guard, testing
from svc_common.uscc import make_uscc

from .conftest import ADMIN, AUDITOR, DONGLI, NINGHE, T0, Service, officer

INSPECTED = "2026-06-15T02:00:00+00:00"


def inspection(uscc: str, *findings: str, **over: Any) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"item": "performance_grade", "result": "compliant"},
        {"item": "ledger", "result": "compliant"},
        {
            "item": "treatment_facilities",
            "result": "problem" if findings else "compliant",
            "findings": [{"description": f, "severity": "serious"} for f in findings],
        },
        {"item": "online_monitoring", "result": "not_checked"},
    ]
    body = {
        "uscc": uscc,
        "inspected_at": INSPECTED,
        "inspectors": ["li.hua", "zhang.wei"],
        "items": items,
    }
    body.update(over)
    return body


async def test_draw_is_weighted_reproducible_and_recorded(svc: Service) -> None:
    graded = await svc.enterprise(1, NINGHE, vocs="5")
    others = [await svc.enterprise(i, NINGHE) for i in range(2, 8)]
    r = await svc.http.put(
        f"/supervision/grades/{graded}",
        json={
            "grade": "A",
            "industry": "涂装",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "basis": "重点行业绩效分级评定",
        },
        headers=officer(NINGHE),
    )
    assert r.status_code == 200, r.text
    body = {
        "district": NINGHE,
        "period": "2026-Q3",
        "share_percent": "50",
        "seed": 20260601,
        "inspector_pool": ["li.hua", "zhang.wei", "wang.fang"],
    }
    r = await svc.http.post("/supervision/inspection-plans", json=body, headers=officer(NINGHE))
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["population"] == 7 and len(plan["selection"]) == 4  # ceil(3.5)
    assert plan["seed"] == 20260601 and plan["weights"] == {"low": 1, "normal": 2, "high": 4}
    tiers = {x["uscc"]: x["tier"] for x in plan["selection"]}
    assert tiers.get(graded, "low") == "low" and set(tiers) <= {graded, *others}
    assert all(len(x["inspectors"]) == 2 for x in plan["selection"])
    # The same seed over the same register draws the same (another period:
    # a period is drawn once).
    again = await svc.http.post(
        "/supervision/inspection-plans", json={**body, "period": "2026-Q4"}, headers=ADMIN
    )
    assert again.status_code == 201, again.text
    assert [x["uscc"] for x in again.json()["selection"]] == [x["uscc"] for x in plan["selection"]]
    r = await svc.http.get(f"/supervision/inspection-plans/{plan['id']}", headers=AUDITOR)
    assert r.json()["selection"] == plan["selection"]
    # Without a seed one is generated and recorded.
    body.pop("seed")
    r = await svc.http.post(
        "/supervision/inspection-plans",
        json={**body, "period": "2026-H1"},
        headers=officer(NINGHE),
    )
    assert isinstance(r.json()["seed"], int)


async def test_plan_shows_its_candidates_by_tier_and_redraws_from_its_inputs(
    svc: Service,
) -> None:
    """The plan says, per tier, how many were eligible (with a digest of
    who) and drawn, and all the draw read: its candidates, with the seed,
    the sample size and the inspector pool, give the same draw again."""
    graded = await svc.enterprise(1, NINGHE, vocs="5")
    others = [await svc.enterprise(i, NINGHE) for i in range(2, 8)]
    r = await svc.http.put(
        f"/supervision/grades/{graded}",
        json={
            "grade": "A",
            "industry": "涂装",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "basis": "重点行业绩效分级评定",
        },
        headers=officer(NINGHE),
    )
    assert r.status_code == 200, r.text
    body = {
        "district": NINGHE,
        "period": "2026",
        "count": 3,
        "inspector_pool": ["zhang.wei", "li.hua", "wang.fang", "li.hua"],
    }
    r = await svc.http.post("/supervision/inspection-plans", json=body, headers=officer(NINGHE))
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["method"] == rules.DRAW_METHOD
    assert (plan["requested_count"], plan["share_percent"], plan["sample_size"]) == (3, None, 3)
    assert plan["inspector_pool"] == ["li.hua", "wang.fang", "zhang.wei"]
    assert [(t["tier"], t["weight"], t["eligible"]) for t in plan["tiers"]] == [
        ("high", 4, 0),
        ("normal", 2, 6),
        ("low", 1, 1),
    ]
    assert sum(t["drawn"] for t in plan["tiers"]) == 3
    low = next(t for t in plan["tiers"] if t["tier"] == "low")
    assert low["candidates_sha256"] == hashlib.sha256(f"{graded}\n".encode()).hexdigest()
    r = await svc.http.get(f"/supervision/inspection-plans/{plan['id']}", headers=AUDITOR)
    assert r.json() == plan

    # Read a page at a time (3 of 7 a page: three pages), hashing each tier's
    # USCCs as they come, the way an auditor checks a city-wide plan.
    candidates: list[dict[str, Any]] = []
    digests = {t["tier"]: hashlib.sha256() for t in plan["tiers"]}
    pages = 0
    query: dict[str, Any] = {"limit": 3}
    while True:
        r = await svc.http.get(
            f"/supervision/inspection-plans/{plan['id']}/candidates",
            params=query,
            headers=AUDITOR,
        )
        assert r.status_code == 200, r.text
        listed = r.json()
        assert listed["population"] == 7 and listed["plan_id"] == plan["id"]
        assert len(listed["candidates"]) <= 3
        pages += 1
        for c in listed["candidates"]:
            digests[c["tier"]].update(f"{c['uscc']}\n".encode())
        candidates += listed["candidates"]
        if not listed["next_cursor"]:
            break
        query["cursor"] = listed["next_cursor"]
    assert pages == 3
    assert [c["uscc"] for c in candidates] == sorted([graded, *others])
    for t in plan["tiers"]:
        assert digests[t["tier"]].hexdigest() == t["candidates_sha256"]
        usccs = [c["uscc"] for c in candidates if c["tier"] == t["tier"]]
        assert rules.candidates_digest(usccs) == t["candidates_sha256"]
        assert sum(c["drawn"] for c in candidates if c["tier"] == t["tier"]) == t["drawn"]
    drawn, assigned = rules.redraw(
        rules.DrawInputs(
            seed=plan["seed"],
            sample_size=plan["sample_size"],
            weights={c["uscc"]: c["weight"] for c in candidates},
            inspector_pool=tuple(plan["inspector_pool"]),
        )
    )
    assert drawn == [x["uscc"] for x in plan["selection"]]
    assert assigned == {x["uscc"]: x["inspectors"] for x in plan["selection"]}
    r = await svc.http.get(
        f"/supervision/inspection-plans/{plan['id']}/candidates", headers=officer()
    )
    assert r.status_code == 404  # another district's officer


async def test_plan_candidates_are_paged_with_a_bounded_limit(svc: Service) -> None:
    """A city-wide plan holds thousands of candidates: they come a page at a
    time (100 by default), `limit` at most 1000, a cursor only as answered."""
    usccs = sorted([await svc.enterprise(i, NINGHE) for i in range(1, 6)])
    body = {"district": NINGHE, "period": "2026", "count": 2, "seed": 7}
    r = await svc.http.post("/supervision/inspection-plans", json=body, headers=officer(NINGHE))
    assert r.status_code == 201, r.text
    url = f"/supervision/inspection-plans/{r.json()['id']}/candidates"

    r = await svc.http.get(url, headers=AUDITOR)
    assert r.status_code == 200, r.text
    assert [c["uscc"] for c in r.json()["candidates"]] == usccs
    assert r.json()["next_cursor"] is None  # all on the one page: no empty one to ask for
    r = await svc.http.get(url, params={"limit": 4}, headers=AUDITOR)
    assert [c["uscc"] for c in r.json()["candidates"]] == usccs[:4]
    r = await svc.http.get(
        url, params={"limit": 4, "cursor": r.json()["next_cursor"]}, headers=AUDITOR
    )
    assert [c["uscc"] for c in r.json()["candidates"]] == usccs[4:]
    assert r.json()["next_cursor"] is None

    for params in ({"limit": 1001}, {"limit": 0}, {"cursor": "not-a-cursor-of-this-api"}):
        r = await svc.http.get(url, params=params, headers=AUDITOR)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert next(iter(params)) in r.text
    r = await svc.http.get(url, params={"limit": 1000}, headers=AUDITOR)
    assert r.status_code == 200 and len(r.json()["candidates"]) == 5


async def test_finding_case_four_eyes_suspension_and_report(svc: Service) -> None:
    with clock.using(clock.ManualClock(T0 + dt.timedelta(days=19))):
        await _finding_to_suspension(svc)


async def _finding_to_suspension(svc: Service) -> None:
    plant = await svc.enterprise(11, NINGHE, "天津新华昌运输设备有限公司", vocs="80", nox="4")
    clean = await svc.enterprise(12, NINGHE)
    no_permit = await svc.enterprise(13, NINGHE)
    r = await svc.http.post(
        "/supervision/inspections",
        json=inspection(plant, inspectors=["li.hua"]),
        headers=officer(NINGHE),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "inspectors"
    r = await svc.http.post(
        "/supervision/inspections",
        json=inspection(plant, "活性炭吸附装置未按期更换", "废气收集系统破损"),
        headers=officer(NINGHE, "li.hua"),
    )
    assert r.status_code == 201, r.text
    insp = r.json()
    assert insp["inspection_no"] == f"JC-{NINGHE}-2026-000001"
    assert insp["enterprise_name"] == "天津新华昌运输设备有限公司"
    first, second = insp["findings"]
    for u in (clean, plant, no_permit):
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(u, *(["台账缺失"] if u == no_permit else [])),
            headers=officer(NINGHE),
        )
        assert r.status_code == 201, r.text
    (recorded, *_) = await svc.events("supervision.inspection.recorded.v1")
    assert recorded["findings"] == 2

    case = {
        "finding_id": first["id"],
        "legal_basis": "《中华人民共和国大气污染防治法》第一百零八条",
        "facts": "VOCs治理设施未正常运行",
        "measure": {"kind": "permit_suspension"},
    }
    proposer = officer(NINGHE, "li.hua")
    r = await svc.http.post("/supervision/cases", json=case, headers=proposer)
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["case_no"], c["status"], c["permit_id"]) == (
        f"LA-{NINGHE}-{T0.year}-0001",
        "proposed",
        f"permit-{plant}",
    )
    r = await svc.http.post("/supervision/cases", json=case, headers=proposer)
    assert r.status_code == 409  # one case per finding
    r = await svc.http.post(
        f"/supervision/cases/{c['id']}/decide", json={"approve": True}, headers=proposer
    )
    assert r.status_code == 409 and "four eyes" in r.json()["detail"]
    assert r.json()["reason"] == "proposer_decides" and r.json()["proposed_by"] == "li.hua"
    decider = officer(NINGHE, "zhao.lei")
    r = await svc.http.post(
        f"/supervision/cases/{c['id']}/decide",
        json={"approve": True, "note": "同意"},
        headers=decider,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["decided_by"]) == ("decided", "zhao.lei")
    (suspension,) = await svc.events("supervision.permit_suspension.decided.v1")
    assert suspension["permit_id"] == f"permit-{plant}" and suspension["case_no"] == c["case_no"]
    assert suspension["decided_by"] == "zhao.lei"
    (decided,) = await svc.events("supervision.case.decided.v1")
    assert decided["proposed_by"] == "li.hua" and decided["approved"] is True

    # A fine on the second finding, rejected, and a suspension of a plant without a permit.
    fine = {**case, "finding_id": second["id"], "measure": {"kind": "fine", "fine_cny": 200000}}
    r = await svc.http.post("/supervision/cases", json=fine, headers=proposer)
    assert r.status_code == 201 and r.json()["fine_cny"] == 200000
    r = await svc.http.post(
        f"/supervision/cases/{r.json()['id']}/decide", json={"approve": False}, headers=decider
    )
    assert r.json()["status"] == "rejected"
    lone = (
        await svc.http.get("/supervision/inspections?uscc=" + no_permit, headers=AUDITOR)
    ).json()
    finding = lone["items"][0]["findings"][0]
    r = await svc.http.post(
        "/supervision/cases", json={**case, "finding_id": finding["id"]}, headers=proposer
    )
    assert r.status_code == 409  # no permit in force to suspend

    r = await svc.http.post(
        f"/supervision/cases/{c['id']}/close",
        json={"note": "已更换活性炭并复查合格"},
        headers=proposer,
    )
    assert r.json()["status"] == "closed"
    r = await svc.http.get(
        f"/supervision/reports/enforcement?district={NINGHE}&from=2026-06-01&to=2026-06-30",
        headers=AUDITOR,
    )
    rep = r.json()
    assert (rep["inspections"], rep["enterprises_inspected"], rep["problems_found"]) == (4, 3, 3)
    assert rep["cases_filed"] == 1  # the rejected proposal is not a case filed


async def test_two_inspectors_are_two_people_however_their_names_are_written(
    svc: Service,
) -> None:
    """双人执法: "张三" and "张三" with a zero-width space, or "ZHANG" in
    full-width letters and in ASCII, were counted as two inspectors."""
    plant = await svc.enterprise(31, NINGHE)
    for names in (
        ["张三", "张三\u200b"],
        ["ＺＨＡＮＧ", "ZHANG"],
        ["Li.Hua", "li.hua"],
        ["张三", "张\u2065三"],  # an unassigned code point inside
        ["Zhang San", "Zhang  San"],  # two spaces for one
        ["Zhang San", "zhang\u3000san"],
    ):
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(plant, inspectors=names),
            headers=officer(NINGHE),
        )
        assert r.status_code == 422, (names, r.text)
        # A name with a hidden character is refused itself (inspectors.1).
        assert r.json()["errors"][0]["field"].startswith("inspectors"), r.text
        if guard.hidden_characters("".join(names)):
            continue
        assert r.json()["errors"][0]["field"] == "inspectors", r.text
        assert "two different inspectors" in r.json()["errors"][0]["message"], r.text
    r = await svc.http.post(
        "/supervision/inspections",
        json=inspection(plant, inspectors=["ＺＨＡＮＧ", "李华"]),
        headers=officer(NINGHE),
    )
    assert r.status_code == 201, r.text
    assert r.json()["inspectors"] == ["ZHANG", "李华"]


async def test_an_inspectors_name_is_refused_by_the_pattern_as_by_the_api(svc: Service) -> None:
    """`inspectors[]`'s documented pattern (NON_BLANK) let `张三` with a
    zero-width space before or after it through, which the API refuses:
    the shared VisibleText(name=True) is both."""
    import re

    from supervision_svc.app import create

    doc = create().openapi()["components"]["schemas"]
    pattern = re.compile(doc["InspectionIn"]["properties"]["inspectors"]["items"]["pattern"])
    plant = await svc.enterprise(32, NINGHE)
    for name in ("张三\u200b", "\u200b张三", "张\u200b三", "\u3164"):
        assert not pattern.search(name), repr(name)
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(plant, inspectors=[name, "李华"]),
            headers=officer(NINGHE),
        )
        assert r.status_code == 422, (name, r.text)
        assert r.json()["errors"][0]["field"].startswith("inspectors"), r.text
    assert pattern.search("张 三") and pattern.search(" li.hua ")


async def test_a_rectification_order_is_not_due_before_the_day_it_is_made(svc: Service) -> None:
    # 01:00 on 20 June in Beijing, still 19 June in UTC: "today" is Beijing's.
    with clock.using(clock.ManualClock(dt.datetime(2026, 6, 19, 17, 0, tzinfo=dt.UTC))):
        plant = await svc.enterprise(21, NINGHE, vocs="5")
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(plant, "台账缺失"),
            headers=officer(NINGHE),
        )
        assert r.status_code == 201, r.text
        (finding,) = r.json()["findings"]
        case = {"finding_id": finding["id"], "legal_basis": "《大气污染防治法》第九十九条"}
        for day, message in (
            ("0001-01-02", "must be in the years 2000–2099 (it is 0001-01-02)"),
            ("2026-06-19", "must not be before today (2026-06-20, Beijing time)"),
        ):
            order = {**case, "measure": {"kind": "rectification", "rectify_by": day}}
            r = await svc.http.post("/supervision/cases", json=order, headers=officer(NINGHE))
            assert r.status_code == 422, r.text
            (error,) = r.json()["errors"]
            assert (error["field"], error["message"]) == ("measure.rectify_by", message)
        chinese = {**officer(NINGHE), "Accept-Language": "zh-CN"}
        r = await svc.http.post("/supervision/cases", json=order, headers=chinese)
        assert r.status_code == 422
        assert r.json()["errors"][0]["message"] == "不得早于今天（北京时间 2026-06-20）"
        # Nothing was written: the finding is still free for a case due today.
        order = {**case, "measure": {"kind": "rectification", "rectify_by": "2026-06-20"}}
        r = await svc.http.post("/supervision/cases", json=order, headers=officer(NINGHE))
        assert r.status_code == 201, r.text
        assert (r.json()["rectify_by"], r.json()["case_no"]) == (
            "2026-06-20",
            f"LA-{NINGHE}-2026-0001",
        )
        case_id = r.json()["id"]
        # Decided the next day, the order's deadline has passed: approval is
        # refused (rejection is not), and nothing of it is written.
        await clock.current().advance(dt.timedelta(days=1))  # type: ignore[attr-defined]
        decider = {**officer(NINGHE, "zhao.lei"), "Accept-Language": "zh-CN"}
        decide = f"/supervision/cases/{case_id}/decide"
        r = await svc.http.post(decide, json={"approve": True}, headers=decider)
        assert r.status_code == 409, r.text
        assert (r.json()["reason"], r.json()["rectify_by"]) == ("rectify_by_passed", "2026-06-20")
        assert "整改期限 2026-06-20 已过" in r.json()["detail"]
        r = await svc.http.get(f"/supervision/cases/{case_id}", headers=decider)
        assert r.json()["status"] == "proposed", r.text
        r = await svc.http.post(
            decide, json={"approve": False, "note": "期限已过"}, headers=decider
        )
        assert r.status_code == 200 and r.json()["status"] == "rejected", r.text


def test_a_fine_without_its_amount_is_told_so_in_chinese() -> None:
    """A fine without fine_cny was told "仅罚款须给出 fine_cny" ("only a fine
    must give fine_cny"), which reads as if a fine were the wrong measure."""
    import pytest
    from pydantic import ValidationError
    from supervision_svc.cases.schemas import MeasureIn
    from svc_common.i18n import use

    with use("zh"), pytest.raises(ValidationError) as missing:
        MeasureIn(kind="fine")
    assert "罚款须给出罚款金额 fine_cny（整元）" in str(missing.value)
    with use("zh"), pytest.raises(ValidationError) as extra:
        MeasureIn(kind="warning", fine_cny=500)
    assert "只有罚款可给出罚款金额 fine_cny" in str(extra.value)
    assert MeasureIn(kind="fine", fine_cny=50000).fine_cny == 50000


def test_a_plan_says_what_a_period_is_and_wants_two_inspectors() -> None:
    """A bad period was answered with the regex ("格式不符合 ^\\d{4}(…)$"); a
    pool of one inspector was accepted and drew no inspectors at all."""
    import pytest
    from pydantic import ValidationError
    from supervision_svc.inspections.schemas import PlanIn
    from svc_common.i18n import use

    base = {"district": NINGHE, "count": 3}
    with use("zh"), pytest.raises(ValidationError) as bad_period:
        PlanIn.model_validate({**base, "period": "2026-Q5"})
    assert "格式应如 2026、2026-06、2026-Q3 或 2026-H2" in str(bad_period.value)
    assert "\\d" not in str(bad_period.value)
    with use("zh"), pytest.raises(ValidationError) as one:
        PlanIn.model_validate({**base, "period": "2026-Q4", "inspector_pool": ["张三"]})
    assert "检查人员库至少需要 2 人" in str(one.value)
    ok = PlanIn.model_validate({**base, "period": "2026-Q4", "inspector_pool": ["张三", "李四"]})
    assert ok.inspector_pool == ["张三", "李四"]


def test_a_period_typed_in_full_width_is_read_as_ascii() -> None:
    """A period typed with a Chinese IME in full-width mode ("２０３１",
    "２０２６－Ｑ３") got the format message; it is the period it reads as,
    stored in ASCII, as permit-svc reads an execution report's period. One
    that is no period in either width is still refused so."""
    import pytest
    from pydantic import ValidationError
    from supervision_svc.inspections.schemas import PlanIn
    from svc_common.i18n import use

    base = {"district": NINGHE, "count": 3}
    for typed, period in (
        ("２０３１", "2031"),
        ("２０２６－Ｑ３", "2026-Q3"),
        ("2026－H2", "2026-H2"),
    ):
        assert PlanIn.model_validate({**base, "period": typed}).period == period
    with use("zh"), pytest.raises(ValidationError) as bad:
        PlanIn.model_validate({**base, "period": "２０２６－Ｑ５"})
    assert "格式应如 2026、2026-06、2026-Q3 或 2026-H2" in str(bad.value)
    assert PlanIn.model_validate({**base, "period": "2026"}).inspector_pool == []
    pattern = PlanIn.model_json_schema()["properties"]["period"]["pattern"]
    # Still in the document (the years as every date's: 2000–2099).
    assert pattern == r"^20[0-9]{2}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$"


async def test_a_permit_before_its_start_date_is_not_in_force(svc: Service) -> None:
    """A certificate valid from 2030 was "in force" in 2026: a permit
    suspension was proposed against it (201), and it made its enterprise a
    lawful, low-tier candidate of the double-random draw."""
    with clock.using(clock.ManualClock(T0 + dt.timedelta(days=19))):
        future = await svc.enterprise(31, NINGHE, vocs="8", permit_from=dt.date(2030, 1, 1))
        r = await svc.http.put(
            f"/supervision/grades/{future}",
            json={
                "grade": "A",
                "industry": "涂装",
                "valid_from": "2026-01-01",
                "valid_to": "2026-12-31",
                "basis": "重点行业绩效分级评定",
            },
            headers=officer(NINGHE),
        )
        assert r.status_code == 200, r.text
        r = await svc.http.post(
            "/supervision/inspection-plans",
            json={"district": NINGHE, "period": "2026-Q3", "count": 1, "seed": 1},
            headers=officer(NINGHE),
        )
        assert r.status_code == 201, r.text
        (drawn,) = r.json()["selection"]
        assert (drawn["uscc"], drawn["tier"]) == (future, "normal")
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(future, "台账缺失"),
            headers=officer(NINGHE),
        )
        assert r.status_code == 201, r.text
        (finding,) = r.json()["findings"]
        case = {
            "finding_id": finding["id"],
            "legal_basis": "《排污许可管理条例》第三十四条",
            "facts": "台账缺失",
            "measure": {"kind": "permit_suspension"},
        }
        r = await svc.http.post("/supervision/cases", json=case, headers=officer(NINGHE))
        assert r.status_code == 409, r.text
        assert "no permit in force" in r.json()["detail"]


def test_rectify_by_belongs_to_a_rectification_order_only() -> None:
    """A deadline to rectify by (整改期限) is a rectification order's; a
    warning, fine or permit suspension took one and stored it unchecked."""
    import pytest
    from pydantic import ValidationError
    from supervision_svc.cases.schemas import MeasureIn
    from svc_common.i18n import use

    day = dt.date(2027, 1, 1)
    for kind in ("warning", "fine", "permit_suspension"):
        with use("zh"), pytest.raises(ValidationError) as refused:
            MeasureIn.model_validate(
                {"kind": kind, "rectify_by": day, **({"fine_cny": 500} if kind == "fine" else {})}
            )
        assert "只有责令整改可给出整改期限 rectify_by" in str(refused.value)
    assert MeasureIn(kind="rectification", rectify_by=day).rectify_by == day


async def test_a_warning_with_a_rectification_deadline_is_refused(svc: Service) -> None:
    with clock.using(clock.ManualClock(T0 + dt.timedelta(days=19))):
        plant = await svc.enterprise(32, NINGHE)
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(plant, "台账缺失"),
            headers=officer(NINGHE),
        )
        assert r.status_code == 201, r.text
        (finding,) = r.json()["findings"]
        case = {
            "finding_id": finding["id"],
            "legal_basis": "《排污许可管理条例》第三十六条",
            "facts": "台账缺失",
            "measure": {"kind": "warning", "rectify_by": "2027-01-01"},
        }
        r = await svc.http.post("/supervision/cases", json=case, headers=officer(NINGHE))
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["measure.rectify_by"]
        assert r.json()["errors"][0]["message"] == (
            "rectify_by is given with a rectification order only, not with warning"
        )
        case["measure"] = {"kind": "warning"}
        r = await svc.http.post("/supervision/cases", json=case, headers=officer(NINGHE))
        assert r.status_code == 201 and r.json()["rectify_by"] is None, r.text


def test_a_plans_period_is_of_a_year_from_2000_to_2099() -> None:
    """0000 and 9999-H2 were taken as periods; every date of the product is
    within 2000–2099, and a period's digits are ASCII ones (full-width
    ones are read as ASCII: test_a_period_typed_in_full_width_is_read_as_ascii;
    other scripts' digits are refused)."""
    import pytest
    from pydantic import ValidationError
    from supervision_svc.inspections.schemas import PlanIn

    for period in ("0000", "9999-H2", "1999-Q4", "2100", "٢٠٢٦-06", "２１００"):
        with pytest.raises(ValidationError) as refused:
            PlanIn(district=NINGHE, period=period, count=1)
        assert refused.value.errors()[0]["loc"] == ("period",), period
    for period in ("2000", "2026-06", "2026-Q3", "2099-H2"):
        assert PlanIn(district=NINGHE, period=period, count=1).period == period


async def test_a_plan_of_a_district_with_nobody_to_draw_names_the_district(svc: Service) -> None:
    body = {"district": "120104", "period": "2026", "count": 1}
    r = await svc.http.post("/supervision/inspection-plans", json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "district",
            "message": "the district has no operating enterprise on the register to draw from",
        }
    ]
    await svc.enterprise(33, "120104")
    for period in ("0000", "9999-H2"):
        r = await svc.http.post(
            "/supervision/inspection-plans", json={**body, "period": period}, headers=ADMIN
        )
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["period"]
    r = await svc.http.post("/supervision/inspection-plans", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text


async def test_a_permit_renewed_ahead_of_its_new_term_stays_in_force(svc: Service) -> None:
    """A renewal's new term starts the day after the old one ends, weeks
    ahead: taking its start as the permit's made a renewed permit "not in
    force" until then, a plant with a permit treated as one without."""
    from svc_common.events.schemas import permit as pev

    with clock.using(clock.ManualClock(T0 + dt.timedelta(days=19))):
        uscc = await svc.enterprise(32, NINGHE, vocs="8")
        await testing.deliver(
            svc.app,
            pev.PermitRenewed(
                permit_id=f"permit-{uscc}",
                permit_no=f"{uscc}001P",
                uscc=uscc,
                district=NINGHE,
                valid_from=dt.date(2029, 1, 1),
                valid_to=dt.date(2033, 12, 31),
            ),
        )
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(uscc, "台账缺失"),
            headers=officer(NINGHE),
        )
        assert r.status_code == 201, r.text
        (finding,) = r.json()["findings"]
        case = {
            "finding_id": finding["id"],
            "legal_basis": "《排污许可管理条例》第三十四条",
            "facts": "台账缺失",
            "measure": {"kind": "permit_suspension"},
        }
        r = await svc.http.post("/supervision/cases", json=case, headers=officer(NINGHE))
        assert r.status_code == 201, r.text


def test_a_pool_holds_each_inspector_once_as_a_person() -> None:
    """Two spellings, "Zhang San" and "zhang  san", are one person (双人执法 needs two): a
    pool naming them both was taken as two inspectors, so the draw could
    send one person as both of an enterprise's inspectors. The pool keeps
    each person once, under the first spelling, and one person twice is a
    pool of one."""
    import pytest
    from pydantic import ValidationError
    from supervision_svc.inspections.schemas import PlanIn

    base = {"district": NINGHE, "count": 3, "period": "2026"}
    plan = PlanIn.model_validate(
        {**base, "inspector_pool": ["Zhang San", "li.hua", "zhang  san", "ＺＨＡＮＧ ＳＡＮ"]}
    )
    assert plan.inspector_pool == ["Zhang San", "li.hua"]
    with pytest.raises(ValidationError, match="at least two inspectors"):
        PlanIn.model_validate({**base, "inspector_pool": ["Zhang San", "zhang san"]})
    drawn = rules.assign_inspectors(plan.inspector_pool, ["X"], seed=7)
    assert rules.person_key(drawn["X"][0]) != rules.person_key(drawn["X"][1])


async def test_an_inspection_names_a_plan_of_its_enterprises_district(svc: Service) -> None:
    """A record names only records of its own district, whoever writes it:
    an administrator (who sees every district) recording an inspection of a
    东丽区 enterprise under a 宁河区 plan is refused (422 naming plan_id)
    and nothing is recorded; under its own district's plan it is taken."""
    for i in range(1, 4):
        await svc.enterprise(i, NINGHE)
    dongli = await svc.enterprise(21, DONGLI)
    ninghe = await svc.enterprise(22, NINGHE)
    plans = {}
    for district in (NINGHE, DONGLI):
        body = {"district": district, "period": "2026", "count": 1, "seed": 3}
        r = await svc.http.post("/supervision/inspection-plans", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        plans[district] = r.json()["id"]
    r = await svc.http.post(
        "/supervision/inspections",
        json=inspection(dongli, plan_id=plans[NINGHE]),
        headers=ADMIN,
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["plan_id"]
    report = f"/supervision/reports/enforcement?district={DONGLI}&from=2026-01-01&to=2026-12-31"
    r = await svc.http.get(report, headers=ADMIN)
    assert r.status_code == 200 and r.json()["inspections"] == 0, r.text  # nothing recorded
    for uscc, district in ((dongli, DONGLI), (ninghe, NINGHE)):
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(uscc, plan_id=plans[district]),
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
    r = await svc.http.get(report, headers=ADMIN)
    assert r.json()["inspections"] == 1


async def test_an_inspection_of_another_districts_enterprise_reads_as_an_unknown_one(
    svc: Service,
) -> None:
    """An officer naming in a body an enterprise of a district it does not
    hold is refused as for one that is not on the register (422 on uscc,
    byte for byte but request_id): a 403 naming the district told anyone
    with a token that the USCC exists, and where. Nothing is recorded."""
    ninghe = await svc.enterprise(31, NINGHE)
    unknown = make_uscc(NINGHE, 9931)
    answers = []
    for uscc in (ninghe, unknown):
        r = await svc.http.post(
            "/supervision/inspections", json=inspection(uscc, "台账缺失"), headers=officer()
        )
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["uscc"]
        answers.append(r.json() | {"request_id": None})
    assert answers[0] == answers[1]
    r = await svc.http.get(f"/supervision/inspections?uscc={ninghe}", headers=AUDITOR)
    assert r.json()["items"] == []


async def test_a_record_named_by_its_uuid_in_upper_case_is_that_record(svc: Service) -> None:
    """An id in a path was read in either case, one in a body or a query
    was not: a case on a finding named `A4F5…` in upper case (pasted from a
    spreadsheet) was refused as "不是您可处理的问题", an inspection under a
    plan so named as "不是该区的抽查计划", a level change replacing an
    alert so named as not an alert in force, and `?cluster_id=` found no
    complaint. A UUID is the same record in either case: each is taken."""
    uscc = await svc.enterprise(1)
    with clock.using(clock.ManualClock(T0)):
        r = await svc.http.post(
            "/supervision/inspection-plans",
            json={"district": DONGLI, "period": "2026", "count": 1, "seed": 1},
            headers=officer(),
        )
        assert r.status_code == 201, r.text
        plan_id = r.json()["id"]
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(uscc, "台账缺失", inspected_at=T0.isoformat(), plan_id=plan_id.upper()),
            headers=officer(),
        )
        assert r.status_code == 201, r.text
        assert r.json()["plan_id"] == plan_id
        (finding,) = r.json()["findings"]
        case = {
            "finding_id": finding["id"].upper(),
            "legal_basis": "《中华人民共和国大气污染防治法》第九十九条",
            "measure": {"kind": "warning"},
        }
        r = await svc.http.post("/supervision/cases", json=case, headers=officer())
        assert r.status_code == 201, r.text
        assert r.json()["finding_id"] == finding["id"]
        # Named twice, in either case, it is one finding: the second is a conflict.
        r = await svc.http.post(
            "/supervision/cases", json={**case, "finding_id": finding["id"]}, headers=officer()
        )
        assert r.status_code == 409, r.text

        alert = {
            "level": "yellow",
            "districts": [DONGLI],
            "from": "2026-06-02T00:00:00+08:00",
            "to": "2026-06-04T00:00:00+08:00",
        }
        r = await svc.http.post("/supervision/alerts", json=alert, headers=officer())
        assert r.status_code == 201, r.text
        yellow = r.json()["id"]
        for replaces in ([yellow.upper(), yellow], [yellow.upper(), yellow.upper()]):
            r = await svc.http.post(
                "/supervision/alerts",
                json={**alert, "level": "orange", "replaces": replaces},
                headers=officer(),
            )
            assert r.status_code == 422 and "replaces" in r.text, r.text
        r = await svc.http.post(
            "/supervision/alerts",
            json={**alert, "level": "orange", "replaces": [yellow.upper()]},
            headers=officer(),
        )
        assert r.status_code == 201, r.text
        assert r.json()["replaces"] == [yellow]

        r = await svc.http.post(
            "/supervision/complaints",
            json={
                "channel": "hotline",
                "received_at": T0.isoformat(),
                "district": DONGLI,
                "address": "东丽区某路",
                "category": "air",
                "description": "工厂冒黑烟",
            },
            headers=officer(),
        )
        assert r.status_code == 201, r.text
        cluster = r.json()["complaint"]["cluster_id"]
        r = await svc.http.get(
            f"/supervision/complaints?cluster_id={cluster.upper()}", headers=officer()
        )
        assert [c["cluster_id"] for c in r.json()["items"]] == [cluster], r.text


async def test_an_inspection_under_a_plan_is_of_an_enterprise_the_plan_drew(svc: Service) -> None:
    """The double-random plan chooses whom to inspect: an officer recorded
    an inspection of any enterprise of the district under a plan that had
    not drawn it (201), so an inspection chosen by hand read as one of the
    random draw, in the record and in `supervision.inspection.recorded.v1`.
    It is now a 422 naming plan_id, in the caller's language, and nothing is
    recorded; the enterprises the plan drew are inspected under it."""
    usccs = [await svc.enterprise(i) for i in range(1, 5)]
    r = await svc.http.post(
        "/supervision/inspection-plans",
        json={"district": DONGLI, "period": "2026", "count": 2, "seed": 5},
        headers=officer(),
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    drawn = {x["uscc"] for x in plan["selection"]}
    (left, *_) = sorted(set(usccs) - drawn)
    for headers, words in (
        ({**officer(), "Accept-Language": "zh-CN"}, "抽查计划未抽中该企业"),
        ({**ADMIN, "Accept-Language": "en"}, "did not draw this enterprise"),
    ):
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(left, "台账缺失", plan_id=plan["id"]),
            headers=headers,
        )
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["plan_id"], r.text
        assert words in r.json()["detail"], r.text
    r = await svc.http.get(f"/supervision/inspections?uscc={left}", headers=AUDITOR)
    assert r.json()["items"] == [], r.text
    assert await svc.events("supervision.inspection.recorded.v1") == []
    # Without a plan it is an inspection as any other; each drawn one is
    # inspected under the plan.
    r = await svc.http.post("/supervision/inspections", json=inspection(left), headers=officer())
    assert r.status_code == 201 and r.json()["plan_id"] is None, r.text
    for uscc in sorted(drawn):
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(uscc, plan_id=plan["id"]),
            headers=officer(),
        )
        assert r.status_code == 201 and r.json()["plan_id"] == plan["id"], r.text


async def test_an_inspection_under_a_plan_is_on_a_day_of_its_period(svc: Service) -> None:
    """A plan draws whom to inspect in its period: an inspection under a
    2026-Q3 plan on 30 June (Beijing) was recorded as of that draw. It is a
    422 naming inspected_at, with the plan's period and days, in the
    caller's language, and nothing is recorded; the first minutes of 1 July
    in Beijing (still 30 June in UTC) are of the period."""
    with clock.using(clock.ManualClock(dt.datetime(2026, 10, 5, 2, 0, tzinfo=dt.UTC))):
        usccs = [await svc.enterprise(i) for i in range(1, 4)]
        r = await svc.http.post(
            "/supervision/inspection-plans",
            json={"district": DONGLI, "period": "2026-Q3", "count": 3, "seed": 5},
            headers=officer(),
        )
        assert r.status_code == 201, r.text
        plan = r.json()["id"]
        for at, lang, words in (
            (
                "2026-06-30T15:59:00+00:00",
                "zh-CN",
                "为 2026-06-30（北京时间），不在抽查计划的期间 2026-Q3"
                "（2026-07-01 至 2026-09-30）内：请在该期间的抽查计划下记录，"
                "或不带 plan_id 记录",
            ),
            (
                "2026-10-01T00:00:00+08:00",
                "en",
                "is 2026-10-01 (Beijing time), outside the plan's period 2026-Q3 "
                "(2026-07-01 to 2026-09-30): record it under a plan of its period, "
                "or without plan_id",
            ),
        ):
            r = await svc.http.post(
                "/supervision/inspections",
                json=inspection(usccs[0], "台账缺失", plan_id=plan, inspected_at=at),
                headers={**officer(), "Accept-Language": lang},
            )
            assert r.status_code == 422, r.text
            assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
                ("inspected_at", words)
            ]
        assert await svc.events("supervision.inspection.recorded.v1") == []
        for uscc, at in (
            (usccs[0], "2026-06-30T16:00:00+00:00"),  # 00:00 on 1 July in Beijing
            (usccs[1], "2026-09-30T23:59:00+08:00"),
        ):
            r = await svc.http.post(
                "/supervision/inspections",
                json=inspection(uscc, plan_id=plan, inspected_at=at),
                headers=officer(),
            )
            assert r.status_code == 201 and r.json()["plan_id"] == plan, r.text


def test_a_plans_period_is_its_days() -> None:
    from supervision_svc.inspections.rules import period_days

    assert period_days("2026") == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert period_days("2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert period_days("2026-Q3") == (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert period_days("2026-Q4") == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert period_days("2026-H1") == (dt.date(2026, 1, 1), dt.date(2026, 6, 30))
    assert period_days("2026-H2") == (dt.date(2026, 7, 1), dt.date(2026, 12, 31))
    # A plan drawn before periods were checked: no calendar holds year 0.
    assert period_days("0000-H2") is None


async def test_a_period_of_a_district_is_drawn_once(svc: Service) -> None:
    """The same district and period could be drawn again, giving a second
    plan (and a second list of enterprises to choose from). A second draw
    is a 409 naming the plan the period has, with its id, in the caller's
    language, and nothing is written; another period, or another district's
    same period, is drawn."""
    await svc.enterprise(1, NINGHE)
    await svc.enterprise(2, DONGLI)
    body = {"district": NINGHE, "period": "2026-Q3", "count": 1, "seed": 11}
    r = await svc.http.post("/supervision/inspection-plans", json=body, headers=officer(NINGHE))
    assert r.status_code == 201, r.text
    plan = r.json()
    for headers, words in (
        (
            {**ADMIN, "Accept-Language": "zh-CN"},
            f"宁河区（120117）已有 2026-Q3 的抽查计划 {plan['id']}",
        ),
        (
            {**officer(NINGHE), "Accept-Language": "en"},
            f"district 宁河区 (120117) already has inspection plan {plan['id']} for 2026-Q3",
        ),
    ):
        r = await svc.http.post(
            "/supervision/inspection-plans", json={**body, "seed": 12}, headers=headers
        )
        assert r.status_code == 409, r.text
        problem = r.json()
        assert problem["reason"] == "plan_exists" and words in problem["detail"], r.text
        assert problem["existing_plan"]["id"] == plan["id"]
        assert [e["field"] for e in problem["errors"]] == ["period"]
    r = await svc.http.get("/supervision/inspection-plans", headers=AUDITOR)
    assert [p["id"] for p in r.json()["items"]] == [plan["id"]]
    for other in ({**body, "period": "2026-Q4"}, {**body, "district": DONGLI}):
        r = await svc.http.post("/supervision/inspection-plans", json=other, headers=ADMIN)
        assert r.status_code == 201, r.text


async def test_a_period_overlapping_a_plans_is_not_drawn(svc: Service) -> None:
    """Periods were compared as written: 2026 and 2026-Q3, or 2026-Q3 and
    2026-08, were both drawn for one district though they overlap. A draw
    whose period shares a day with a plan's is a 409 naming that plan, its
    id and period, in the caller's language; periods that do not overlap,
    and another district, are drawn."""
    await svc.enterprise(1, NINGHE)
    await svc.enterprise(2, DONGLI)
    body = {"district": NINGHE, "period": "2026-Q3", "count": 1, "seed": 11}
    r = await svc.http.post("/supervision/inspection-plans", json=body, headers=officer(NINGHE))
    assert r.status_code == 201, r.text
    q3 = r.json()["id"]
    for period in ("2026", "2026-H2", "2026-08", "2026-07", "2026-09"):
        r = await svc.http.post(
            "/supervision/inspection-plans",
            json={**body, "period": period},
            headers={**officer(NINGHE), "Accept-Language": "en"},
        )
        assert r.status_code == 409, (period, r.text)
        problem = r.json()
        assert problem["reason"] == "plan_exists"
        assert problem["existing_plan"]["id"] == q3
        assert problem["existing_plan"]["period"] == "2026-Q3"
        assert f"plan {q3} for 2026-Q3, which overlaps {period}" in problem["detail"]
        assert problem["errors"] == [
            {
                "field": "period",
                "message": "overlaps 2026-Q3, already drawn for district "
                f"宁河区 ({NINGHE}): plan {q3}",
            }
        ]
    r = await svc.http.post(
        "/supervision/inspection-plans",
        json={**body, "period": "2026"},
        headers={**ADMIN, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 409
    assert f"宁河区（{NINGHE}）已有 2026-Q3 的抽查计划 {q3}" in r.json()["detail"]
    assert "与 2026 重叠" in r.json()["detail"]
    for period in ("2026-Q2", "2026-10", "2027"):
        r = await svc.http.post(
            "/supervision/inspection-plans", json={**body, "period": period}, headers=ADMIN
        )
        assert r.status_code == 201, (period, r.text)
    # 2026-10 is drawn: the fourth quarter overlaps it now.
    r = await svc.http.post(
        "/supervision/inspection-plans", json={**body, "period": "2026-Q4"}, headers=ADMIN
    )
    assert r.status_code == 409 and r.json()["existing_plan"]["period"] == "2026-10", r.text
    r = await svc.http.post(
        "/supervision/inspection-plans",
        json={**body, "district": DONGLI, "period": "2026"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
