"""A record of a district the caller may not act in reads as one that does
not exist: the same 404, byte for byte but the request id (a 403 naming
its district told anyone with a token for one district that a code, a
permit or a registration existed, and where). A write to one is the same
404 (or, naming it in a body, the same 422 as an unknown code) and
writes nothing; a role that may not act at all is still refused (403)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry
from svc_common.testing import as_not_found
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])
ELSEWHERE = testing.auth("officer", [JIZHOU])


async def _audited(svc: Service) -> int:
    async with svc.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def test_a_record_of_another_district_reads_as_one_that_does_not_exist(
    svc: Service,
) -> None:
    uscc = make_uscc(BAODI, 71)
    path = f"/permit/enterprises/{uscc}"
    before = await svc.http.get(path, headers=ELSEWHERE)  # no such enterprise yet
    assert await svc.enterprise(71) == uscc
    after = await svc.http.get(path, headers=ELSEWHERE)
    assert as_not_found(after) == as_not_found(before)
    assert "district" not in after.json() and "宝坻" not in after.text
    assert (await svc.http.get(path, headers=OFFICER)).status_code == 200

    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "2"}]},
        headers=OFFICER,
    )
    pid = r.json()["id"]
    nobody = str(uuid.uuid4())
    for lang in ("zh-CN", "en"):
        said = {**ELSEWHERE, "Accept-Language": lang}
        theirs = await svc.http.get(f"/permit/permits/{pid}", headers=said)
        none = await svc.http.get(f"/permit/permits/{nobody}", headers=said)
        assert as_not_found(theirs, (pid, "ID")) == as_not_found(none, (nobody, "ID"))

    registered = await svc.enterprise(72, industry="2921")
    r = await svc.http.post("/permit/registrations", json={"uscc": registered}, headers=OFFICER)
    rid = r.json()["id"]
    theirs = await svc.http.get(f"/permit/registrations/{rid}", headers=ELSEWHERE)
    none = await svc.http.get(f"/permit/registrations/{nobody}", headers=ELSEWHERE)
    assert as_not_found(theirs, (rid, "ID")) == as_not_found(none, (nobody, "ID"))
    # Lists are as before: another district's records are not in them, and
    # asking for that district by name is refused (it names what was asked).
    r = await svc.http.get(f"/permit/permits?district={BAODI}", headers=ELSEWHERE)
    assert r.status_code == 403


async def test_a_write_to_another_districts_record_is_not_found_and_writes_nothing(
    svc: Service,
) -> None:
    uscc = await svc.enterprise(73)
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "2"}]},
        headers=OFFICER,
    )
    pid = r.json()["id"]
    assert (await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)).is_success
    registered = await svc.enterprise(74, industry="2921")
    audited = await _audited(svc)
    nobody, no_code = str(uuid.uuid4()), make_uscc(BAODI, 79)

    change = {"name": "改名有限公司"}
    theirs = await svc.http.patch(f"/permit/enterprises/{uscc}", json=change, headers=ELSEWHERE)
    none = await svc.http.patch(f"/permit/enterprises/{no_code}", json=change, headers=ELSEWHERE)
    assert as_not_found(theirs, (uscc, "ID")) == as_not_found(none, (no_code, "ID"))

    for action, body in (
        ("suspend", {"reason": "discharging beyond the permit"}),
        ("audits", {"result": "pass"}),
    ):
        theirs = await svc.http.post(
            f"/permit/permits/{pid}/{action}", json=body, headers=ELSEWHERE
        )
        none = await svc.http.post(
            f"/permit/permits/{nobody}/{action}", json=body, headers=ELSEWHERE
        )
        assert as_not_found(theirs, (pid, "ID")) == as_not_found(none, (nobody, "ID")), action

    # Named in a body, another district's code is answered as an unknown one.
    for path, body in (
        ("/permit/permits", {"pollutants": [{"pollutant": "NOx", "amount_t": "1"}]}),
        ("/permit/registrations", {}),
    ):
        code = registered if path.endswith("registrations") else uscc
        theirs = await svc.http.post(path, json={"uscc": code, **body}, headers=ELSEWHERE)
        none = await svc.http.post(path, json={"uscc": no_code, **body}, headers=ELSEWHERE)
        assert theirs.status_code == none.status_code == 422, theirs.text
        strip = {"request_id": None, "instance": None}
        assert {**theirs.json(), **strip} == {**none.json(), **strip}, path

    assert await _audited(svc) == audited
    e = (await svc.http.get(f"/permit/enterprises/{uscc}", headers=OFFICER)).json()
    assert e["name"] == "企业73"
    p = (await svc.http.get(f"/permit/permits/{pid}", headers=OFFICER)).json()
    assert p["status"] == "issued"
    # A role that may not do this at all is refused as before (403): that
    # tells nothing about the record.
    r = await svc.http.post(
        f"/permit/permits/{pid}/suspend", json={"reason": "x"}, headers=testing.auth("auditor")
    )
    assert r.status_code == 403
