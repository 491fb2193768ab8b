"""A permit counts on a day only within its term, from its start
(`valid_from`) to its end, and a report *as of* a past day counts what the
register held at the end of that day: not what was entered, changed or
audited since. An imported certificate's term is at most the statutory five
years (排污许可证有效期为五年)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from permit_svc.calendar import add_years, local_today
from permit_svc.permits import rules
from svc_common import clock, testing
from svc_common.types import utcnow

from .conftest import BAODI, Service


def _officer(**headers: str) -> dict[str, str]:
    # Minted when used: under a manual clock a token is as old as the clock says.
    return testing.auth("officer", [BAODI], **headers)


def _row(uscc: str, valid_from: dt.date, valid_to: dt.date) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "pollutants": [{"pollutant": "VOCs", "amount_t": "5"}],
        "valid_from": valid_from.isoformat(),
        "valid_to": valid_to.isoformat(),
    }


async def _import(svc: Service, *rows: dict[str, Any], **headers: str) -> list[dict[str, Any]]:
    r = await svc.http.post(
        "/permit/permits:import",
        content="\n".join(json.dumps(row) for row in rows).encode(),
        headers=_officer(**{"content-type": "application/x-ndjson", **headers}),
    )
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


async def _report(svc: Service, name: str, as_of: dt.date | None = None) -> dict[str, Any]:
    query = f"district={BAODI}" + (f"&as_of={as_of.isoformat()}" if as_of else "")
    r = await svc.http.get(f"/permit/reports/{name}?{query}", headers=_officer())
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


def _permit_figures(coverage: dict[str, Any], progress: dict[str, Any]) -> tuple[int, ...]:
    return (
        coverage["fixed_sources"],
        coverage["with_valid_permit"],
        coverage["with_valid_registration"],
        progress["valid_permits"],
        progress["audited"],
    )


async def _figures(svc: Service, as_of: dt.date | None = None) -> tuple[int, ...]:
    return _permit_figures(
        await _report(svc, "coverage", as_of), await _report(svc, "audit-progress", as_of)
    )


def test_the_longest_term_a_certificate_may_give() -> None:
    assert rules.longest_valid_to(dt.date(2021, 3, 1)) == dt.date(2026, 3, 1)
    assert rules.longest_valid_to(dt.date(2024, 2, 29)) == dt.date(2029, 2, 28)


async def test_a_certificate_starting_later_counts_only_from_its_start(svc: Service) -> None:
    """A renewal issued ahead of its term is imported, and is no valid permit
    before its first day (the tester's row: 2030-01-01 to 2034-12-31)."""
    uscc = await svc.enterprise(7001)
    today = local_today(utcnow())
    start = today + dt.timedelta(days=400)
    end = add_years(start, 5) - dt.timedelta(days=1)
    (row,) = await _import(svc, _row(uscc, start, end))
    assert row["result"] == "created", row
    assert await _figures(svc) == (1, 0, 0, 0, 0)
    assert await _figures(svc, start - dt.timedelta(days=1)) == (1, 0, 0, 0, 0)
    assert await _figures(svc, start) == (1, 1, 0, 1, 0)
    assert await _figures(svc, end) == (1, 1, 0, 1, 0)
    assert await _figures(svc, end + dt.timedelta(days=1)) == (1, 0, 0, 0, 0)
    r = await svc.http.get(f"/permit/reports/coverage?district={BAODI}", headers=_officer())
    assert [u["uscc"] for u in r.json()["uncovered_sources"]] == [uscc]


async def test_an_import_refuses_a_term_beyond_five_years(svc: Service) -> None:
    today = local_today(utcnow())
    ok, long, reversed_, tester = [await svc.enterprise(n) for n in (7011, 7012, 7013, 7014)]
    start = today - dt.timedelta(days=100)
    rows = await _import(
        svc,
        # Written to the anniversary itself: five years, not more.
        _row(ok, start, add_years(start, 5)),
        _row(long, start, add_years(start, 5) + dt.timedelta(days=1)),
        _row(reversed_, today + dt.timedelta(days=10), today + dt.timedelta(days=9)),
        _row(tester, dt.date(2001, 1, 1), dt.date(2099, 12, 31)),
    )
    assert [r["result"] for r in rows] == ["created", "error", "error", "error"], rows
    for row in rows[1:]:
        assert [e["field"] for e in row["errors"]] == ["valid_to"], row
    assert "more than 5 years after valid_from" in rows[1]["errors"][0]["message"]
    assert "before valid_from" in rows[2]["errors"][0]["message"]
    (zh,) = await _import(
        svc,
        _row(await svc.enterprise(7015), dt.date(2001, 1, 1), dt.date(2099, 12, 31)),
        **{"Accept-Language": "zh-CN"},
    )
    assert "排污许可证有效期为 5 年" in zh["errors"][0]["message"], zh


async def test_a_permit_renewed_ahead_of_its_new_term_stays_valid(svc: Service) -> None:
    uscc = await svc.enterprise(7021)
    today = local_today(utcnow())
    end = today + dt.timedelta(days=30)
    (row,) = await _import(svc, _row(uscc, add_years(end + dt.timedelta(days=1), -5), end))
    r = await svc.http.post(f"/permit/permits/{row['id']}/renew", headers=_officer())
    assert r.status_code == 200, r.text
    assert r.json()["valid_from"] == (end + dt.timedelta(days=1)).isoformat()
    assert await _figures(svc) == (1, 1, 0, 1, 0)
    assert await _figures(svc, end + dt.timedelta(days=1)) == (1, 1, 0, 1, 0)


async def test_a_past_day_counts_what_the_register_held_then(svc: Service) -> None:
    """Entered on day 0; on day 10 a permit is suspended, another cancelled,
    the registration cancelled and a permit audited; on day 20 a new holder.
    Asked on day 20, the report of day 5 is what it was on day 5."""
    start = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing
    day0 = local_today(start)
    with clock.using(clock.ManualClock(start)) as manual:
        assert isinstance(manual, clock.ManualClock)
        imported, suspended = await svc.enterprise(7031), await svc.enterprise(7032)
        issued, registered = await svc.enterprise(7033), await svc.enterprise(7034, "3311")
        rows = await _import(
            svc,
            *(
                _row(u, day0 - dt.timedelta(days=400), day0 + dt.timedelta(days=1000))
                for u in (imported, suspended)
            ),
        )
        cancel_id, suspend_id = (r["id"] for r in rows)
        r = await svc.http.post(
            "/permit/permits",
            json={"uscc": issued, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]},
            headers=_officer(),
        )
        issue_id = r.json()["id"]
        r = await svc.http.post(f"/permit/permits/{issue_id}/issue", headers=_officer())
        assert r.status_code == 200, r.text
        r = await svc.http.post(
            "/permit/registrations", json={"uscc": registered}, headers=_officer()
        )
        assert r.status_code == 201, r.text
        registration_id = r.json()["id"]
        assert await _figures(svc) == (4, 3, 1, 3, 0)

        manual.advance_now(dt.timedelta(days=10))
        for path, body in (
            (f"permits/{suspend_id}/suspend", {"reason": "超标排放"}),
            (f"permits/{cancel_id}/cancel", {"reason": "merged"}),
            (f"registrations/{registration_id}/cancel", {"reason": "搬迁"}),
        ):
            r = await svc.http.post(f"/permit/{path}", json=body, headers=_officer())
            assert r.status_code == 200, r.text
        r = await svc.http.post(
            f"/permit/permits/{issue_id}/audits", json={"result": "pass"}, headers=_officer()
        )
        assert r.status_code == 201, r.text

        manual.advance_now(dt.timedelta(days=10))
        (row,) = await _import(
            svc, _row(await svc.enterprise(7035), day0, day0 + dt.timedelta(days=1000))
        )
        assert row["result"] == "created", row

        assert await _figures(svc) == (5, 2, 0, 2, 1)
        assert await _figures(svc, day0 + dt.timedelta(days=5)) == (4, 3, 1, 3, 0)
        assert await _figures(svc, day0) == (4, 3, 1, 3, 0)
        assert await _figures(svc, day0 + dt.timedelta(days=10)) == (4, 1, 0, 1, 1)
        assert await _figures(svc, day0 - dt.timedelta(days=1)) == (0, 0, 0, 0, 0)
