"""eia-svc's messages in zh-CN (default) and English: screening refusals,
per-row bulk errors, state conflicts; the same problem types and fields."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import FastAPI
from svc_common import testing

from ..conftest import JIZHOU, admin, filer, filing, officer, registration

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


async def test_screening_refusal_in_both_languages(client: httpx.AsyncClient) -> None:
    body = registration(project_type="G5960")
    zh = await client.post("/eia/registrations", json=body, headers={**filer(), **ZH})
    en = await client.post("/eia/registrations", json=body, headers={**filer(), **EN})
    assert zh.status_code == en.status_code == 422
    assert zh.json()["type"] == en.json()["type"]
    assert zh.json()["errors"][0]["field"] == en.json()["errors"][0]["field"] == "project_type"
    assert "免于环评管理，无需办理环评手续" in zh.json()["detail"]
    assert "no EIA filing is needed" in en.json()["detail"]
    report = registration(project_type="C2614")
    zh = await client.post("/eia/registrations", json=report, headers={**filer(), **ZH})
    assert "环境影响报告书" in zh.json()["detail"] and "POST /eia/filings" in zh.json()["detail"]


async def test_bulk_row_errors_and_spreadsheet_report_in_chinese(client: httpx.AsyncClient) -> None:
    csv_text = (
        "project_name,uscc,enterprise_name,district,project_type\n"
        f"好项目,{registration()['uscc']},某公司,{JIZHOU},Q8412\n"
        f"坏区项目,{registration()['uscc']},某公司,999999,Q8412\n"
    )
    headers = {**filer(), **ZH, "content-type": "text/csv; charset=gbk"}
    r = await client.post(
        "/eia/registrations:bulk", content=csv_text.encode("gbk"), headers=headers
    )
    assert r.status_code == 200, r.text
    rows = r.json()["results"]
    assert [x["result"] for x in rows] == ["created", "error"]
    assert rows[1]["errors"][0]["field"] == "district"
    assert "不是天津市 16 个区的区划代码" in rows[1]["errors"][0]["message"]

    sheet = await client.post(
        "/eia/registrations:bulk",
        content=csv_text.encode("gbk"),
        headers={
            **headers,
            "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    )
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"


async def test_state_conflict_in_chinese(client: httpx.AsyncClient) -> None:
    f = await client.post("/eia/filings", json=filing(), headers=filer())
    assert f.status_code == 201, f.text
    fid = f.json()["id"]
    r = await client.post(f"/eia/filings/{fid}/approve", headers={**officer(), **ZH})
    assert r.status_code == 409
    assert r.json()["title"] == "当前状态不允许此操作"
    # The state and the actions by their Chinese names, each with its code;
    # only what the officer may do (withdraw is the filer's: a 403 for them).
    assert r.json()["detail"] == (
        "环评文件当前为 已提交待受理（submitted），不能执行 批准（approve）；"
        "现在可执行：受理（accept）"
    )
    e = await client.post(f"/eia/filings/{fid}/approve", headers={**officer(), **EN})
    assert e.json()["type"] == r.json()["type"]
    assert e.json()["detail"] == (
        "the action 'approve' is not allowed while the filing is submitted; allowed now: accept"
    )
    assert r.json()["state"] == e.json()["state"] == "submitted"


async def test_a_refused_check_or_revocation_in_chinese(make_app: Callable[..., FastAPI]) -> None:
    """A registration's post-hoc check and revocation name their states and
    actions in Chinese as the receipt does (已撤销, 事后抽查通过)."""
    async with testing.running(make_app(posthoc_sample_rate=1.0)) as c:
        a = (await c.post("/eia/registrations", json=registration(), headers=filer())).json()
        clear = f"/eia/review-queue/{a['filing_id']}/clear"
        assert (await c.post(clear, headers=officer())).status_code == 200
        again = await c.post(clear, headers={**officer(), **ZH})
        assert again.status_code == 409
        assert again.json()["detail"] == (
            "备案抽查当前为 事后抽查通过（cleared），不能执行 抽查属实（clear）；"
            "现在可执行：撤销备案（revoke）"
        )
        revoke = f"/eia/registrations/{a['filing_id']}/revoke"
        body = {"reason": "现场核查无此项目"}
        assert (await c.post(revoke, json=body, headers=officer())).status_code == 200
        twice = await c.post(revoke, json=body, headers={**officer(), **ZH})
        assert twice.status_code == 409
        assert twice.json()["detail"] == (
            "登记表备案当前为 已撤销（revoked），不能执行 撤销备案（revoke）；现在可执行：无"
        )
        en = await c.post(revoke, json=body, headers={**officer(), **EN})
        assert en.json()["detail"] == (
            "the action 'revoke' is not allowed while the registration is revoked; "
            "allowed now: none"
        )


async def test_a_value_of_no_such_form_is_said_in_words_not_as_a_pattern(
    client: httpx.AsyncClient,
) -> None:
    """A stuck-list age (`older_than`), a filing number on the public receipt
    check, a park's id or a control unit's code of no form this API takes was
    refused with the regex itself ("格式不符合 ^P(?:[0-9]{1,2}W…"): each is
    said in words, in the caller's language, and nothing is written."""
    refused = (
        ("GET", "/eia/filings?older_than=5%20minutes", None, officer(), "older_than", "PT5M"),
        (
            "GET",
            "/eia/public/receipts/djb-120119-2026-1?code=abcd",
            None,
            {},
            "filing_no",
            "DJB-120119-2026-000001",
        ),
        (
            "GET",
            "/eia/public/receipts/DJB-１２０１１９-2026-1/receipt?code=abcd",
            None,
            {},
            "filing_no",
            "DJB-120119-2026-000001",
        ),
        (
            "POST",
            "/eia/parks",
            {
                "id": "园区 1",
                "name": "某园区",
                "district": JIZHOU,
                "covered_project_types": ["C2641"],
                "vocs_subpool_t": "10",
            },
            admin(),
            "id",
            "1-40 个字母、数字、- 或 _",
        ),
        (
            "PUT",
            "/eia/control-units/a.b",
            {"name": "某单元", "district": JIZHOU, "kind": "priority", "rule": "r"},
            admin(),
            "code",
            "1-40 个字母、数字、- 或 _",
        ),
    )
    for method, path, body, auth, field, words in refused:
        for lang, said in (("zh-CN", words), ("en", None)):
            r = await client.request(
                method, path, json=body, headers={**auth, "Accept-Language": lang}
            )
            assert r.status_code == 422, (path, r.text)
            error = next(e for e in r.json()["errors"] if e["field"] == field)
            assert "^" not in error["message"] and "[0-9]" not in error["message"], error
            assert said in error["message"] if said else error["message"].isascii(), error
    parks = await client.get("/eia/parks", headers=admin())
    assert parks.json() == [] or all(p["id"] != "园区 1" for p in parks.json()), parks.text
