"""permit-svc announces its register (enterprise registered / updated /
closed, one event per chunk of a bulk import) and applies a permit
suspension decided in supervision-svc, audited, once."""

from __future__ import annotations

import json

from sqlalchemy import select
from svc_common import testing
from svc_common.events.schemas.permit import EnterprisesImported
from svc_common.events.schemas.supervision import PermitSuspensionDecided
from svc_common.tables import AuditEntry
from svc_common.uscc import make_uscc

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])


async def test_register_changes_are_announced(svc: Service) -> None:
    uscc = await svc.enterprise(21)
    (registered,) = await svc.events("enterprise.registered.v1")
    assert (
        registered["data"]["uscc"] == uscc and registered["data"]["operating_status"] == "operating"
    )
    r = await svc.http.patch(
        f"/permit/enterprises/{uscc}", json={"name": "新名称有限公司"}, headers=OFFICER
    )
    assert r.status_code == 200 and r.json()["name"] == "新名称有限公司"
    r = await svc.http.patch(f"/permit/enterprises/{uscc}", json={"name": None}, headers=OFFICER)
    assert r.status_code == 422
    r = await svc.http.patch(f"/permit/enterprises/{uscc}", json={}, headers=OFFICER)
    assert r.status_code == 422
    r = await svc.http.patch(
        f"/permit/enterprises/{uscc}",
        json={"operating_status": "closed", "reason": "关停"},
        headers=testing.auth("officer", ["120119"]),
    )
    assert r.status_code == 404  # another district's enterprise: not found
    r = await svc.http.patch(
        f"/permit/enterprises/{uscc}",
        json={"operating_status": "closed", "reason": "关停"},
        headers=OFFICER,
    )
    assert r.status_code == 200
    (updated,) = await svc.events("enterprise.updated.v1")
    (closed,) = await svc.events("enterprise.closed.v1")
    assert updated["data"]["name"] == "新名称有限公司"
    assert closed["data"]["reason"] == "关停" and closed["data"]["operating_status"] == "closed"

    lines = [
        {
            "uscc": make_uscc(BAODI, 100 + i),
            "name": f"企业{i}",
            "district": BAODI,
            "industry_code": "2641",
        }
        for i in range(3)
    ]
    r = await svc.http.post(
        "/permit/enterprises:import",
        content="\n".join(json.dumps(x) for x in lines).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["created"] == 3
    (batch,) = await svc.events("enterprise.imported.v1")
    snapshots = EnterprisesImported.model_validate(batch["data"]).snapshots()
    assert [e.uscc for e in snapshots] == [x["uscc"] for x in lines]
    assert {e.category for e in snapshots} == {"key"}


async def test_a_decided_suspension_suspends_the_permit_once(svc: Service) -> None:
    uscc = await svc.enterprise(22)
    line = {
        "uscc": uscc,
        "pollutants": [{"pollutant": "NOx", "amount_t": "4"}],
        "valid_from": "2024-01-01",
        "valid_to": "2028-12-31",
    }
    r = await svc.http.post(
        "/permit/permits:import",
        content=json.dumps(line).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    permit_id = r.json()["results"][0]["id"]
    decided = PermitSuspensionDecided(
        case_id="case-1",
        case_no="LA-120115-2026-0001",
        uscc=uscc,
        district=BAODI,
        permit_id=permit_id,
        legal_basis="《排污许可管理条例》第三十四条",
        reason="治污设施未正常运行",
        decided_by="zhao.lei",
    )
    env = await testing.deliver(svc.app, decided)
    await testing.redeliver(svc.app, env, "supervision.events")
    await testing.deliver(svc.app, decided)  # re-published: the permit is suspended already
    r = await svc.http.get(f"/permit/permits/{permit_id}", headers=OFFICER)
    assert r.json()["status"] == "suspended"
    assert r.json()["status_reason"].startswith("立案查处 LA-120115-2026-0001")
    (suspended,) = await svc.events("permit.suspended.v1")
    assert suspended["data"]["permit_id"] == permit_id
    async with svc.db.session() as s:
        audit = (await s.scalars(select(AuditEntry).where(AuditEntry.target_id == permit_id))).all()
    steps = [(a.action, a.actor) for a in audit]
    assert ("permit.suspend", "system") in steps and (
        "permit.suspend_not_applied",
        "system",
    ) in steps
    suspend = next(a for a in audit if a.action == "permit.suspend")
    assert suspend.detail and suspend.detail["case_no"] == "LA-120115-2026-0001"
    assert suspend.detail["decided_by"] == "zhao.lei"


async def test_a_null_in_a_change_is_refused_in_the_callers_language(svc: Service) -> None:
    uscc = await svc.enterprise(22)
    r = await svc.http.patch(
        f"/permit/enterprises/{uscc}",
        json={"name": None},
        headers={**OFFICER, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["field"] == "name" and error["message"] == "可以不填，但不能为 null"
    r = await svc.http.patch(
        f"/permit/enterprises/{uscc}",
        json={"address": None},
        headers={**OFFICER, "Accept-Language": "en"},
    )
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["field"] == "address" and error["message"] == "may be left out but not null"
