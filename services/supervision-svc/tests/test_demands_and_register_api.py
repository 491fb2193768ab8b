"""The demands list (318 / 271 / 47) and the register learned from
permit-svc's events (newest snapshot wins, redelivery changes nothing)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from supervision_svc.app import mark_overdue
from svc_common import clock, testing
from svc_common.events.schemas import permit as pev
from svc_common.events.schemas.common import PollutantChange
from svc_common.uscc import make_uscc

from .conftest import ADMIN, AUDITOR, DONGLI, T0, WUQING, Service, officer


async def complaints(svc: Service, district: str, n: int) -> list[str]:
    """The case numbers of `n` complaints received in `district` (imported)."""
    rows = [
        {
            "channel": "hotline",
            "received_at": (T0 - dt.timedelta(days=1, minutes=i)).isoformat(),
            "district": district,
            "address": f"第{i}号点位",
            "category": "odor",
            "description": f"编号{i:04d}：夜间异味扰民",
            "status": "received",
        }
        for i in range(n)
    ]
    r = await svc.http.post(
        "/supervision/complaints:import",
        content="\n".join(json.dumps(x, ensure_ascii=False) for x in rows).encode(),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["error"] == 0, r.text[:2000]
    return [x["number"] for x in r.json()["results"]]


def demand(i: int, done: bool, refs: dict[str, list[str]]) -> dict[str, Any]:
    source = ["visit", "inspection", "complaint"][i % 3]
    district = [DONGLI, WUQING][i % 2]
    ours = refs[district]
    return {
        "district": district,
        "title": f"诉求事项{i}：解决小区周边餐饮油烟扰民",
        "source": source,
        # An item from a complaint names it (its 12369 case number, one of
        # the item's district).
        **({"source_ref": ours[i % len(ours)]} if source == "complaint" else {}),
        "owner": f"责任人{i % 7}",
        "deadline": "2026-09-30",
        "status": "done" if done else "open",
        "progress_percent": 100 if done else i % 90,
    }


async def test_demands_list_report_and_progress(svc: Service) -> None:
    refs = {d: await complaints(svc, d, 5) for d in (DONGLI, WUQING)}
    rows = [demand(i, i < 271, refs) for i in range(318)] + [{"title": "x"}]
    r = await svc.http.post(
        "/supervision/demands:import",
        content="\n".join(json.dumps(x, ensure_ascii=False) for x in rows).encode(),
        headers={**ADMIN, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text[:500]
    assert (r.json()["totals"]["created"], r.json()["totals"]["error"]) == (318, 1)
    assert r.json()["results"][-1]["errors"][0]["field"] in {"district", "source", "owner"}
    r = await svc.http.get("/supervision/reports/demands", headers=AUDITOR)
    assert {k: r.json()[k] for k in ("total", "done", "in_progress")} == {
        "total": 318,
        "done": 271,
        "in_progress": 47,
    }
    with clock.using(clock.ManualClock(T0)):
        r = await svc.http.post(
            "/supervision/demands",
            json={
                "district": DONGLI,
                "title": "河道异味整治",
                "source": "complaint",
                "source_ref": refs[DONGLI][0],
                "owner": "li.hua",
                "deadline": "2026-06-10",
            },
            headers=officer(),
        )
        assert r.status_code == 201, r.text
        item = r.json()
        r = await svc.http.patch(
            f"/supervision/demands/{item['id']}",
            json={"progress_percent": 60, "progress_note": "已完成清淤"},
            headers=officer(),
        )
        assert r.json()["progress_percent"] == 60
        await clock.current().advance(dt.timedelta(days=10))  # type: ignore[attr-defined]
        await mark_overdue(svc.app.state.runtime)
        r = await svc.http.get("/supervision/demands?overdue=true", headers=officer())
        assert [x["id"] for x in r.json()["items"]] == [item["id"]]
        r = await svc.http.post(f"/supervision/demands/{item['id']}/done", headers=officer())
        assert r.json()["status"] == "done" and r.json()["overdue"] is False
        r = await svc.http.post(
            f"/supervision/demands/{item['id']}/done",
            headers={**officer(), "Accept-Language": "zh-CN"},
        )
        assert r.status_code == 409
        # The step and the state share the code `done`: the step is 办结,
        # the state 已办结; in English the action is named, not conjugated.
        assert r.json()["detail"] == (
            "诉求当前为 已办结（done），不能执行 办结（done）；现在可执行：无"
        )
        r = await svc.http.post(
            f"/supervision/demands/{item['id']}/done",
            headers={**officer(), "Accept-Language": "en"},
        )
        assert r.json()["detail"] == (
            "the action 'done' is not allowed while the demand is done; allowed now: none"
        )
        assert r.json()["type"] == "urn:envbureau:problem:illegal-transition"
    r = await svc.http.get(f"/supervision/reports/demands?district={DONGLI}", headers=officer())
    assert (r.json()["total"], r.json()["done"]) == (160, 137)


async def test_a_new_or_moved_deadline_is_not_before_today(svc: Service) -> None:
    """Today in Beijing: 01:00 on 20 June there is still 19 June in UTC. The
    import takes the list as it stands, past deadlines included."""
    item = {"district": DONGLI, "title": "油烟扰民", "source": "visit", "owner": "li.hua"}
    with clock.using(clock.ManualClock(dt.datetime(2026, 6, 19, 17, 0, tzinfo=dt.UTC))):
        for day, message in (
            ("2026-06-19", "must not be before today (2026-06-20, Beijing time)"),
            ("0001-01-02", "must be in the years 2000–2099 (it is 0001-01-02)"),
        ):
            r = await svc.http.post(
                "/supervision/demands", json={**item, "deadline": day}, headers=officer()
            )
            assert r.status_code == 422, r.text
            assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
                ("deadline", message)
            ]
        r = await svc.http.post(
            "/supervision/demands", json={**item, "deadline": "2026-06-20"}, headers=officer()
        )
        assert r.status_code == 201, r.text
        made = r.json()["id"]
        path = f"/supervision/demands/{made}"
        r = await svc.http.patch(
            path,
            json={"deadline": "2026-06-19", "progress_percent": 50},
            headers={**officer(), "Accept-Language": "zh-CN"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [
            {"field": "deadline", "message": "不得早于今天（北京时间 2026-06-20）"}
        ]
        r = await svc.http.get(f"/supervision/demands?district={DONGLI}", headers=officer())
        (kept,) = [d for d in r.json()["items"] if d["id"] == made]
        assert (kept["deadline"], kept["progress_percent"]) == ("2026-06-20", 0)
        r = await svc.http.patch(path, json={"deadline": "2026-07-01"}, headers=officer())
        assert r.status_code == 200 and r.json()["deadline"] == "2026-07-01"
        r = await svc.http.post(
            "/supervision/demands:import",
            content=json.dumps({**item, "deadline": "2026-05-31"}, ensure_ascii=False).encode(),
            headers={**officer(), "content-type": "application/x-ndjson"},
        )
        assert r.json()["totals"]["created"] == 1, r.text


async def test_register_learns_from_permit_events_newest_first(svc: Service) -> None:
    uscc = await svc.enterprise(7, vocs="12.5", nox="3")
    r = await svc.http.get(f"/supervision/enterprises/{uscc}", headers=officer())
    e = r.json()
    assert e["name"] == "天津企业7有限公司" and e["operating_status"] == "operating"
    (p,) = e["permits"]
    assert (p["status"], p["vocs_t"], p["nox_t"]) == ("issued", "12.500", "3.000")
    # A late, older snapshot does not win; a newer one does.
    older = pev.EnterpriseUpdated(
        uscc=uscc,
        name="旧名称",
        district=DONGLI,
        industry_code="2641",
        category="key",
        operating_status="operating",
        updated_at=T0 - dt.timedelta(days=1),
    )
    await testing.deliver(svc.app, older)
    closed = older.model_copy(
        update={"operating_status": "closed", "updated_at": T0 + dt.timedelta(days=1)}
    )
    env = await testing.deliver(svc.app, pev.EnterpriseClosed(**closed.model_dump(), reason="关停"))
    await testing.redeliver(svc.app, env, "permit.events")
    change = pev.PermitChanged(
        permit_id=f"permit-{uscc}",
        permit_no=f"{uscc}001P",
        uscc=uscc,
        enterprise_name="x",
        district=DONGLI,
        pollutant_changes=[
            PollutantChange(
                pollutant="VOCs",
                before_t=Decimal("12.5"),
                after_t=Decimal("10"),
                delta_t=Decimal("-2.5"),
            )
        ],
        vocs_delta_t=Decimal("-2.5"),
    )
    await testing.deliver(svc.app, change)
    await testing.deliver(
        svc.app,
        pev.PermitSuspended(
            permit_id=f"permit-{uscc}", permit_no="n", uscc=uscc, district=DONGLI, reason="暂扣"
        ),
    )
    e = (await svc.http.get(f"/supervision/enterprises/{uscc}", headers=officer())).json()
    assert (e["name"], e["operating_status"]) == ("旧名称", "closed")
    assert (e["permits"][0]["vocs_t"], e["permits"][0]["status"]) == ("10.000", "suspended")
    # A bulk import's batch event.
    rows = [[make_uscc(WUQING, i), f"武清企业{i}", WUQING, "3360", "simplified"] for i in range(3)]
    fields = ["uscc", "name", "district", "industry_code", "category"]
    imported = pev.EnterprisesImported(
        batch_id="b1",
        updated_at=T0,
        fields=[*fields, "operating_status"],
        rows=[[*r, "operating"] for r in rows],
    )
    await testing.deliver(svc.app, imported)
    r = await svc.http.get(f"/supervision/enterprises?district={WUQING}", headers=AUDITOR)
    assert [x["name"] for x in r.json()["items"]] == ["武清企业0", "武清企业1", "武清企业2"]
    # The list shows each enterprise's permits as the single view does (it
    # showed "permits": [] for every one).
    r = await svc.http.get(f"/supervision/enterprises?district={DONGLI}", headers=AUDITOR)
    (listed,) = [x for x in r.json()["items"] if x["uscc"] == uscc]
    assert [(p["status"], p["vocs_t"]) for p in listed["permits"]] == [("suspended", "10.000")]
    r = await svc.http.get(f"/supervision/enterprises/{uscc}", headers=officer(WUQING))
    assert r.status_code == 404


async def test_an_import_batch_is_learned_as_its_single_snapshots_would_be(svc: Service) -> None:
    """A batch is written set-wise; what it leaves is what one snapshot per
    row would: new rows added, newer rows win, older rows lose, a USCC
    repeated in the batch ends as its last row."""
    fields = ["uscc", "name", "district", "industry_code", "category", "operating_status"]

    def batch(batch_id: str, at: dt.datetime, rows: list[list[str]]) -> pev.EnterprisesImported:
        return pev.EnterprisesImported(batch_id=batch_id, updated_at=at, fields=fields, rows=rows)

    def row(i: int, name: str, status: str = "operating") -> list[str]:
        return [make_uscc(WUQING, i), name, WUQING, "3360", "simplified", status]

    late = make_uscc(WUQING, 9000)
    await testing.deliver(
        svc.app,
        pev.EnterpriseUpdated(
            uscc=late,
            name="后来的名称",
            district=WUQING,
            industry_code="3360",
            category="simplified",
            operating_status="operating",
            updated_at=T0 + dt.timedelta(days=2),
        ),
    )
    # More rows than one IN (...) list holds.
    await testing.deliver(svc.app, batch("b1", T0, [row(i, f"企业{i}") for i in range(700)]))
    second = [row(0, "改名企业0", "closed"), row(1, "重复一"), row(1, "重复二")]
    second += [row(9000, "更早的名称"), row(800, "新企业800")]
    env = await testing.deliver(svc.app, batch("b2", T0 + dt.timedelta(days=1), second))
    await testing.redeliver(svc.app, env, "permit.events")

    async def seen(i: int) -> tuple[str, str]:
        r = await svc.http.get(f"/supervision/enterprises/{make_uscc(WUQING, i)}", headers=AUDITOR)
        assert r.status_code == 200, r.text
        return r.json()["name"], r.json()["operating_status"]

    assert await seen(0) == ("改名企业0", "closed")
    assert await seen(1) == ("重复二", "operating")
    assert await seen(699) == ("企业699", "operating")
    assert await seen(800) == ("新企业800", "operating")
    assert await seen(9000) == ("后来的名称", "operating")


async def test_a_demands_owner_is_a_name_someone_can_read(svc: Service) -> None:
    """The owner (责任人) is a name like an inspector's: an invisible one is
    refused on creation, on a change and in an import."""
    item = {
        "district": DONGLI,
        "title": "油烟扰民",
        "source": "visit",
        "owner": "\u200b",
        "deadline": "2026-12-06",
    }
    with clock.using(clock.ManualClock(T0)):
        r = await svc.http.post("/supervision/demands", json=item, headers=officer())
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["owner"]
        r = await svc.http.post(
            "/supervision/demands", json={**item, "owner": "王局"}, headers=officer()
        )
        assert r.status_code == 201, r.text
        r = await svc.http.patch(
            f"/supervision/demands/{r.json()['id']}",
            json={"owner": "\u2060\u200b"},
            headers=officer(),
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "owner", r.text
        r = await svc.http.post(
            "/supervision/demands:import",
            content=json.dumps(item, ensure_ascii=False).encode(),
            headers={**officer(), "content-type": "application/x-ndjson"},
        )
        assert r.json()["totals"]["error"] == 1, r.text
        assert r.json()["results"][0]["errors"][0]["field"] == "owner"


async def test_a_new_demand_is_open_and_a_complaints_names_its_reference(svc: Service) -> None:
    """POST /supervision/demands took `"status": "done"` and created the item
    done, skipping …/done; `status` is only the import's (the list as it
    stands). And an item from a complaint (source complaint) needs the
    complaint's reference (source_ref), on creation and in an import alike."""
    item = {
        "district": "120111",
        "title": "西青区某厂异味扰民",
        "source": "visit",
        "owner": "王局",
        "deadline": "2026-12-06",
    }
    admin = {**ADMIN, "Accept-Language": "en"}
    refs = await complaints(svc, "120111", 2)
    with clock.using(clock.ManualClock(T0)):
        for status in ("done", "open"):
            r = await svc.http.post(
                "/supervision/demands", json={**item, "status": status}, headers=admin
            )
            assert r.status_code == 422, r.text
            assert [e["field"] for e in r.json()["errors"]] == ["status"]
        from_complaint = {**item, "source": "complaint"}
        for ref in ({}, {"source_ref": None}, {"source_ref": "  "}):
            r = await svc.http.post(
                "/supervision/demands", json={**from_complaint, **ref}, headers=admin
            )
            assert r.status_code == 422, (ref, r.text)
            assert [e["field"] for e in r.json()["errors"]] == ["source_ref"]
        r = await svc.http.post(
            "/supervision/demands",
            json={**from_complaint, "source_ref": refs[0]},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        assert (r.json()["status"], r.json()["done_at"]) == ("open", None)
        rows = [
            {**item, "status": "done", "deadline": "2026-05-31"},
            {**from_complaint, "status": "done"},
            {**from_complaint, "source_ref": refs[1]},
        ]
        r = await svc.http.post(
            "/supervision/demands:import",
            content="\n".join(json.dumps(x, ensure_ascii=False) for x in rows).encode(),
            headers={**admin, "content-type": "application/x-ndjson"},
        )
        assert r.status_code == 200, r.text
        assert [x["result"] for x in r.json()["results"]] == ["created", "error", "created"]
        assert r.json()["results"][1]["errors"][0]["field"] == "source_ref"
        r = await svc.http.get("/supervision/demands?district=120111&status=done", headers=admin)
        assert [d["deadline"] for d in r.json()["items"]] == ["2026-05-31"]


async def test_an_item_from_a_complaint_names_one_the_caller_may_see(svc: Service) -> None:
    """A complaint item's source_ref was taken whatever it said: a case
    number no complaint has, or another district's, is a 422 naming
    source_ref (the row's error in an import), and nothing is written. An
    inspection's reference (perhaps another authority's) is not looked up."""
    (ours,) = await complaints(svc, DONGLI, 1)
    (theirs,) = await complaints(svc, WUQING, 1)
    item = {
        "district": DONGLI,
        "title": "河道异味整治",
        "source": "complaint",
        "owner": "li.hua",
        "deadline": "2026-06-30",
    }
    with clock.using(clock.ManualClock(T0)):
        for ref, who in (
            ("12369-120119-2026-999999", officer()),
            ("12369-120119-2026-999999", ADMIN),
            (theirs, officer()),  # another district's: as if there were none
        ):
            for language, words in (("en", "no complaint"), ("zh-CN", "投诉")):
                r = await svc.http.post(
                    "/supervision/demands",
                    json={**item, "source_ref": ref},
                    headers={**who, "Accept-Language": language},
                )
                assert r.status_code == 422, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                (error,) = r.json()["errors"]
                assert error["field"] == "source_ref" and words in error["message"], error
                assert ref in error["message"]
        r = await svc.http.get("/supervision/demands", headers=ADMIN)
        assert r.json()["items"] == []  # nothing written
        r = await svc.http.post(
            "/supervision/demands", json={**item, "source_ref": ours}, headers=officer()
        )
        assert r.status_code == 201, r.text
        r = await svc.http.post(
            "/supervision/demands",
            json={**item, "source": "inspection", "source_ref": "津环督〔2026〕12号"},
            headers=officer(),
        )
        assert r.status_code == 201, r.text
        rows = [
            {**item, "source_ref": ours},
            {**item, "source_ref": "12369-120110-2026-999999"},
            {**item, "source_ref": theirs},
        ]
        r = await svc.http.post(
            "/supervision/demands:import",
            content="\n".join(json.dumps(x, ensure_ascii=False) for x in rows).encode(),
            headers={**officer(), "content-type": "application/x-ndjson"},
        )
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [x["result"] for x in results] == ["created", "error", "error"]
        assert [e["field"] for x in results[1:] for e in x["errors"]] == ["source_ref"] * 2
        r = await svc.http.get("/supervision/demands", headers=ADMIN)
        assert len(r.json()["items"]) == 3


async def test_an_item_from_a_complaint_is_of_the_complaints_district(svc: Service) -> None:
    """A caller seeing several districts (an administrator, an officer of
    two) created an item of one district from another district's complaint:
    the complaint was looked up among all the caller's districts, not the
    item's. Now a 422 naming source_ref and both districts (the row's error
    in an import), and nothing is written."""
    (dongli,) = await complaints(svc, DONGLI, 1)
    (wuqing,) = await complaints(svc, WUQING, 1)
    item = {
        "district": DONGLI,
        "title": "河道异味整治",
        "source": "complaint",
        "owner": "li.hua",
        "deadline": "2026-06-30",
    }
    both = testing.auth("officer", [DONGLI, WUQING], sub="officer.two")
    with clock.using(clock.ManualClock(T0)):
        for who in (ADMIN, both):
            for language, words in (("en", "district"), ("zh-CN", "所在区")):
                r = await svc.http.post(
                    "/supervision/demands",
                    json={**item, "source_ref": wuqing},
                    headers={**who, "Accept-Language": language},
                )
                assert r.status_code == 422, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                (error,) = r.json()["errors"]
                assert error["field"] == "source_ref", error
                assert wuqing in error["message"] and words in error["message"], error
                assert WUQING in error["message"] and DONGLI in error["message"], error
        r = await svc.http.get("/supervision/demands", headers=ADMIN)
        assert r.json()["items"] == []  # nothing written
        rows = [
            {**item, "source_ref": dongli},
            {**item, "source_ref": wuqing},
            {**item, "district": WUQING, "source_ref": wuqing},
        ]
        for who in (ADMIN, both):
            r = await svc.http.post(
                "/supervision/demands:import",
                content="\n".join(json.dumps(x, ensure_ascii=False) for x in rows).encode(),
                headers={**who, "content-type": "application/x-ndjson"},
            )
            assert r.status_code == 200, r.text
            results = r.json()["results"]
            assert [x["result"] for x in results] == ["created", "error", "created"]
            assert [e["field"] for e in results[1]["errors"]] == ["source_ref"]
        r = await svc.http.get("/supervision/demands", headers=ADMIN)
        assert sorted(d["district"] for d in r.json()["items"]) == [DONGLI, DONGLI, WUQING, WUQING]


def test_the_api_document_says_what_completing_an_item_does() -> None:
    """`POST /demands/{id}/done` was described by the creating endpoint's
    words (an item "from a complaint names in source_ref …"): its own say
    it completes an open item, and when it is refused."""
    from supervision_svc.app import create

    paths = create().openapi()["paths"]
    done = paths["/supervision/demands/{demand_id}/done"]["post"]["description"]
    created = paths["/supervision/demands"]["post"]["description"]
    assert done != created and "source_ref" not in done
    assert "办结" in done and "409" in done
