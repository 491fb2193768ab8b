"""An enterprise is covered by a permit or by a registration, never both.
Its industry's category says which, but the classification table can be
replaced while an enterprise holds one: then filing the other is refused
(409, naming what it holds) until that one is cancelled, by every path."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from permit_svc.calendar import local_today
from svc_common import testing
from svc_common.types import utcnow

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])
ADMIN = testing.auth("admin")
NDJSON = {**OFFICER, "content-type": "application/x-ndjson"}


async def _reclassify(svc: Service, code: str, category: str) -> None:
    """The shipped table with `code` under `category` (an admin's replacement)."""
    table = (await svc.http.get("/permit/industries", headers=ADMIN)).json()
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["industry_code", "name", "category"])
    for t in table:
        w.writerow(
            [
                t["industry_code"],
                t["name"],
                category if t["industry_code"] == code else t["category"],
            ]
        )
    r = await svc.http.post(
        "/permit/industries:import",
        content=out.getvalue().encode(),
        headers={**ADMIN, "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text


def _existing(uscc: str) -> bytes:
    today = local_today(utcnow())
    return json.dumps(
        {
            "uscc": uscc,
            "pollutants": [{"pollutant": "NOx", "amount_t": "2"}],
            "valid_from": (today - dt.timedelta(days=100)).isoformat(),
            "valid_to": (today + dt.timedelta(days=1000)).isoformat(),
        }
    ).encode()


async def test_a_permit_holder_files_no_registration(svc: Service) -> None:
    holder = await svc.enterprise(101, industry="2641")
    r = await svc.http.post("/permit/permits:import", content=_existing(holder), headers=NDJSON)
    (row,) = r.json()["results"]
    permit_id, permit_no = row["id"], row["number"]
    # 涂料制造 is put under registration management while the permit is in force.
    await _reclassify(svc, "C2641", "registration")
    r = await svc.http.post("/permit/registrations", json={"uscc": holder}, headers=OFFICER)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["permit_no"] == permit_no and permit_no in problem["detail"]
    (err,) = problem["errors"]
    assert err["field"] == "uscc" and "not both" in err["message"]
    zh = await svc.http.post(
        "/permit/registrations",
        json={"uscc": holder},
        headers={**OFFICER, "accept-language": "zh-CN"},
    )
    assert zh.status_code == 409 and "不能两者兼有" in zh.json()["errors"][0]["message"]
    upload = json.dumps({"uscc": holder}).encode()
    r = await svc.http.post("/permit/registrations:import", content=upload, headers=NDJSON)
    (row,) = r.json()["results"]
    assert row["result"] == "error" and permit_no in row["errors"][0]["message"]
    assert await svc.events("registration.filed.v1") == []
    # Once the permit is cancelled (注销), the registration is filed.
    r = await svc.http.post(
        f"/permit/permits/{permit_id}/cancel", json={"reason": "other"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    r = await svc.http.post("/permit/registrations", json={"uscc": holder}, headers=OFFICER)
    assert r.status_code == 201, r.text


async def test_a_registered_enterprise_applies_for_is_issued_and_imports_no_permit(
    svc: Service,
) -> None:
    registered = await svc.enterprise(111, industry="2921")
    applicant = await svc.enterprise(112, industry="2641")
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": applicant, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    application = r.json()["id"]
    # The applicant's industry goes under registration management: it files
    # a registration (it holds no permit in force, only an application).
    await _reclassify(svc, "C2641", "registration")
    numbers = {}
    for uscc in (registered, applicant):
        r = await svc.http.post("/permit/registrations", json={"uscc": uscc}, headers=OFFICER)
        assert r.status_code == 201, r.text
        numbers[uscc] = r.json()["registration_no"]
    # Both industries go under key management while the registrations are in force.
    await _reclassify(svc, "C2641", "key")
    await _reclassify(svc, "C2921", "key")
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": registered, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]},
        headers=OFFICER,
    )
    assert r.status_code == 409, r.text
    assert r.json()["registration_no"] == numbers[registered]
    assert r.json()["errors"][0]["field"] == "uscc"
    r = await svc.http.post(f"/permit/permits/{application}/issue", headers=OFFICER)
    assert r.status_code == 409, r.text
    assert r.json()["registration_no"] == numbers[applicant]
    assert numbers[applicant] in r.json()["detail"]
    r = await svc.http.post("/permit/permits:import", content=_existing(registered), headers=NDJSON)
    (row,) = r.json()["results"]
    assert row["result"] == "error" and numbers[registered] in row["errors"][0]["message"]
    assert await svc.events("permit.issued.v1") == []
