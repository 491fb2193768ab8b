"""Each review action of a filing takes exactly its own body: one body model
for every action let `accept` with a `reason` answer 200 (the reason went
nowhere but the audit entry), and the document let every action take every
field. A field the action does not take, or a required one missing, is a
422 naming it, in Chinese by default or in English on request, and nothing
changes: not the filing, not its events, not its audit trail."""

from __future__ import annotations

from typing import Any

import httpx
from eia_svc.filings.models import FilingRow
from fastapi import FastAPI
from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry, OutboxRow

from ..conftest import JIZHOU, clerk, filer, filing, officer

#: Each action in the order it is taken, on one of three filings: the filing
#: (0: quota asked, then withdrawn; 1: rejected; 2: approved, no quota
#: needed), a body it takes, a field it does not take, the field it requires.
ACTIONS: list[tuple[str, int, dict[str, Any], dict[str, Any], str | None]] = [
    ("accept", 0, {}, {"reason": "材料齐全"}, None),
    ("quota-retry", 0, {}, {"reason": "重新申请"}, None),
    ("withdraw", 0, {"reason": "项目取消"}, {"note": "企业申请"}, None),
    ("accept", 1, {}, {"reason": "材料齐全"}, None),
    ("evaluation-done", 1, {}, {"reason": "评估通过"}, None),
    ("review-done", 1, {}, {"reason": "审查通过"}, None),
    ("reject", 1, {"reason": "不符合规划"}, {"decision_note": "不符合规划"}, "reason"),
    ("accept", 2, {}, {"reason": "材料齐全"}, None),
    ("evaluation-done", 2, {}, {"reason": "评估通过"}, None),
    ("review-done", 2, {}, {"reason": "审查通过"}, None),
    ("approve", 2, {"reason": "同意"}, {"officer": "officer.120119"}, None),
]


async def _trace(app: FastAPI, fid: str) -> tuple[Any, ...]:
    """What an action changes: the filing's row, its audit entries, the events."""
    async with app.state.runtime.db.session() as s:
        f = await s.get(FilingRow, fid)
        assert f is not None
        row = tuple(getattr(f, col.key) for col in FilingRow.__table__.columns)
        audit = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.target_id == fid)
        )
        events = await s.scalar(select(func.count()).select_from(OutboxRow))
    return row, audit, events


