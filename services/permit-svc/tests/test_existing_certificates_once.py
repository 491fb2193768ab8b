"""Existing certificates (存量) come in once, for stock the register does not
hold yet. An imported certificate draws no quota, and cancelling it frees
its amounts for the district's reclaim; so an enterprise that was ever issued
a permit here imports none, or one officer could make district quota from
nothing (import, cancel, reclaim; again and again). An application never
issued (`applied`) frees nothing, so it does not stand in the way."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from permit_svc.calendar import local_today
from svc_common import testing
from svc_common.events.schemas.eia import FilingApproved
from svc_common.types import utcnow

from .conftest import BAODI, Service
from .test_permit_lifecycle_api import STATES, permit_in

OFFICER = testing.auth("officer", [BAODI])
NDJSON = {**OFFICER, "content-type": "application/x-ndjson"}


def _row(uscc: str, vocs: str = "50", **extra: Any) -> dict[str, Any]:
    today = local_today(utcnow())
    return {
        "uscc": uscc,
        "pollutants": [{"pollutant": "VOCs", "amount_t": vocs}],
        "valid_from": (today - dt.timedelta(days=300)).isoformat(),
        "valid_to": (today + dt.timedelta(days=1500)).isoformat(),
        **extra,
    }


async def _import(svc: Service, *rows: dict[str, Any], **headers: str) -> dict[str, Any]:
    r = await svc.http.post(
        "/permit/permits:import",
        content="\n".join(json.dumps(row) for row in rows).encode(),
        headers={**NDJSON, **headers},
    )
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


async def _permits_of(svc: Service, uscc: str) -> list[dict[str, Any]]:
    r = await svc.http.get(f"/permit/permits?uscc={uscc}&limit=50", headers=OFFICER)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_reclaimed_plant_reopened_imports_no_certificate_again(svc: Service) -> None:
    """The way quota was made from nothing: a closed plant's permit
    cancelled (its VOCs reclaimed), the plant set operating again, and a
    new "existing certificate" imported for it, to be cancelled in turn."""
    uscc = await svc.enterprise(9101)
    (first,) = (await _import(svc, _row(uscc, "0.67")))["results"]
    assert first["result"] == "created", first
    r = await svc.http.post(
        f"/permit/permits/{first['id']}/cancel", json={"reason": "closure"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    r = await svc.http.patch(
        f"/permit/enterprises/{uscc}", json={"operating_status": "operating"}, headers=OFFICER
    )
    assert r.status_code == 200 and r.json()["operating_status"] == "operating", r.text

    report = await _import(svc, _row(uscc, "50"))
    (row,) = report["results"]
    assert (row["result"], row["row_key"], report["totals"]["created"]) == ("error", uscc, 0)
    (err,) = row["errors"]
    assert err["field"] == "uscc"
    assert f"already has permit {first['number']} (cancelled)" in err["message"]
    zh = await _import(svc, _row(uscc, "50"), **{"Accept-Language": "zh-CN"})
    (err,) = zh["results"][0]["errors"]
    assert f"本系统已有该企业的排污许可证 {first['number']}（已注销）" in err["message"]
    # Nothing entered: one permit, one issue, one cancellation.
    assert [p["status"] for p in await _permits_of(svc, uscc)] == ["cancelled"]
    assert len(await svc.events("permit.issued.v1")) == 1
    assert len(await svc.events("permit.cancelled.v1")) == 1


async def test_an_enterprise_ever_issued_a_permit_imports_none(svc: Service) -> None:
    """Issued, suspended, revoked, cancelled or expired: the row is an error
    naming `uscc`; an enterprise with no permit here, or only an application
    never issued (applied, or refused), still imports."""
    holders: dict[str, str] = {}
    for state in STATES:
        pid = await permit_in(svc, state)
        p = await svc.http.get(f"/permit/permits/{pid}", headers=OFFICER)
        assert p.json()["status"] == state, p.text
        holders[state] = p.json()["uscc"]
    # A cancellation for closure closed its enterprise; reopened, it still
    # has its cancelled permit here.
    r = await svc.http.patch(
        f"/permit/enterprises/{holders['cancelled']}",
        json={"operating_status": "operating"},
        headers=OFFICER,
    )
    assert r.status_code == 200, r.text
    fresh = await svc.enterprise(9102)
    issued_before = len(await svc.events("permit.issued.v1"))

    report = await _import(svc, *(_row(u) for u in holders.values()), _row(fresh))
    results = report["results"]
    never = ("applied", "rejected")  # an application undecided or refused
    assert [x["result"] for x in results] == [
        "created" if state in never else "error" for state in STATES
    ] + ["created"]
    for state, result in zip(STATES, results, strict=False):
        if state in never:
            continue
        (err,) = result["errors"]
        assert err["field"] == "uscc" and result["row_key"] == holders[state], result
        assert "already has permit" in err["message"] and f"({state})" in err["message"], err
    assert len(await svc.events("permit.issued.v1")) == issued_before + len(never) + 1
    for state, uscc in holders.items():
        assert len(await _permits_of(svc, uscc)) == (2 if state in never else 1), state


async def test_an_enterprise_with_only_an_eia_draft_imports_its_certificate(
    svc: Service,
) -> None:
    """An approved EIA filing drafts an application (applied) for an existing
    enterprise; that draft is never issued, frees nothing when it goes, and
    cannot be withdrawn, so it does not keep the enterprise's existing
    certificate out. Once the certificate is in, a second import is refused."""
    uscc = await svc.enterprise(9105)
    await testing.deliver(
        svc.app,
        FilingApproved(
            filing_id="EIA-9105",
            project_ref="P-9105",
            project_name="扩建项目",
            uscc=uscc,
            enterprise_name="企业9105",
            district=BAODI,
            industry_code="2641",
            category="report_form",
            vocs_increment_t=Decimal("1.5"),
        ),
    )
    assert [p["status"] for p in await _permits_of(svc, uscc)] == ["applied"]
    (row,) = (await _import(svc, _row(uscc, "2")))["results"]
    assert row["result"] == "created", row
    assert sorted(p["status"] for p in await _permits_of(svc, uscc)) == ["applied", "issued"]
    (again,) = (await _import(svc, _row(uscc, "3")))["results"]
    assert again["result"] == "error", again
    assert f"already has permit {row['number']} (issued)" in again["errors"][0]["message"]


async def test_one_upload_brings_an_enterprise_s_certificate_in_once(svc: Service) -> None:
    """A second row for an enterprise whose certificate an earlier row of the
    same upload brought in is an error naming that row; a row refused for
    itself (a term already over) brings nothing in, so a later row may."""
    a = await svc.enterprise(9103)
    b = await svc.enterprise(9104)
    past = (local_today(utcnow()) - dt.timedelta(days=1)).isoformat()
    report = await _import(
        svc,
        _row(a, "1"),
        _row(a, "50"),
        _row(b, "2", valid_to=past),
        _row(b, "3"),
        _row(a, "100"),
    )
    results = report["results"]
    assert [x["result"] for x in results] == ["created", "error", "error", "created", "error"]
    for i in (1, 4):
        (err,) = results[i]["errors"]
        assert err["field"] == "uscc" and results[i]["row_key"] == a
        assert "row 1 of this upload already brings in its permit" in err["message"], err
    assert results[2]["errors"][0]["field"] == "valid_to"
    zh = await _import(svc, _row(b, "5"), **{"Accept-Language": "zh-CN"})
    assert "本系统已有该企业的排污许可证" in zh["results"][0]["errors"][0]["message"]
    assert [len(await _permits_of(svc, u)) for u in (a, b)] == [1, 1]
    assert len(await svc.events("permit.issued.v1")) == 2


async def test_a_certificate_number_not_of_ascii_digits_is_refused(svc: Service) -> None:
    """A certificate's number is its enterprise's code, three digits and P,
    as printed: one with full-width or Arabic-Indic digits, or a line break
    after it (a cell copied with its end of line), is refused naming
    `permit_no`, not stored as a number nobody can look up."""
    rows = []
    for serial, tail in ((9401, "００１P"), (9402, "٠٠١P"), (9403, "001P\n")):
        uscc = await svc.enterprise(serial)
        rows.append(_row(uscc, permit_no=uscc + tail))
    report = await _import(svc, *rows)
    assert report["totals"]["created"] == 0, report
    for result in report["results"]:
        assert [e["field"] for e in result["errors"]] == ["permit_no"], result
    for row in rows:
        assert await _permits_of(svc, row["uscc"]) == []
