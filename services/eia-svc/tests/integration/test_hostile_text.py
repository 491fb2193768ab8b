"""Text no database can hold (a lone surrogate escape, "\\ud800") and an
upload whose header names a column twice: a clear refusal naming the field
or the column, in the caller's language, never a 500, nothing written."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import Workbook
from svc_common.uploads import XLSX_TYPE

from ..conftest import ENTERPRISE, admin, count_rows, filer, registration

LONE = "\\ud800"  # as JSON writes it: a surrogate with no pair
NOT_UNICODE_ZH = "不是有效的 Unicode 文本"
JSON = {**filer(), "content-type": "application/json"}
NDJSON = {**filer(), "content-type": "application/x-ndjson"}


def with_lone_surrogate(body: dict[str, object], field: str) -> str:
    """`body` as JSON with `field` holding a lone surrogate escape."""
    return json.dumps({**body, field: "@LONE@"}).replace('"@LONE@"', f'"{LONE}"')


@pytest.mark.parametrize(
    "field", ["project_type", "control_unit", "park_id", "project_name", "district"]
)
async def test_a_single_filing_with_a_lone_surrogate_names_the_field(
    client: httpx.AsyncClient, field: str
) -> None:
    """The screening of a form that failed its shape checks looked up its
    project type, control unit and park with the text as sent: a 500."""
    r = await client.post(
        "/eia/registrations",
        content=with_lone_surrogate(registration(), field),
        headers={**JSON, "accept-language": "zh-CN"},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert NOT_UNICODE_ZH in errors[field], r.json()
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 0


@pytest.mark.parametrize("field", ["row_key", "project_name", "project_type", "enterprise_name"])
async def test_a_bulk_row_with_a_lone_surrogate_is_refused_alone(
    client: httpx.AsyncClient, field: str
) -> None:
    good = json.dumps(registration(row_key="good", project_type="C2011"))
    bad = with_lone_surrogate(registration(row_key="bad", project_type="C2011"), field)
    r = await client.post("/eia/registrations:bulk", content=f"{good}\n{bad}\n", headers=NDJSON)
    assert r.status_code == 200, r.text
    first, second = r.json()["results"]
    assert first["result"] == "created"
    assert second["result"] == "error"
    assert [e["field"] for e in second["errors"]] == [field]
    assert "not valid Unicode" in second["errors"][0]["message"]
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 1


async def test_a_csv_in_a_charset_that_carries_a_lone_surrogate(
    client: httpx.AsyncClient,
) -> None:
    """UTF-7 (a charset a client may declare) can write a lone surrogate
    (`+2AA-`); UTF-8 and GB18030 cannot."""
    text = (
        "row_key,project_name,uscc,enterprise_name,district,project_type\n"
        f"r1,LONE,{ENTERPRISE},某木业,120119,C2011\n"
        f"r2,锯材加工,{ENTERPRISE},某木业,120119,C2011\n"
    )
    r = await client.post(
        "/eia/registrations:bulk",
        content=text.encode("utf-7").replace(b"LONE", b"+2AA-"),
        headers={**filer(), "content-type": "text/csv; charset=utf-7"},
    )
    assert r.status_code == 200, r.text
    first, second = r.json()["results"]
    assert first["result"] == "error" and first["errors"][0]["field"] == "project_name"
    assert second["result"] == "created"


HEADER_TWICE = "row_key,project_name,uscc,enterprise_name,district,project_type,project_name"


async def test_a_column_named_twice_in_a_csv_header_refuses_the_upload(
    client: httpx.AsyncClient,
) -> None:
    """The last of the two columns was read and the first dropped unseen."""
    text = f"{HEADER_TWICE}\nr1,锯材加工,{ENTERPRISE},某木业,120119,C2011,木材加工\n"
    for lang, words in (("zh-CN", "表头中出现了两次"), ("en", "appears twice in the header")):
        r = await client.post(
            "/eia/registrations:bulk",
            content=text.encode(),
            headers={**filer(), "content-type": "text/csv", "accept-language": lang},
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        (error,) = r.json()["errors"]
        assert error["field"] == "project_name" and error["type"] == "duplicate_column"
        assert words in error["message"], error
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 0


async def test_a_column_named_twice_in_a_sheet_header_refuses_the_upload(
    client: httpx.AsyncClient,
) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(HEADER_TWICE.split(","))
    ws.append(["r1", "锯材加工", ENTERPRISE, "某木业", "120119", "C2011", "木材加工"])
    buf = io.BytesIO()
    wb.save(buf)
    r = await client.post(
        "/eia/registrations:bulk",
        content=buf.getvalue(),
        headers={**filer(), "content-type": XLSX_TYPE},
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["project_name"]
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 0


async def test_a_project_type_table_is_held_to_the_same_rules(client: httpx.AsyncClient) -> None:
    """The whole-table import (all or nothing) reads its CSV by its own code."""
    as_admin = {**admin(), "content-type": "text/csv"}
    header = "code,name,industry_code,category,rule"
    twice = f"{header},name\nX9999,某类,C2011,registration_form,规则,别名\n"
    r = await client.post("/eia/project-types:import", content=twice.encode(), headers=as_admin)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["type"]) for e in r.json()["errors"]] == [("name", "duplicate_column")]
    lone = f"{header}\nX9999,LONE,C2011,registration_form,规则\n".encode("utf-7")
    r = await client.post(
        "/eia/project-types:import",
        content=lone.replace(b"LONE", b"+2AA-"),
        headers={**as_admin, "content-type": "text/csv; charset=utf-7"},
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["line 2.name"]
    types = (await client.get("/eia/project-types", headers=admin())).json()
    assert "X9999" not in [t["code"] for t in types]


@pytest.mark.parametrize("field", ["park_id", "control_unit"])
@pytest.mark.parametrize("given", ["", "   "])
async def test_an_empty_park_or_control_unit_is_refused_naming_it(
    client: httpx.AsyncClient, field: str, given: str
) -> None:
    """A park or control unit sent empty (or blank: the model strips it) is
    a 422 naming the field, as an empty row_key is. An empty park was taken
    and kept as `park_id: ""` on the filing and its receipt, a park no one
    registered; an empty control unit was refused as " 不是已知的环境管控单元",
    naming nothing. Leaving the field out, or null, is the way to give none."""
    from ..conftest import filing

    for path, body in (("/eia/filings", filing()), ("/eia/registrations", registration())):
        r = await client.post(
            path, json={**body, field: given}, headers={**filer(), "accept-language": "zh-CN"}
        )
        assert r.status_code == 422, (path, r.text)
        assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
            (field, "至少需要 1 个字符")
        ], r.text
    app = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "filings") == await count_rows(app, "registrations") == 0


@pytest.mark.parametrize(
    ("field", "given", "shown"),
    [
        ("park_id", "nan\u200bgang", "nan\\u200bgang"),
        ("control_unit", "TJ\u200b01", "TJ\\u200b01"),
        ("control_unit", "TJ\n01", "TJ\\n01"),
        ("project_type", "C3670\u2060", "C3670\\u2060"),
    ],
)
async def test_a_code_with_an_invisible_character_is_quoted_with_it_shown(
    client: httpx.AsyncClient, field: str, given: str, shown: str
) -> None:
    """A park, control unit or project type that holds a character that
    prints as nothing is refused quoting the code with that character
    escaped. Quoted as sent, "nan\\u200bgang 不是已登记的园区" read "nangang
    不是已登记的园区" — a park that is registered — and a line break split
    the message: the applicant could not see what to correct."""
    from ..conftest import filing

    for path, body in (("/eia/filings", filing()), ("/eia/registrations", registration())):
        for lang in ("zh-CN", "en"):
            r = await client.post(
                path, json={**body, field: given}, headers={**filer(), "accept-language": lang}
            )
            assert r.status_code == 422, (path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            errors = {e["field"]: e["message"] for e in r.json()["errors"]}
            assert errors[field].startswith(f"{shown} "), (path, lang, errors)
            assert given not in errors[field]
    r = await client.post("/eia/classify", json={"project_type": "C3670\u200b"}, headers=filer())
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["message"].startswith("C3670\\u200b "), r.text
    app = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "filings") == await count_rows(app, "registrations") == 0