async def test_a_filing_action_takes_exactly_its_own_fields(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    ids = []
    for increment in ("1.5", "0", "0"):
        r = await client.post(
            "/eia/filings",
            json=filing(vocs_increment_t=increment),
            # Filing 0 is withdrawn by its submitter; 1 and 2 are decided by
            # another officer than the one who entered them (four eyes).
            headers=officer() if increment == "1.5" else clerk(),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    en = {**officer(), "accept-language": "en"}
    # A client that sends no Accept-Language (the tests' client asks for English).
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as zh:
        for action, n, body, other, required in ACTIONS:
            fid = ids[n]
            url = f"/eia/filings/{fid}/{action}"
            before = await _trace(app, fid)
            (field,) = other
            r = await zh.post(url, json={**body, **other}, headers=officer())
            _refused(r, field, action)
            assert r.json()["detail"] == f"{field}: 不接受此字段", (action, r.json())
            r = await client.post(url, json={**body, **other}, headers=en)
            _refused(r, field, action)
            assert r.json()["detail"] == f"{field}: unknown field", (action, r.json())
            # A field given null is a field all the same.
            r = await client.post(url, json={**body, field: None}, headers=officer())
            _refused(r, field, action)
            if required is not None:
                rest = {k: v for k, v in body.items() if k != required}
                r = await zh.post(url, json=rest, headers=officer())
                _refused(r, required, action)
                assert r.json()["detail"] == f"{required}: 必填项缺失", (action, r.json())
                r = await client.post(url, json=rest, headers=en)
                _refused(r, required, action)
                assert r.json()["detail"] == f"{required}: field required", (action, r.json())
                for blank in (None, " \u3000 "):
                    r = await client.post(url, json={**body, required: blank}, headers=en)
                    _refused(r, required, action)
                # No body at all: the body is what is missing.
                _refused(await client.post(url, headers=officer()), "body", action)
            assert await _trace(app, fid) == before, action
            r = await client.post(url, json=body, headers=officer())
            assert r.status_code == 200, (action, r.text)
            assert await _trace(app, fid) != before, action
    # Each action is a route of its own: an action there is none of is no route.
    r = await client.post(f"/eia/filings/{ids[0]}/explode", headers=officer())
    assert r.status_code == 404, r.text
    final = [(await client.get(f"/eia/filings/{i}", headers=officer())).json() for i in ids]
    assert [(f["status"], f["decision_note"]) for f in final] == [
        ("withdrawn", "项目取消"),
        ("rejected", "不符合规划"),
        ("approved", "同意"),
    ]
    assert final[0]["quota_attempt"] == 2


def _refused(r: httpx.Response, field: str, action: str) -> None:
    assert r.status_code == 422, (action, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), action
    assert [e["field"] for e in r.json()["errors"]] == [field], (action, r.json())


async def test_an_action_that_takes_no_fields_takes_no_body_or_an_empty_one(
    client: httpx.AsyncClient,
) -> None:
    """accept (and evaluation-done, review-done, quota-retry) takes nothing:
    no body, an empty object or JSON null works as it always did; approve and
    withdraw, whose note is optional, take no body too."""
    for body in (None, {}, b"null"):
        f = (await client.post("/eia/filings", json=filing(), headers=officer())).json()
        for action, status in (("accept", "accepted"), ("withdraw", "withdrawn")):
            url = f"/eia/filings/{f['id']}/{action}"
            if isinstance(body, bytes):
                h = {**officer(), "content-type": "application/json"}
                r = await client.post(url, content=body, headers=h)
            else:
                r = await client.post(url, json=body, headers=officer())
            assert r.status_code == 200 and r.json()["status"] == status, (body, r.text)


async def test_a_filer_may_only_withdraw_its_own_filing(client: httpx.AsyncClient) -> None:
    """withdraw is the one action a filer's role may take (the document says
    so: the other actions admit officers and admins only), and only on a
    filing it submitted."""
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=filer())).json()
    before = await _trace(app, f["id"])
    for action in ("accept", "evaluation-done", "review-done", "approve", "quota-retry"):
        r = await client.post(f"/eia/filings/{f['id']}/{action}", headers=filer())
        assert r.status_code == 403 and r.json()["required_roles"] == ["officer", "admin"], r.text
    r = await client.post(
        f"/eia/filings/{f['id']}/reject", json={"reason": "不符合规划"}, headers=filer()
    )
    assert r.status_code == 403, r.text
    r = await client.post(f"/eia/filings/{f['id']}/withdraw", headers=filer("filer.b"))
    assert r.status_code == 404, r.text
    assert await _trace(app, f["id"]) == before
    r = await client.post(f"/eia/filings/{f['id']}/withdraw", headers=filer())
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text


async def test_a_second_spelling_of_the_submitter_neither_withdraws_nor_decides(
    client: httpx.AsyncClient,
) -> None:
    """A right is granted to the exact sub that submitted; a refusal reads
    two spellings as one person. `Clerk.120119` is another account than
    `clerk.120119` (an identity provider's sub is case-sensitive), so it may
    not withdraw what `clerk.120119` submitted (403, nothing changed); and to
    the four-eyes rule it is the same person, so it may not decide it
    either. Its actions list offers neither; the submitter still withdraws."""
    f = (await client.post("/eia/filings", json=filing(), headers=clerk())).json()
    again = testing.auth("officer", [JIZHOU], sub="Clerk.120119")
    shown = await client.get(f"/eia/filings/{f['id']}", headers=again)
    assert "withdraw" not in shown.json()["allowed_actions"], shown.text
    assert "approve" not in shown.json()["allowed_actions"], shown.text
    r = await client.post(f"/eia/filings/{f['id']}/withdraw", headers=again)
    assert r.status_code == 403, r.text
    assert (await client.get(f"/eia/filings/{f['id']}", headers=clerk())).json()["status"] == f[
        "status"
    ]
    r = await client.post(f"/eia/filings/{f['id']}/withdraw", headers=clerk())
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text
