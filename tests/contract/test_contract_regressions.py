"""Regressions of what schemathesis and the contract checks found, each fixed
in the shared mechanism (svc_common) so every service has the fix."""

from __future__ import annotations

import io
import json
import random
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from permit_svc.app import create as create_permit
from permit_svc.settings import Settings as PermitSettings
from pydantic import TypeAdapter, ValidationError
from quota_svc.app import create as create_quota
from quota_svc.settings import Settings as QuotaSettings
from svc_common import i18n, testing, types
from svc_common.errors import Conflict
from svc_common.uscc import make_uscc

ADMIN = testing.auth("admin", sub="admin.city")


@pytest.fixture
async def permit(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_permit(
        PermitSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/p.db", log_json=False)
    )
    async with testing.running(app) as client:
        yield client


@pytest.fixture
async def quota(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_quota(
        QuotaSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/q.db", log_json=False)
    )
    async with testing.running(app) as client:
        yield client


async def test_405_names_every_method_of_the_path(permit: httpx.AsyncClient) -> None:
    # GET and POST /permit/enterprises are two routes; the router alone named one.
    r = await permit.put("/permit/enterprises", json={}, headers=ADMIN)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, POST"
    assert r.headers["content-type"] == "application/problem+json"


async def test_a_reused_key_on_a_method_the_path_does_not_serve_is_405(
    permit: httpx.AsyncClient,
) -> None:
    key = {"Idempotency-Key": "k-405", **ADMIN}
    await permit.post("/permit/enterprises", json={"bad": 1}, headers=key)
    # The key was used for a POST; a PATCH to a path without PATCH is not a
    # reuse of the key but a method the path does not serve.
    r = await permit.patch("/permit/enterprises", json={"other": 2}, headers=key)
    assert r.status_code == 405, r.text


async def test_an_empty_idempotency_key_is_refused(permit: httpx.AsyncClient) -> None:
    r = await permit.post("/permit/enterprises", json={}, headers={"Idempotency-Key": "", **ADMIN})
    assert r.status_code == 400
    assert r.json()["type"].endswith("idempotency-key-invalid")


async def test_a_dead_letter_id_past_64_bits_is_a_422_not_a_500(
    permit: httpx.AsyncClient,
) -> None:
    huge = "57703879852666847685808660414464"
    for method, path in (
        ("GET", f"/permit/admin/dead-letters/{huge}"),
        ("POST", f"/permit/admin/dead-letters/{huge}/redrive"),
    ):
        r = await permit.request(method, path, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "dead_letter_id"


def test_a_problem_extension_never_replaces_its_status() -> None:
    body = Conflict("already held", state="held", status="held", title="x").body()
    assert body["status"] == 409 and body["state"] == "held"
    assert body["title"] != "x"


async def test_a_conflicting_reservation_states_the_status_as_a_number(
    quota: httpx.AsyncClient,
) -> None:
    await quota.put(
        "/quota/settings/120119/VOCs", json={"offset_ratio": "1.5", "hold_days": 30}, headers=ADMIN
    )
    await quota.post("/quota/pools/120119/VOCs/baseline", json={"amount_t": "100"}, headers=ADMIN)
    ask = {"district": "120119", "increment_t": "1", "project_ref": "p-1"}
    assert (await quota.post("/quota/reservations", json=ask, headers=ADMIN)).status_code == 201
    r = await quota.post("/quota/reservations", json={**ask, "increment_t": "2"}, headers=ADMIN)
    assert r.status_code == 409
    assert r.json()["status"] == 409 and r.json()["state"] == "held"


@pytest.mark.parametrize(
    ("hold_days", "status"),
    [("30", 422), (True, 422), (30.5, 422), (30.0, 200), (30, 200)],
)
async def test_json_bodies_are_read_strictly(
    quota: httpx.AsyncClient, hold_days: object, status: int
) -> None:
    """Text is not a number and a boolean is not one either; 30.0 is the
    integer 30, as JSON Schema counts it."""
    r = await quota.put(
        "/quota/settings/120119/VOCs",
        json={"offset_ratio": "1.5", "hold_days": hold_days},
        headers=ADMIN,
    )
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["errors"][0]["field"] == "hold_days"


async def test_an_integer_is_not_a_date_in_a_body(permit: httpx.AsyncClient) -> None:
    line = json.dumps(
        {
            "uscc": make_uscc("120119", 1),
            "pollutants": [{"pollutant": "PM", "amount_t": "1"}],
            "valid_from": 0,
            "valid_to": "2030-01-01",
        }
    )
    r = await permit.post(
        "/permit/permits:import",
        content=line.encode(),
        headers={"Content-Type": "application/x-ndjson", **ADMIN},
    )
    assert r.status_code == 200
    errors = r.json()["results"][0]["errors"]
    assert any(e["field"] == "valid_from" for e in errors), errors


async def test_readiness_answers_in_its_documented_shape(permit: httpx.AsyncClient) -> None:
    doc = (await permit.get("/permit/openapi.json")).json()
    schema = doc["components"]["schemas"]["Readiness"]
    body = (await permit.get("/permit/ready")).json()
    assert set(body) <= set(schema["properties"]) and isinstance(body["retrying"], dict)


AMOUNTS = [
    (types.TONNES_PATTERN, types.Tonnes),
    (types.POSITIVE_TONNES_PATTERN, types.PositiveTonnes),
    (types.INCREMENT_PATTERN, types.IncrementTonnes),
    (types.POSITIVE_INCREMENT_PATTERN, types.PositiveIncrementTonnes),
    ("^-?" + types.TONNES_PATTERN[1:], types.SignedTonnes),
    (types.NONZERO_SIGNED_PATTERN, types.NonZeroSignedTonnes),
    (types.RATIO_PATTERN, types.Ratio),
]


@pytest.mark.parametrize(("pattern", "annotated"), AMOUNTS)
def test_an_amount_is_accepted_exactly_when_the_document_allows_it(
    pattern: str, annotated: object
) -> None:
    """The documented patterns are exact both ways: a client that checks a
    value against the pattern is never refused for it (schemathesis found 0
    and 9,999,999 documented yet refused), and a value the pattern refuses
    is refused (`"1.0000"` was accepted although the pattern allows 3
    decimals, `"064319"` although it allows 5 digits)."""
    adapter: TypeAdapter[Decimal] = TypeAdapter(annotated)
    rx = re.compile(pattern)
    rnd = random.Random(7)
    matched = refused = 0
    for _ in range(5000):
        whole = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 8)))
        frac = "".join(rnd.choice("00123456789") for _ in range(rnd.randint(1, 5)))
        sign = rnd.choice(["", "", "-"])
        for text in (sign + whole, f"{sign}{whole}.{frac}"):
            try:
                adapter.validate_python(text)
                accepted = True
            except ValidationError:
                accepted = False
            documented = rx.match(text) is not None
            matched += documented
            refused += not documented
            assert accepted == documented, f"{text!r}: pattern {documented}, accepted {accepted}"
    assert matched > 500 and refused > 500


