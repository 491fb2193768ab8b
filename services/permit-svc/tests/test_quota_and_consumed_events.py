"""Total-quantity control against the read model of quota.allocated, and the
events permit-svc consumes, pushed through its inbox (duplicates included)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from svc_common import testing
from svc_common.events.schemas.eia import FilingApproved
from svc_common.events.schemas.quota import QuotaAllocated
from svc_common.tables import AuditEntry
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

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


async def apply(svc: Service, uscc: str, vocs: str, project: str | None = None) -> str:
    body: dict[str, Any] = {"uscc": uscc, "pollutants": [{"pollutant": "VOCs", "amount_t": vocs}]}
    if project:
        body["project_ref"] = project
    r = await svc.http.post("/permit/permits", json=body, headers=OFFICER)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_issue_beyond_allocated_quota_is_409_naming_the_missing_amount(svc: Service) -> None:
    uscc = await svc.enterprise(11)
    pid = await apply(svc, uscc, "5.000", project="P-2026-011")
    r = await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)
    assert r.status_code == 409
    assert r.json()["missing_t"] == "5.000" and r.json()["available_t"] == "0.000"
    # quota-svc allocates 3.5 t/a to the project (the uscc left out: matched by project).
    env = await testing.deliver(svc.app, allocation("res-1", "P-2026-011", None, "3.5"))
    r = await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)
    assert r.status_code == 409 and r.json()["missing_t"] == "1.500"
    # A redelivered allocation is not counted twice.
    await testing.redeliver(svc.app, env, "quota.events")
    # The same allocation re-published with a new event id: still once (business key).
    await testing.deliver(svc.app, allocation("res-1", "P-2026-011", None, "3.5"))
    r = await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)
    assert r.json()["missing_t"] == "1.500"
    await testing.deliver(svc.app, allocation("res-2", "P-2026-011b", uscc, "1.5"))
    r = await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    assert r.json()["quota_drawn_t"] == "5.000"


async def test_change_raising_vocs_needs_quota_for_the_increase_only(svc: Service) -> None:
    uscc = await svc.enterprise(12)
    await testing.deliver(svc.app, allocation("res-3", "P-12", uscc, "4"))
    pid = await apply(svc, uscc, "3", project="P-12")
    assert (await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)).status_code == 200

    async def change(vocs: str) -> Any:
        return await svc.http.post(
            f"/permit/permits/{pid}/change",
            json={"pollutants": [{"pollutant": "VOCs", "amount_t": vocs}], "reason": "expansion"},
            headers=OFFICER,
        )

    r = await change("4.5")  # +1.5 with 1.0 left
    assert r.status_code == 409 and r.json()["missing_t"] == "0.500"
    assert r.json()["required_t"] == "1.500"
    r = await change("1")  # a decrease needs nothing; it is freed for reclaim in quota-svc
    assert r.status_code == 200
    # What was freed went back to the district, not to the enterprise: 1.0 is left.
    r = await change("2.5")
    assert r.status_code == 409 and r.json()["missing_t"] == "0.500"
    r = await change("2")
    assert r.status_code == 200 and r.json()["quota_drawn_t"] == "4.000"
    deltas = [e["data"]["vocs_delta_t"] for e in await svc.events("permit.changed.v1")]
    assert deltas == ["-2.000", "1.000"]


async def test_approved_filing_drafts_one_application(svc: Service) -> None:
    approved = FilingApproved(
        filing_id="EIA-2026-0042",
        project_ref="P-2026-0042",
        project_name="水性涂料扩建项目",
        uscc=make_uscc(BAODI, 42),
        enterprise_name="天津宝坻涂料有限公司",
        district=BAODI,
        industry_code="2641",
        category="report_form",
        vocs_increment_t=Decimal("6.8"),
    )
    env = await testing.deliver(svc.app, approved)
    await testing.redeliver(svc.app, env, "eia.events")
    await testing.deliver(svc.app, approved)  # re-published with a new id
    r = await svc.http.get("/permit/permits?status=applied", headers=OFFICER)
    (draft,) = r.json()["items"]
    assert draft["source_filing_id"] == "EIA-2026-0042"
    assert draft["project_ref"] == "P-2026-0042"
    assert draft["pollutants"] == [{"pollutant": "VOCs", "amount_t": "6.800"}]
    assert draft["enterprise_name"] == "天津宝坻涂料有限公司"
    # The enterprise was learned from the event, with its category from the table.
    e = await svc.http.get(f"/permit/enterprises/{approved.uscc}", headers=OFFICER)
    assert e.json()["category"] == "key"
    # Once quota-svc has allocated the project's quota, the draft can be issued.
    await testing.deliver(svc.app, allocation("res-42", "P-2026-0042", approved.uscc, "6.8"))
    r = await svc.http.post(f"/permit/permits/{draft['id']}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    (issued,) = await svc.events("permit.issued.v1")
    assert issued["data"]["project_ref"] == "P-2026-0042"


async def test_a_filing_of_another_district_than_its_enterprise_s_is_drafted_and_said(
    svc: Service,
) -> None:
    """An approved filing naming another district than its (existing)
    enterprise's: the draft lands in the enterprise's district, where the
    quota allocated from the filing's district does not back it; drafted all
    the same, with an audit entry and a warning naming both districts."""
    uscc = await svc.enterprise(44)
    approved = FilingApproved(
        filing_id="EIA-2026-0044",
        project_ref="P-44",
        project_name="扩建项目",
        uscc=uscc,
        enterprise_name="企业44",
        district=JIZHOU,
        industry_code="2641",
        category="report_form",
        vocs_increment_t=Decimal("1.2"),
    )
    with testing.captured_logs() as logs:
        await testing.deliver(svc.app, approved)
    r = await svc.http.get("/permit/permits?status=applied", headers=OFFICER)
    (draft,) = r.json()["items"]
    assert (draft["source_filing_id"], draft["district"]) == ("EIA-2026-0044", BAODI)
    details = {
        "filing_id": "EIA-2026-0044",
        "project_ref": "P-44",
        "filing_district": JIZHOU,
        "enterprise_district": BAODI,
    }
    async with svc.db.session() as s:
        audited = (
            await s.execute(
                select(AuditEntry.target_id, AuditEntry.detail).where(
                    AuditEntry.action == "permit.draft.other_district"
                )
            )
        ).all()
    assert [tuple(a) for a in audited] == [(draft["id"], details)]
    (warning,) = [x for x in logs if x.get("filing_district") == JIZHOU]
    assert warning["log_level"] == "warning" and warning["permit_id"] == draft["id"]
    assert {k: warning[k] for k in details} == details
    # A filing of the enterprise's own district is drafted without either.
    with testing.captured_logs() as logs:
        await testing.deliver(
            svc.app, approved.model_copy(update={"filing_id": "EIA-2026-0045", "district": BAODI})
        )
    assert not [x for x in logs if "filing_district" in x]
    async with svc.db.session() as s:
        assert (
            len(
                (
                    await s.scalars(
                        select(AuditEntry.id).where(
                            AuditEntry.action == "permit.draft.other_district"
                        )
                    )
                ).all()
            )
            == 1
        )


async def test_approved_filing_of_a_registration_industry_drafts_nothing(svc: Service) -> None:
    uscc = await svc.enterprise(43, industry="3311")
    approved = FilingApproved(
        filing_id="EIA-2026-0043",
        project_ref="P-43",
        project_name="钢结构车间",
        uscc=uscc,
        enterprise_name="企业43",
        district=BAODI,
        industry_code="3311",
        category="registration_form",
        vocs_increment_t=Decimal("0"),
    )
    await testing.deliver(svc.app, approved)
    r = await svc.http.get("/permit/permits", headers=OFFICER)
    assert r.json()["items"] == []


async def test_concurrent_issues_for_one_enterprise_draw_once(svc: Service) -> None:
    """Two applications of one enterprise issued at the same moment: the
    enterprise lock lets one through; the other sees it and is refused."""
    uscc = await svc.enterprise(13)
    await testing.deliver(svc.app, allocation("res-13", "P-13", uscc, "5"))
    first = await apply(svc, uscc, "4", project="P-13")
    second = await apply(svc, uscc, "4", project="P-13")
    answers = await asyncio.gather(
        *(svc.http.post(f"/permit/permits/{p}/issue", headers=OFFICER) for p in (first, second))
    )
    assert sorted(r.status_code for r in answers) == [200, 409]
    issued = await svc.events("permit.issued.v1")
    assert len(issued) == 1
    r = await svc.http.get(f"/permit/permits?status=issued&district={BAODI}", headers=OFFICER)
    assert [p["quota_drawn_t"] for p in r.json()["items"]] == ["4.000"]


async def issue_answers(svc: Service, *permit_ids: str, headers: Any = OFFICER) -> list[Any]:
    return list(
        await asyncio.gather(
            *(svc.http.post(f"/permit/permits/{p}/issue", headers=headers) for p in permit_ids)
        )
    )


async def test_an_allocation_naming_an_enterprise_backs_no_other(svc: Service) -> None:
    """A permit of another enterprise citing the project finds none of it:
    one allocation never backs two enterprises' permits."""
    owner, other = await svc.enterprise(21), await svc.enterprise(22)
    await testing.deliver(svc.app, allocation("res-21", "P-21", owner, "1"))
    theirs = await apply(svc, other, "1", project="P-21")
    (r,) = await issue_answers(svc, theirs)
    assert r.status_code == 409 and r.json()["available_t"] == "0.000", r.text
    (r,) = await issue_answers(svc, await apply(svc, owner, "1", project="P-21"))
    assert r.status_code == 200 and r.json()["quota_drawn_t"] == "1.000", r.text


