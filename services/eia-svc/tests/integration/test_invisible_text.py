"""A reason made of characters a reader cannot see (a zero-width space
U+200B, a word joiner, a byte-order mark) says nothing: a filing's refusal
(reject), an approval's or a withdrawal's note when given, and a
registration's revocation are refused with a 422 naming `reason`, in
Chinese and in English, and nothing changes (the shared VisibleText)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from ..conftest import (
    admin,
    clerk,
    count_rows,
    events_of,
    filer,
    filing,
    officer,
    registration,
)
from .test_action_bodies import _trace

INVISIBLE = ("\u200b", "\u200b\u2060", "\ufeff", "\u00a0\u200b\u3000")


async def _reviewed(client: httpx.AsyncClient) -> str:
    """A filing entered by a clerk for its applicant, accepted, evaluated
    and reviewed by the officer: a decision is next (the officer's; a
    withdrawal the clerk's, who submitted it)."""
    r = await client.post("/eia/filings", json=filing(vocs_increment_t="0"), headers=clerk())
    assert r.status_code == 201, r.text
    fid = str(r.json()["id"])
    for step in ("accept", "evaluation-done", "review-done"):
        r = await client.post(f"/eia/filings/{fid}/{step}", headers=officer())
        assert r.status_code == 200, (step, r.text)
    return fid


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert [e["field"] for e in r.json()["errors"]] == ["reason"], r.text


@pytest.mark.parametrize("action", ["reject", "approve", "withdraw"])
async def test_a_decision_with_an_invisible_reason_is_refused(
    client: httpx.AsyncClient, action: str
) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    fid = await _reviewed(client)
    who = clerk() if action == "withdraw" else officer()
    before = await _trace(app, fid)
    for reason in INVISIBLE:
        r = await client.post(f"/eia/filings/{fid}/{action}", json={"reason": reason}, headers=who)
        _refused(r)
    r = await client.post(
        f"/eia/filings/{fid}/{action}",
        json={"reason": "\u200b"},
        headers={**who, "accept-language": "en"},
    )
    assert "visible character" in r.json()["errors"][0]["message"], r.text
    r = await client.post(
        f"/eia/filings/{fid}/{action}",
        json={"reason": "\u200b"},
        headers={**who, "accept-language": "zh-CN"},
    )
    assert "可见字符" in r.json()["errors"][0]["message"], r.text
    assert await _trace(app, fid) == before
    r = await client.post(
        f"/eia/filings/{fid}/{action}", json={"reason": " 不符合\u200b规划 "}, headers=who
    )
    assert r.status_code == 200, r.text
    assert r.json()["decision_note"] == "不符合\u200b规划", r.text


async def test_an_optional_note_may_still_be_left_out_or_empty(client: httpx.AsyncClient) -> None:
    """approve and withdraw took no note, or an empty one: they still do."""
    for action, body in (("approve", {}), ("withdraw", {"reason": ""})):
        fid = await _reviewed(client)
        who = clerk() if action == "withdraw" else officer()
        r = await client.post(f"/eia/filings/{fid}/{action}", json=body, headers=who)
        assert r.status_code == 200, (action, r.text)


async def test_a_revocation_with_an_invisible_reason_is_refused(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    r = await client.post("/eia/registrations", json=registration(), headers=filer())
    assert r.status_code == 201, r.text
    fid = r.json()["filing_id"]
    path = f"/eia/registrations/{fid}/revoke"
    for reason in INVISIBLE:
        _refused(await client.post(path, json={"reason": reason}, headers=officer()))
    assert await events_of(app, "eia.registration.revoked.v1") == []
    r = await client.get(f"/eia/registrations/{fid}", headers=officer())
    assert r.json()["status"] != "revoked", r.text
    assert await count_rows(app, "registrations") == 1


BLANK_NAMES = ("\u200b", "\u3164", "\u200b\u2060", "\u00a0\u3164\u3000")


@pytest.mark.parametrize("field", ["project_name", "enterprise_name"])
async def test_a_name_no_one_can_see_is_refused(client: httpx.AsyncClient, field: str) -> None:
    """A filing or a registration named only by invisible characters (a
    zero-width space, a Hangul filler) was filed (201), and a registration's
    legal receipt carried blank names, shown authentic on public
    verification. A 422 naming the field, and nothing is filed."""
    app: FastAPI = client.app  # type: ignore[attr-defined]
    for name in BLANK_NAMES:
        r = await client.post("/eia/filings", json=filing(**{field: name}), headers=officer())
        assert r.status_code == 422, (name, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
        r = await client.post(
            "/eia/registrations", json=registration(**{field: name}), headers=filer()
        )
        assert r.status_code == 422, (name, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    assert await count_rows(app, "filings") == 0
    assert await count_rows(app, "registrations") == 0
    # A bulk upload's row is read by the same model: that row is refused.
    rows = [registration(row_key="r1"), registration(row_key="r2", **{field: "\u3164"})]
    r = await client.post(
        "/eia/registrations:bulk",
        content="\n".join(json.dumps(x) for x in rows),
        headers={**filer(), "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    by_key = {x["row_key"]: x for x in r.json()["results"]}
    assert "number" in by_key["r1"], r.text
    assert [e["field"] for e in by_key["r2"]["errors"]] == [field], r.text
    # Visible names with a space inside, or spaces around, still are.
    r = await client.post("/eia/filings", json=filing(**{field: " 某 项目 "}), headers=officer())
    assert r.status_code == 201, r.text


#: Names that look like another with the hidden character taken out.
HIDDEN_INSIDE = (
    "天津某\u200b化工有限公司",  # zero-width space
    "天津某\u200c化工有限公司",  # zero-width non-joiner
    "天津某\u200d化工有限公司",  # zero-width joiner inside Chinese
    "天津某\u2060化工有限公司",  # word joiner
    "天津某\ufeff化工有限公司",  # byte-order mark
    "天津某\u00ad化工有限公司",  # soft hyphen
    "天津某\u200e化工有限公司",  # left-to-right mark
    "天津某化工\U0001f468\u200d\U0001f469有限公司",  # an emoji ZWJ sequence
)


@pytest.mark.parametrize("field", ["project_name", "enterprise_name"])
async def test_a_name_with_a_hidden_character_inside_is_refused(
    client: httpx.AsyncClient, field: str
) -> None:
    """Two names that look the same were two names: one with a zero-width
    character inside was filed (201). A 422 naming the field and the
    character, Chinese first; a reason keeps its emoji sequences."""
    app: FastAPI = client.app  # type: ignore[attr-defined]
    for name in HIDDEN_INSIDE:
        r = await client.post("/eia/filings", json=filing(**{field: name}), headers=officer())
        assert r.status_code == 422, (name, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
        r = await client.post(
            "/eia/registrations", json=registration(**{field: name}), headers=filer()
        )
        assert r.status_code == 422, (name, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    assert await count_rows(app, "filings") == 0
    assert await count_rows(app, "registrations") == 0
    r = await client.post(
        "/eia/filings",
        json=filing(**{field: "天津某\u200b化工有限公司"}),
        headers={**officer(), "accept-language": "zh-CN"},
    )
    message = r.json()["errors"][0]["message"]
    assert "不可见字符" in message and "第 4 个字符（U+200B）" in message, message
    r = await client.post(
        "/eia/filings",
        json=filing(**{field: "天津某\u200b化工有限公司"}),
        headers={**officer(), "accept-language": "en"},
    )
    assert "character 4 (U+200B)" in r.json()["errors"][0]["message"], r.text
    # A bulk upload's row is refused the same, its fast path too.
    rows = [registration(row_key="r1"), registration(row_key="r2", **{field: HIDDEN_INSIDE[0]})]
    r = await client.post(
        "/eia/registrations:bulk",
        content="\n".join(json.dumps(x) for x in rows),
        headers={**filer(), "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    by_key = {x["row_key"]: x for x in r.json()["results"]}
    assert [e["field"] for e in by_key["r2"]["errors"]] == [field], r.text
    # A name with an emoji of one character is visible, and taken.
    r = await client.post(
        "/eia/filings", json=filing(**{field: "天津绿色\U0001f331科技有限公司"}), headers=officer()
    )
    assert r.status_code == 201, r.text


async def test_a_park_or_control_unit_no_one_can_see_is_refused(
    client: httpx.AsyncClient,
) -> None:
    park = {
        "id": "JZ-IND-09",
        "name": "\u3164",
        "district": "120119",
        "covered_project_types": ["C3670"],
        "vocs_subpool_t": "1",
    }
    unit = {"name": "\u200b", "district": "120115", "kind": "key_control", "rule": "禁止新建"}
    for url, body in (("/eia/parks", park), ("/eia/control-units/BD-ZD-09", unit)):
        call = client.post if url == "/eia/parks" else client.put
        r = await call(url, json=body, headers=admin())
        assert r.status_code == 422, (url, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["name"], r.text
        r = await call(url, json={**body, "name": "蓟州\u200b园区"}, headers=admin())
        assert r.status_code == 422, (url, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["name"], r.text
        r = await call(url, json={**body, "name": "蓟州园区"}, headers=admin())
        assert r.status_code in (200, 201), (url, r.text)
