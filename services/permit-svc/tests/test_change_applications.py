"""The expansion (改扩建) of an enterprise holding a permit in force: the
application drafted from its approved filing is a change application
(变更申请) of that permit, and issuing it approves the change (核准变更):
the permit takes the increments, the VOCs increase drawn on the project's
quota, announced and audited as a change; the application ends `merged`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from svc_common import testing
from svc_common.events.schemas.eia import FilingApproved
from svc_common.events.schemas.quota import QuotaAllocated
from svc_common.tables import AuditEntry
from svc_common.uscc import make_uscc

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])


def allocation(reservation: str, project: str, uscc: str | None, increment: str) -> QuotaAllocated:
    return QuotaAllocated(
        reservation_id=reservation,
        project_ref=project,
        uscc=uscc,
        district=BAODI,
        pollutant="VOCs",
        pool_id="pool-120115-VOCs",
        amount_t=Decimal(increment) * 2,
        increment_t=Decimal(increment),
        offset_ratio=Decimal("2.0"),
    )


def approved(uscc: str, n: int, vocs: str) -> FilingApproved:
    return FilingApproved(
        filing_id=f"EIA-2026-{n}",
        project_ref=f"P-{n}",
        project_name="扩建项目",
        uscc=uscc,
        enterprise_name=f"企业{n}",
        district=BAODI,
        industry_code="2641",
        category="report_form",
        vocs_increment_t=Decimal(vocs),
    )


async def in_force(svc: Service, serial: int) -> tuple[str, str, dict[str, Any]]:
    """An enterprise holding a permit in force (VOCs 2 t/a, NOx 1 t/a)."""
    uscc = await svc.enterprise(serial)
    await testing.deliver(svc.app, allocation(f"res-{serial}", f"P-{serial}", uscc, "2"))
    body = {
        "uscc": uscc,
        "project_ref": f"P-{serial}",
        "pollutants": [
            {"pollutant": "VOCs", "amount_t": "2"},
            {"pollutant": "NOx", "amount_t": "1"},
        ],
    }
    r = await svc.http.post("/permit/permits", json=body, headers=OFFICER)
    assert r.status_code == 201, r.text
    r = await svc.http.post(f"/permit/permits/{r.json()['id']}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    return uscc, r.json()["id"], r.json()


async def drafted(svc: Service, uscc: str, n: int, vocs: str = "1.5") -> dict[str, Any]:
    await testing.deliver(svc.app, approved(uscc, n, vocs))
    r = await svc.http.get(f"/permit/permits?status=applied&uscc={uscc}", headers=OFFICER)
    (draft,) = [p for p in r.json()["items"] if p["source_filing_id"] == f"EIA-2026-{n}"]
    return dict(draft)


async def get(svc: Service, pid: str) -> dict[str, Any]:
    r = await svc.http.get(f"/permit/permits/{pid}", headers=OFFICER)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def audited(svc: Service, target: str) -> list[tuple[str, dict[str, Any]]]:
    async with svc.db.session() as s:
        rows = await s.execute(
            select(AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.target_id == target)
            .order_by(AuditEntry.at, AuditEntry.id)
        )
        return [(a, dict(d or {})) for a, d in rows]


async def test_a_drafted_change_application_issued_is_merged_into_the_permit(
    svc: Service,
) -> None:
    uscc, pid, permit = await in_force(svc, 6701)
    draft = await drafted(svc, uscc, 6711)
    assert (draft["kind"], draft["changes_permit_no"]) == ("change", permit["permit_no"])
    assert draft["pollutants"] == [{"pollutant": "VOCs", "amount_t": "1.500"}]
    checks = {c["code"]: c for c in draft["prechecks"]}
    assert checks["permit_in_force"]["passed"] is True
    assert permit["permit_no"] in checks["permit_in_force"]["message"]
    # The increment is what needs quota: the project's, unclaimed, backs it.
    assert checks["vocs_quota_backing"]["passed"] is False
    await testing.deliver(svc.app, allocation("res-6711", "P-6711", None, "1.5"))

    r = await svc.http.post(f"/permit/permits/{draft['id']}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    merged = r.json()
    assert (merged["status"], merged["kind"]) == ("merged", "change")
    assert merged["changes_permit_no"] == permit["permit_no"] and merged["permit_no"] is None
    assert merged["allowed_actions"] == []
    after = await get(svc, pid)
    assert after["pollutants"] == [
        {"pollutant": "VOCs", "amount_t": "3.500"},
        {"pollutant": "NOx", "amount_t": "1.000"},
    ]
    assert (after["vocs_t"], after["quota_drawn_t"]) == ("3.500", "3.500")
    assert (after["status"], after["last_action"], after["kind"]) == ("issued", "change", "new")
    (changed,) = await svc.events("permit.changed.v1")
    assert changed["data"]["permit_id"] == pid and changed["data"]["vocs_delta_t"] == "1.500"
    assert changed["data"]["pollutant_changes"] == [
        {"pollutant": "VOCs", "before_t": "2.000", "after_t": "3.500", "delta_t": "1.500"}
    ]
    assert changed["data"]["actor"] == "officer.test"
    assert len(await svc.events("permit.issued.v1")) == 1
    steps = await audited(svc, pid)
    assert steps[-1][0] == "permit.change"
    assert steps[-1][1]["application_id"] == draft["id"]
    assert steps[-1][1]["vocs_delta_kg"] == 1500
    assert steps[-1][1]["quota_claimed"] == ["res-6711"]
    assert (await audited(svc, draft["id"]))[-1] == (
        "permit.merge",
        {"from": "applied", "to": "merged", "permit_no": permit["permit_no"], "permit_id": pid},
    )
    # Listed as merged, naming the permit it went into.
    r = await svc.http.get(f"/permit/permits?status=merged&uscc={uscc}", headers=OFFICER)
    assert [p["changes_permit_no"] for p in r.json()["items"]] == [permit["permit_no"]]


async def test_a_permit_no_longer_in_force_is_409_naming_it(svc: Service) -> None:
    uscc, pid, permit = await in_force(svc, 6702)
    draft = await drafted(svc, uscc, 6712)
    await testing.deliver(svc.app, allocation("res-6712", "P-6712", uscc, "1.5"))
    r = await svc.http.post(
        f"/permit/permits/{pid}/suspend", json={"reason": "检查"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    r = await svc.http.post(f"/permit/permits/{draft['id']}/issue", headers=OFFICER)
    assert r.status_code == 409, r.text
    assert r.json()["permit_no"] == permit["permit_no"] and r.json()["state"] == "suspended"
    assert permit["permit_no"] in r.json()["detail"] and "reinstated" in r.json()["detail"]
    r = await svc.http.post(
        f"/permit/permits/{pid}/revoke", json={"reason": "违法"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    r = await svc.http.post(f"/permit/permits/{draft['id']}/issue", headers=OFFICER)
    assert r.status_code == 409, r.text
    assert r.json()["state"] == "revoked"
    assert (
        f"{permit['permit_no']}, which this application changes, is no longer in force"
        in (r.json()["detail"])
    )
    assert (await get(svc, draft["id"]))["status"] == "applied"
    assert (await get(svc, pid))["vocs_t"] == "2.000"
    assert await svc.events("permit.changed.v1") == []
    # Refused, it still names the permit it was to change.
    r = await svc.http.post(
        f"/permit/permits/{draft['id']}/reject", json={"reason": "许可证已撤销"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["changes_permit_no"]) == ("rejected", permit["permit_no"])


async def test_a_change_not_backed_by_quota_is_409_and_writes_nothing(svc: Service) -> None:
    uscc, pid, _ = await in_force(svc, 6703)
    draft = await drafted(svc, uscc, 6713)
    await testing.deliver(svc.app, allocation("res-6713", "P-6713", None, "1"))
    r = await svc.http.post(f"/permit/permits/{draft['id']}/issue", headers=OFFICER)
    assert r.status_code == 409, r.text
    assert (r.json()["missing_t"], r.json()["required_t"]) == ("0.500", "1.500")
    app, permit = await get(svc, draft["id"]), await get(svc, pid)
    assert (app["status"], app["version"]) == ("applied", 1)
    assert (permit["vocs_t"], permit["quota_drawn_t"], permit["version"]) == (
        "2.000",
        "2.000",
        2,
    )
    assert await svc.events("permit.changed.v1") == []
    assert [a for a, _ in await audited(svc, draft["id"])] == ["permit.apply"]
    # Nor was the project's allocation claimed: another enterprise may still draw it.
    r = await svc.http.get(f"/permit/permits/{draft['id']}/prechecks", headers=OFFICER)
    checks = {c["code"]: c for c in r.json()["prechecks"]}
    assert checks["no_project_eia"]["passed"] is True


async def test_an_issue_replayed_under_its_key_merges_once(svc: Service) -> None:
    uscc, pid, _ = await in_force(svc, 6704)
    draft = await drafted(svc, uscc, 6714)
    await testing.deliver(svc.app, allocation("res-6714", "P-6714", uscc, "1.5"))
    headers = {**OFFICER, "Idempotency-Key": "merge-6714"}
    first = await svc.http.post(f"/permit/permits/{draft['id']}/issue", headers=headers)
    again = await svc.http.post(f"/permit/permits/{draft['id']}/issue", headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert first.json() == again.json()
    assert (await get(svc, pid))["vocs_t"] == "3.500"
    assert len(await svc.events("permit.changed.v1")) == 1
    # Without the key, a second issue is a step the merged application has not.
    r = await svc.http.post(f"/permit/permits/{draft['id']}/issue", headers=OFFICER)
    assert r.status_code == 409 and r.json()["state"] == "merged"


async def test_a_new_draft_of_an_enterprise_that_gained_a_permit_since_is_merged(
    svc: Service,
) -> None:
    """Two filings of a new enterprise approved one after the other: both are
    drafted as new; once the first is issued, the second is issued as a
    change of it."""
    uscc = make_uscc(BAODI, 6705)
    first = await drafted(svc, uscc, 6715, "2")
    second = await drafted(svc, uscc, 6725, "1")
    assert first["kind"] == second["kind"] == "new"
    await testing.deliver(svc.app, allocation("res-6715", "P-6715", uscc, "2"))
    await testing.deliver(svc.app, allocation("res-6725", "P-6725", uscc, "1"))
    r = await svc.http.post(f"/permit/permits/{first['id']}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    permit_no = r.json()["permit_no"]
    r = await svc.http.get(f"/permit/permits/{second['id']}/prechecks", headers=OFFICER)
    checks = {c["code"]: c for c in r.json()["prechecks"]}
    assert checks["permit_in_force"]["passed"] is True
    assert permit_no in checks["permit_in_force"]["message"]
    r = await svc.http.post(f"/permit/permits/{second['id']}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["kind"], r.json()["changes_permit_no"]) == (
        "merged",
        "change",
        permit_no,
    )
    assert (await get(svc, first["id"]))["vocs_t"] == "3.000"


async def test_a_direct_application_of_an_enterprise_holding_a_permit_keeps_its_409(
    svc: Service,
) -> None:
    uscc, _, permit = await in_force(svc, 6706)
    body = {"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "3"}]}
    r = await svc.http.post("/permit/permits", json=body, headers=OFFICER)
    assert r.status_code == 201 and r.json()["kind"] == "new"
    r = await svc.http.post(f"/permit/permits/{r.json()['id']}/issue", headers=OFFICER)
    assert r.status_code == 409 and r.json()["permit_no"] == permit["permit_no"]
