"""Four eyes on the reclaims permit events give rise to: the officer who
cancelled a permit (注销) or cut it (变更) is named by its event (`actor`) and
recorded as the candidate's creator, so he can neither confirm nor reject the
reclaim of what he freed (409); any other officer of the district decides
it. Without this one officer alone credited the district pool (import an
"existing certificate", cancel it, confirm its reclaim). Events sent before
they named their actor, and changes the system made, keep today's rule."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from svc_common import testing
from svc_common.tables import AuditEntry

from .conftest import JIZHOU, OFFICER, OFFICER2, Quota
from .test_events import cancelled, changed

WANG = "officer.wang"  # OFFICER's sub
ZHAO = "officer.zhao"  # OFFICER2's sub


async def _pending(quota: Quota) -> dict[str, dict[str, Any]]:
    r = await quota.client.get("/quota/reclaims?status=pending", headers=OFFICER2)
    assert r.status_code == 200, r.text
    return {i["permit_id"]: i for i in r.json()["items"]}


async def test_the_officer_who_cancelled_a_permit_does_not_confirm_its_reclaim(
    quota: Quota,
) -> None:
    await testing.deliver(quota.app, cancelled("PM-1", "50").model_copy(update={"actor": WANG}))
    (candidate,) = (await _pending(quota)).values()
    assert (candidate["source"], candidate["created_by"]) == ("permit_cancelled", WANG)

    url = f"/quota/reclaims/{candidate['id']}"
    same = await quota.client.post(f"{url}/confirm", headers=OFFICER)
    assert same.status_code == 409, same.text
    assert "four eyes" in same.json()["detail"] and same.json()["created_by"] == WANG
    zh = await quota.client.post(f"{url}/confirm", headers={**OFFICER, "Accept-Language": "zh-CN"})
    assert zh.status_code == 409 and "四眼原则" in zh.json()["detail"], zh.text
    assert "注销或变更该许可证以外的人员" in zh.json()["detail"]
    rejected = await quota.client.post(f"{url}/reject", json={"reason": "x"}, headers=OFFICER)
    assert rejected.status_code == 409, rejected.text
    a = await quota.availability(JIZHOU)
    assert (a["credited_t"], a["reclaimed_t"]) == ("0.000", "0.000")

    ok = await quota.client.post(f"{url}/confirm", headers=OFFICER2)
    assert ok.status_code == 200 and ok.json()["status"] == "confirmed", ok.text
    assert (ok.json()["created_by"], ok.json()["decided_by"]) == (WANG, ZHAO)
    assert (await quota.availability(JIZHOU))["credited_t"] == "50.000"
    # The lot shows both: who cancelled the permit and who confirmed.
    lots = (await quota.client.get(f"/quota/lots?district={JIZHOU}", headers=OFFICER)).json()
    (lot,) = lots["items"]
    assert (lot["reclaim_id"], lot["confirmed_by"]) == (candidate["id"], f"{WANG},{ZHAO}")
    async with quota.app.state.runtime.db.session() as s:
        (entry,) = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "quota.reclaim.candidate",
                    AuditEntry.target_id == candidate["id"],
                )
            )
        ).all()
    assert (entry.actor, (entry.detail or {}).get("entered_by")) == ("system", WANG)


async def test_the_officer_who_cut_a_permit_does_not_decide_its_reclaim(quota: Quota) -> None:
    await testing.deliver(quota.app, changed("PM-2", "-3").model_copy(update={"actor": ZHAO}))
    (candidate,) = (await _pending(quota)).values()
    assert (candidate["source"], candidate["created_by"]) == ("permit_changed", ZHAO)
    url = f"/quota/reclaims/{candidate['id']}"
    for action, body in (("confirm", None), ("reject", {"reason": "核减有误"})):
        same = await quota.client.post(f"{url}/{action}", json=body, headers=OFFICER2)
        assert same.status_code == 409 and "four eyes" in same.json()["detail"], same.text
    other = await quota.client.post(f"{url}/reject", json={"reason": "核减有误"}, headers=OFFICER)
    assert other.status_code == 200 and other.json()["status"] == "rejected", other.text
    assert other.json()["decided_by"] == WANG


async def test_a_reclaim_no_person_gave_rise_to_is_confirmed_by_any_officer(
    quota: Quota,
) -> None:
    """An event from before `actor` (or one the system made): the candidate
    is the system's, and any officer of the district confirms it as before."""
    await testing.deliver(quota.app, cancelled("PM-3", "1.5"))
    await testing.deliver(quota.app, changed("PM-4", "-0.5"))
    pending = await _pending(quota)
    assert {i["created_by"] for i in pending.values()} == {"system"}
    for who, item in zip((OFFICER, OFFICER2), pending.values(), strict=True):
        r = await quota.client.post(f"/quota/reclaims/{item['id']}/confirm", headers=who)
        assert r.status_code == 200, r.text
    a = await quota.availability(JIZHOU)
    assert a["credited_t"] == "2.000"
    lots = (await quota.client.get(f"/quota/lots?district={JIZHOU}", headers=OFFICER)).json()
    assert sorted(lot["confirmed_by"] for lot in lots["items"]) == [WANG, ZHAO]
