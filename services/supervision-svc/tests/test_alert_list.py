"""GET /supervision/alerts: which alert is in force in a district, and
which was on a day. A page of alerts, the latest start first, each with its
state by the clock; an officer sees the alerts touching its districts."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from supervision_svc.alerts import rules
from supervision_svc.alerts.models import Alert
from svc_common import clock, testing

from .conftest import ADMIN, AUDITOR, DONGLI, NINGHE, WUQING, Service, officer
from .test_alert_lifting import NOW, ZH, bj, issue
from .test_hostile_input import expect

H = dt.timedelta(hours=1)
S = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
E = S + 48 * H


@pytest.mark.parametrize(
    ("lifted_at", "now", "state"),
    [
        (None, S - H, "upcoming"),
        (None, S, "in_force"),
        (None, E - H, "in_force"),
        (None, E, "ended"),
        (None, E + H, "ended"),
        # Lifted early: in force to the lift, lifted from it.
        (S + H, S + H - dt.timedelta(seconds=1), "in_force"),
        (S + H, S + H, "lifted"),
        (S + H, E + H, "lifted"),
        # Cancelled (lifted at its start) before it began: never in force.
        (S, S - H, "lifted"),
        (S, S, "lifted"),
        # Lifted a few minutes ahead of the clock, before its start: it
        # still begins.
        (S + H, S - H, "upcoming"),
    ],
)
def test_the_state_of_an_alert_by_the_clock(
    lifted_at: dt.datetime | None, now: dt.datetime, state: str
) -> None:
    assert rules.state(S, E, lifted_at, now) == state


def test_in_force_from_its_start_to_its_actual_end() -> None:
    assert rules.in_force_at(S, E, None, S)
    assert not rules.in_force_at(S, E, None, E)
    assert not rules.in_force_at(S, E, None, S - H)
    assert rules.in_force_at(S, E, S + H, S)
    assert not rules.in_force_at(S, E, S + H, S + H)
    assert not rules.in_force_at(S, E, S, S)  # cancelled


async def _page(svc: Service, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await svc.http.get("/supervision/alerts", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _ids(svc: Service, headers: dict[str, str] = ADMIN, **params: Any) -> list[str]:
    return [a["id"] for a in (await _page(svc, headers, **params))["items"]]


async def test_the_list_states_what_the_rule_says_on_the_database(svc: Service) -> None:
    """The SQL of `state` and `at` picks exactly the alerts the rule does:
    every case of the rule, written as rows (the issue route would refuse
    most of these periods against each other)."""
    now = S + 24 * H
    moments = [now - 30 * H, now - 2 * H, now, now + 2 * H, now + 30 * H]
    made: dict[str, tuple[dt.datetime, dt.datetime, dt.datetime | None]] = {}
    n = itertools.count()
    async with svc.db.transaction() as s:
        for starts, ends in itertools.combinations(moments, 2):
            lifts = [None, starts, *(m for m in moments if starts < m < ends)]
            for lifted_at in lifts:
                a = Alert(
                    id=f"a{next(n):03d}",
                    level="yellow",
                    districts=[DONGLI],
                    starts_at=starts,
                    ends_at=ends,
                    issued_by="admin.city",
                    issued_at=starts,
                    lifted_at=lifted_at,
                )
                s.add(a)
                made[a.id] = (starts, ends, lifted_at)
    with clock.using(clock.ManualClock(now)):
        everything = await _page(svc, ADMIN, limit=1000)
        assert {a["id"]: a["state"] for a in everything["items"]} == {
            i: rules.state(*p, now) for i, p in made.items()
        }
        # GET one answers each alert exactly as the list does, state included.
        for item in everything["items"]:
            r = await svc.http.get(f"/supervision/alerts/{item['id']}", headers=ADMIN)
            assert r.status_code == 200, r.text
            assert r.json() == item
        for state in ("in_force", "upcoming", "ended", "lifted"):
            want = {i for i, p in made.items() if rules.state(*p, now) == state}
            assert set(await _ids(svc, state=state, limit=1000)) == want, state
        for at in moments:
            want = {i for i, p in made.items() if rules.in_force_at(*p, at)}
            assert set(await _ids(svc, at=at.isoformat(), limit=1000)) == want, at


async def test_alerts_are_listed_latest_first_a_page_at_a_time(svc: Service) -> None:
    with clock.using(clock.ManualClock(NOW)):  # 12:00 on 3 June, Beijing
        old = await issue(svc, "yellow", [DONGLI], bj(1), bj(2))
        both = await issue(svc, "orange", [DONGLI, NINGHE], bj(3), bj(5))
        ninghe = await issue(svc, "red", [NINGHE], bj(6), bj(8))
        wuqing = await issue(svc, "orange", [WUQING], bj(3), bj(4))
        cancelled = await issue(svc, "yellow", [WUQING], bj(10), bj(11))
        r = await svc.http.post(f"/supervision/alerts/{cancelled['id']}/lift", headers=ADMIN)
        assert r.status_code == 200, r.text

        # Newest start first; equal starts by id, latest first.
        newest = [cancelled, ninghe, *sorted([both, wuqing], key=lambda a: a["id"])[::-1], old]
        page = await _page(svc, AUDITOR)
        assert [a["id"] for a in page["items"]] == [a["id"] for a in newest]
        assert page["next_cursor"] is None
        states = [a["state"] for a in page["items"]]
        assert states == ["lifted", "upcoming", "in_force", "in_force", "ended"]
        # Each item is the alert as GET one answers it, with its state.
        one = (await svc.http.get(f"/supervision/alerts/{both['id']}", headers=ADMIN)).json()
        (listed,) = [a for a in page["items"] if a["id"] == both["id"]]
        assert listed == {**one, "state": "in_force"}

        # Pages of two follow each other to the end, nothing twice.
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            p = await _page(svc, AUDITOR, **params)
            seen += [a["id"] for a in p["items"]]
            cursor = p["next_cursor"]
            if cursor is None:
                break
        assert seen == [a["id"] for a in newest]

        # Which alert is in force in Ninghe now, and which was at a moment.
        assert await _ids(svc, district=NINGHE, state="in_force") == [both["id"]]
        assert await _ids(svc, district=NINGHE) == [ninghe["id"], both["id"]]
        assert await _ids(svc, at=bj(1, 12)) == [old["id"]]
        assert await _ids(svc, district=DONGLI, at="2026-06-04T23:59:59+08:00") == [both["id"]]
        assert await _ids(svc, district=DONGLI, at=bj(5)) == []  # its end: over
        assert await _ids(svc, state="upcoming") == [ninghe["id"]]
        assert await _ids(svc, state="ended") == [old["id"]]
        assert await _ids(svc, state="lifted") == [cancelled["id"]]
        assert await _ids(svc, level="orange", state="in_force") == sorted(
            [both["id"], wuqing["id"]], reverse=True
        )


async def test_an_officer_lists_the_alerts_of_its_districts(svc: Service) -> None:
    with clock.using(clock.ManualClock(NOW)):
        dongli = await issue(svc, "yellow", [DONGLI], bj(1), bj(2))
        both = await issue(svc, "orange", [DONGLI, NINGHE], bj(3), bj(5))
        await issue(svc, "red", [WUQING], bj(3), bj(5))
        # An alert touching one of its districts is listed whole.
        assert await _ids(svc, officer()) == [both["id"], dongli["id"]]
        assert await _ids(svc, officer(NINGHE)) == [both["id"]]
        assert await _ids(svc, officer(NINGHE), district=NINGHE) == [both["id"]]
        # Another district, asked for: refused as every supervision list refuses it.
        r = await svc.http.get(
            "/supervision/alerts", params={"district": WUQING}, headers={**officer(), **ZH}
        )
        await expect(r, 403)
        r = await svc.http.get(
            "/supervision/complaints", params={"district": WUQING}, headers={**officer(), **ZH}
        )
        await expect(r, 403)
        # An auditor and an administrator read the whole city.
        assert len(await _ids(svc, AUDITOR)) == len(await _ids(svc, ADMIN)) == 3


async def test_bad_filters_are_refused_naming_the_field(svc: Service) -> None:
    for params, field in (
        ({"state": "active"}, "state"),
        ({"level": "purple"}, "level"),
        ({"district": "999999"}, "district"),
        ({"at": "yesterday"}, "at"),
        ({"at": "2026-06-03T12:00:00"}, "at"),  # no offset: whose noon?
        ({"at": "1999-06-03T12:00:00+08:00"}, "at"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
    ):
        r = await svc.http.get("/supervision/alerts", params=params, headers={**ADMIN, **ZH})
        await expect(r, 422, field)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["detail"]), r.json()
    filer = testing.auth("filer", sub="filer.x")
    await expect(await svc.http.get("/supervision/alerts", headers=filer), 403)


async def test_an_offset_plus_sent_unencoded_is_refused_saying_how_to_write_it(
    svc: Service,
) -> None:
    """`?at=2026-06-04T12:00:00+08:00` typed into a URL arrives with a space
    for its '+': the 422 names `at` and says to write %2B08:00 or Z, in
    Chinese first and in English; written so, the same instant is accepted."""
    a = await issue(svc, "yellow", [DONGLI], bj(4), bj(5))
    for lang, said in ((ZH, "读作空格"), ({"Accept-Language": "en"}, "arrived as a space")):
        r = await svc.http.get(
            "/supervision/alerts?at=2026-06-04T12:00:00+08:00", headers={**ADMIN, **lang}
        )
        await expect(r, 422, "at")
        detail = r.json()["detail"]
        assert said in detail and "%2B08:00" in detail and "Z" in detail, detail
    for written in ("2026-06-04T12:00:00%2B08:00", "2026-06-04T04:00:00Z"):
        r = await svc.http.get(f"/supervision/alerts?at={written}", headers=ADMIN)
        assert [x["id"] for x in r.json()["items"]] == [a["id"]], r.text


async def test_no_such_alert_is_one_answer_on_every_route(svc: Service) -> None:
    """An alert that is not there and one of another district are the same
    404, worded once, whether read or lifted."""
    with clock.using(clock.ManualClock(NOW)):
        wuqing = await issue(svc, "red", [WUQING], bj(3), bj(5))
    answers = []
    for alert_id in ("no-such", wuqing["id"]):
        for method, tail in (("GET", ""), ("GET", "/measures"), ("POST", "/lift")):
            r = await svc.http.request(
                method, f"/supervision/alerts/{alert_id}{tail}", headers={**officer(), **ZH}
            )
            await expect(r, 404)
            answers.append(r.json()["detail"].replace(alert_id, "<id>"))
    assert set(answers) == {"没有预警 <id>"}


async def test_measures_of_a_district_the_alert_does_not_cover_say_so(svc: Service) -> None:
    """`?district=` of a district the alert does not cover answered 200 with
    no enterprise (没有受影响的企业 in `bureau alert measures`), as if the
    alert spared the district; it is a 422 naming `district` and the alert's
    districts, in the caller's language, for the JSON and the CSV alike."""
    await svc.enterprise(1, DONGLI, vocs="10")
    with clock.using(clock.ManualClock(NOW)):
        a = await issue(svc, "orange", [DONGLI], bj(4), bj(5))
    for tail in ("/measures", "/measures.csv"):
        url = f"/supervision/alerts/{a['id']}{tail}"
        r = await svc.http.get(url, params={"district": WUQING}, headers={**ADMIN, **ZH})
        await expect(r, 422, "district")
        said = "武清区（120114）不在该预警范围内（该预警的区：东丽区（120110））"
        assert said in r.json()["detail"], r.json()
        r = await svc.http.get(
            url, params={"district": WUQING}, headers={**ADMIN, "Accept-Language": "en"}
        )
        await expect(r, 422, "district")
        assert "is not under this alert" in r.json()["detail"]
        # Its own district is still answered, and one not of the city a 422 as before.
        r = await svc.http.get(url, params={"district": DONGLI}, headers=ADMIN)
        assert r.status_code == 200, r.text
        await expect(await svc.http.get(url, params={"district": "999999"}, headers=ADMIN), 422)
