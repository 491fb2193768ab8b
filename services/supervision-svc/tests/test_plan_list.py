"""The list of double-random plans (GET /supervision/inspection-plans): each
district's officers see their district's, the citywide roles every one, the
latest drawn first, a page at a time; and the inspections recorded under a
plan (GET /supervision/inspections?plan_id=)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from svc_common import clock, testing

from .conftest import ADMIN, AUDITOR, DONGLI, NINGHE, T0, Service, officer
from .test_enforcement_api import inspection

PLANS = "/supervision/inspection-plans"


async def _draw(svc: Service, district: str, period: str, count: int = 1) -> dict[str, Any]:
    body = {"district": district, "period": period, "count": count, "seed": 7}
    body["inspector_pool"] = ["li.hua", "zhang.wei"]
    r = await svc.http.post(PLANS, json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    plan: dict[str, Any] = r.json()
    return plan


async def test_plans_are_listed_by_district_latest_first_a_page_at_a_time(svc: Service) -> None:
    for i in range(1, 4):
        await svc.enterprise(i, NINGHE)
        await svc.enterprise(10 + i, DONGLI)
    ids: dict[str, list[str]] = {NINGHE: [], DONGLI: []}
    with clock.using(clock.ManualClock(T0)) as c:
        for n, (district, period) in enumerate(
            [(NINGHE, "2026-Q1"), (DONGLI, "2026-Q1"), (NINGHE, "2026-Q2"), (NINGHE, "2026-Q3")]
        ):
            c.advance_now(dt.timedelta(hours=1))
            plan = await _draw(svc, district, period, count=1 + n % 3)
            ids[district].insert(0, plan["id"])  # the latest first

    r = await svc.http.get(PLANS, headers=officer(NINGHE))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [p["id"] for p in page["items"]] == ids[NINGHE] and page["next_cursor"] is None
    latest = page["items"][0]
    assert latest["period"] == "2026-Q3" and latest["district"] == NINGHE
    assert latest["sample_size"] == 1 and latest["population"] == 3
    assert latest["requested_count"] == 1 and latest["share_percent"] is None
    assert latest["created_by"] == "admin.city" and latest["seed"] == 7
    assert "selection" not in latest and "candidates" not in latest  # the plan's own page's

    r = await svc.http.get(PLANS, headers=officer(DONGLI))
    assert [p["id"] for p in r.json()["items"]] == ids[DONGLI]
    # Another district's plans: refused, as every list of the service does.
    r = await svc.http.get(PLANS, params={"district": DONGLI}, headers=officer(NINGHE))
    assert r.status_code == 403, r.text

    # The citywide roles: every district's, or one asked for; a page at a time.
    everyone = [ids[NINGHE][0], ids[NINGHE][1], ids[DONGLI][0], ids[NINGHE][2]]
    for headers in (ADMIN, AUDITOR):
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 1}
        while True:
            r = await svc.http.get(PLANS, params=params, headers=headers)
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) <= 1
            seen += [p["id"] for p in r.json()["items"]]
            if not r.json()["next_cursor"]:
                break
            params["cursor"] = r.json()["next_cursor"]
        assert seen == everyone
    r = await svc.http.get(PLANS, params={"district": DONGLI}, headers=AUDITOR)
    assert [p["id"] for p in r.json()["items"]] == ids[DONGLI]

    for params in ({"limit": 0}, {"limit": 1001}, {"cursor": "not-a-cursor-of-this-api"}):
        r = await svc.http.get(PLANS, params=params, headers=ADMIN)
        assert r.status_code == 422, (params, r.text)
    r = await svc.http.get(PLANS, headers=testing.auth("investment", sub="zhaoshang"))
    assert r.status_code == 403, r.text


async def test_no_plan_is_an_empty_list(svc: Service) -> None:
    r = await svc.http.get(PLANS, headers=officer(NINGHE))
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_cursor": None}


async def test_the_inspections_of_a_plan_are_listed_by_its_id(svc: Service) -> None:
    usccs = [await svc.enterprise(i, NINGHE) for i in range(1, 3)]
    plan = await _draw(svc, NINGHE, "2026-Q2", count=2)  # the inspections are in June
    other = await _draw(svc, NINGHE, "2026-Q1", count=1)  # but its own, in March
    recorded = []
    # Each under a plan that drew it (an enterprise it did not draw is refused).
    (drawn,) = [x["uscc"] for x in other["selection"]]
    march = {"inspected_at": "2026-03-10T02:00:00Z"}
    for uscc, plan_id, when in (
        (usccs[0], plan["id"], {}),
        (drawn, other["id"], march),
        (usccs[1], None, {}),
    ):
        r = await svc.http.post(
            "/supervision/inspections",
            json=inspection(uscc, plan_id=plan_id, **when),
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        recorded.append(r.json()["id"])
    r = await svc.http.get(
        "/supervision/inspections", params={"plan_id": plan["id"]}, headers=officer(NINGHE)
    )
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [recorded[0]]
    # In capitals, as a UUID may be pasted, it is the same plan.
    r = await svc.http.get(
        "/supervision/inspections", params={"plan_id": plan["id"].upper()}, headers=AUDITOR
    )
    assert [i["id"] for i in r.json()["items"]] == [recorded[0]]
    # The plan's district is not the caller's: nothing of it.
    r = await svc.http.get(
        "/supervision/inspections", params={"plan_id": plan["id"]}, headers=officer(DONGLI)
    )
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    r = await svc.http.get(
        "/supervision/inspections", params={"plan_id": "not an id"}, headers=ADMIN
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["plan_id"]
