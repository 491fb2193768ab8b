"""Alerts lifted early (解除预警) and one alert per district at a time: an
alert whose period overlaps one in force in any of its districts is refused
unless it names it in `replaces` (a level change, 升级/降级), which lifts it
at the new one's start in the same transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from svc_common import clock
from svc_common.errors import Conflict, Unprocessable
from svc_common.tables import AuditEntry

from .conftest import ADMIN, AUDITOR, DONGLI, NINGHE, WUQING, Service, officer
from .test_grading_alerts_api import grade
from .test_hostile_input import expect

#: 12:00 on 2026-06-03 in Beijing.
NOW = dt.datetime(2026, 6, 3, 4, 0, tzinfo=dt.UTC)
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def bj(day: int, hour: int = 0) -> str:
    return f"2026-06-{day:02d}T{hour:02d}:00:00+08:00"


async def issue(
    svc: Service,
    level: str,
    districts: list[str],
    start: str,
    end: str,
    status: int = 201,
    headers: dict[str, str] = ADMIN,
    **extra: Any,
) -> dict[str, Any]:
    r = await svc.http.post(
        "/supervision/alerts",
        json={"level": level, "districts": districts, "from": start, "to": end, **extra},
        headers=headers,
    )
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_lifting_an_alert_early_shortens_its_measures(svc: Service) -> None:
    with clock.using(clock.ManualClock(NOW)):
        uscc = await svc.enterprise(31, vocs="36.5")
        await grade(svc, uscc, "D")  # stops at red: 100 %
        alert = await issue(svc, "red", [DONGLI], bj(1), bj(8))
        assert alert["lifted_at"] is None and alert["replaces"] == []
        path = f"/supervision/alerts/{alert['id']}"
        r = await svc.http.get(f"{path}/measures", headers=officer())
        assert r.json()["items"][0]["expected_vocs_reduction_t"] == "0.700"  # 36.5 × 7/365

        lift = {"at": bj(2), "reason": "气象条件好转"}
        key = {**officer(), "Idempotency-Key": "lift-1"}
        r = await svc.http.post(f"{path}/lift", json=lift, headers=key)
        assert r.status_code == 200, r.text
        lifted = r.json()
        assert lifted["lifted_at"] == "2026-06-01T16:00:00Z"
        assert (lifted["lifted_by"], lifted["lift_reason"]) == ("officer.120110", "气象条件好转")
        assert lifted["ends_at"] == alert["ends_at"]  # the planned end is kept
        # The same request again is the same answer.
        again = await svc.http.post(f"{path}/lift", json=lift, headers=key)
        assert (again.status_code, again.json()) == (200, lifted)
        r = await svc.http.get(path, headers=AUDITOR)
        assert r.json()["lifted_at"] == lifted["lifted_at"]

        # One day in force: 36.5 t × 100 % × 1/365.
        r = await svc.http.get(f"{path}/measures", headers=officer())
        assert r.json()["items"][0]["expected_vocs_reduction_t"] == "0.100"
        assert r.json()["districts"][0]["expected_vocs_reduction_t"] == "0.100"
        r = await svc.http.get(f"{path}/measures.csv", headers=officer())
        assert ",0.100," in r.content.decode("utf-8-sig")

        # Lifting a lifted alert: 409 with the reason.
        r = await svc.http.post(f"{path}/lift", json={}, headers={**ADMIN, **ZH})
        await expect(r, 409, "alert_id")
        assert r.json()["reason"] == "already_lifted"
        assert r.json()["detail"] == "该预警已解除（于北京时间 2026-06-02 00:00 结束）"

        (event,) = await svc.events("supervision.alert.lifted.v1")
        assert event == {
            "alert_id": alert["id"],
            "level": "red",
            "districts": [DONGLI],
            "starts_at": "2026-05-31T16:00:00Z",
            "planned_ends_at": "2026-06-07T16:00:00Z",
            "lifted_at": "2026-06-01T16:00:00Z",
            "replaced_by": None,
        }
        async with svc.db.session() as s:
            (audit,) = await s.scalars(select(AuditEntry).where(AuditEntry.action == "alert.lift"))
        assert (audit.actor, audit.target_id) == ("officer.120110", alert["id"])


async def test_who_may_lift_and_when(svc: Service) -> None:
    with clock.using(clock.ManualClock(NOW)):
        alert = await issue(svc, "orange", [DONGLI, NINGHE], bj(1), bj(8))
        path = f"/supervision/alerts/{alert['id']}/lift"
        await expect(await svc.http.post(path, json={}, headers=AUDITOR), 403)
        # An officer of one of its districts may not lift the other's alert.
        await expect(await svc.http.post(path, json={}, headers=officer()), 403)
        await expect(await svc.http.post(path, json={}, headers=officer(WUQING)), 404)
        await expect(
            await svc.http.post("/supervision/alerts/no-such/lift", json={}, headers=ADMIN), 404
        )
        await expect(await svc.http.post("/supervision/alerts/%20/lift", headers=ADMIN), 422)
        for body, field in (
            ({"at": "2026-05-31T23:00:00+08:00"}, "at"),  # before its start
            ({"at": bj(8)}, "at"),  # at its planned end: nothing to shorten
            ({"at": bj(9)}, "at"),  # after it
            ({"at": bj(3, 13)}, "at"),  # an hour from now
            ({"at": "yesterday"}, "at"),
            ({"at": 0}, "at"),
            ({"at": "0001-01-01T00:00:00+00:00"}, "at"),
            ({"reason": "因" * 1001}, "reason"),
            ({"when": bj(2)}, "when"),
        ):
            r = await svc.http.post(path, json=body, headers={**ADMIN, **EN})
            await expect(r, 422, field)
        r = await svc.http.post(path, json={"at": bj(9)}, headers={**ADMIN, **ZH})
        (error,) = r.json()["errors"]
        assert error["message"] == "须早于预警计划结束时间北京时间 2026-06-08 00:00"
        json_ = {**ADMIN, "content-type": "application/json"}
        await expect(await svc.http.post(path, content=b"[1]", headers=json_), 422)
        # Within the slack of the caller's clock; no body at all is "now".
        r = await svc.http.post(path, json={"at": "2026-06-03T12:04:00+08:00"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        later = await issue(svc, "yellow", [DONGLI], bj(4), bj(8))
        nobody = await svc.http.post(f"/supervision/alerts/{later['id']}/lift", headers=ADMIN)
        # Not begun: lifting it now cancels it at its start (no measures).
        assert nobody.json()["lifted_at"] == "2026-06-03T16:00:00Z", nobody.text
        current = await issue(svc, "yellow", [WUQING], bj(1), bj(8))
        r = await svc.http.post(f"/supervision/alerts/{current['id']}/lift", headers=ADMIN)
        assert r.json()["lifted_at"] == "2026-06-03T04:00:00Z", r.text

        over = await issue(svc, "red", [WUQING], bj(8), bj(9))  # ahead of time
    with clock.using(clock.ManualClock(NOW + dt.timedelta(days=10))):
        r = await svc.http.post(f"/supervision/alerts/{over['id']}/lift", json={}, headers=ADMIN)
        await expect(r, 409, "at")
        assert r.json()["reason"] == "ended"
        # An earlier lift recorded afterwards is accepted.
        r = await svc.http.post(
            f"/supervision/alerts/{over['id']}/lift", json={"at": bj(8, 6)}, headers=ADMIN
        )
        assert r.json()["lifted_at"] == "2026-06-07T22:00:00Z", r.text


async def test_an_overlapping_alert_is_refused_unless_it_replaces(svc: Service) -> None:
    with clock.using(clock.ManualClock(NOW)):
        uscc = await svc.enterprise(32, vocs="36.5")
        await grade(svc, uscc, "D")  # yellow: stop VOCs processes 50 %; red: stop
        yellow = await issue(svc, "yellow", [DONGLI, NINGHE], bj(1), bj(8))

        # Red for Dongli while the yellow is in force: two orders at once.
        r = await svc.http.post(
            "/supervision/alerts",
            json={"level": "red", "districts": [DONGLI], "from": bj(3), "to": bj(5)},
            headers={**ADMIN, **ZH},
        )
        await expect(r, 409, "districts")
        assert r.json()["reason"] == "overlapping_alert"
        assert r.json()["overlapping"] == [
            {"id": yellow["id"], "level": "yellow", "districts": [DONGLI]}
        ]
        said = f"区 {DONGLI} 在此期间已有预警：{yellow['id']}（黄色预警"
        assert r.json()["detail"].startswith(said)
        r = await svc.http.post(
            "/supervision/alerts",
            json={"level": "red", "districts": [DONGLI], "from": bj(3), "to": bj(5)},
            headers={**ADMIN, **EN},
        )
        assert "name it in `replaces`" in r.json()["detail"]

        # Replacing it lifts it whole: Ninghe would be left without its alert.
        await issue(svc, "red", [DONGLI], bj(3), bj(5), 422, replaces=[yellow["id"]])
        await issue(svc, "red", [DONGLI, NINGHE], bj(3), bj(5), 422, replaces=["no-such"])
        await issue(svc, "red", [DONGLI, NINGHE], bj(3), bj(5), 422, replaces=[1])
        # An officer of Dongli alone may not issue for Ninghe.
        await issue(
            svc, "red", [DONGLI, NINGHE], bj(3), bj(5), 403, officer(), replaces=[yellow["id"]]
        )
        red = await issue(svc, "red", [DONGLI, NINGHE], bj(3), bj(5), replaces=[yellow["id"]])
        assert red["replaces"] == [yellow["id"]]
        r = await svc.http.get(f"/supervision/alerts/{yellow['id']}", headers=AUDITOR)
        assert r.json()["lifted_at"] == red["starts_at"] == "2026-06-02T16:00:00Z"
        assert (r.json()["replaced_by"], r.json()["lifted_by"]) == (red["id"], "admin.city")
        lifted = await svc.events("supervision.alert.lifted.v1")
        assert [(e["alert_id"], e["replaced_by"]) for e in lifted] == [(yellow["id"], red["id"])]
        # The yellow counts its two days: 36.5 t × 50 % × 2/365.
        r = await svc.http.get(f"/supervision/alerts/{yellow['id']}/measures", headers=officer())
        assert r.json()["items"][0]["expected_vocs_reduction_t"] == "0.100"

        # A lifted alert overlaps nothing after its lift; the red still does.
        await issue(svc, "red", [DONGLI], bj(3), bj(4), 422, replaces=[yellow["id"]])
        await issue(svc, "orange", [NINGHE], bj(4), bj(6), 409)
        await issue(svc, "orange", [NINGHE], bj(5), bj(6))  # from the red's end
        await issue(svc, "orange", [WUQING], bj(3), bj(5))  # another district
        # The new alert replacing one that has not begun lifts it at its own
        # start: it never takes effect.
        later = await issue(svc, "yellow", [DONGLI], bj(10), bj(12))
        now = await issue(svc, "orange", [DONGLI], bj(9), bj(11), replaces=[later["id"]])
        r = await svc.http.get(f"/supervision/alerts/{later['id']}", headers=AUDITOR)
        assert r.json()["lifted_at"] == later["starts_at"]
        assert r.json()["replaced_by"] == now["id"]
        # Lifting one replaced: already lifted.
        r = await svc.http.post(f"/supervision/alerts/{later['id']}/lift", headers=ADMIN)
        await expect(r, 409, "alert_id")


async def test_overlapping_alerts_issued_at_once_one_is_refused(svc: Service) -> None:
    """On PostgreSQL the two requests run side by side: each would find no
    alert in force but for the lock per district."""
    with clock.using(clock.ManualClock(NOW)):
        for day in (1, 10, 20):
            answers = await asyncio.gather(
                *(
                    svc.http.post(
                        "/supervision/alerts",
                        json={
                            "level": level,
                            "districts": [NINGHE, DONGLI],
                            "from": bj(day),
                            "to": bj(day + 3),
                        },
                        headers=ADMIN,
                    )
                    for level in ("yellow", "orange", "red")
                )
            )
            assert sorted(r.status_code for r in answers) == [201, 409, 409], [
                r.text for r in answers
            ]


def test_lift_time_rules() -> None:
    from supervision_svc.alerts import rules

    start = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=7)
    now = start + dt.timedelta(days=2)
    assert rules.lift_time(start, end, None, None, now) == now
    assert rules.lift_time(start, end, None, start, now) == start
    assert rules.lift_time(start, end, None, now + rules.LIFT_SLACK, now) == now + rules.LIFT_SLACK
    before = start - dt.timedelta(days=1)
    assert rules.lift_time(start, end, None, None, before) == start  # cancelled
    assert rules.lift_time(start, end, None, start, before) == start
    for at in (start - dt.timedelta(seconds=1), end, now + dt.timedelta(minutes=6)):
        with pytest.raises(Unprocessable):
            rules.lift_time(start, end, None, at, now)
    with pytest.raises(Conflict):
        rules.lift_time(start, end, now, None, now)
    with pytest.raises(Conflict):
        rules.lift_time(start, end, None, None, end)


def test_overlap_rules() -> None:
    from supervision_svc.alerts import rules

    t = [dt.datetime(2026, 6, d, tzinfo=dt.UTC) for d in range(1, 10)]
    a = rules.Period("a", "yellow", ("120110", "120117"), t[1], t[4])
    cancelled = rules.Period("c", "red", ("120110",), t[2], t[2])
    assert rules.overlapping(["120110"], t[3], t[5], [a, cancelled]) == [a]
    assert rules.overlapping(["120110"], t[4], t[5], [a]) == []  # from its end
    assert rules.overlapping(["120110"], t[0], t[1], [a]) == []  # up to its start
    assert rules.overlapping(["120114"], t[1], t[4], [a]) == []
    assert rules.to_replace(["120110", "120117"], t[2], t[5], [a], ["a"]) == [a]
    with pytest.raises(Conflict):
        rules.to_replace(["120110"], t[2], t[5], [a], [])
    with pytest.raises(Unprocessable):
        rules.to_replace(["120110"], t[2], t[5], [a], ["a"])
    with pytest.raises(Unprocessable):
        rules.to_replace(["120114"], t[2], t[5], [a], ["a"])
