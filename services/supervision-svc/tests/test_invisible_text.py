"""supervision-svc's reasons and names were checked for invisible
characters already; its other texts that must say something were not. A
complaint's description or reply, a demand's title, an enterprise's
grading basis made of zero-width spaces (U+200B) or other characters a
reader cannot see is a 422 naming the field, in Chinese and in English, and
writes nothing; and a reason of combining marks alone, which the old check
let through, is refused like one of zero-width spaces (svc_common's
VisibleText, the one mechanism for every service)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from svc_common import clock, testing
from svc_common.tables import AuditEntry, OutboxRow

from .conftest import DONGLI, T0, Service, officer
from .test_complaints_api import complaint, history

INVISIBLE = ("\u200b", "\u200b\u2060", "\ufeff\ufeff", " \u3164 ")


async def _writes(svc: Service) -> tuple[int, int]:
    async with svc.db.session() as s:
        audits = await s.scalar(select(func.count()).select_from(AuditEntry))
        events = await s.scalar(select(func.count()).select_from(OutboxRow))
    return int(audits or 0), int(events or 0)


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert [e["field"] for e in r.json()["errors"]] == [field], r.text


async def test_a_complaint_of_invisible_text_is_refused(svc: Service) -> None:
    with clock.using(clock.ManualClock(T0)):
        before = await _writes(svc)
        for text in INVISIBLE:
            r = await svc.http.post(
                "/supervision/complaints", json=complaint(description=text), headers=officer()
            )
            _refused(r, "description")
        for text in INVISIBLE:
            r = await svc.http.post(
                "/supervision/complaints", json=complaint(address=text), headers=officer()
            )
            _refused(r, "address")
        assert await _writes(svc) == before
        # An imported complaint's address and complainant's name alike.
        rows = [
            {**history(1, "received"), "address": "\u3164"},
            {**history(2, "received"), "complainant_name": "\u200b"},
            {**history(3, "received"), "complainant_name": "张\u200b三"},
        ]
        r = await svc.http.post(
            "/supervision/complaints:import",
            content="\n".join(json.dumps(x) for x in rows).encode(),
            headers={**testing.auth("admin"), "content-type": "application/x-ndjson"},
        )
        assert r.status_code == 200, r.text
        assert [[e["field"] for e in x["errors"]] for x in r.json()["results"]] == [
            ["address"],
            ["complainant_name"],
            ["complainant_name"],
        ], r.text
        r = await svc.http.post("/supervision/complaints", json=complaint(), headers=officer())
        assert r.status_code == 201, r.text
        url = f"/supervision/complaints/{r.json()['complaint']['id']}"
        # Combining marks alone (an acute accent, a variation selector) show nothing.
        for reason in ("\u0301", "\ufe0f\ufe0f"):
            r = await svc.http.post(f"{url}/reject", json={"reason": reason}, headers=officer())
            _refused(r, "reason")
        assert (await svc.http.post(f"{url}/accept", headers=officer())).status_code == 200
        r = await svc.http.post(f"{url}/assign", json={"officer": "李华"}, headers=officer())
        assert r.status_code == 200, r.text
        before = await _writes(svc)
        r = await svc.http.post(
            f"{url}/reply",
            json={"reply": "\u200b"},
            headers={**officer(), "Accept-Language": "en"},
        )
        _refused(r, "reply")
        assert "visible character" in r.json()["errors"][0]["message"]
        r = await svc.http.post(
            f"{url}/reply",
            json={"reply": "\u200b"},
            headers={**officer(), "Accept-Language": "zh-CN"},
        )
        _refused(r, "reply")
        assert "可见字符" in r.json()["errors"][0]["message"]
        assert await _writes(svc) == before
        assert (await svc.http.get(url, headers=officer())).json()["replied_at"] is None


async def test_a_demand_of_invisible_title_is_refused_alone_or_in_an_import(
    svc: Service,
) -> None:
    item = {
        "district": DONGLI,
        "title": "\u200b",
        "source": "visit",
        "owner": "王局",
        "deadline": "2026-12-06",
    }
    with clock.using(clock.ManualClock(T0)):
        before = await _writes(svc)
        r = await svc.http.post("/supervision/demands", json=item, headers=officer())
        _refused(r, "title")
        assert await _writes(svc) == before
        r = await svc.http.post(
            "/supervision/demands:import",
            content=json.dumps(item, ensure_ascii=False).encode(),
            headers={**officer(), "content-type": "application/x-ndjson"},
        )
        assert r.json()["totals"]["error"] == 1, r.text
        assert r.json()["results"][0]["errors"][0]["field"] == "title"
        r = await svc.http.get(f"/supervision/demands?district={DONGLI}", headers=officer())
        assert r.json()["items"] == [], r.text


async def test_a_grade_of_invisible_basis_is_refused(svc: Service) -> None:
    uscc = await svc.enterprise(9101)
    with clock.using(clock.ManualClock(T0)):
        before = await _writes(svc)
        body = {
            "grade": "A",
            "industry": "工业涂装",
            "basis": "\u2060",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
        }
        r = await svc.http.put(f"/supervision/grades/{uscc}", json=body, headers=officer())
        _refused(r, "basis")
        assert await _writes(svc) == before
        r = await svc.http.get(f"/supervision/grades/{uscc}", headers=officer())
        assert r.status_code == 404 or r.json().get("grade") is None, r.text


async def test_a_grade_s_industry_or_a_stopped_process_no_one_can_see_is_refused(
    svc: Service,
) -> None:
    """A grading's industry and the processes a measure stops were plain
    strings: an industry of a zero-width space, a Hangul filler or an
    accent alone was recorded as the grading's industry, a plant plan or a
    guarantee entry stopped a process named by one, and a process named
    twice ("烧结", "烧结 ") was stopped twice. Each is now refused with a 422
    naming the field, in Chinese and in English, and nothing is written."""
    uscc = await svc.enterprise(9102)
    grade = {
        "grade": "A",
        "industry": "工业涂装",
        "basis": "绩效分级评定文件",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
    }
    guarantee = {
        "reason": "livelihood",
        "valid_from": "2026-06-01",
        "valid_to": "2026-12-31",
        "allowed_measure": {"kind": "stop_processes", "processes": ["喷涂"]},
    }
    plan = {"level": "red", "measure": {"kind": "stop_processes", "processes": ["喷涂"]}}
    with clock.using(clock.ManualClock(T0)):
        before = await _writes(svc)
        for text in (*INVISIBLE, "\u0301"):
            r = await svc.http.put(
                f"/supervision/grades/{uscc}", json={**grade, "industry": text}, headers=officer()
            )
            _refused(r, "industry")
        for processes, field in (
            (["\u200b"], "processes.0"),
            (["喷涂", "\u3164"], "processes.1"),
            (["烧结", "烧结 "], "processes"),
        ):
            measure = {"kind": "stop_processes", "processes": processes}
            r = await svc.http.put(
                f"/supervision/plant-plans/{uscc}",
                json={**plan, "measure": measure, "note": "一厂一策"},
                headers={**officer(), "Accept-Language": "zh-CN"},
            )
            _refused(r, f"measure.{field}")
            r = await svc.http.put(
                f"/supervision/guarantee-list/{uscc}",
                json={**guarantee, "allowed_measure": measure},
                headers={**officer(), "Accept-Language": "en"},
            )
            _refused(r, f"allowed_measure.{field}")
        r = await svc.http.put(
            f"/supervision/plant-plans/{uscc}",
            json={**plan, "measure": {"kind": "stop_processes", "processes": ["烧结", "烧结 "]}},
            headers={**officer(), "Accept-Language": "en"},
        )
        assert "appears twice" in r.text, r.text
        assert await _writes(svc) == before
        r = await svc.http.get(f"/supervision/grades/{uscc}", headers=officer())
        assert r.json()["history"] == [], r.text
        r = await svc.http.get(f"/supervision/plant-plans/{uscc}", headers=officer())
        assert r.status_code == 404 or r.json() == [], r.text
        # The same texts, visible and once each, are taken.
        r = await svc.http.put(f"/supervision/grades/{uscc}", json=grade, headers=officer())
        assert r.status_code == 200, r.text
        r = await svc.http.put(
            f"/supervision/plant-plans/{uscc}", json={**plan, "note": "一厂一策"}, headers=officer()
        )
        assert r.status_code == 200, r.text


async def test_an_optional_note_of_invisible_text_is_refused(svc: Service) -> None:
    """The notes and reasons a request may leave out were plain strings in
    supervision-svc (in permit-svc and quota-svc they are VisibleText): an
    alert's note, a lift's reason, a case's facts and decision note, a
    demand's detail and progress notes, an inspection item's note, a
    complaint's closing note, a guarantee entry's and the policy table's
    note of zero-width spaces alone were recorded as if something had been
    said. Each is now a 422 naming the field; left out, empty or blank it is
    taken as before."""
    from .test_enforcement_api import inspection

    zw = "\u200b\u2060"
    uscc = await svc.enterprise(9103)
    admin = testing.auth("admin", sub="admin.city")
    with clock.using(clock.ManualClock(T0)):
        # An alert and its lift.
        alert = {
            "level": "yellow",
            "districts": [DONGLI],
            "from": "2026-06-02T00:00:00+08:00",
            "to": "2026-06-03T00:00:00+08:00",
        }
        _refused(
            await svc.http.post(
                "/supervision/alerts", json={**alert, "note": zw}, headers=officer()
            ),
            "note",
        )
        r = await svc.http.post(
            "/supervision/alerts", json={**alert, "note": ""}, headers=officer()
        )
        assert r.status_code == 201, r.text
        lift = f"/supervision/alerts/{r.json()['id']}/lift"
        _refused(await svc.http.post(lift, json={"reason": zw}, headers=officer()), "reason")
        # An inspection item's note; a case's facts and decision note.
        body = inspection(uscc, "台账缺失", inspected_at=T0.isoformat())
        body["items"][0]["note"] = zw
        _refused(
            await svc.http.post("/supervision/inspections", json=body, headers=officer()),
            "items.0.note",
        )
        body["items"][0]["note"] = " "
        r = await svc.http.post("/supervision/inspections", json=body, headers=officer())
        assert r.status_code == 201, r.text
        case = {
            "finding_id": r.json()["findings"][0]["id"],
            "legal_basis": "《中华人民共和国大气污染防治法》第九十九条",
            "measure": {"kind": "warning"},
        }
        _refused(
            await svc.http.post(
                "/supervision/cases", json={**case, "facts": zw}, headers=officer()
            ),
            "facts",
        )
        r = await svc.http.post("/supervision/cases", json=case, headers=officer())
        assert r.status_code == 201, r.text
        decide = f"/supervision/cases/{r.json()['id']}/decide"
        _refused(
            await svc.http.post(decide, json={"approve": True, "note": zw}, headers=admin), "note"
        )
        # A demand's detail and progress notes, and its completion note.
        demand = {
            "district": DONGLI,
            "title": "道路扬尘",
            "source": "visit",
            "owner": "张敏",
            "deadline": "2026-12-31",
        }
        for field in ("detail", "progress_note"):
            _refused(
                await svc.http.post(
                    "/supervision/demands", json={**demand, field: zw}, headers=officer()
                ),
                field,
            )
        r = await svc.http.post(
            "/supervision/demands", json={**demand, "detail": ""}, headers=officer()
        )
        assert r.status_code == 201, r.text
        item = f"/supervision/demands/{r.json()['id']}"
        _refused(
            await svc.http.patch(item, json={"progress_note": zw}, headers=officer()),
            "progress_note",
        )
        _refused(await svc.http.post(f"{item}/done", json={"note": zw}, headers=officer()), "note")
        # A complaint's closing note.
        r = await svc.http.post("/supervision/complaints", json=complaint(), headers=officer())
        url = f"/supervision/complaints/{r.json()['complaint']['id']}"
        for step, step_body in (
            ("accept", None),
            ("assign", {"officer": "李华"}),
            ("reply", {"reply": "已处理"}),
        ):
            assert (
                await svc.http.post(f"{url}/{step}", json=step_body, headers=officer())
            ).status_code == 200
        _refused(
            await svc.http.post(
                f"{url}/close", json={"outcome": "referred", "note": zw}, headers=officer()
            ),
            "note",
        )
        # A guarantee entry's and the policy table's notes.
        guarantee = {
            "reason": "livelihood",
            "valid_from": "2026-06-01",
            "valid_to": "2026-12-31",
            "allowed_measure": {"kind": "none"},
            "note": zw,
        }
        _refused(
            await svc.http.put(
                f"/supervision/guarantee-list/{uscc}", json=guarantee, headers=officer()
            ),
            "note",
        )
        policy = (await svc.http.get("/supervision/emergency-policy", headers=admin)).json()
        table = {"effective_from": "2026-07-01", "rules": policy["rules"], "note": zw}
        _refused(
            await svc.http.put("/supervision/emergency-policy", json=table, headers=admin), "note"
        )
        # Nothing of it was written.
        r = await svc.http.get(f"/supervision/guarantee-list?district={DONGLI}", headers=officer())
        assert r.json()["items"] == [], r.text
        r = await svc.http.get("/supervision/emergency-policy?on=2026-07-02", headers=admin)
        assert r.json()["effective_from"] != "2026-07-01", r.text
        r = await svc.http.get(url, headers=officer())
        assert r.json()["status"] == "replied", r.text
