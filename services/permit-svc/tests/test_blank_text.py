"""A text of spaces alone (ASCII, ideographic U+3000, no-break U+00A0) says
nothing: every free-text field of permit-svc's requests strips it and,
given, needs words, as the other reasons do; and a registration change
that changes nothing is refused like a permit change that alters nothing.
Nothing is written for a refused request (no audit entry)."""

from __future__ import annotations

from typing import Any

import pytest
from permit_svc.registrations import rules as registration_rules
from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry

from .conftest import BAODI, Service
from .test_permit_lifecycle_api import act, permit_in

OFFICER = testing.auth("officer", [BAODI])
BLANKS = ("  ", "\u3000", " \u00a0\t")


async def _audit_entries(svc: Service, action: str) -> int:
    async with svc.db.session() as s:
        n = await s.scalar(select(func.count()).where(AuditEntry.action == action))
    return int(n or 0)


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field], r.text


def test_a_registration_change_of_the_same_details_changes_nothing() -> None:
    assert registration_rules.changes_nothing({"outlets": 2}, {"outlets": 2})
    assert not registration_rules.changes_nothing({"outlets": 2}, {"outlets": 3})
    assert not registration_rules.changes_nothing({}, {"outlets": 2})


async def test_a_registration_change_needs_a_reason_and_a_change(svc: Service) -> None:
    uscc = await svc.enterprise(8101, industry="3311")
    r = await svc.http.post(
        "/permit/registrations", json={"uscc": uscc, "details": {"outlets": 1}}, headers=OFFICER
    )
    assert r.status_code == 201, r.text
    path = f"/permit/registrations/{r.json()['id']}/change"
    for blank in BLANKS:
        r = await svc.http.post(
            path, json={"details": {"outlets": 2}, "reason": blank}, headers=OFFICER
        )
        _refused(r, "reason")
    r = await svc.http.post(
        path, json={"details": {"outlets": 1}, "reason": "复核"}, headers=OFFICER
    )
    _refused(r, "details")
    assert "nothing changes" in r.json()["errors"][0]["message"]
    assert await _audit_entries(svc, "registration.change") == 0
    # A real change: its reason stripped, the form's keys kept as written.
    r = await svc.http.post(
        path, json={"details": {" outlets": 2}, "reason": "  新增排放口 "}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    assert r.json()["details"] == {" outlets": 2} and r.json()["status_reason"] == "新增排放口"
    assert await _audit_entries(svc, "registration.change") == 1


async def test_a_finding_and_an_audit_s_note_need_words(svc: Service) -> None:
    pid = await permit_in(svc, "issued")
    path = f"/permit/permits/{pid}/audits"
    for blank in BLANKS:
        finding = {"description": blank, "rectification_deadline": "2099-01-01"}
        r = await svc.http.post(
            path, json={"result": "findings", "findings": [finding]}, headers=OFFICER
        )
        _refused(r, "findings.0.description")
        r = await svc.http.post(path, json={"result": "pass", "note": blank}, headers=OFFICER)
        _refused(r, "note")
    assert await _audit_entries(svc, "permit.audit") == 0
    finding = {"description": " 废气排放口未标注 ", "rectification_deadline": "2099-01-01"}
    r = await svc.http.post(
        path, json={"result": "findings", "findings": [finding]}, headers=OFFICER
    )
    assert r.status_code == 201, r.text
    audit = r.json()
    assert audit["findings"][0]["description"] == "废气排放口未标注"
    rectify = f"/permit/audits/{audit['id']}/findings/{audit['findings'][0]['id']}/rectify"
    _refused(await svc.http.post(rectify, json={"note": "   "}, headers=OFFICER), "note")
    assert (await svc.http.post(rectify, json={}, headers=OFFICER)).status_code == 200


@pytest.mark.parametrize("blank", BLANKS)
async def test_an_optional_reason_or_note_given_needs_words(svc: Service, blank: str) -> None:
    pid = await permit_in(svc, "suspended")
    path = f"/permit/permits/{pid}/reinstate"
    _refused(await svc.http.post(path, json={"reason": blank}, headers=OFFICER), "reason")
    assert await _audit_entries(svc, "permit.reinstate") == 0
    r = await svc.http.post(path, json={"reason": " 已整改 "}, headers=OFFICER)
    assert r.status_code == 200 and r.json()["status_reason"] == "已整改", r.text
    r = await svc.http.post(
        f"/permit/permits/{pid}/cancel", json={"reason": "other", "note": blank}, headers=OFFICER
    )
    _refused(r, "note")
    uscc = await svc.enterprise(8201)
    r = await svc.http.patch(
        f"/permit/enterprises/{uscc}", json={"address": "宝坻区", "reason": blank}, headers=OFFICER
    )
    _refused(r, "reason")


async def test_an_omitted_optional_reason_is_still_taken(svc: Service) -> None:
    pid = await permit_in(svc, "suspended")
    assert (await act(svc, pid, "reinstate")).status_code == 200
    pid = await permit_in(svc, "suspended")
    r = await svc.http.post(
        f"/permit/permits/{pid}/reinstate", json={"reason": None}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
