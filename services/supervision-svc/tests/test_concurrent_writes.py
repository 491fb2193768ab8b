"""Writes on one thing sent at the same moment end as they would one after
the other, on PostgreSQL where they really run side by side: identical
complaints form one cluster, the guarantee list keeps one open entry per
enterprise, a plant plan is replaced, not refused."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from supervision_svc.app import create
from supervision_svc.grading.models import GuaranteeEntry
from supervision_svc.inspections.models import InspectionPlan
from supervision_svc.inspections.rules import periods_overlap
from supervision_svc.settings import Settings
from svc_common import clock, testing

from .conftest import ADMIN, AUDITOR, NINGHE, T0, Service, officer
from .test_complaints_api import complaint

YEAR = {"valid_from": "2026-01-01", "valid_to": "2026-12-31"}


async def test_identical_complaints_at_once_form_one_cluster(svc: Service) -> None:
    with clock.using(clock.ManualClock(T0 + dt.timedelta(hours=1))):
        for category in ("odor", "noise", "air"):
            callers = [officer(sub=f"officer.{k}") for k in range(5)]
            answers = await asyncio.gather(
                *(
                    svc.http.post(
                        "/supervision/complaints", json=complaint(category=category), headers=h
                    )
                    for h in callers
                )
            )
            assert [r.status_code for r in answers] == [201] * 5, [r.text for r in answers]
            checks = [r.json()["duplicate_check"] for r in answers]
            assert len({c["cluster_id"] for c in checks}) == 1, checks
            assert sorted(c["repeat"] for c in checks) == [False, True, True, True, True]
            assert sorted(c["cluster_size"] for c in checks) == [1, 2, 3, 4, 5]


async def _open_entries(svc: Service, uscc: str) -> int:
    async with svc.db.session() as s:
        q = select(func.count()).where(
            GuaranteeEntry.uscc == uscc, GuaranteeEntry.ended_at.is_(None)
        )
        return int(await s.scalar(q) or 0)


async def test_the_guarantee_list_keeps_one_open_entry_under_concurrent_writes(
    svc: Service,
) -> None:
    for serial in range(3):
        uscc = await svc.enterprise(8100 + serial)
        puts = await asyncio.gather(
            *(
                svc.http.put(
                    f"/supervision/guarantee-list/{uscc}",
                    json={
                        "reason": "livelihood",
                        "allowed_measure": {"kind": "reduce", "percent": 10 + k},
                        **YEAR,
                    },
                    headers=officer(sub=f"officer.{k}"),
                )
                for k in range(5)
            )
        )
        assert [r.status_code for r in puts] == [200] * 5, [r.text for r in puts]
        assert await _open_entries(svc, uscc) == 1
        removals = await asyncio.gather(
            *(
                svc.http.delete(f"/supervision/guarantee-list/{uscc}", headers=officer())
                for _ in range(3)
            )
        )
        assert sorted(r.status_code for r in removals) == [204, 404, 404]
        assert await _open_entries(svc, uscc) == 0


async def test_a_plant_plan_written_at_once_is_replaced_not_refused(svc: Service) -> None:
    uscc = await svc.enterprise(8200)
    answers = await asyncio.gather(
        *(
            svc.http.put(
                f"/supervision/plant-plans/{uscc}",
                json={
                    "level": "orange",
                    "measure": {"kind": "reduce", "percent": 20 + k},
                    "note": f"第{k}版",
                },
                headers=officer(sub=f"officer.{k}"),
            )
            for k in range(5)
        )
    )
    assert [r.status_code for r in answers] == [200] * 5, [r.text for r in answers]
    r = await svc.http.get(f"/supervision/plant-plans/{uscc}", headers=officer())
    assert len(r.json()) == 1


async def test_one_days_emergency_policy_written_at_once_is_replaced_in_turn(
    svc: Service,
) -> None:
    table = (await svc.http.get("/supervision/emergency-policy", headers=ADMIN)).json()["rules"]
    with clock.using(clock.ManualClock(T0)):  # 1 November is ahead
        answers = await asyncio.gather(
            *(
                svc.http.put(
                    "/supervision/emergency-policy",
                    json={"effective_from": "2026-11-01", "rules": table, "note": f"第{k}版"},
                    headers=ADMIN,
                )
                for k in range(5)
            )
        )
    assert [r.status_code for r in answers] == [200] * 5, [r.text for r in answers]


async def test_the_same_grading_sent_twice_is_recorded_once(svc: Service) -> None:
    """A PUT of a grading is idempotent as PUT is: the same grading sent
    again (a client or proxy retrying it, or sent twice at once, without an
    Idempotency-Key) answers the grading in force and records nothing more;
    it made a second identical record in the history, a second
    `supervision.grade.set.v1` and audit entry. A different grading, even
    back to an earlier grade, is a new record."""
    uscc = await svc.enterprise(8300)
    body = {"grade": "B", "industry": "工业涂装", "basis": "2026年绩效评定", **YEAR}
    url = f"/supervision/grades/{uscc}"
    answers = await asyncio.gather(
        *(svc.http.put(url, json=body, headers=officer(sub=f"officer.{k}")) for k in range(4))
    )
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert len({r.text for r in answers}) == 1
    again = await svc.http.put(url, json=body, headers=officer())
    assert again.json() == answers[0].json()
    for grade in ("C", "B"):
        r = await svc.http.put(url, json={**body, "grade": grade}, headers=officer())
        assert r.status_code == 200 and r.json()["grade"] == grade
    r = await svc.http.get(url, headers=officer())
    assert [h["grade"] for h in r.json()["history"]] == ["B", "C", "B"]
    assert len(await svc.events("supervision.grade.set.v1")) == 3


async def _entries(svc: Service, uscc: str) -> int:
    async with svc.db.session() as s:
        q = select(func.count()).where(GuaranteeEntry.uscc == uscc)
        return int(await s.scalar(q) or 0)


async def test_the_same_guarantee_entry_sent_twice_is_recorded_once(svc: Service) -> None:
    """A PUT on the guarantee list (保障性清单) is idempotent as PUT is: the
    same entry sent again (retried, or twice at once, without an
    Idempotency-Key) answers the entry in force and writes nothing; each
    one ended the entry and made a new one, so the history grew with every
    retry, and the audit trail with it. A different entry replaces it."""
    uscc = await svc.enterprise(8400)
    url = f"/supervision/guarantee-list/{uscc}"
    body = {
        "reason": "livelihood",
        "allowed_measure": {"kind": "stop_processes", "processes": ["喷涂"]},
        "note": "供暖保障",
        **YEAR,
    }
    answers = await asyncio.gather(
        *(svc.http.put(url, json=body, headers=officer(sub=f"officer.{k}")) for k in range(4))
    )
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert len({r.text for r in answers}) == 1
    again = await svc.http.put(url, json=body, headers=officer())
    assert again.json() == answers[0].json()
    assert await _entries(svc, uscc) == 1
    changed = {**body, "allowed_measure": {"kind": "reduce", "percent": 10}}
    r = await svc.http.put(url, json=changed, headers=officer())
    assert r.status_code == 200 and r.json()["allowed_measure"]["percent"] == 10
    assert await _entries(svc, uscc) == 2 and await _open_entries(svc, uscc) == 1
    trail = await svc.http.get(
        "/supervision/audit",
        params={"target_id": uscc, "action": "guarantee.put"},
        headers=AUDITOR,
    )
    assert trail.status_code == 200, trail.text
    assert len(trail.json()["items"]) == 2, trail.json()


@pytest.mark.pg
async def test_one_district_and_period_drawn_at_once_gives_one_plan(pg_url: str) -> None:
    """On real PostgreSQL, where the draws run side by side: six draws of
    one district and period sent at once made six plans. One is drawn; the
    others wait their turn and are each a 409 naming it."""
    app = create(Settings(database_url=pg_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        svc = Service(app, http)
        for serial in range(1, 31):
            await svc.enterprise(serial, NINGHE)
        answers = await asyncio.gather(
            *(
                http.post(
                    "/supervision/inspection-plans",
                    json={"district": NINGHE, "period": "2026-H2", "count": 5, "seed": k},
                    headers=officer(NINGHE, sub=f"officer.{k}"),
                )
                for k in range(6)
            )
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409, 409, 409, 409, 409], [r.text for r in answers]
        (drawn,) = [r.json()["id"] for r in answers if r.status_code == 201]
        assert {r.json()["existing_plan"]["id"] for r in answers if r.status_code == 409} == {drawn}
        async with svc.db.session() as s:
            assert await s.scalar(select(func.count()).select_from(InspectionPlan)) == 1
        # Overlapping periods of a year at once (each holds August 2027):
        # one is drawn, the others are each a 409 naming it.
        periods = ["2027", "2027-H2", "2027-Q3", "2027-08", "2027-Q3", "2027-H2"]
        answers = await asyncio.gather(
            *(
                http.post(
                    "/supervision/inspection-plans",
                    json={"district": NINGHE, "period": period, "count": 5, "seed": k},
                    headers=officer(NINGHE, sub=f"officer.{k}"),
                )
                for k, period in enumerate(periods)
            )
        )
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409, 409, 409, 409, 409], [r.text for r in answers]
        (drawn,) = [r.json()["id"] for r in answers if r.status_code == 201]
        assert {r.json()["existing_plan"]["id"] for r in answers if r.status_code == 409} == {drawn}
        # A year and its quarters at once: the year alone, or quarters,
        # never both; every refusal names a plan drawn that overlaps it.
        periods = ["2028", "2028-Q1", "2028-Q2", "2028-Q3", "2028-Q4", "2028"]
        answers = await asyncio.gather(
            *(
                http.post(
                    "/supervision/inspection-plans",
                    json={"district": NINGHE, "period": period, "count": 5, "seed": k},
                    headers=officer(NINGHE, sub=f"officer.{k}"),
                )
                for k, period in enumerate(periods)
            )
        )
        made = {r.json()["id"]: r.json()["period"] for r in answers if r.status_code == 201}
        assert sorted(made.values()) in (["2028"], ["2028-Q1", "2028-Q2", "2028-Q3", "2028-Q4"])
        for period, r in zip(periods, answers, strict=True):
            if r.status_code != 201:
                assert r.status_code == 409, r.text
                named = r.json()["existing_plan"]
                assert made.get(named["id"]) == named["period"], r.text
                assert periods_overlap(named["period"], period)
        async with svc.db.session() as s:
            assert await s.scalar(select(func.count()).select_from(InspectionPlan)) == 2 + len(made)