async def test_an_allocation_naming_no_enterprise_backs_the_first_to_draw_on_it(
    svc: Service,
) -> None:
    """Two enterprises' permits cite a project whose allocation names no
    enterprise, issued at the same moment: one draws on it and claims it,
    the other is refused; an enterprise of another district never could."""
    elsewhere = "120104"
    far = await svc.enterprise(23, district=elsewhere)
    await testing.deliver(svc.app, allocation("res-23", "P-23", None, "1"))
    (r,) = await issue_answers(
        svc,
        await apply_as(svc, far, "1", "P-23", testing.auth("officer", [elsewhere])),
        headers=testing.auth("officer", [elsewhere]),
    )
    assert r.status_code == 409 and r.json()["available_t"] == "0.000", r.text
    first, second = await svc.enterprise(24), await svc.enterprise(25)
    permits = [await apply(svc, e, "1", project="P-23") for e in (first, second)]
    answers = await issue_answers(svc, *permits)
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    won = next(p for p, a in zip(permits, answers, strict=True) if a.status_code == 200)
    async with svc.db.session() as s:
        detail = await s.scalar(
            select(AuditEntry.detail).where(
                AuditEntry.target_id == won, AuditEntry.action == "permit.issue"
            )
        )
    assert detail is not None and detail["quota_claimed"] == ["res-23"]
    # Claimed for good: the refused one stays refused.
    lost = next(p for p in permits if p != won)
    (r,) = await issue_answers(svc, lost)
    assert r.status_code == 409 and r.json()["missing_t"] == "1.000", r.text


