"""Uploads with text no database can hold (a lone surrogate escape,
"\\ud800", in a line of JSON) or a header naming a column twice: the row,
or the upload, is refused with why, naming the field or the column; never a
500, never a half-written import."""

from __future__ import annotations

import base64
import io
import json

import pytest
from openpyxl import Workbook
from permit_svc.enterprises.models import Enterprise
from sqlalchemy import func, select
from svc_common import testing
from svc_common.uploads import XLSX_TYPE
from svc_common.uscc import make_uscc

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])
ADMIN = testing.auth("admin")
NDJSON = {**OFFICER, "content-type": "application/x-ndjson"}


def lone_surrogate_in(row: dict[str, object], field: str) -> str:
    """`row` as a line of JSON with `field` holding a lone surrogate escape."""
    return json.dumps({**row, field: "@LONE@"}).replace('"@LONE@"', '"\\ud800"')


def enterprise_row(serial: int) -> dict[str, object]:
    return {
        "uscc": make_uscc(BAODI, serial),
        "name": f"企业{serial}",
        "district": BAODI,
        "industry_code": "2641",
    }


async def _enterprises(svc: Service) -> int:
    async with svc.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Enterprise)) or 0)


@pytest.mark.parametrize("field", ["uscc", "name", "address"])
async def test_an_enterprise_line_with_a_lone_surrogate_is_refused_alone(
    svc: Service, field: str
) -> None:
    upload = "\n".join([json.dumps(enterprise_row(1)), lone_surrogate_in(enterprise_row(2), field)])
    r = await svc.http.post(
        "/permit/enterprises:import",
        content=upload.encode(),
        headers={**NDJSON, "accept-language": "zh-CN"},
    )
    assert r.status_code == 200, r.text
    good, bad = r.json()["results"]
    assert good["result"] == "created" and bad["result"] == "error"
    (error,) = bad["errors"]
    assert error["field"] == field and "不是有效的 Unicode 文本" in error["message"], error
    assert await _enterprises(svc) == 1


async def test_a_line_naming_a_field_with_a_lone_surrogate(svc: Service) -> None:
    r = await svc.http.post(
        "/permit/enterprises:import",
        content=json.dumps({"\ud800": 1}, ensure_ascii=True).encode(),
        headers=NDJSON,
    )
    assert r.status_code == 200, r.text
    (row,) = r.json()["results"]
    assert row["errors"] == [{"field": "\\ud800", "message": row["errors"][0]["message"]}]
    assert "not valid Unicode" in row["errors"][0]["message"]


async def test_a_registration_line_with_a_lone_surrogate_is_refused_alone(
    svc: Service,
) -> None:
    uscc = await svc.enterprise(3, industry="2921")
    upload = "\n".join([json.dumps({"uscc": uscc}), lone_surrogate_in({}, "uscc")])
    r = await svc.http.post("/permit/registrations:import", content=upload, headers=NDJSON)
    assert r.status_code == 200, r.text
    good, bad = r.json()["results"]
    assert good["result"] == "created"
    assert bad["result"] == "error" and [e["field"] for e in bad["errors"]] == ["uscc"]


@pytest.mark.parametrize(
    "line",
    [
        lone_surrogate_in({"pollutants": []}, "uscc"),
        '{"uscc": "91120115000000005Y", "pollutants": [{"pollutant": "\\ud800"}]}',
    ],
)
async def test_a_permit_line_with_a_lone_surrogate_is_refused(svc: Service, line: str) -> None:
    r = await svc.http.post("/permit/permits:import", content=line, headers=NDJSON)
    assert r.status_code == 200, r.text
    (row,) = r.json()["results"]
    assert row["result"] == "error"
    assert row["errors"][0]["field"] in ("uscc", "pollutants.0.pollutant"), row
    assert "not valid Unicode" in row["errors"][0]["message"]
    assert await svc.events("permit.issued.v1") == []


