"""eia-svc's messages in zh-CN (default) and English: screening refusals,
per-row bulk errors, state conflicts; the same problem types and fields."""

from __future__ import annotations

import httpx

from ..conftest import JIZHOU, filer, filing, officer, registration

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
    assert "环评文件当前为" in r.json()["detail"]
    e = await client.post(f"/eia/filings/{fid}/approve", headers={**officer(), **EN})
    assert e.json()["type"] == r.json()["type"] and "cannot approve a filing" in e.json()["detail"]