@pytest.mark.parametrize(
    ("annotated", "text", "why"),
    [
        (types.IncrementTonnes, "1.0000", "最多 3 位小数"),
        (types.PositiveIncrementTonnes, "0.0001", "最多 3 位小数"),
        (types.Tonnes, "12.5000", "最多 3 位小数"),
        (types.Tonnes, "-1", "不得为负数"),
        (types.Tonnes, "-0", "不得为负数"),
        (types.Tonnes, "1000000.001", "数值过大"),
        (types.PositiveTonnes, "0.000", "必须大于 0"),
        (types.NonZeroSignedTonnes, "-0.0", "不得为 0"),
        (types.IncrementTonnes, "100000.5", "单个项目的增量不得超过"),
        (types.Ratio, "2.000", "最多 2 位小数"),
        (types.Ratio, "10.5", "不得大于 10"),
        (types.Tonnes, "1e3", "必须是以字符串书写的十进制数"),
        (types.Tonnes, 12.5, "必须是以字符串书写的十进制数"),
        (types.Tonnes, "0000001", "格式不符合"),
        # `$` matches before a final line feed: the pattern is matched whole.
        (types.Tonnes, "12.5\n", "必须是以字符串书写的十进制数"),
        (Annotated[Decimal, types.DecimalText(r"^[0-9]{1,2}$", "12", "two digits")], "12\n", "12"),
        (types.Ratio, "03", "格式不符合"),
    ],
)
def test_a_refused_amount_says_why(annotated: object, text: object, why: str) -> None:
    adapter: TypeAdapter[Decimal] = TypeAdapter(annotated)
    with i18n.use("zh"), pytest.raises(ValidationError) as raised:
        adapter.validate_python(text)
    (error,) = raised.value.errors()
    assert why in str(error["msg"]), error


