"""A closed enterprise (关停) is no fixed source any more: it files no
registration and takes no permit, by any path, and neither coverage nor audit
progress counts it, so the two reports agree about every district."""

from __future__ import annotations

import datetime as dt
import json

from permit_svc.calendar import local_today
from svc_common import testing
from svc_common.types import utcnow

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])
NDJSON = {**OFFICER, "content-type": "application/x-ndjson"}


def _permit_row(uscc: str) -> dict[str, object]:
    today = local_today(utcnow())
    return {
        "uscc": uscc,
        "pollutants": [{"pollutant": "VOCs", "amount_t": "1.5"}],
        "valid_from": (today - dt.timedelta(days=100)).isoformat(),
        "valid_to": (today + dt.timedelta(days=1000)).isoformat(),
    }


async def test_closed_enterprise_files_no_registration(svc: Service) -> None:
    closed = await svc.enterprise(41, industry="2921", operating_status="closed")
    open_ = await svc.enterprise(42, industry="2921")
    r = await svc.http.post("/permit/registrations", json={"uscc": closed}, headers=OFFICER)
    assert r.status_code == 422, r.text
    (err,) = r.json()["errors"]
    assert err["field"] == "uscc" and "closed" in err["message"]

    upload = "\n".join(json.dumps({"uscc": u}) for u in (closed, open_)).encode()
    r = await svc.http.post("/permit/registrations:import", content=upload, headers=NDJSON)
    assert r.status_code == 200, r.text
    rows = r.json()["results"]
    assert [x["result"] for x in rows] == ["error", "created"]
    assert rows[0]["errors"][0]["field"] == "uscc" and "closed" in rows[0]["errors"][0]["message"]
    assert len(await svc.events("registration.filed.v1")) == 1


async def test_closed_enterprise_takes_no_permit(svc: Service) -> None:
    closed = await svc.enterprise(43, industry="2641", operating_status="closed")
    open_ = await svc.enterprise(44, industry="2641")
    upload = "\n".join(json.dumps(_permit_row(u)) for u in (closed, open_)).encode()
    r = await svc.http.post("/permit/permits:import", content=upload, headers=NDJSON)
    assert r.status_code == 200, r.text
    rows = r.json()["results"]
    assert [x["result"] for x in rows] == ["error", "created"]
    assert rows[0]["errors"][0]["field"] == "uscc" and "closed" in rows[0]["errors"][0]["message"]
    assert len(await svc.events("permit.issued.v1")) == 1

    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": closed, "pollutants": [{"pollutant": "VOCs", "amount_t": "1"}]},
        headers=OFFICER,
    )
    assert r.status_code == 409
    (err,) = r.json()["errors"]
    assert err["field"] == "uscc" and "closed" in err["message"]

    # An application made before the enterprise closed is not issued after.
    later = await svc.enterprise(45, industry="2641")
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": later, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    closing = await svc.http.patch(
        f"/permit/enterprises/{later}", json={"operating_status": "closed"}, headers=OFFICER
    )
    assert closing.status_code == 200
    issued = await svc.http.post(f"/permit/permits/{r.json()['id']}/issue", headers=OFFICER)
    assert issued.status_code == 409 and issued.json()["errors"][0]["field"] == "uscc"


async def test_coverage_and_audit_progress_agree_on_a_closed_holder(svc: Service) -> None:
    """An enterprise that closes while its permit is still in force leaves
    both reports: it is not a fixed source, so its permit is not a valid
    permit of the district either."""
    holders = [await svc.enterprise(50 + i, industry="2641") for i in range(3)]
    upload = "\n".join(json.dumps(_permit_row(u)) for u in holders).encode()
    imported = (
        await svc.http.post("/permit/permits:import", content=upload, headers=NDJSON)
    ).json()
    for row in imported["results"][:2]:
        r = await svc.http.post(
            f"/permit/permits/{row['id']}/audits", json={"result": "pass"}, headers=OFFICER
        )
        assert r.status_code == 201, r.text
    r = await svc.http.patch(
        f"/permit/enterprises/{holders[0]}",
        json={"operating_status": "closed", "reason": "关停"},
        headers=OFFICER,
    )
    assert r.status_code == 200, r.text

    async def figures() -> tuple[dict[str, object], dict[str, object]]:
        cov = await svc.http.get(f"/permit/reports/coverage?district={BAODI}", headers=OFFICER)
        prog = await svc.http.get(
            f"/permit/reports/audit-progress?district={BAODI}", headers=OFFICER
        )
        return cov.json(), prog.json()

    coverage, progress = await figures()
    assert coverage["fixed_sources"] == 2 and coverage["with_valid_permit"] == 2
    assert progress["valid_permits"] == coverage["with_valid_permit"] == 2
    assert coverage["closed_sources"] == 1
    assert (progress["audited"], progress["not_audited"]) == (1, 1)
    assert progress["audited_percent"] == "50.0"
    assert progress["permits_of_closed_sources"] == 1


async def test_an_import_row_of_another_district_is_told_only_that(svc: Service) -> None:
    """An officer of 宝坻 importing rows for 蓟州 enterprises was told that
    one had closed (该企业已关停…), another was under registration
    (实行登记管理…), a third held a registration, before (instead of) that
    it was not theirs. Each such row is now answered as a code no enterprise
    has (nothing about it, not even that it exists), in both imports; the
    officer's own rows are answered as before."""
    closed = await svc.enterprise(61, industry="2641", operating_status="closed", district=JIZHOU)
    registered_kind = await svc.enterprise(62, industry="2921", district=JIZHOU)
    permit_kind = await svc.enterprise(63, industry="2641", district=JIZHOU)
    own_closed = await svc.enterprise(64, industry="2641", operating_status="closed")
    jizhou = testing.auth("officer", [JIZHOU])
    r = await svc.http.post("/permit/registrations", json={"uscc": registered_kind}, headers=jizhou)
    assert r.status_code == 201, r.text
    past = {**_permit_row(permit_kind), "valid_to": "2000-01-01", "valid_from": "1999-01-01"}
    uploads = {
        "/permit/permits:import": [
            _permit_row(closed),
            _permit_row(registered_kind),
            past,
            _permit_row(own_closed),
        ],
        "/permit/registrations:import": [
            {"uscc": closed},
            {"uscc": registered_kind},
            {"uscc": permit_kind},
            {"uscc": own_closed},
        ],
    }
    for path, rows in uploads.items():
        upload = "\n".join(json.dumps(row) for row in rows).encode()
        # As a code no enterprise has: nothing tells that it exists elsewhere.
        said = (("zh-CN", "本系统没有该代码的企业"), ("en", "no enterprise has this code here"))
        for lang, words in said:
            r = await svc.http.post(
                path, content=upload, headers={**NDJSON, "Accept-Language": lang}
            )
            assert r.status_code == 200, r.text
            results = r.json()["results"]
            assert [x["result"] for x in results] == ["error"] * 4, (path, results)
            for x in results[:3]:
                on_uscc = [(e["field"], e["message"]) for e in x["errors"] if e["field"] == "uscc"]
                assert on_uscc == [("uscc", words)], (path, x)
            # The officer's own enterprise: why it may not, as before.
            assert words not in results[3]["errors"][0]["message"], results[3]
    assert await svc.events("permit.issued.v1") == []