async def test_a_refused_draw_leaves_the_allocation_unclaimed(svc: Service) -> None:
    """A draw the allocation does not cover is refused whole: its claim is
    undone, and the allocation still backs another enterprise."""
    greedy, modest = await svc.enterprise(26), await svc.enterprise(27)
    await testing.deliver(svc.app, allocation("res-26", "P-26", None, "1"))
    (r,) = await issue_answers(svc, await apply(svc, greedy, "2", project="P-26"))
    assert r.status_code == 409 and r.json()["missing_t"] == "1.000", r.text
    (r,) = await issue_answers(svc, await apply(svc, modest, "1", project="P-26"))
    assert r.status_code == 200, r.text


async def apply_as(svc: Service, uscc: str, vocs: str, project: str, headers: Any) -> str:
    body = {
        "uscc": uscc,
        "pollutants": [{"pollutant": "VOCs", "amount_t": vocs}],
        "project_ref": project,
    }
    r = await svc.http.post("/permit/permits", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_an_allocation_of_another_district_backs_nothing(svc: Service) -> None:
    """A district's pool backs its own enterprises: an allocation of 宝坻区's
    pool naming an enterprise of 南开区 backs none of its permits."""
    elsewhere = "120104"
    there = testing.auth("officer", [elsewhere])
    uscc = await svc.enterprise(28, district=elsewhere)
    await testing.deliver(svc.app, allocation("res-28", "P-28", uscc, "1"))
    (r,) = await issue_answers(svc, await apply_as(svc, uscc, "1", "P-28", there), headers=there)
    assert r.status_code == 409 and r.json()["available_t"] == "0.000", r.text


async def test_a_draw_of_nothing_claims_no_allocation(svc: Service) -> None:
    """A permit citing a project but adding no VOCs draws nothing, so it
    claims none of the project's allocation: the enterprise whose permit
    draws on it later still finds it."""
    idle, drawing = await svc.enterprise(29), await svc.enterprise(30)
    await testing.deliver(svc.app, allocation("res-29", "P-29", None, "1"))
    body = {"uscc": idle, "pollutants": [{"pollutant": "NOx", "amount_t": "2"}]}
    r = await svc.http.post(
        "/permit/permits", json={**body, "project_ref": "P-29"}, headers=OFFICER
    )
    assert r.status_code == 201, r.text
    (r,) = await issue_answers(svc, r.json()["id"])
    assert r.status_code == 200 and r.json()["quota_drawn_t"] == "0.000", r.text
    (r,) = await issue_answers(svc, await apply(svc, drawing, "1", project="P-29"))
    assert r.status_code == 200 and r.json()["quota_drawn_t"] == "1.000", r.text


async def test_an_application_s_project_ref_is_one_quota_svc_could_have_given(
    svc: Service,
) -> None:
    """The ref is matched exactly against quota-svc's allocations, which take
    a ref with no space around it nor anything invisible in it. " P-1" or
    "P\u200b-1" looked like the project and matched none of its allocations:
    the permit was refused for want of quota the project had; "" or " "
    named no project at all."""
    uscc = await svc.enterprise(31)
    for ref, why in [
        (" P-31", "首尾不得有空白"),
        ("P-31 ", "首尾不得有空白"),
        (" ", "首尾不得有空白"),
        ("", "至少"),
        ("P\u200b-31", "第 2 个字符（U+200B）"),
        ("P-31\u2060", "第 5 个字符（U+2060）"),
        ("\u0301P-31", "首尾须为可见字符"),
    ]:
        body = {
            "uscc": uscc,
            "pollutants": [{"pollutant": "VOCs", "amount_t": "1"}],
            "project_ref": ref,
        }
        r = await svc.http.post(
            "/permit/permits", json=body, headers={**OFFICER, "accept-language": "zh-CN"}
        )
        assert r.status_code == 422, (ref, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        (error,) = r.json()["errors"]
        assert error["field"] == "project_ref" and why in error["message"], (ref, r.text)
    r = await svc.http.get("/permit/permits", params={"uscc": uscc}, headers=OFFICER)
    assert r.json()["items"] == []
    # Spaces inside a ref, and no ref at all, stay as they were.
    assert await apply(svc, uscc, "1", project="P 31 扩建")


async def test_a_full_width_project_ref_is_the_project_quota_svc_allocated_to(
    svc: Service,
) -> None:
    """quota-svc takes "Ｐ－３２" (a Chinese input method in full-width mode)
    as "P-32": a permit citing it in full-width was matched against the
    allocations as typed, found none, and was refused for want of quota the
    project had. It is read as quota-svc reads it: stored as "P-32" and
    backed by the project's allocation; an allocation announced in
    full-width (before quota-svc folded refs) backs the ASCII form too."""
    uscc, other = await svc.enterprise(32), await svc.enterprise(33)
    await testing.deliver(svc.app, allocation("res-32", "P-32", None, "1"))
    r = await svc.http.post(
        "/permit/permits",
        json={
            "uscc": uscc,
            "pollutants": [{"pollutant": "VOCs", "amount_t": "1"}],
            "project_ref": "Ｐ－３２",
        },
        headers=OFFICER,
    )
    assert (r.status_code, r.json()["project_ref"]) == (201, "P-32"), r.text
    (r,) = await issue_answers(svc, r.json()["id"])
    assert r.status_code == 200 and r.json()["quota_drawn_t"] == "1.000", r.text
    # Announced in full-width, cited in ASCII.
    await testing.deliver(svc.app, allocation("res-33", "Ｐ－３３", None, "1"))
    (r,) = await issue_answers(svc, await apply(svc, other, "1", project="P-33"))
    assert r.status_code == 200 and r.json()["quota_drawn_t"] == "1.000", r.text
    # Case is kept: "p-34" is another project than "P-34", with nothing allocated.
    third = await svc.enterprise(34)
    await testing.deliver(svc.app, allocation("res-34", "P-34", None, "1"))
    (r,) = await issue_answers(svc, await apply(svc, third, "1", project="ｐ－３４"))
    assert r.status_code == 409 and r.json()["available_t"] == "0.000", r.text
