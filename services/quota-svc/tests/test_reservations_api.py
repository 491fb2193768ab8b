"""Reserve / allocate / release through the HTTP API: one effect per request,
resolution at most once, 409s naming what is allowed, 422s naming the field."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from svc_common import clock, testing
from svc_common.tables import AuditEntry
from svc_common.testing import as_not_found
from svc_common.types import utcnow
from svc_common.uscc import make_uscc

from .conftest import ADMIN, BAODI, INVESTMENT, JIZHOU, OFFICER, Quota

PROJECT = {"district": JIZHOU, "increment_t": "2.5", "project_ref": "JZ-2026-001"}


async def _reserve(quota: Quota, **headers: str) -> dict:
    r = await quota.client.post("/quota/reservations", json=PROJECT, headers={**OFFICER, **headers})
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def test_reserve_repeated_holds_once(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    first = await _reserve(quota, **{"Idempotency-Key": "k1"})
    assert first["status"] == "held" and first["required_t"] == "5.000"
    replay = await quota.client.post(
        "/quota/reservations", json=PROJECT, headers={**OFFICER, "Idempotency-Key": "k1"}
    )
    assert replay.json() == first
    # The stored answer, replayed (on PostgreSQL it is stored apart from the
    # group commit that made the hold).
    assert (replay.status_code, replay.headers.get("idempotent-replayed")) == (201, "true")
    # Same request under another key (or none): the same reservation, no new hold.
    again = await quota.client.post(
        "/quota/reservations", json=PROJECT, headers={**OFFICER, "Idempotency-Key": "k2"}
    )
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["available_t"]) == ("5.000", "15.000")
    assert len(await quota.events("quota.reserved.v1")) == 1
    async with quota.app.state.runtime.db.session() as s:
        audited = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "quota.reserve")
        )
    assert audited == 1
    # A different request for the same project is a conflict, not a second hold.
    other = await quota.client.post(
        "/quota/reservations", json={**PROJECT, "increment_t": "3"}, headers=OFFICER
    )
    assert other.status_code == 409 and other.json()["reservation_id"] == first["id"]


async def test_a_replayed_hold_says_the_language_it_was_given_in(quota: Quota) -> None:
    """On PostgreSQL the answer is kept with the hold by the pool's batch
    (Writes.answer), not by the request: it still says its language."""
    await quota.baseline(JIZHOU, "20")
    h = {**OFFICER, "Idempotency-Key": "lang-1"}
    first = await quota.client.post(
        "/quota/reservations", json=PROJECT, headers={**h, "Accept-Language": "en"}
    )
    assert first.status_code == 201 and first.headers["content-language"] == "en"
    again = await quota.client.post(
        "/quota/reservations", json=PROJECT, headers={**h, "Accept-Language": "zh-CN"}
    )
    assert again.headers.get("idempotent-replayed") == "true", again.text
    assert again.headers.get_list("content-language") == ["en"]


async def test_a_request_for_the_project_on_other_terms_is_not_the_same_request(
    quota: Quota,
) -> None:
    """The project's hold answers only a request for what it holds: another
    enterprise, the priority reserve or another lot is a 409 naming the
    hold, not a 200 saying the caller got what it asked for."""
    await quota.baseline(JIZHOU, "20")
    await quota.baseline(JIZHOU, "5")  # a second lot
    lots = await quota.client.get("/quota/lots", params={"district": JIZHOU}, headers=ADMIN)
    assert lots.status_code == 200, lots.text
    ids = sorted(lot["id"] for lot in lots.json()["items"])
    assert len(ids) == 2, ids
    uscc = make_uscc(JIZHOU, 1)
    first = await quota.client.post(
        "/quota/reservations", json={**PROJECT, "uscc": uscc}, headers=OFFICER
    )
    assert first.status_code == 201, first.text
    made = first.json()
    lot = made["lots"][0][0]
    other_lot = next(i for i in ids if i != lot)
    for changed, headers in (
        ({"uscc": make_uscc(JIZHOU, 2)}, OFFICER),
        ({"uscc": None}, OFFICER),
        ({"uscc": uscc, "priority_reserve": True}, ADMIN),
        ({"uscc": uscc, "lot_id": other_lot}, ADMIN),
    ):
        r = await quota.client.post(
            "/quota/reservations", json={**PROJECT, **changed}, headers=headers
        )
        assert r.status_code == 409, (changed, r.text)
        assert (r.json()["reason"], r.json()["reservation_id"]) == ("project_reserved", made["id"])
    # What the hold is: the same request, whoever asks it again (an admin's
    # advance needs no shortfall lent where the hold exists).
    for again, headers in (({"uscc": uscc}, OFFICER), ({"uscc": uscc, "advance": True}, ADMIN)):
        r = await quota.client.post(
            "/quota/reservations", json={**PROJECT, **again}, headers=headers
        )
        assert (r.status_code, r.json()["id"]) == (200, made["id"]), r.text
    r = await quota.client.post(
        "/quota/reservations", json={**PROJECT, "uscc": uscc, "lot_id": lot}, headers=ADMIN
    )
    assert (r.status_code, r.json()["id"]) == (200, made["id"]), r.text
    a = await quota.availability(JIZHOU)
    assert a["reserved_t"] == "5.000"


async def test_allocate_and_release_resolve_once(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    res = await _reserve(quota)
    url = f"/quota/reservations/{res['id']}"
    too_much = await quota.client.post(
        f"{url}/allocate", json={"amount_t": "5.001"}, headers=OFFICER
    )
    assert too_much.status_code == 409 and too_much.json()["held_t"] == "5.000"

    h = {**OFFICER, "Idempotency-Key": "alloc-1"}
    part = await quota.client.post(f"{url}/allocate", json={"amount_t": "4"}, headers=h)
    assert part.status_code == 200, part.text
    body = part.json()
    assert (body["status"], body["allocated_t"], body["released_t"]) == (
        "allocated",
        "4.000",
        "1.000",
    )
    again = await quota.client.post(f"{url}/allocate", json={"amount_t": "4"}, headers=h)
    assert again.json() == body  # replayed
    twice = await quota.client.post(f"{url}/allocate", json={}, headers=OFFICER)
    assert twice.status_code == 409 and twice.json()["allowed"] == []
    release = await quota.client.post(f"{url}/release", json={"reason": "x"}, headers=OFFICER)
    assert release.status_code == 409
    assert "allocated" in release.json()["detail"]

    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"], a["available_t"]) == ("4.000", "0.000", "16.000")
    assert [e["reason"] for e in await quota.events("quota.released.v1")] == ["remainder"]
    # 4 of the 5 t held (2.5 t at 2.0) back 2 t of emission, not the project's 2.5.
    (allocated,) = await quota.events("quota.allocated.v1")
    assert (allocated["amount_t"], allocated["increment_t"]) == ("4.000", "2.000")


async def test_a_reservation_id_in_upper_case_is_the_same_reservation(quota: Quota) -> None:
    """An id pasted in upper case (a spreadsheet, a letter) was a 404: a
    UUID is the same in either case. Its reads and its writes (a direct
    route: allocate) find the one reservation; another id keeps its case."""
    await quota.baseline(JIZHOU, "20")
    res = await _reserve(quota)
    upper = res["id"].upper()
    assert upper != res["id"]
    for path in ("/quota/reservations/{}", "/quota/reservations/{}/lineage"):
        r = await quota.client.get(path.format(upper), headers=OFFICER)
        assert r.status_code == 200, (path, r.text)
    r = await quota.client.get(f"/quota/reservations/{upper}", headers=OFFICER)
    assert r.json()["id"] == res["id"]
    r = await quota.client.post(f"/quota/reservations/{upper}/allocate", json={}, headers=OFFICER)
    assert r.status_code == 200 and r.json()["status"] == "allocated", r.text
    r = await quota.client.get("/quota/reservations/NOT-A-UUID", headers=OFFICER)
    assert r.status_code == 404 and "NOT-A-UUID" in r.json()["detail"], r.text


async def test_a_whole_hold_allocated_backs_the_whole_increment_and_a_sliver_nothing(
    quota: Quota,
) -> None:
    await quota.baseline(JIZHOU, "20")
    whole = await _reserve(quota)
    r = await quota.client.post(f"/quota/reservations/{whole['id']}/allocate", headers=OFFICER)
    assert r.status_code == 200, r.text
    sliver = await quota.client.post(
        "/quota/reservations", json={**PROJECT, "project_ref": "JZ-2026-002"}, headers=OFFICER
    )
    assert sliver.status_code == 201, sliver.text
    r = await quota.client.post(
        f"/quota/reservations/{sliver.json()['id']}/allocate",
        json={"amount_t": "0.001"},
        headers=OFFICER,
    )
    assert r.status_code == 200, r.text
    # 1 kg of quota at 2.0 backs half a kilogram: rounded down, nothing.
    backed = {e["project_ref"]: e["increment_t"] for e in await quota.events("quota.allocated.v1")}
    assert backed == {"JZ-2026-001": "2.500", "JZ-2026-002": "0.000"}


async def test_an_allocation_retried_under_another_key_answers_its_outcome(quota: Quota) -> None:
    """A retry whose first attempt committed but whose answer was lost (a
    crash between the pool's batch and the stored answer) asks the same
    again under a new key: the outcome, once, not a 409."""
    await quota.baseline(JIZHOU, "20")
    res = await _reserve(quota)
    url = f"/quota/reservations/{res['id']}/allocate"
    first = await quota.client.post(url, json={}, headers={**OFFICER, "Idempotency-Key": "a-1"})
    again = await quota.client.post(url, json={}, headers={**OFFICER, "Idempotency-Key": "a-2"})
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json()
    assert len(await quota.events("quota.allocated.v1")) == 1
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["available_t"]) == ("5.000", "15.000")


async def test_allocate_after_release_is_refused(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    res = await _reserve(quota)
    url = f"/quota/reservations/{res['id']}"
    r = await quota.client.post(f"{url}/release", json={"reason": "investor left"}, headers=OFFICER)
    assert r.status_code == 200 and r.json()["status"] == "released"
    again = await quota.client.post(f"{url}/release", json={"reason": "again"}, headers=OFFICER)
    assert again.status_code == 409
    alloc = await quota.client.post(f"{url}/allocate", json={}, headers=OFFICER)
    assert alloc.status_code == 409
    assert alloc.json()["state"] == "released" and alloc.json()["allowed"] == []
    assert (await quota.availability(JIZHOU))["available_t"] == "20.000"
    # Released, the project may be reserved afresh.
    assert (await _reserve(quota))["id"] != res["id"]


async def test_refusal_names_the_shortfall_and_writes_nothing(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "4")
    r = await quota.client.post("/quota/reservations", json=PROJECT, headers=OFFICER)
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (r.json()["required_t"], r.json()["shortfall_t"]) == ("5.000", "1.000")
    assert (await quota.availability(JIZHOU))["reserved_t"] == "0.000"
    assert await quota.events("quota.reserved.v1") == []


async def test_bad_input_is_a_422_naming_the_field(quota: Quota) -> None:
    cases = [
        ({**PROJECT, "increment_t": "1.0001"}, "increment_t"),
        ({**PROJECT, "increment_t": "-1"}, "increment_t"),
        ({**PROJECT, "district": "110101"}, "district"),
        ({**PROJECT, "project_ref": ""}, "project_ref"),
        # An EIA filing's ref: its quota is held by the filing's saga alone.
        ({**PROJECT, "project_ref": "eia:7a457e9f"}, "project_ref"),
        # ... and what reads as one: another case, full width, after a space.
        ({**PROJECT, "project_ref": "EIA:7a457e9f"}, "project_ref"),
        ({**PROJECT, "project_ref": "ｅｉａ：7a457e9f"}, "project_ref"),
        ({**PROJECT, "project_ref": "Eia:7a457e9f"}, "project_ref"),
        ({**PROJECT, "project_ref": "e\u200bia:7a457e9f"}, "project_ref"),
        ({**PROJECT, "project_ref": "\ufeffeia:7a457e9f"}, "project_ref"),
        ({**PROJECT, "project_ref": "eia :7a457e9f"}, "project_ref"),
        # A ref is an identifier: no spaces around it.
        ({**PROJECT, "project_ref": " P-1"}, "project_ref"),
        ({**PROJECT, "project_ref": "P-1 "}, "project_ref"),
        ({**PROJECT, "project_ref": " "}, "project_ref"),
        # ... and nothing invisible in it: "P\u200b-1" reads as P-1 and was a
        # second project, holding the same project's quota twice.
        ({**PROJECT, "project_ref": "P\u200b-1"}, "project_ref"),
        ({**PROJECT, "project_ref": "P-1\ufe0f"}, "project_ref"),
        ({**PROJECT, "project_ref": "\u0301P-1"}, "project_ref"),
    ]
    for body, field in cases:
        r = await quota.client.post("/quota/reservations", json=body, headers=OFFICER)
        assert r.status_code == 422, (body, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}
    r = await quota.client.post(
        "/quota/pools/999999/VOCs/baseline", json={"amount_t": "1"}, headers=testing.auth("admin")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "district"
    r = await quota.client.get("/quota/reservations/nope", headers=OFFICER)
    assert r.status_code == 404
    # An id that can be no reservation's is refused as its siblings refuse
    # it (its lineage echoed 5,000 characters in a 404).
    for path in ("/quota/reservations/{}", "/quota/reservations/{}/lineage"):
        r = await quota.client.get(path.format("x" * 65), headers=OFFICER)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reservation_id"


async def test_roles_and_districts(quota: Quota) -> None:
    r = await quota.client.post("/quota/reservations", json=PROJECT, headers=INVESTMENT)
    assert r.status_code == 403
    r = await quota.client.post(
        "/quota/reservations", json=PROJECT, headers=testing.auth("officer", [BAODI])
    )
    assert r.status_code == 403
    r = await quota.client.get("/quota/availability", headers=testing.auth("filer"))
    assert r.status_code == 403
    r = await quota.client.post(
        "/quota/pools/120119/VOCs/baseline", json={"amount_t": "1"}, headers=OFFICER
    )
    assert r.status_code == 403


async def test_allocate_without_a_body_posts_the_whole_hold(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    res = await _reserve(quota)
    r = await quota.client.post(f"/quota/reservations/{res['id']}/allocate", headers=OFFICER)
    assert r.status_code == 200, r.text
    assert (r.json()["allocated_t"], r.json()["released_t"]) == ("5.000", "0.000")
    assert await quota.events("quota.released.v1") == []


async def test_a_hold_takes_the_district_policy_in_force_when_made(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "100")
    await quota.baseline(BAODI, "100")

    async def policy(ratio: str, days: int, effective_from: dt.datetime) -> None:
        r = await quota.client.put(
            f"/quota/settings/{JIZHOU}/VOCs",
            json={
                "offset_ratio": ratio,
                "hold_days": days,
                "effective_from": effective_from.isoformat(),
            },
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text

    with clock.using(clock.ManualClock(utcnow())) as c:
        assert isinstance(c, clock.ManualClock)
        await policy("1.50", 30, c.now())
        c.advance_now(dt.timedelta(days=1))
        # Two versions effective at the same moment: the last recorded wins.
        await policy("3.00", 10, c.now())
        await policy("2.50", 20, c.now())
        c.advance_now(dt.timedelta(hours=1))
        await policy("4.00", 5, c.now() + dt.timedelta(days=1))  # not in force yet
        res = await _reserve(quota)
    assert (res["offset_ratio"], res["required_t"]) == ("2.50", "6.250")
    held_for = dt.datetime.fromisoformat(res["expires_at"]) - dt.datetime.fromisoformat(
        res["created_at"]
    )
    assert held_for == dt.timedelta(days=20)
    # Another district keeps the service default (2.00, 180 days).
    other = await quota.client.post(
        "/quota/reservations",
        json={"district": BAODI, "increment_t": "1", "project_ref": "BD-1"},
        headers=ADMIN,
    )
    assert other.status_code == 201, other.text
    assert (other.json()["offset_ratio"], other.json()["required_t"]) == ("2.00", "2.000")


async def test_a_repeated_reservation_is_answered_even_when_the_pool_is_short(
    quota: Quota,
) -> None:
    await quota.baseline(JIZHOU, "6")
    first = await _reserve(quota)
    # 1 t is left: the same request again is still the first answer, not a refusal.
    again = await quota.client.post("/quota/reservations", json=PROJECT, headers=OFFICER)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    other = await quota.client.post(
        "/quota/reservations", json={**PROJECT, "increment_t": "3"}, headers=OFFICER
    )
    assert other.status_code == 409 and other.json()["reservation_id"] == first["id"]
    assert len(await quota.events("quota.reserved.v1")) == 1
    # A district whose pool was never credited: refused, nothing held.
    r = await quota.client.post(
        "/quota/reservations",
        json={"district": BAODI, "increment_t": "1", "project_ref": "BD-1"},
        headers=ADMIN,
    )
    assert r.status_code == 409 and r.json()["available_t"] == "0.000"


async def test_a_read_answers_what_the_write_answered(quota: Quota) -> None:
    """GET reads the row on the driver on PostgreSQL: every field (times,
    the lots drawn on, amounts) as the reservation's own answer gave it."""
    await quota.baseline(JIZHOU, "20")
    made = await _reserve(quota)
    assert made["lots"]  # drawn on the baseline's lot
    url = f"/quota/reservations/{made['id']}"
    got = await quota.client.get(url, headers=OFFICER)
    assert (got.status_code, got.json()) == (200, made)
    done = await quota.client.post(f"{url}/allocate", json={}, headers=OFFICER)
    assert (await quota.client.get(url, headers=OFFICER)).json() == done.json()
    missing = await quota.client.get("/quota/reservations/no-such-id", headers=OFFICER)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    elsewhere = testing.auth("officer", [BAODI], sub="officer.baodi")
    # Another district's reservation: not found, as one that does not exist.
    theirs = await quota.client.get(url, headers=elsewhere)
    none = await quota.client.get("/quota/reservations/no-such-id", headers=elsewhere)
    assert as_not_found(theirs, (made["id"], "ID")) == as_not_found(none, ("no-such-id", "ID"))


async def test_an_eia_filings_ref_is_refused_in_the_callers_language(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    body = {**PROJECT, "project_ref": "eia:7a457e9f"}
    for lang, words in (("zh-CN", "属于环评文件"), ("en", "belong to EIA filings")):
        r = await quota.client.post(
            "/quota/reservations", json=body, headers={**OFFICER, "Accept-Language": lang}
        )
        assert r.status_code == 422, r.text
        [error] = r.json()["errors"]
        assert error["field"] == "project_ref" and words in error["message"], error
    a = await quota.availability(JIZHOU)
    assert a["reserved_t"] == "0.000"
    # The document says so too (a client, or a fuzzer, learns it from there).
    doc = (await quota.client.get("/quota/openapi.json")).json()["components"]["schemas"]
    assert doc["ReservationIn"]["properties"]["project_ref"]["not"] == {"pattern": "^[Ee][Ii][Aa]:"}


async def test_allocating_nothing_is_refused_and_the_hold_kept(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    res = await _reserve(quota)
    for amount in ("0", "0.000", "-1"):
        r = await quota.client.post(
            f"/quota/reservations/{res['id']}/allocate", json={"amount_t": amount}, headers=OFFICER
        )
        assert r.status_code == 422, (amount, r.text)
        assert r.json()["errors"][0]["field"] == "amount_t"
    again = await quota.client.get(f"/quota/reservations/{res['id']}", headers=OFFICER)
    assert (again.json()["status"], again.json()["allocated_t"]) == ("held", "0.000")


async def test_a_ref_in_use_in_another_district_names_no_reservation(quota: Quota) -> None:
    """Refs are unique citywide, but an officer of another district learns
    only that the ref is in use, not the reservation or its state."""
    await quota.baseline(JIZHOU, "20")
    await quota.baseline(BAODI, "20")
    mine = await _reserve(quota)
    theirs = await quota.client.post(
        "/quota/reservations",
        json={**PROJECT, "district": BAODI},
        headers={**testing.auth("officer", [BAODI]), "Accept-Language": "en"},
    )
    assert theirs.status_code == 409, theirs.text
    problem = theirs.json()
    assert problem["reason"] == "project_ref_in_use"
    assert mine["id"] not in theirs.text and "reservation_id" not in problem
    assert "another district" in problem["detail"]


async def test_a_reason_of_spaces_alone_is_refused(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    res = await _reserve(quota)
    r = await quota.client.post(
        f"/quota/reservations/{res['id']}/release", json={"reason": " \t "}, headers=OFFICER
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text
    r = await quota.client.post(
        f"/quota/pools/{JIZHOU}/VOCs/adjustments",
        json={"amount_t": "1", "note": "   "},
        headers=ADMIN,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note", r.text
    kept = await quota.client.post(
        f"/quota/reservations/{res['id']}/release", json={"reason": "  项目调整 "}, headers=OFFICER
    )
    assert kept.status_code == 200 and kept.json()["note"] == "项目调整"
    doc = (await quota.client.get("/quota/openapi.json")).json()["components"]["schemas"]
    from svc_common.guard import visible_text_pattern

    assert doc["ReleaseIn"]["properties"]["reason"]["pattern"] == visible_text_pattern(
        1, 500, stripped=True
    )


async def test_an_enterprises_reservations_in_one_list(quota: Quota) -> None:
    plant, other = make_uscc(JIZHOU, 7), make_uscc(JIZHOU, 8)
    baodi_plant = make_uscc(BAODI, 9)
    await quota.baseline(JIZHOU, "50")
    await quota.baseline(BAODI, "50")
    made = []
    for i, (district, owner) in enumerate(
        [(JIZHOU, plant), (JIZHOU, other), (JIZHOU, plant), (BAODI, baodi_plant), (JIZHOU, plant)]
    ):
        body = {"district": district, "increment_t": "1", "project_ref": f"L-{i}", "uscc": owner}
        r = await quota.client.post("/quota/reservations", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        made.append(r.json())
    await quota.client.post(f"/quota/reservations/{made[2]['id']}/allocate", headers=ADMIN)
    mine = [m["id"] for m in made if m["uscc"] == plant]

    async def pages(query: str, headers: dict[str, str]) -> list[dict]:
        items, cursor = [], None
        while True:
            q = query + (f"&cursor={cursor}" if cursor else "")
            r = await quota.client.get(f"/quota/reservations?{q}", headers=headers)
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            if not (cursor := r.json()["next_cursor"]):
                return items

    assert [r["id"] for r in await pages(f"uscc={plant}&limit=1", INVESTMENT)] == mine
    assert [r["id"] for r in await pages(f"uscc={plant}&status=allocated", INVESTMENT)] == [
        made[2]["id"]
    ]
    assert len(await pages(f"district={JIZHOU}&limit=2", INVESTMENT)) == 4
    # An officer reads their own districts only.
    assert await pages(f"uscc={baodi_plant}", OFFICER) == []
    r = await quota.client.get(f"/quota/reservations?district={BAODI}", headers=OFFICER)
    assert r.status_code == 403
    for bad in ("uscc=91120225XXXXXXXXX1", "status=gone", "cursor=abc", "limit=0"):
        r = await quota.client.get(f"/quota/reservations?{bad}", headers=INVESTMENT)
        assert r.status_code == 422, (bad, r.text)


async def test_an_allocation_finds_its_pool_without_a_lookup_once_its_process_knows_it(
    quota: Quota, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool of a reservation (its batch's key) never changes: the process
    that made it, or looked it up once, allocates it without looking it up
    again; another process looks it up once; a remembered reservation that
    is not there is still not found."""
    from quota_svc.app import create
    from quota_svc.reservations import service
    from quota_svc.settings import Settings
    from svc_common.batching import LookupsTogether
    from svc_common.db import Database

    looked_up: list[str] = []
    real_get, real_alone = LookupsTogether.get, Database.fetch_alone

    async def get(self: LookupsTogether, key: tuple) -> object:  # type: ignore[type-arg]
        if self.one is service._POOL_OF_RESERVATION:
            looked_up.append(key[0])
        return await real_get(self, key)

    async def alone(self: Database, statement: object, params: dict) -> object:  # type: ignore[type-arg]
        if statement is service._POOL_OF_RESERVATION:
            looked_up.append(params["rid"])
        return await real_alone(self, statement, params)  # type: ignore[arg-type]

    # On PostgreSQL the lookups of the moment go together; a lone one, or
    # one on SQLite, as one statement.
    if quota.app.state.runtime.db.on_asyncpg:
        monkeypatch.setattr(LookupsTogether, "get", get)
    else:
        monkeypatch.setattr(Database, "fetch_alone", alone)
    await quota.baseline(JIZHOU, "20")
    mine = await _reserve(quota)
    r = await quota.client.post(
        f"/quota/reservations/{mine['id']}/allocate", json={"amount_t": "1"}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    assert looked_up == []  # made here: its pool known
    other = create(Settings(database_url=db_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(other) as client:
        theirs = await client.post(
            "/quota/reservations",
            json={**PROJECT, "project_ref": "JZ-2026-002"},
            headers=OFFICER,
        )
        assert theirs.status_code == 201, theirs.text
        tid = theirs.json()["id"]
    for _ in range(2):  # this process did not make it: looked up once, then known
        r = await quota.client.post(
            f"/quota/reservations/{tid}/allocate", json={"amount_t": "1"}, headers=OFFICER
        )
        assert r.status_code in (200, 409), r.text
    assert looked_up == [tid]
    # Remembered, but not there (a reservation never made, or gone): not found.
    db = quota.app.state.runtime.db
    service.remember_pool_of(db, "R-NOT-THERE", f"{JIZHOU}:VOCs")
    r = await quota.client.post(
        "/quota/reservations/R-NOT-THERE/allocate", json={}, headers=OFFICER
    )
    assert r.status_code == 404, r.text
    # Bounded: the oldest is forgotten first.
    monkeypatch.setattr(service, "KNOWN_POOLS_MAX", 2)
    for rid in ("a", "b", "c"):
        service.remember_pool_of(db, rid, f"{JIZHOU}:VOCs")
    assert list(service._known_pools(db)) == ["b", "c"]


async def test_a_project_ref_that_looks_like_another_is_not_a_second_project(
    quota: Quota,
) -> None:
    """A project's ref is unique among live holds: one with a zero-width
    space, a word joiner or a byte-order mark in it looked like the held
    one and held the project's quota a second time."""
    await quota.baseline(JIZHOU, "30")
    held = await _reserve(quota)
    for hidden in ("\u200b", "\u2060", "\ufeff", "\u200d"):
        ref = PROJECT["project_ref"][:1] + hidden + PROJECT["project_ref"][1:]
        r = await quota.client.post(
            "/quota/reservations",
            json={**PROJECT, "project_ref": ref},
            headers={**OFFICER, "accept-language": "en"},
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        (error,) = r.json()["errors"]
        assert error["field"] == "project_ref", r.text
        assert f"character 2 (U+{ord(hidden):04X}) cannot be seen" in error["message"]
    assert (await quota.availability(JIZHOU))["reserved_t"] == held["required_t"]
    assert len(await quota.events("quota.reserved.v1")) == 1


def full_width(ref: str) -> str:
    """`ref` as a Chinese input method in full-width mode types it."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in ref)


async def test_a_full_width_project_ref_is_the_same_project(quota: Quota) -> None:
    """Typed with a Chinese input method in full-width mode, "ＪＺ－２０２６－００１"
    was another project than "JZ-2026-001": one project held twice. It is
    the same ref, stored and matched in ASCII: a second hold of it is the
    409 of any project held, in whichever form it comes first; the same
    request in the other form is answered with the hold. Case counts."""
    await quota.baseline(JIZHOU, "30")
    wide = full_width(PROJECT["project_ref"])
    assert wide == "ＪＺ－２０２６－００１"
    held = await _reserve(quota)
    r = await quota.client.post(
        "/quota/reservations",
        json={**PROJECT, "project_ref": wide, "uscc": make_uscc(JIZHOU, 1)},
        headers=OFFICER,
    )
    assert r.status_code == 409, r.text
    assert (r.json()["reason"], r.json()["reservation_id"]) == ("project_reserved", held["id"])
    assert "JZ-2026-001" in r.json()["detail"]
    # The same request in full-width, or half of it, finds the hold it made.
    for ref in (wide, "ＪＺ-2026-００１"):
        r = await quota.client.post(
            "/quota/reservations", json={**PROJECT, "project_ref": ref}, headers=OFFICER
        )
        assert (r.status_code, r.json()["id"]) == (200, held["id"]), r.text
    # Held first in full-width: kept as ASCII, and the ASCII form finds it.
    first = await quota.client.post(
        "/quota/reservations",
        json={**PROJECT, "project_ref": "Ｐ－９\u3000Ａ"},
        headers=OFFICER,
    )
    assert first.status_code == 201, first.text
    assert first.json()["project_ref"] == "P-9 A"
    r = await quota.client.post(
        "/quota/reservations",
        json={**PROJECT, "project_ref": "P-9 A", "increment_t": "1"},
        headers=OFFICER,
    )
    assert (r.status_code, r.json()["reservation_id"]) == (409, first.json()["id"]), r.text
    [reserved] = [
        e for e in await quota.events("quota.reserved.v1") if e["project_ref"] != "JZ-2026-001"
    ]
    assert reserved["project_ref"] == "P-9 A"
    # Case is kept and counts: "p-9 a" is another project.
    r = await quota.client.post(
        "/quota/reservations",
        json={**PROJECT, "project_ref": "ｐ－９ ａ"},
        headers=OFFICER,
    )
    assert (r.status_code, r.json()["project_ref"]) == (201, "p-9 a"), r.text
    # An ideographic space around it is a space around it: refused.
    r = await quota.client.post(
        "/quota/reservations",
        json={**PROJECT, "project_ref": "\u3000Ｐ－１０"},
        headers=OFFICER,
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "project_ref"
    assert len(await quota.events("quota.reserved.v1")) == 3


async def test_the_api_says_how_a_project_ref_is_read(quota: Quota) -> None:
    r = await quota.client.get("/quota/openapi.json")
    assert r.status_code == 200, r.text
    field = r.json()["components"]["schemas"]["ReservationIn"]["properties"]["project_ref"]
    assert "full-width" in field["description"] and "P-9" in field["description"]
    assert "letter case is kept" in field["description"]


async def _lots_of(quota: Quota, district: str, pollutant: str = "VOCs") -> list[int]:
    r = await quota.client.get(
        "/quota/lots", params={"district": district, "pollutant": pollutant}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    return sorted(int(lot["id"]) for lot in r.json()["items"])


async def test_a_named_lot_of_another_pool_is_refused_on_its_field(quota: Quota) -> None:
    """A lot of another district's or pollutant's pool, or no lot at all, is
    not short: a 422 on `lot_id` says what it is (it was a 409 `lot_short`
    saying "0 t available" of a lot that may have plenty). A lot of the
    pool that lacks the need is still short."""
    await quota.baseline(JIZHOU, "20")
    await quota.baseline(JIZHOU, "5")  # a second, small lot
    await quota.baseline(BAODI, "50")
    r = await quota.client.post(
        f"/quota/pools/{JIZHOU}/NOx/baseline", json={"amount_t": "50"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    [_, small] = await _lots_of(quota, JIZHOU)
    [baodis] = await _lots_of(quota, BAODI)
    [nox] = await _lots_of(quota, JIZHOU, "NOx")
    # An admin bound to 蓟州区 alone may not act in 宝坻区: it is not named.
    jizhou_admin = testing.auth("admin", [JIZHOU], sub="admin.jizhou")

    async def refused(lot_id: int, headers: dict[str, str], lang: str = "zh-CN") -> str:
        r = await quota.client.post(
            "/quota/reservations",
            json={**PROJECT, "lot_id": lot_id},
            headers={**headers, "Accept-Language": lang},
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        [error] = r.json()["errors"]
        assert error["field"] == "lot_id", error
        return str(error["message"])

    said = await refused(baodis, ADMIN)
    assert f"批次 {baodis} 所在区为宝坻区（{BAODI}）" in said and "蓟州区" in said, said
    said = await refused(baodis, ADMIN, "en")
    assert f"lot {baodis} is in district 宝坻区 ({BAODI})" in said, said
    said = await refused(baodis, jizhou_admin)
    assert "不属于本记录所在的蓟州区" in said and "宝坻区" not in said and BAODI not in said, said
    said = await refused(nox, ADMIN)
    assert "氮氧化物（NOx）" in said and "挥发性有机物（VOCs）" in said, said
    said = await refused(nox, ADMIN, "en")
    assert f"lot {nox} is of a pool of nitrogen oxides (NOx)" in said, said
    assert await refused(999_999, ADMIN) == "批次 999999 不存在"
    assert await refused(999_999, ADMIN, "en") == "there is no lot 999999"
    # Nothing was held, anywhere.
    assert (await quota.availability(JIZHOU))["reserved_t"] == "0.000"
    assert (await quota.availability(BAODI))["reserved_t"] == "0.000"
    # The pool's own lot, short of the need (6 t of a 5 t lot, the pool
    # holding 25 t): a 409 lot_short, as before.
    r = await quota.client.post(
        "/quota/reservations", json={**PROJECT, "increment_t": "3", "lot_id": small}, headers=ADMIN
    )
    assert r.status_code == 409, r.text
    assert (r.json()["reason"], r.json()["lot_id"], r.json()["available_t"]) == (
        "lot_short",
        small,
        "5.000",
    )
    # And the pool's lot that has it gives it.
    r = await quota.client.post(
        "/quota/reservations", json={**PROJECT, "lot_id": small}, headers=ADMIN
    )
    assert r.status_code == 201 and r.json()["lots"] == [[small, 5000]], r.text
