"""A reason, a note, a description or a name made of characters a reader
cannot see (a zero-width space U+200B, a word joiner, a byte-order mark, a
Hangul filler) says nothing, as one of spaces alone: every such field of
permit-svc's requests is the shared VisibleText, refused with a 422 naming
the field, in Chinese and in English, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry, OutboxRow
from svc_common.uscc import make_uscc

from .conftest import BAODI, Service
from .test_permit_lifecycle_api import permit_in

OFFICER = testing.auth("officer", [BAODI])
INVISIBLE = ("\u200b", "\u200b\u2060", "\ufeff", " \u3164 ", "\u0301")


async def _writes(svc: Service) -> tuple[int, int]:
    """Audit entries and outbox rows: a refused request adds to neither."""
    async with svc.db.session() as s:
        audits = await s.scalar(select(func.count()).select_from(AuditEntry))
        events = await s.scalar(select(func.count()).select_from(OutboxRow))
    return int(audits or 0), int(events or 0)


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert [e["field"] for e in r.json()["errors"]] == [field], r.text


@pytest.mark.parametrize(
    ("state", "action", "body"),
    [
        ("applied", "reject", {"reason": "\u200b"}),
        ("issued", "suspend", {"reason": "\u200b"}),
        ("issued", "revoke", {"reason": "\u200b"}),
        ("suspended", "reinstate", {"reason": "\u200b"}),
        ("issued", "cancel", {"reason": "other", "note": "\u200b"}),
        (
            "issued",
            "change",
            {"pollutants": [{"pollutant": "NOx", "amount_t": "2"}], "reason": "\u200b"},
        ),
    ],
)
async def test_a_permit_action_with_an_invisible_reason_is_refused(
    svc: Service, state: str, action: str, body: dict[str, Any]
) -> None:
    pid = await permit_in(svc, state)
    before = await _writes(svc)
    field = "note" if "note" in body else "reason"
    r = await svc.http.post(f"/permit/permits/{pid}/{action}", json=body, headers=OFFICER)
    _refused(r, field)
    assert await _writes(svc) == before
    r = await svc.http.get(f"/permit/permits/{pid}", headers=OFFICER)
    assert r.json()["status"] == state, r.text


async def test_every_invisible_reason_is_refused_in_both_languages(svc: Service) -> None:
    pid = await permit_in(svc, "issued")
    path = f"/permit/permits/{pid}/revoke"
    for reason in INVISIBLE:
        _refused(await svc.http.post(path, json={"reason": reason}, headers=OFFICER), "reason")
    r = await svc.http.post(
        path, json={"reason": "\u200b"}, headers={**OFFICER, "Accept-Language": "en"}
    )
    assert "visible character" in r.json()["errors"][0]["message"], r.text
    r = await svc.http.post(
        path, json={"reason": "\u200b"}, headers={**OFFICER, "Accept-Language": "zh-CN"}
    )
    assert "可见字符" in r.json()["errors"][0]["message"], r.text
    # Visible text is taken as before (stripped, as this model always did).
    r = await svc.http.post(path, json={"reason": " 违法\u200b排污 "}, headers=OFFICER)
    assert r.status_code == 200 and r.json()["status_reason"] == "违法\u200b排污", r.text


async def test_a_registration_change_or_cancellation_needs_a_visible_reason(
    svc: Service,
) -> None:
    uscc = await svc.enterprise(8301, industry="3311")
    r = await svc.http.post(
        "/permit/registrations", json={"uscc": uscc, "details": {"outlets": 1}}, headers=OFFICER
    )
    assert r.status_code == 201, r.text
    path = f"/permit/registrations/{r.json()['id']}"
    before = await _writes(svc)
    r = await svc.http.post(
        f"{path}/change", json={"details": {"outlets": 2}, "reason": "\u200b"}, headers=OFFICER
    )
    _refused(r, "reason")
    _refused(
        await svc.http.post(f"{path}/cancel", json={"reason": "\ufeff"}, headers=OFFICER),
        "reason",
    )
    assert await _writes(svc) == before
    assert (await svc.http.get(path, headers=OFFICER)).json()["status"] == "active"


async def test_an_enterprise_finding_or_note_of_invisible_text_is_refused(svc: Service) -> None:
    before = await _writes(svc)
    uscc = make_uscc(BAODI, 8302)
    body = {"uscc": uscc, "name": "\u200b", "district": BAODI, "industry_code": "2641"}
    _refused(await svc.http.post("/permit/enterprises", json=body, headers=OFFICER), "name")
    # An address, which may be left empty, is not one of invisible characters.
    body = {**body, "name": "某企业", "address": "\u3164"}
    _refused(await svc.http.post("/permit/enterprises", json=body, headers=OFFICER), "address")
    # A name with a character no one can see inside looks like another name.
    body = {**body, "address": "", "name": "某\u200b企业"}
    _refused(await svc.http.post("/permit/enterprises", json=body, headers=OFFICER), "name")
    assert await _writes(svc) == before
    uscc = await svc.enterprise(8303)
    for change, field in (
        ({"name": "\u2060"}, "name"),
        ({"name": "某\u00ad企业"}, "name"),
        ({"address": "\u200b"}, "address"),
        ({"address": "宝坻", "reason": "\u200b"}, "reason"),
    ):
        r = await svc.http.patch(f"/permit/enterprises/{uscc}", json=change, headers=OFFICER)
        _refused(r, field)
    pid = await permit_in(svc, "issued")
    before = await _writes(svc)
    finding = {"description": "\u200b", "rectification_deadline": "2099-01-01"}
    path = f"/permit/permits/{pid}/audits"
    r = await svc.http.post(
        path, json={"result": "findings", "findings": [finding]}, headers=OFFICER
    )
    _refused(r, "findings.0.description")
    r = await svc.http.post(path, json={"result": "pass", "note": "\u200b"}, headers=OFFICER)
    _refused(r, "note")
    assert await _writes(svc) == before


def test_the_document_says_an_invisible_reason_is_refused() -> None:
    import re

    from permit_svc.app import create

    schemas = create().openapi()["components"]["schemas"]
    reason = schemas["Reason"]["properties"]["reason"]
    assert "maxLength" not in reason  # the model strips: its length is in the pattern
    pattern = re.compile(reason["pattern"])
    assert not pattern.match("\u200b") and not pattern.match(" \u00a0\u200b ")
    assert pattern.match(" 违法排污 ") and pattern.match("x" * 500)
    assert not pattern.match("x" * 501)