async def test_an_amount_with_a_fourth_decimal_is_refused(quota: httpx.AsyncClient) -> None:
    """`increment_t: "1.0000"` was accepted although the document allows 3
    decimals; a client reading the document would refuse it itself."""
    body = {"district": "120119", "increment_t": "1.0000", "project_ref": "p-4th"}
    r = await quota.post("/quota/reservations", json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["increment_t"]
    check = {"district": "120119", "increment_t": "1.0000"}
    r = await quota.post("/quota/checks", json=check, headers=ADMIN)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "increment_t", r.text
    r = await quota.post("/quota/checks", json={**check, "increment_t": "1.000"}, headers=ADMIN)
    assert r.status_code == 200, r.text


async def test_a_day_at_the_calendars_edge_is_refused_not_a_500(tmp_path: Path) -> None:
    """0001-01-01 starts in Beijing before the calendar does in UTC: a report
    over it was a 500 (supervision-svc); the shared Day type refuses it."""
    from supervision_svc.app import create as create_supervision
    from supervision_svc.settings import Settings as SupervisionSettings

    app = create_supervision(
        SupervisionSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db", log_json=False)
    )
    async with testing.running(app) as c:
        for query in ("from=0001-01-01&to=0002-01-01", "from=9998-01-01&to=9999-12-31"):
            r = await c.get(f"/supervision/reports/enforcement?{query}", headers=ADMIN)
            assert r.status_code == 422, r.text


async def test_an_error_report_holds_control_characters_a_sheet_cannot(
    permit: httpx.AsyncClient,
) -> None:
    # A failing row whose cell held U+0004 made the .xlsx error report a 500
    # (openpyxl refuses control characters in a cell). Such a row is now
    # refused for the character itself, and the report is still a workbook.
    body = (
        json.dumps({"uscc": make_uscc("120101", 7), "valid_from": "bad\u0004day"}) + "\n"
    ).encode()
    r = await permit.post(
        "/permit/permits:import?report=xlsx",
        content=body,
        headers={**ADMIN, "Content-Type": "application/x-ndjson", "Accept-Language": "en"},
    )
    assert r.status_code == 200, r.text
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    cells = [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    assert any("control characters" in c for c in cells), cells


async def test_an_unknown_report_is_refused_before_anything_is_written(
    permit: httpx.AsyncClient,
) -> None:
    # `?report=AAA` was ignored (the rows were written and answered as JSON).
    uscc = make_uscc("120101", 8)
    r = await permit.post(
        "/permit/registrations:import?report=AAA",
        content=f"uscc\r\n{uscc}\r\n".encode(),
        headers={**ADMIN, "Content-Type": "text/csv"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "report"
    listed = await permit.get("/permit/registrations", params={"uscc": uscc}, headers=ADMIN)
    assert listed.status_code == 200 and listed.json()["items"] == []


@pytest.mark.parametrize(("service_status", "page_status"), [(422, 422), (409, 409), (500, 502)])
async def test_a_service_refusing_a_console_request_is_a_4xx_page(
    service_status: int, page_status: int
) -> None:
    # An unknown pollutant in the console's address was refused by quota-svc
    # with a 422, and the console answered 502 (a server error for a bad
    # request); a service that fails is still a 502.
    from console.app import create
    from console.settings import Settings

    def quota(request: httpx.Request) -> httpx.Response:
        # The list the page offers (read first since the 招商 page takes its
        # pollutants from quota-svc); what is refused is the pools' figures.
        if request.url.path == "/quota/pollutants":
            return httpx.Response(200, json=[{"code": "VOCs", "name_zh": "挥发性有机物"}])
        return httpx.Response(
            service_status,
            json={"title": "refused", "status": service_status, "detail": "pollutant: unknown"},
            headers={"Content-Type": "application/problem+json"},
        )

    app = create(Settings(dev_login=True), transport=httpx.MockTransport(quota))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test"
    ) as c:
        page = await c.get("/console/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        r = await c.post("/console/login/dev", data={"user": "auditor", "csrf_token": csrf[1]})
        assert r.status_code == 303
        r = await c.get("/console/investment/", params={"pollutant": "Xx"})
        assert r.status_code == page_status
        assert "pollutant: unknown" in r.text


def test_a_text_of_spaces_only_is_documented_as_refused() -> None:
    # A complaint action's `reason` of "\u00a0\u000b" matched the document
    # (minLength 1) but is empty once stripped: a 422 for a schema-valid
    # request. Texts of stripping models say so with their pattern.
    from supervision_svc.app import create as create_supervision

    doc = create_supervision().openapi()
    reason = doc["components"]["schemas"]["ComplaintRejectIn"]["properties"]["reason"]
    pattern = re.compile(reason["pattern"])
    assert not pattern.search("\u00a0\u000b") and not pattern.search("a\u0000")
    assert pattern.search(" 不予受理 ")
    # Lengths count what is left once stripped: a name of 200 characters
    # after a no-break space was accepted although its maxLength said 200
    # (found by the full fuzzing run on PATCH /permit/enterprises/{uscc}).
    from permit_svc.app import create as create_permit_app

    name = create_permit_app().openapi()["components"]["schemas"]["EnterpriseChange"]
    name = name["properties"]["name"]
    assert "maxLength" not in name
    assert re.search(name["pattern"], "\u00a0" + "x" * 200)
    assert not re.search(name["pattern"], "x" * 201)
    assert not re.search(name["pattern"], " \u00a0 ")


async def test_a_lot_id_past_64_bits_is_a_422_not_a_500(quota: httpx.AsyncClient) -> None:
    # GET /quota/lots/1903138749396134832111616 reached the database (found
    # by the full fuzzing run): numeric ids in paths are the shared SerialId.
    r = await quota.get("/quota/lots/1903138749396134832111616", headers=ADMIN)
    assert r.status_code == 422, r.text
    assert (await quota.get("/quota/lots/9223372036854775807", headers=ADMIN)).status_code == 404


async def test_a_ledger_export_as_a_workbook_holds_control_characters(
    quota: httpx.AsyncClient,
) -> None:
    # A baseline credited with a reason holding U+0004 made the .xlsx export a
    # 500 (found by the full fuzzing run). Such a reason is now refused at the
    # door, nothing credited; a ledger written before that still exports
    # (svc_common.uploads.sheet_cell escapes what a sheet cannot hold).
    body = {"amount_t": "10", "note": "核定\u0004基数"}
    r = await quota.post("/quota/pools/120101/VOCs/baseline", json=body, headers=ADMIN)
    assert r.status_code == 422, r.text
    pools = await quota.get("/quota/availability", params={"district": "120101"}, headers=ADMIN)
    assert pools.json()[0]["credited_t"] == "0.000"
    r = await quota.get("/quota/export", params={"format": "xlsx"}, headers=ADMIN)
    assert r.status_code == 200, r.text


def test_every_numeric_id_in_a_path_is_bounded_to_64_bits(tmp_path: Path) -> None:
    from bureau.embedded import Embedded

    docs = {p.strip("/"): app.openapi() for p, app in Embedded(tmp_path).apps.items()}
    loose = [
        f"{service}: {method.upper()} {path} {p['name']}"
        for service, doc in docs.items()
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict)
        for p in op.get("parameters", [])
        if p.get("in") == "path"
        and p.get("schema", {}).get("type") == "integer"
        and not p["schema"].get("maximum", 2**64) <= 2**63 - 1
    ]
    assert not loose, loose


async def test_an_id_of_bytes_that_are_not_utf8_is_a_400(
    permit: httpx.AsyncClient, tmp_path: Path
) -> None:
    """`/eia/registrations/%FF`, `/permit/permits/%C0%AF` were 422 "rid: 格式不符合…"
    (the server decodes them to U+FFFD); the contract says 400 for non-UTF-8
    bytes in the path."""
    from eia_svc.app import create as create_eia
    from eia_svc.settings import Settings as EiaSettings

    r = await permit.get("/permit/permits/%C0%AF", headers=ADMIN)
    assert (r.status_code, r.json()["type"]) == (400, "urn:envbureau:problem:bad-path"), r.text
    app = create_eia(
        EiaSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/e.db", log_json=False)
    )
    async with testing.running(app) as eia:
        r = await eia.get("/eia/registrations/%FF", headers=ADMIN)
        assert (r.status_code, r.json()["type"]) == (400, "urn:envbureau:problem:bad-path"), r.text
        # A well-formed id that matches no pattern stays a 422 naming it.
        r = await eia.get("/eia/registrations/%E4%B8%AD", headers=ADMIN)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rid", r.text
