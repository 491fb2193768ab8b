"""District settings and air quality are never back-dated, and the latest
decision holds, on SQLite and PostgreSQL: an `effective_from` in the past is
a 422 naming it (the versions are the history of what was in force); a new
setting replaces one still scheduled, instead of the scheduled one taking
over later; GET shows what is in force and what is scheduled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from quota_svc.policy.rules import NOW_TOLERANCE, is_scheduled, start_of, start_problem
from svc_common import clock

from .conftest import ADMIN, INVESTMENT, JIZHOU, Quota

HEXI = "120103"  # 河西区
T0 = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def manual() -> Iterator[clock.ManualClock]:
    with clock.using(clock.ManualClock(T0)) as c:
        assert isinstance(c, clock.ManualClock)
        yield c


def test_a_setting_starts_now_or_later() -> None:
    assert start_problem(None, T0) is None
    assert start_problem(T0 + dt.timedelta(days=4), T0) is None
    assert start_problem(T0 - NOW_TOLERANCE, T0) is None  # "now" as a client sent it
    assert start_problem(T0 - NOW_TOLERANCE - dt.timedelta(seconds=1), T0) is not None
    assert start_of(None, T0) == T0
    assert start_of(T0 - dt.timedelta(minutes=1), T0) == T0  # never before now
    assert start_of(T0 + dt.timedelta(days=1), T0) == T0 + dt.timedelta(days=1)
    assert is_scheduled(T0 + dt.timedelta(seconds=1), T0)
    assert not is_scheduled(T0, T0)


async def put_setting(q: Quota, ratio: str, when: dt.datetime | None = None) -> Any:
    body: dict[str, Any] = {"offset_ratio": ratio, "hold_days": 180}
    if when is not None:
        body["effective_from"] = when.isoformat()
    return await q.client.put(f"/quota/settings/{HEXI}/VOCs", json=body, headers=ADMIN)


async def setting(q: Quota) -> dict[str, Any]:
    r = await q.client.get(f"/quota/settings/{HEXI}/VOCs", headers=INVESTMENT)
    assert r.status_code == 200, r.text
    return dict(r.json())


def refused_on(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_settings_are_not_back_dated_and_the_latest_decision_holds(
    quota: Quota, manual: clock.ManualClock
) -> None:
    later = T0 + dt.timedelta(days=4)
    r = await put_setting(quota, "3", later)
    assert r.status_code == 200, r.text
    assert r.json()["in_force"] is False
    now = await setting(quota)
    assert (now["offset_ratio"], now["ratio_source"]) == ("2.00", "default")
    [scheduled] = now["scheduled"]
    assert scheduled["offset_ratio"] == "3.00"
    assert dt.datetime.fromisoformat(scheduled["effective_from"]) == later
    # Back-dated: refused, nothing recorded.
    refused_on(await put_setting(quota, "1", T0 - dt.timedelta(days=30)), "effective_from")
    assert (await setting(quota))["offset_ratio"] == "2.00"
    # The administrator decides 1.00 from now: it replaces the scheduled 3.00.
    r = await put_setting(quota, "1")
    assert r.status_code == 200, r.text
    assert (r.json()["in_force"], r.json()["scheduled"]) == (True, [])
    manual.advance_now(dt.timedelta(days=5))
    after = await setting(quota)
    assert (after["offset_ratio"], after["scheduled"]) == ("1.00", [])
    assert dt.datetime.fromisoformat(after["effective_from"]) == T0


async def air_quality(q: Quota) -> dict[str, Any]:
    r = await q.client.get(f"/quota/air-quality/{JIZHOU}", headers=INVESTMENT)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_air_quality_is_not_back_dated_and_the_latest_status_holds(
    quota: Quota, manual: clock.ManualClock
) -> None:
    path = f"/quota/air-quality/{JIZHOU}"
    r = await quota.client.put(path, json={"status": "attained"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    later = T0 + dt.timedelta(days=4)
    r = await quota.client.put(
        path, json={"status": "exceeded", "effective_from": later.isoformat()}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    assert r.json()["in_force"] is False
    shown = await air_quality(quota)
    assert shown["status"] == "attained"
    assert [s["status"] for s in shown["scheduled"]] == ["exceeded"]
    back = (T0 - dt.timedelta(days=1)).isoformat()
    r = await quota.client.put(
        path, json={"status": "severely_exceeded", "effective_from": back}, headers=ADMIN
    )
    refused_on(r, "effective_from")
    r = await quota.client.put(path, json={"status": "slightly_exceeded"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["scheduled"] == []
    manual.advance_now(dt.timedelta(days=5))
    shown = await air_quality(quota)
    assert (shown["status"], shown["scheduled"]) == ("slightly_exceeded", [])
