"""A token's `sub` may be up to 199 characters (svc_common.names), and every
write of supervision-svc records who made it. Each such column holds the
longest sub a token may carry: on PostgreSQL a column of 100 characters
refused the write with a 500 (SQLite does not enforce a VARCHAR's length,
so only the real server showed it)."""

from __future__ import annotations

from svc_common import testing
from svc_common.names import MAX_SUB_LENGTH

from .conftest import DONGLI, T0, Service
from .test_enforcement_api import inspection


def _sub(name: str) -> str:
    return (name + ".") * (MAX_SUB_LENGTH // (len(name) + 1)) + "x" * (
        MAX_SUB_LENGTH % (len(name) + 1)
    )


PROPOSER = testing.auth("officer", [DONGLI], sub=_sub("proposer"))
DECIDER = testing.auth("officer", [DONGLI], sub=_sub("decider"))
ADMIN = testing.auth("admin", sub=_sub("admin"))


async def test_every_write_records_a_sub_of_the_longest_length_a_token_carries(
    svc: Service,
) -> None:
    assert len(_sub("proposer")) == len(_sub("admin")) == MAX_SUB_LENGTH
    http = svc.http
    uscc = await svc.enterprise(1, DONGLI, vocs="1")

    complaint = {
        "channel": "hotline",
        "received_at": T0.isoformat(),
        "district": DONGLI,
        "address": "东丽区某路",
        "category": "air",
        "description": "工厂冒黑烟",
    }
    r = await http.post("/supervision/complaints", json=complaint, headers=PROPOSER)
    assert r.status_code == 201, r.text
    assert r.json()["complaint"]["first_responsible"] == _sub("proposer")
    cid = r.json()["complaint"]["id"]
    r = await http.post(f"/supervision/complaints/{cid}/accept", headers=DECIDER)
    assert r.status_code == 200, r.text

    demand = {
        "district": DONGLI,
        "title": "河道整治",
        "source": "visit",
        "owner": "王芳",
        "deadline": "2099-12-31",
    }
    r = await http.post("/supervision/demands", json=demand, headers=PROPOSER)
    assert r.status_code == 201, r.text

    plan = {"district": DONGLI, "period": "2026", "count": 1, "seed": 1}
    r = await http.post("/supervision/inspection-plans", json=plan, headers=PROPOSER)
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == _sub("proposer")

    r = await http.post(
        "/supervision/inspections", json=inspection(uscc, "台账缺失"), headers=PROPOSER
    )
    assert r.status_code == 201, r.text
    (finding,) = r.json()["findings"]
    case = {
        "finding_id": finding["id"],
        "legal_basis": "《大气污染防治法》第九十九条",
        "measure": {"kind": "warning"},
    }
    r = await http.post("/supervision/cases", json=case, headers=PROPOSER)
    assert r.status_code == 201, r.text
    r = await http.post(
        f"/supervision/cases/{r.json()['id']}/decide", json={"approve": True}, headers=DECIDER
    )
    assert r.status_code == 200, r.text
    assert r.json()["decided_by"] == _sub("decider")

    grade = {
        "grade": "A",
        "industry": "涂料",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "basis": "绩效分级评定",
    }
    r = await http.put(f"/supervision/grades/{uscc}", json=grade, headers=PROPOSER)
    assert r.status_code == 200, r.text
    guarantee = {
        "reason": "livelihood",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "allowed_measure": {"kind": "none"},
    }
    r = await http.put(f"/supervision/guarantee-list/{uscc}", json=guarantee, headers=PROPOSER)
    assert r.status_code == 200, r.text
    plant = {"level": "red", "measure": {"kind": "stop"}, "note": "全厂停产"}
    r = await http.put(f"/supervision/plant-plans/{uscc}", json=plant, headers=PROPOSER)
    assert r.status_code == 200, r.text

    alert = {
        "level": "orange",
        "districts": [DONGLI],
        "from": "2026-06-10T00:00:00+08:00",
        "to": "2026-06-12T00:00:00+08:00",
    }
    r = await http.post("/supervision/alerts", json=alert, headers=PROPOSER)
    assert r.status_code == 201, r.text
    assert r.json()["issued_by"] == _sub("proposer")

    r = await http.get("/supervision/emergency-policy", headers=ADMIN)
    assert r.status_code == 200, r.text
    # A table takes effect today or later, whatever day the test runs on.
    policy = {"effective_from": "2099-07-01", "rules": r.json()["rules"]}
    r = await http.put("/supervision/emergency-policy", json=policy, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["set_by"] == _sub("admin")
