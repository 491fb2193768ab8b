"""`GET /permit/audit?target_id=`: an officer reads the whole trail of a
permit (an enterprise, a registration) of their districts, as the
console's enterprise page shows it; another district's record is not
found, as one that does not exist; the whole trail stays citywide."""

from __future__ import annotations

import uuid

from svc_common import testing
from svc_common.testing import as_not_found

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])
ELSEWHERE = testing.auth("officer", [JIZHOU])


async def _permit_with_steps(svc: Service) -> tuple[str, str]:
    uscc = await svc.enterprise(81)
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "2"}]},
        headers=OFFICER,
    )
    pid = r.json()["id"]
    for action, body in (
        ("issue", None),
        ("suspend", {"reason": "超标排放"}),
        ("reinstate", {"reason": "整改完成"}),
    ):
        r = await svc.http.post(f"/permit/permits/{pid}/{action}", json=body, headers=OFFICER)
        assert r.status_code == 200, r.text
    return uscc, pid


async def test_an_officer_reads_the_whole_trail_of_a_permit_of_their_district(
    svc: Service,
) -> None:
    uscc, pid = await _permit_with_steps(svc)
    r = await svc.http.get("/permit/audit", params={"target_id": pid}, headers=OFFICER)
    assert r.status_code == 200, r.text
    steps = [e["action"] for e in r.json()["items"]]
    assert steps == ["permit.reinstate", "permit.suspend", "permit.issue", "permit.apply"]
    assert {e["target_type"] for e in r.json()["items"]} == {"permit"}
    # As a citywide auditor reads it.
    city = await svc.http.get(
        "/permit/audit", params={"target_id": pid}, headers=testing.auth("auditor")
    )
    assert city.json()["items"] == r.json()["items"]
    # An enterprise's own trail, by its code.
    r = await svc.http.get("/permit/audit", params={"target_id": uscc}, headers=OFFICER)
    assert [e["action"] for e in r.json()["items"]] == ["enterprise.create"]
    # A district's auditor reads it too; filters apply within the record.
    r = await svc.http.get(
        "/permit/audit",
        params={"target_id": pid, "action": "permit.suspend"},
        headers=testing.auth("auditor", [BAODI]),
    )
    assert [e["detail"]["reason"] for e in r.json()["items"]] == ["超标排放"]


async def test_another_districts_trail_is_not_found_and_the_whole_trail_stays_citywide(
    svc: Service,
) -> None:
    _, pid = await _permit_with_steps(svc)
    nobody = str(uuid.uuid4())
    for lang in ("zh-CN", "en"):
        said = {**ELSEWHERE, "Accept-Language": lang}
        theirs = await svc.http.get("/permit/audit", params={"target_id": pid}, headers=said)
        none = await svc.http.get("/permit/audit", params={"target_id": nobody}, headers=said)
        assert as_not_found(theirs, (pid, "ID")) == as_not_found(none, (nobody, "ID"))
    # An officer with no district acts nowhere.
    r = await svc.http.get(
        "/permit/audit", params={"target_id": pid}, headers=testing.auth("officer")
    )
    assert r.status_code == 404
    # The whole trail, or one without a record, is a citywide reader's.
    for who in (OFFICER, testing.auth("auditor", [BAODI])):
        r = await svc.http.get("/permit/audit", headers=who)
        assert r.status_code == 403 and r.json()["required"] == "citywide", r.text
    r = await svc.http.get(
        "/permit/audit", params={"target_id": pid}, headers=testing.auth("investment")
    )
    assert r.status_code == 403
    r = await svc.http.get("/permit/audit", headers=testing.auth("auditor"))
    assert r.status_code == 200 and len(r.json()["items"]) >= 5


async def test_the_document_says_the_trail_of_no_record_is_not_found(svc: Service) -> None:
    """An officer's `target_id` of no record in their districts is a 404;
    the route's document listed 200, 400, 401, 403, 422 and 503 only, so a
    client (and a contract check) read the 404 as undocumented."""
    doc = (await svc.http.get("/permit/openapi.json")).json()
    responses = doc["paths"]["/permit/audit"]["get"]["responses"]
    assert "404" in responses
    assert "application/problem+json" in responses["404"]["content"]
    officer = testing.auth("officer", [JIZHOU], sub="officer.jizhou")
    r = await svc.http.get("/permit/audit", params={"target_id": "no-such"}, headers=officer)
    assert str(r.status_code) in responses, r.text


async def test_a_permits_trail_is_read_by_its_id_in_upper_case(svc: Service) -> None:
    """`/permit/permits/{ID}` finds a permit by its UUID in upper case (a
    UUID is the same in either case), but `/permit/audit?target_id=` with it
    answered an empty trail to a citywide auditor and 404 to the officer of
    its district: the same id reads the same trail."""
    _, pid = await _permit_with_steps(svc)
    for who in (OFFICER, testing.auth("auditor")):
        lower = await svc.http.get("/permit/audit", params={"target_id": pid}, headers=who)
        upper = await svc.http.get("/permit/audit", params={"target_id": pid.upper()}, headers=who)
        assert upper.status_code == 200, upper.text
        assert upper.json()["items"] == lower.json()["items"] != []
