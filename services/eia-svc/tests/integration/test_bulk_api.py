"""Bulk registration filing: a result per row, valid rows filed, replays idempotent."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from svc_common import testing
from svc_common.events.schemas.eia import RegistrationFormsFiled

from ..conftest import ENTERPRISE, admin, count_rows, events_of, filer, registration, uscc

HEADER = "row_key,project_name,uscc,enterprise_name,district,project_type,vocs_increment_t\n"
CSV_HEADERS = {**filer(), "content-type": "text/csv"}


def csv_rows() -> str:
    other = uscc("91120116MA06ABCD1")
    return HEADER + "".join(
        [
            f"r1,锯材加工,{ENTERPRISE},某木业,120119,C2011,0\n",
            "r2,坏代码,91350100M000100Y44,某公司,120119,C2011,0\n",
            f"r3,仓库,{ENTERPRISE},某物流,120119,G5960,0\n",
            f"r4,化工,{ENTERPRISE},某化工,120119,C2614,0\n",
            f"r5,负数,{ENTERPRISE},某公司,120119,C2011,-2\n",
            f"r6,汽修,{other},某汽修,120116,O8111,0.025\n",
            f"r7,缺类型,{ENTERPRISE},某公司,120119,,0\n",
        ]
    )


async def test_mixed_rows_file_the_valid_ones(client: httpx.AsyncClient) -> None:
    r = await client.post("/eia/registrations:bulk", content=csv_rows(), headers=CSV_HEADERS)
    assert r.status_code == 200, r.text
    body = r.json()
    totals = body["totals"]
    assert (body["rows"], totals["created"], totals["error"], totals["replayed"]) == (7, 2, 5, 0)
    by_key = {x["row_key"]: x for x in body["results"]}
    assert by_key["r1"]["number"].startswith("DJB-120119-")
    assert by_key["r6"]["number"].startswith("DJB-120116-")
    assert by_key["r2"]["errors"][0]["field"] == "uscc"
    assert "no EIA filing is needed" in by_key["r3"]["errors"][0]["message"]
    assert "report (报告书)" in by_key["r4"]["errors"][0]["message"]
    assert by_key["r5"]["errors"] == [
        {"field": "vocs_increment_t", "message": "must not be negative"}
    ]
    assert by_key["r7"]["errors"][0]["field"] == "project_type"
    assert [x["row"] for x in body["results"]] == list(range(1, 8))

    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 2
    # One event announces the upload's filings (not one per filing).
    assert await events_of(app, "eia.registration.filed.v1") == []
    (event,) = await events_of(app, "eia.registration.batch_filed.v1")
    filed = RegistrationFormsFiled.model_validate(event).filings()
    assert {(f.filing_no, f.uscc, f.district, f.project_type) for f in filed} == {
        (by_key[k]["number"], u, d, t)
        for k, u, d, t in (
            ("r1", ENTERPRISE, "120119", "C2011"),
            ("r6", uscc("91120116MA06ABCD1"), "120116", "O8111"),
        )
    }
    assert {f.filing_id for f in filed} == {by_key["r1"]["id"], by_key["r6"]["id"]}
    assert {f.filer for f in filed} == {"filer.a"}


async def test_replayed_upload_returns_original_numbers(client: httpx.AsyncClient) -> None:
    first = await client.post("/eia/registrations:bulk", content=csv_rows(), headers=CSV_HEADERS)
    again = await client.post("/eia/registrations:bulk", content=csv_rows(), headers=CSV_HEADERS)
    assert again.json()["totals"]["replayed"] == 2 and again.json()["totals"]["created"] == 0
    numbers = {x["row_key"]: x["number"] for x in first.json()["results"] if x["number"]}
    replayed = {x["row_key"]: x["number"] for x in again.json()["results"] if x["number"]}
    assert replayed == numbers
    # The single-row endpoint shares the keys: same filer, same key, same filing.
    one = await client.post(
        "/eia/registrations",
        json=registration(
            row_key="r1", project_name="锯材加工", enterprise_name="某木业", project_type="C2011"
        ),
        headers=filer(),
    )
    assert one.status_code == 200 and one.json()["filing_no"] == numbers["r1"]
    # Keys belong to their filer: another filer's r1 is a new filing.
    other = await client.post(
        "/eia/registrations:bulk",
        content=csv_rows(),
        headers={**filer("filer.b"), "content-type": "text/csv"},
    )
    assert other.json()["totals"]["created"] == 2
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 4


async def test_json_lines_and_a_key_twice_in_one_upload(client: httpx.AsyncClient) -> None:
    lines = [
        json.dumps(registration(row_key="a")),
        json.dumps(registration(row_key="a")),
        "not json",
        json.dumps(registration(row_key="b", district="120101")),
    ]
    r = await client.post(
        "/eia/registrations:bulk",
        content="\n".join(lines),
        headers={**filer(), "content-type": "application/x-ndjson"},
    )
    res = r.json()["results"]
    assert [x["result"] for x in res] == ["created", "replayed", "error", "created"]
    assert res[0]["number"] == res[1]["number"]
    assert res[2]["errors"][0]["field"] == "row"


async def test_too_many_rows_or_bad_format(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(bulk_max_rows=3)
    async with testing.running(app) as c:
        big = HEADER + "".join(f"k{i},p,{ENTERPRISE},e,120119,C2011,0\n" for i in range(4))
        r = await c.post("/eia/registrations:bulk", content=big, headers=CSV_HEADERS)
        assert r.status_code == 413 and r.json()["max_rows"] == 3
        r = await c.post(
            "/eia/registrations:bulk",
            content="<x/>",
            headers={**filer(), "content-type": "text/xml"},
        )
        assert r.status_code == 415 and "text/csv" in r.json()["detail"]
        r = await c.post("/eia/registrations:bulk", content=b"\xff\xfe", headers=CSV_HEADERS)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
        assert await count_rows(app, "registrations") == 0


async def test_a_row_key_reused_for_another_project_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    """The same row_key with the same content replays; with other content it
    is a conflict naming the filing the key already names, and nothing new is
    filed (a machine would otherwise never learn its new project was lost)."""
    ndjson = {**filer(), "content-type": "application/x-ndjson"}

    async def bulk(*rows: dict[str, object]) -> list[dict[str, object]]:
        r = await client.post(
            "/eia/registrations:bulk",
            content="\n".join(json.dumps(x, ensure_ascii=False) for x in rows),
            headers=ndjson,
        )
        assert r.status_code == 200, r.text
        results: list[dict[str, object]] = r.json()["results"]
        return results

    (first,) = await bulk(registration(row_key="k1", vocs_increment_t="0.05"))
    assert first["result"] == "created"
    # The same content, written differently, is the same row: replayed.
    same = registration(
        row_key="k1",
        vocs_increment_t="0.050",
        uscc=str(registration()["uscc"]).lower(),
        project_name=" " + str(registration()["project_name"]),
    )
    (again,) = await bulk(same)
    assert (again["result"], again["number"]) == ("replayed", first["number"])
    # Another project under the same key: a conflict naming the first filing.
    other = registration(row_key="k1", project_name="蓟州区另一个项目", project_type="C2011")
    (clash,) = await bulk(other)
    assert clash["result"] == "conflict"
    assert (clash["id"], clash["number"]) == (first["id"], first["number"])
    (err,) = clash["errors"]  # type: ignore[misc]
    assert err["field"] == "row_key"
    assert str(first["number"]) in err["message"]
    assert "project_name" in err["message"] and "project_type" in err["message"]
    # Within one upload: the second use of a key with other content conflicts.
    a, b = await bulk(registration(row_key="k2"), registration(row_key="k2", district="120101"))
    assert (a["result"], b["result"]) == ("created", "conflict")
    assert b["number"] == a["number"] and str(a["number"]) in b["errors"][0]["message"]  # type: ignore[index]
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 2
    # The single endpoint says the same: 409 naming the filing.
    r = await client.post("/eia/registrations", json=other, headers=filer())
    assert r.status_code == 409, r.text
    assert r.json()["filing_no"] == first["number"] and r.json()["filing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "row_key"
    r = await client.post("/eia/registrations", json=same, headers=filer())
    assert r.status_code == 200 and r.json()["filing_no"] == first["number"]
    assert await count_rows(app, "registrations") == 2


async def test_a_key_filed_by_two_requests_at_once(client: httpx.AsyncClient) -> None:
    """Two uploads racing with one key: one files it, the other is judged
    against that filing (replayed when the same, a conflict when not)."""
    ndjson = {**filer(), "content-type": "application/x-ndjson"}

    async def one(row: dict[str, object]) -> dict[str, object]:
        r = await client.post(
            "/eia/registrations:bulk", content=json.dumps(row, ensure_ascii=False), headers=ndjson
        )
        assert r.status_code == 200, r.text
        (result,) = r.json()["results"]
        return dict(result)

    for i, other in enumerate((registration(), registration(project_name="另一个项目"))):
        key = f"race-{i}"
        a, b = await asyncio.gather(one(registration(row_key=key)), one({**other, "row_key": key}))
        results = sorted([a["result"], b["result"]])
        assert results == (["created", "replayed"] if i == 0 else ["conflict", "created"])
        assert a["number"] == b["number"]
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 2


async def test_every_problem_of_a_row_at_once(client: httpx.AsyncClient) -> None:
    """Shape errors (a negative amount, a missing name) do not hide screening
    errors (a bad check character, an unknown district, a type that needs no
    filing): a filing machine fixes a row once, single or bulk alike."""
    bad = registration(
        row_key="all-at-once",
        uscc="91350100M000100Y44",
        district="999999",
        vocs_increment_t="-2",
    )
    bad.pop("enterprise_name")
    also = registration(project_type="G5960", district="120000", project_name="x" * 201)
    r = await client.post(
        "/eia/registrations:bulk",
        content="\n".join(json.dumps(x, ensure_ascii=False) for x in (bad, also)),
        headers={**filer(), "content-type": "application/x-ndjson"},
    )
    first, second = r.json()["results"]
    fields = {e["field"] for e in first["errors"]}
    assert fields == {"uscc", "district", "vocs_increment_t", "enterprise_name"}, first
    assert first["row_key"] == "all-at-once"
    assert {e["field"] for e in second["errors"]} == {"project_type", "district", "project_name"}
    single = await client.post("/eia/registrations", json=bad, headers=filer())
    assert single.status_code == 422
    assert {e["field"] for e in single.json()["errors"]} == fields
    pairs = [(e["field"], e["message"]) for e in single.json()["errors"]]
    assert pairs == [(e["field"], e["message"]) for e in first["errors"]]
    # In Chinese by default (the test client asks for English).
    zh = await client.post(
        "/eia/registrations", json=also, headers={**filer(), "Accept-Language": "zh-CN"}
    )
    messages = [e["message"] for e in zh.json()["errors"]]
    assert len(messages) == 3 and all(re.search("[\u4e00-\u9fff]", m) for m in messages), messages
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 0


async def test_a_replay_is_judged_on_what_the_row_says(client: httpx.AsyncClient) -> None:
    """An industry code the row did not state comes from the type table; when
    the table changes, the same row again is still a replay."""
    first = await client.post(
        "/eia/registrations", json=registration(row_key="t1"), headers=filer()
    )
    assert first.status_code == 201
    table = "code,name,industry_code,category,rule\n"
    table += "Q8412,社区卫生服务中心,Q8411,registration_form,新规\n"
    r = await client.post(
        "/eia/project-types:import", content=table, headers={**admin(), "content-type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    again = await client.post(
        "/eia/registrations", json=registration(row_key="t1"), headers=filer()
    )
    assert again.status_code == 200 and again.json()["filing_id"] == first.json()["filing_id"]
    stated = await client.post(
        "/eia/registrations",
        json=registration(row_key="t1", industry_code="Q8411"),
        headers=filer(),
    )
    assert stated.status_code == 409 and "industry_code" in stated.json()["detail"]


async def test_a_large_mixed_upload_and_its_replay(client: httpx.AsyncClient) -> None:
    """3,000 rows (more than one event's 2,000 filings): good rows in two
    districts, bad rows, a key repeated within the upload; then the upload
    again with a changed row and new rows. Every row gets its own result, the
    numbers are gap-free per district, the events name exactly the filings."""
    other = uscc("91120116MA06ABCD1")

    def line(i: int, **over: str) -> str:
        row = {
            "row_key": f"big-{i}",
            "project_name": f"项目{i}",
            "uscc": ENTERPRISE if i % 2 else other,
            "enterprise_name": "某公司",
            "district": "120119" if i % 2 else "120116",
            "project_type": "C2011",
            "vocs_increment_t": "0.05",
            **over,
        }
        return ",".join(row[c] for c in HEADER.strip().split(",")) + "\n"

    bad = {i for i in range(3000) if i % 97 == 5}
    body = "".join(line(i, district="999999") if i in bad else line(i) for i in range(3000))
    body += line(7)  # row 3001: the key of row 8 again, same content
    r = await client.post("/eia/registrations:bulk", content=HEADER + body, headers=CSV_HEADERS)
    assert r.status_code == 200, r.text
    report = r.json()
    results = report["results"]
    assert [x["row"] for x in results] == list(range(1, 3002))
    assert report["totals"] == {
        "created": 3000 - len(bad),
        "updated": 0,
        "replayed": 1,
        "error": len(bad),
        "conflict": 0,
    }
    for i in range(3000):
        x = results[i]
        assert x["row_key"] == f"big-{i}"
        if i in bad:
            assert x["result"] == "error" and x["errors"][0]["field"] == "district"
        else:
            assert x["result"] == "created" and x["errors"] == []
    assert (results[3000]["result"], results[3000]["id"]) == ("replayed", results[7]["id"])
    for district in ("120119", "120116"):
        seqs = sorted(
            int(x["number"].rsplit("-", 1)[1])
            for x in results[:3000]
            if x["number"] and f"-{district}-" in x["number"]
        )
        assert seqs == list(range(1, len(seqs) + 1))

    app: FastAPI = client.app  # type: ignore[attr-defined]
    events = await events_of(app, "eia.registration.batch_filed.v1")
    assert [len(e["rows"]) for e in events] == [2000, 3000 - len(bad) - 2000]
    announced = [f for e in events for f in RegistrationFormsFiled.model_validate(e).filings()]
    made = {x["id"]: x["number"] for x in results[:3000] if x["result"] == "created"}
    assert {f.filing_id: f.filing_no for f in announced} == made
    assert len(announced) == len(made)

    # Again, with row 0 changed and two new rows: replayed, conflict, created.
    again = body.replace(line(0), line(0, project_name="另一个项目"))
    again += line(5000) + line(5001)
    r = await client.post("/eia/registrations:bulk", content=HEADER + again, headers=CSV_HEADERS)
    totals = r.json()["totals"]
    assert totals == {
        "created": 2,
        "updated": 0,
        "replayed": 3000 - len(bad),  # rows 2..3001, each naming its first filing
        "error": len(bad),
        "conflict": 1,
    }
    second = r.json()["results"]
    assert second[0]["result"] == "conflict" and second[0]["id"] == results[0]["id"]
    assert [x["id"] for x in second[1:3001] if x["result"] == "replayed"] == [
        x["id"] for x in results[1:3001] if x["result"] in ("created", "replayed")
    ]
    assert await count_rows(app, "registrations") == 3000 - len(bad) + 2


async def test_a_misspelt_column_is_refused_not_dropped(client: httpx.AsyncClient) -> None:
    """A form or row whose `vocs_increment` stood for `vocs_increment_t` was
    filed with an increment of 0."""
    form = registration(vocs_increment="0.05")
    del form["vocs_increment_t"]
    r = await client.post("/eia/registrations", json=form, headers=filer())
    assert r.status_code == 422, r.text
    assert "vocs_increment" in [e["field"] for e in r.json()["errors"]]
    r = await client.post(
        "/eia/registrations:bulk",
        content=json.dumps({**form, "row_key": "typo"}),
        headers={**filer(), "content-type": "application/x-ndjson"},
    )
    (row,) = r.json()["results"]
    assert row["result"] == "error" and "vocs_increment" in [e["field"] for e in row["errors"]]
    app: FastAPI = client.app  # type: ignore[attr-defined]
    assert await count_rows(app, "registrations") == 0


async def test_a_row_for_a_district_out_of_scope_names_the_district(
    client: httpx.AsyncClient,
) -> None:
    """A filer bound to 蓟州区 filing a row for 宝坻区: the row is refused,
    the district named as people call it, with its code."""
    row = registration(district="120115", row_key="scope-1")
    r = await client.post(
        "/eia/registrations:bulk",
        content=json.dumps(row, ensure_ascii=False),
        headers={
            **testing.auth("filer", ["120119"], sub="filer.jizhou"),
            "content-type": "application/x-ndjson",
            "Accept-Language": "zh-CN",
        },
    )
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert r.json()["totals"]["error"] == 1
    assert result["errors"] == [{"field": "district", "message": "无权在宝坻区（120115）备案"}]


@pytest.mark.pg
async def test_a_single_filing_of_a_key_the_upload_is_filing_waits_and_replays(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single filing of a row key an upload has just looked up, on real
    PostgreSQL: it waits for the filer's lock until the upload commits, then
    finds the upload's filing (`replayed`). The upload is never refused whole
    for it (its COPY cannot meet the key, since nothing else can file it)."""
    from eia_svc.app import create
    from eia_svc.registrations import service
    from eia_svc.settings import Settings

    app = create(Settings(database_url=pg_url, log_json=False, posthoc_sample_rate=0.0))
    real_lookup = service.existing_by_key
    single: dict[str, asyncio.Task[httpx.Response]] = {}
    async with testing.running(app) as c:

        async def lookup_then_race(s: object, who: str, keys: list[str]) -> object:
            found = await real_lookup(s, who, keys)  # type: ignore[arg-type]
            if not single:  # the upload has looked: a single filing comes in now
                single["task"] = asyncio.ensure_future(
                    c.post("/eia/registrations", json=registration(row_key="k-2"), headers=filer())
                )
                await asyncio.sleep(0.5)
                assert not single["task"].done(), single["task"].result().text
            return found

        monkeypatch.setattr(service, "existing_by_key", lookup_then_race)
        rows = [registration(row_key=f"k-{i}", project_name=f"项目{i}") for i in range(1, 4)]
        rows[1] = registration(row_key="k-2")
        r = await c.post(
            "/eia/registrations:bulk",
            content="\n".join(json.dumps(x, ensure_ascii=False) for x in rows),
            headers={**filer(), "content-type": "application/x-ndjson"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["totals"]["created"] == 3, r.text
        one = await single["task"]
        assert one.status_code == 200 and one.json()["replayed"] is True, one.text
        assert one.json()["filing_no"] == r.json()["results"][1]["number"]
        assert await count_rows(app, "registrations") == 3


async def test_json_lines_are_checked_as_a_single_body_is(client: httpx.AsyncClient) -> None:
    """A name written twice in a line is that row's error, the single
    endpoint's words on the same field (it was filed with the last value);
    a line is split at "\\n" alone, so U+2028 inside a value, as
    json.dumps(ensure_ascii=False) writes it, is a valid row."""
    twice = json.dumps(registration(row_key="t"), ensure_ascii=False)
    twice = twice.replace('"project_name":', '"project_name": "先写的", "project_name":')
    single = await client.post(
        "/eia/registrations",
        content=twice.encode(),
        headers={**filer(), "content-type": "application/json"},
    )
    assert single.status_code == 422 and single.json()["errors"][0]["type"] == "duplicate_key"
    sep = json.dumps(registration(row_key="u", project_name="甲\u2028乙"), ensure_ascii=False)
    assert "\u2028" in sep
    for end in ("\n", "\r\n"):
        r = await client.post(
            "/eia/registrations:bulk",
            content=(twice + end + sep + end).encode(),
            headers={**filer(), "content-type": "application/x-ndjson"},
        )
        bad, good = r.json()["results"]
        assert bad["result"] == "error" and good["result"] in ("created", "replayed"), r.text
        (err,) = single.json()["errors"]
        assert bad["errors"] == [{"field": err["field"], "message": err["message"]}]
    assert await count_rows(client.app, "registrations") == 1  # type: ignore[attr-defined]
