"""The files people have (GBK CSV from Excel, UTF-8 with BOM, .xlsx, an error
report as a spreadsheet) and the messages in both languages: the same
problem `type` and field names, the text in zh-CN by default or English."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook
from svc_common import testing
from svc_common.uploads import XLSX_TYPE
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])
ZH = {**OFFICER, "Accept-Language": "zh-CN,zh;q=0.9"}
EN = {**OFFICER, "Accept-Language": "en"}


def enterprise_csv(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["uscc,name,district,industry_code,address"]
    lines += [f"{u},{n},{d},{i},天津市宝坻区九园工业园区" for u, n, d, i in rows]
    return "\n".join(lines) + "\n"


async def test_gbk_csv_from_excel_is_read_detected_or_declared(svc: Service) -> None:
    text = enterprise_csv([(make_uscc(BAODI, 901), "天津宝坻涂料有限公司", BAODI, "2641")])
    for body, ctype in (
        (text.encode("gbk"), "text/csv"),  # detected
        (text.encode("gb18030"), "text/csv; charset=GBK"),  # declared
        (b"\xef\xbb\xbf" + text.encode(), "text/csv"),  # UTF-8 with BOM
    ):
        r = await svc.http.post(
            "/permit/enterprises:import", content=body, headers={**OFFICER, "content-type": ctype}
        )
        assert r.status_code == 200, r.text
        assert r.json()["totals"]["error"] == 0
    got = await svc.http.get(f"/permit/enterprises/{make_uscc(BAODI, 901)}", headers=OFFICER)
    assert got.json()["name"] == "天津宝坻涂料有限公司"


async def test_xlsx_upload_and_error_report_spreadsheet(svc: Service) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["uscc", "name", "district", "industry_code"])
    ws.append([make_uscc(BAODI, 902), "天津宝坻印务有限公司", BAODI, 2319])  # a number cell
    ws.append(["91120115MA0000000X", "坏代码公司", BAODI, "2641"])
    ws.append([make_uscc(JIZHOU, 903), "别区公司", JIZHOU, "2641"])
    buf = io.BytesIO()
    wb.save(buf)
    headers = {**ZH, "content-type": XLSX_TYPE}
    r = await svc.http.post("/permit/enterprises:import", content=buf.getvalue(), headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["totals"]["created"], body["totals"]["error"]) == (1, 2)
    by_row = {row["row"]: row for row in body["results"]}
    assert by_row[3]["errors"][0]["field"] == "district"
    assert by_row[3]["errors"][0]["message"] == "不是您负责的区"

    sheet = await svc.http.post(
        "/permit/enterprises:import?report=xlsx", content=buf.getvalue(), headers=headers
    )
    assert sheet.status_code == 200
    assert sheet.headers["content-type"] == XLSX_TYPE
    report = load_workbook(io.BytesIO(sheet.content), read_only=True).worksheets[0]
    rows = list(report.iter_rows(values_only=True))
    assert rows[0][0] == "行号" and rows[0][-1] == "错误原因"
    assert [r[0] for r in rows[1:]] == [2, 3]  # only the failing rows, with their cells
    assert "坏代码公司" in rows[1] and "district: 不是您负责的区" in str(rows[2][-1])


async def test_problems_in_chinese_by_default_and_english_on_request(svc: Service) -> None:
    bad = {"uscc": "91120115MA0000000X", "name": "x", "district": BAODI, "industry_code": "2641"}
    zh = await svc.http.post("/permit/enterprises", json=bad, headers=ZH)
    en = await svc.http.post("/permit/enterprises", json=bad, headers=EN)
    assert zh.status_code == en.status_code == 422
    assert zh.json()["type"] == en.json()["type"]
    assert [e["field"] for e in zh.json()["errors"]] == [e["field"] for e in en.json()["errors"]]
    assert "校验码错误" in zh.json()["errors"][0]["message"]
    assert "check character is wrong" in en.json()["errors"][0]["message"]
    assert zh.json()["title"] == "请求内容无效"

    missing = await svc.http.get("/permit/permits/nope", headers=ZH)
    assert missing.status_code == 404 and missing.json()["detail"] == "没有排污许可证 nope"
    nobody = await svc.http.get("/permit/permits", headers={"Accept-Language": "zh-CN"})
    assert nobody.status_code == 401 and nobody.json()["detail"] == "需要 Bearer 令牌"
    other = await svc.http.get("/permit/permits", params={"district": JIZHOU}, headers={**ZH})
    assert other.status_code == 403 and "无权在蓟州区（120119）操作" in other.json()["detail"]
    # A client that says nothing (the test client's default is en) gets Chinese.
    plain = await svc.http.get("/permit/permits/nope", headers={**OFFICER, "Accept-Language": ""})
    assert plain.json()["detail"] == "没有排污许可证 nope"


async def test_per_row_bulk_errors_in_both_languages(svc: Service) -> None:
    unknown = make_uscc(BAODI, 999)
    cases = (("zh-CN", "本系统没有该代码的企业"), ("en", "no enterprise has this code here"))
    for lang, text in cases:
        r = await svc.http.post(
            "/permit/registrations:import",
            content=f"uscc\n{unknown}\n".encode(),
            headers={**OFFICER, "content-type": "text/csv", "Accept-Language": lang},
        )
        assert r.status_code == 200, r.text
        (row,) = r.json()["results"]
        assert [(e["field"], e["message"]) for e in row["errors"]] == [("uscc", text)]


async def test_a_district_typed_in_full_width_digits_is_refused_saying_what_to_write(
    svc: Service,
) -> None:
    """`?district=１２０１１５` (a Chinese IME in full-width mode) was refused
    as "'１２０１１５' 不是天津市 16 个区的区划代码", which names digits that
    look like a district's as none: the refusal now says to write the code
    in half-width, in a query and in a body alike, and nothing is written."""
    wide = "１２０１１５"
    r = await svc.http.get("/permit/permits", params={"district": wide}, headers=ZH)
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "district"
    assert "请写作半角的 120115" in error["message"], error
    body = {
        "uscc": make_uscc(BAODI, 902),
        "name": "天津宝坻某涂料有限公司",
        "district": wide,
        "industry_code": "2641",
    }
    r = await svc.http.post("/permit/enterprises", json=body, headers=EN)
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "district"
    assert "full-width digits or spaces: write 120115" in error["message"], error
    r = await svc.http.get(f"/permit/enterprises/{body['uscc']}", headers=OFFICER)
    assert r.status_code == 404
    # A code that is no district is still said to be none.
    r = await svc.http.get("/permit/permits", params={"district": "１１０１０１"}, headers=ZH)
    assert "不是天津市 16 个区的区划代码" in r.json()["errors"][0]["message"]


async def test_a_query_parameter_no_operation_reads_is_refused_not_ignored(
    svc: Service,
) -> None:
    """`?distrct=120119` (misspelt) listed every district's enterprises, as
    if no filter had been asked for; `?sort=name` was ignored. A query
    parameter the operation does not read is a 422 naming it, with those it
    takes, as a body's unknown field is; nothing is read or written."""
    await svc.enterprise(903)
    r = await svc.http.get("/permit/enterprises", params={"distrct": JIZHOU}, headers=ZH)
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "distrct" and error["type"] == "unknown_parameter"
    assert error["message"].startswith("不是此操作的查询参数（可用：")
    assert "district" in error["message"] and "cursor" in error["message"]
    r = await svc.http.get(
        "/permit/permits", params={"sort": "name", "order": "desc", "limit": 1}, headers=EN
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["sort", "order"]
    assert "is not a query parameter of this operation" in r.json()["detail"]
    # A write takes none: refused before anything is written.
    uscc = make_uscc(BAODI, 904)
    body = {"uscc": uscc, "name": "天津宝坻某化工厂", "district": BAODI, "industry_code": "2641"}
    r = await svc.http.post("/permit/enterprises?dry_run=1", json=body, headers=EN)
    assert r.status_code == 422, r.text
    assert "(it takes none)" in r.json()["errors"][0]["message"]
    assert (await svc.http.get(f"/permit/enterprises/{uscc}", headers=OFFICER)).status_code == 404
    # Those it reads still work, and HEAD reads what GET reads.
    r = await svc.http.get("/permit/enterprises", params={"district": BAODI}, headers=OFFICER)
    assert r.status_code == 200, r.text
    r = await svc.http.head("/permit/enterprises", params={"limit": 1}, headers=OFFICER)
    assert r.status_code == 200
    # A path no route answers is still a 404, whatever its query.
    r = await svc.http.get("/permit/nowhere", params={"x": 1}, headers=OFFICER)
    assert r.status_code == 404