async def test_a_single_request_with_a_lone_surrogate_names_the_field(svc: Service) -> None:
    """The model's JSON parser refused the body as a whole (`body`)."""
    uscc = await svc.enterprise(7)
    for path, body, field in (
        ("/permit/enterprises", lone_surrogate_in(enterprise_row(8), "name"), "name"),
        (
            "/permit/permits",
            json.dumps(
                {"uscc": uscc, "pollutants": [{"pollutant": "@LONE@", "amount_t": "1"}]}
            ).replace('"@LONE@"', '"\\ud800"'),
            "pollutants.0.pollutant",
        ),
    ):
        r = await svc.http.post(
            path, content=body, headers={**OFFICER, "content-type": "application/json"}
        )
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert (error["field"], error["type"]) == (field, "string_unicode"), error
        assert "not valid Unicode" in error["message"]
    assert await _enterprises(svc) == 1


HEADER_TWICE = ["uscc", "name", "district", "industry_code", "name"]


async def test_a_column_named_twice_in_a_csv_header_refuses_the_upload(svc: Service) -> None:
    line = f"{make_uscc(BAODI, 5)},企业5,{BAODI},2641,企业五"
    r = await svc.http.post(
        "/permit/enterprises:import",
        content=f"{','.join(HEADER_TWICE)}\n{line}\n".encode(),
        headers={**OFFICER, "content-type": "text/csv", "accept-language": "zh-CN"},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    (error,) = r.json()["errors"]
    assert (error["field"], error["type"]) == ("name", "duplicate_column")
    assert "name" in r.json()["detail"] and "两次" in r.json()["detail"]
    assert await _enterprises(svc) == 0


async def test_a_column_named_twice_in_a_sheet_header_refuses_the_upload(svc: Service) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER_TWICE)
    ws.append([make_uscc(BAODI, 6), "企业6", BAODI, "2641", "企业六"])
    buf = io.BytesIO()
    wb.save(buf)
    r = await svc.http.post(
        "/permit/enterprises:import",
        content=buf.getvalue(),
        headers={**OFFICER, "content-type": XLSX_TYPE},
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["name"]
    assert await _enterprises(svc) == 0


async def test_a_column_named_twice_in_the_industry_table_refuses_it(svc: Service) -> None:
    r = await svc.http.post(
        "/permit/industries:import",
        content="industry_code,name,category,name\n2641,涂料制造,key,别名\n".encode(),
        headers={**ADMIN, "content-type": "text/csv"},
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["name"]


async def test_a_cursor_holding_a_lone_surrogate_is_not_a_cursor(svc: Service) -> None:
    cursor = base64.urlsafe_b64encode(b'"\\ud800"').decode().rstrip("=")
    r = await svc.http.get(f"/permit/enterprises?cursor={cursor}", headers=OFFICER)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["cursor"]


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1E+999"]


@pytest.mark.parametrize("number", NON_FINITE)
async def test_a_registration_line_with_a_number_beyond_a_double_is_refused_alone(
    svc: Service, number: str
) -> None:
    """json.loads reads these as floats that are not finite; the form was
    filed with them stored as null (NaN and Infinity are not even JSON)."""
    good, bad = await svc.enterprise(31, industry="2921"), await svc.enterprise(32, industry="2921")
    upload = "\n".join(
        [
            json.dumps({"uscc": good, "details": {"capacity_t": 1.5e300}}),
            f'{{"uscc": "{bad}", "details": {{"outlets": [{{"flow": {number}}}]}}}}',
        ]
    )
    r = await svc.http.post("/permit/registrations:import", content=upload, headers=NDJSON)
    assert r.status_code == 200, r.text
    first, second = r.json()["results"]
    assert first["result"] == "created"
    assert second["result"] == "error"
    assert second["errors"] == [
        {"field": "details.outlets.0.flow", "message": "must be a finite number"}
    ]
    r = await svc.http.get(f"/permit/registrations?uscc={bad}", headers=OFFICER)
    assert r.json()["items"] == []


@pytest.mark.parametrize("number", NON_FINITE)
async def test_a_body_with_a_number_beyond_a_double_names_the_field(
    svc: Service, number: str
) -> None:
    uscc = await svc.enterprise(33, industry="2921")
    body = f'{{"uscc": "{uscc}", "details": {{"flow": {number}}}}}'
    r = await svc.http.post(
        "/permit/registrations",
        content=body,
        headers={**OFFICER, "content-type": "application/json", "accept-language": "zh-CN"},
    )
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert (error["field"], error["type"]) == ("details.flow", "finite_number"), error
    assert error["message"] == "必须是有限数值"
    r = await svc.http.get(f"/permit/registrations?uscc={uscc}", headers=OFFICER)
    assert r.json()["items"] == []
