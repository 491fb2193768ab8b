"""Registration-form auto-filing through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

import httpx
from fastapi import FastAPI
from svc_common import testing

from ..conftest import (
    BAODI,
    JIZHOU,
    count_rows,
    events_of,
    filer,
    officer,
    registration,
)

NUMBER = re.compile(r"^DJB-120119-\d{4}-(\d{6})$")


async def test_auto_filing_gives_number_receipt_and_event(client: httpx.AsyncClient) -> None:
    r = await client.post("/eia/registrations", json=registration(row_key="row-1"), headers=filer())
    assert r.status_code == 201, r.text
    body = r.json()
    m = NUMBER.match(body["filing_no"])
    assert m and m.group(1) == "000001"
    assert body["receipt"]["district_name"] == "蓟州区"
    assert body["receipt"]["project_type_name"] == "社区卫生服务中心"
    html = await client.get(body["receipt_url"], headers=filer())
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert body["filing_no"] in html.text and "备案回执" in html.text

    again = await client.post(
        "/eia/registrations", json=registration(row_key="row-1"), headers=filer()
    )
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["filing_no"] == body["filing_no"]
    second = await client.post("/eia/registrations", json=registration(), headers=filer())
    assert NUMBER.match(second.json()["filing_no"]).group(1) == "000002"  # type: ignore[union-attr]

    app: FastAPI = client.app  # type: ignore[attr-defined]
    filed = await events_of(app, "eia.registration.filed.v1")
    assert [e["filing_no"] for e in filed] == [body["filing_no"], second.json()["filing_no"]]
    assert await count_rows(app, "registrations") == 2


async def test_refusals_say_why_and_write_nothing(client: httpx.AsyncClient) -> None:
    exempt = await client.post(
        "/eia/registrations", json=registration(project_type="G5960"), headers=filer()
    )
    assert exempt.status_code == 422
    assert exempt.headers["content-type"].startswith("application/problem+json")
    p = exempt.json()
    assert p["needs_filing"] is False and "no EIA filing is needed" in p["detail"]
    assert "危险品" in p["rule"]

    report = await client.post(
        "/eia/registrations", json=registration(project_type="C2614"), headers=filer()
    )
    assert report.status_code == 422 and report.json()["category_needed"] == "report"
    assert "report (报告书)" in report.json()["detail"]

    bad = await client.post(
        "/eia/registrations",
        json=registration(uscc="91350100M000100Y44", district="120199", vocs_increment_t="-1"),
        headers=filer(),
    )
    assert bad.status_code == 422
    # The shape error (a negative amount) does not hide the screening ones.
    assert [e["field"] for e in bad.json()["errors"]] == ["uscc", "district", "vocs_increment_t"]
    bad = await client.post(
        "/eia/registrations",
        json=registration(uscc="91350100M000100Y44", district="120199"),
        headers=filer(),
    )
    errors = {e["field"]: e["message"] for e in bad.json()["errors"]}
    assert set(errors) == {"uscc", "district"}
    assert "should be 3" in errors["uscc"]
    absurd = await client.post(
        "/eia/registrations", json=registration(vocs_increment_t="5000000"), headers=filer()
    )
    assert absurd.status_code == 422 and "implausibly large" in absurd.text
    officer_try = await client.post("/eia/registrations", json=registration(), headers=officer())
    assert officer_try.status_code == 403

    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 0
    assert await count_rows(app, "outbox") == 0


async def test_a_filer_sees_only_its_own_filings(client: httpx.AsyncClient) -> None:
    r = await client.post("/eia/registrations", json=registration(), headers=filer("filer.a"))
    rid = r.json()["filing_id"]
    assert (
        await client.get(f"/eia/registrations/{rid}", headers=filer("filer.a"))
    ).status_code == 200
    for path in (f"/eia/registrations/{rid}", f"/eia/registrations/{rid}/receipt"):
        assert (await client.get(path, headers=filer("filer.b"))).status_code == 404
    assert (
        await client.get(f"/eia/registrations/{rid}", headers=officer(BAODI))
    ).status_code == 404
    assert (
        await client.get(f"/eia/registrations/{rid}", headers=officer(JIZHOU))
    ).status_code == 200
    auditor = testing.auth("auditor")
    assert (await client.get(f"/eia/registrations/{rid}", headers=auditor)).status_code == 200
    mine = await client.get("/eia/registrations", headers=filer("filer.a"))
    theirs = await client.get("/eia/registrations", headers=filer("filer.b"))
    assert [x["id"] for x in mine.json()["items"]] == [rid]
    assert theirs.json()["items"] == []


async def test_numbers_stay_unique_under_concurrent_filing(client: httpx.AsyncClient) -> None:
    async def one(i: int) -> str:
        r = await client.post(
            "/eia/registrations", json=registration(row_key=f"c-{i}"), headers=filer()
        )
        assert r.status_code == 201, r.text
        return str(r.json()["filing_no"])

    numbers = await asyncio.gather(*(one(i) for i in range(12)))
    seqs = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert seqs == list(range(1, 13))


async def test_posthoc_check_queue_clear_and_revoke(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(posthoc_sample_rate=1.0)
    async with testing.running(app) as c:
        a = (await c.post("/eia/registrations", json=registration(), headers=filer())).json()
        b = (await c.post("/eia/registrations", json=registration(), headers=filer())).json()
        queue = await c.get(f"/eia/review-queue?district={JIZHOU}", headers=officer())
        assert {x["id"] for x in queue.json()["items"]} == {a["filing_id"], b["filing_id"]}
        other = await c.get(f"/eia/review-queue?district={JIZHOU}", headers=officer(BAODI))
        assert other.status_code == 403

        path = f"/eia/registrations/{a['filing_id']}/revoke"
        # Another district's filing is not found, as its read says (writes bind alike).
        assert (await c.post(path, json={"reason": "x"}, headers=officer(BAODI))).status_code == 404
        clear = f"/eia/review-queue/{a['filing_id']}/clear"
        assert (await c.post(clear, headers=officer(BAODI))).status_code == 404
        assert (await c.post(path, json={"reason": ""}, headers=officer())).status_code == 422
        r = await c.post(path, json={"reason": "现场核查无此项目"}, headers=officer())
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        again = await c.post(path, json={"reason": "again"}, headers=officer())
        assert again.status_code == 409 and again.json()["state"] == "revoked"
        (revoked,) = await events_of(app, "eia.registration.revoked.v1")
        assert revoked["filing_no"] == a["filing_no"] and revoked["reason"] == "现场核查无此项目"

        clear = f"/eia/review-queue/{b['filing_id']}/clear"
        assert (await c.post(clear, headers=officer())).json()["review_status"] == "cleared"
        assert (await c.post(clear, headers=officer())).status_code == 409
        # Revoked later, for another reason: the check passed stays passed
        # (it read "抽查不实，已撤销", a check that found nothing false).
        path = f"/eia/registrations/{b['filing_id']}/revoke"
        r = await c.post(path, json={"reason": "群众举报核实未批先建"}, headers=officer())
        assert (r.json()["status"], r.json()["review_status"]) == ("revoked", "cleared")
        r = await c.get(f"/eia/registrations/{a['filing_id']}", headers=officer())
        assert (r.json()["status"], r.json()["review_status"]) == ("revoked", "revoked")
        left = await c.get("/eia/review-queue", headers=officer())
        assert left.json()["items"] == []
        filed = await events_of(app, "eia.registration.filed.v1")
        assert all(e["sampled_for_check"] for e in filed)


async def test_registration_forms_stay_below_the_vocs_limit(
    client: httpx.AsyncClient, make_app: Callable[..., FastAPI]
) -> None:
    """A registration form (登记表) is filed with no quota check, so it may only
    declare VOCs below the limit (0.1 t/a by default): at or above it the
    project needs a report form (报告表), reviewed, and quota."""
    ok = await client.post(
        "/eia/registrations", json=registration(vocs_increment_t="0.099"), headers=filer()
    )
    assert ok.status_code == 201, ok.text
    for amount in ("0.1", "999.999", "99999"):
        r = await client.post(
            "/eia/registrations",
            json=registration(vocs_increment_t=amount, row_key=f"big-{amount}"),
            headers=filer(),
        )
        assert r.status_code == 422, r.text
        p = r.json()
        (err,) = p["errors"]
        assert err["field"] == "vocs_increment_t"
        assert "report form" in err["message"] and "quota" in err["message"]
        assert p["category_needed"] == "report_form" and p["vocs_limit_t"] == "0.100"
    # Bulk says the same per row.
    rows = "\n".join(
        json.dumps(registration(vocs_increment_t=a, row_key=f"bulk-{a}")) for a in ("0.05", "12")
    )
    r = await client.post(
        "/eia/registrations:bulk",
        content=rows,
        headers={**filer(), "content-type": "application/x-ndjson"},
    )
    small, big = r.json()["results"]
    assert small["result"] == "created" and big["result"] == "error"
    assert big["errors"][0]["field"] == "vocs_increment_t"
    # Such a project goes the report-form way: the filing path takes it.
    filing = {
        **registration(vocs_increment_t="12"),
        "category": "report_form",
    }
    r = await client.post("/eia/filings", json=filing, headers=filer())
    assert r.status_code == 201, r.text
    # Below the limit, the registration-form type still may not be reviewed.
    r = await client.post(
        "/eia/filings", json={**filing, "vocs_increment_t": "0.05"}, headers=filer()
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "category"
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 2

    # The limit is a setting.
    async with testing.running(make_app(registration_form_vocs_limit_t="1")) as c:
        r = await c.post(
            "/eia/registrations", json=registration(vocs_increment_t="0.5"), headers=filer()
        )
        assert r.status_code == 201, r.text
        r = await c.post(
            "/eia/registrations",
            json=registration(vocs_increment_t="1", row_key="one"),
            headers=filer(),
        )
        assert r.status_code == 422 and r.json()["vocs_limit_t"] == "1.000"
