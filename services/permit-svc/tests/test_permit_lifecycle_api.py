"""Every lifecycle transition of a permit through the HTTP API, legal and
illegal, with the statutory clock and the events each step publishes."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from typing import Any

from permit_svc.calendar import local_today
from permit_svc.permits import expiry as permits
from permit_svc.registrations import service as registrations
from sqlalchemy import select
from svc_common import testing
from svc_common.events.envelope import Envelope
from svc_common.events.registry import registry
from svc_common.events.schemas.permit import PermitCancelled
from svc_common.tables import AuditEntry
from svc_common.types import utcnow
from svc_common.uscc import make_uscc

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])
_serials = itertools.count(1000)

BODIES: dict[str, dict[str, Any] | None] = {
    "issue": None,
    "reject": {"reason": "申请材料不全"},
    "change": {"pollutants": [{"pollutant": "NOx", "amount_t": "2.5"}], "reason": "new burner"},
    "renew": None,
    "suspend": {"reason": "discharging beyond the permit"},
    "reinstate": {"reason": "rectified"},
    "revoke": {"reason": "obtained by fraud"},
    "cancel": {"reason": "closure", "note": "plant closed"},
}
#: (state, action) → state after, for every legal step a caller can take.
LEGAL = {
    ("applied", "issue"): "issued",
    ("applied", "reject"): "rejected",
    ("issued", "change"): "issued",
    ("issued", "renew"): "issued",
    ("issued", "suspend"): "suspended",
    ("issued", "revoke"): "revoked",
    ("issued", "cancel"): "cancelled",
    ("suspended", "reinstate"): "issued",
    ("suspended", "revoke"): "revoked",
    ("suspended", "cancel"): "cancelled",
    ("revoked", "cancel"): "cancelled",
    ("expired", "cancel"): "cancelled",
}
STATES = ("applied", "rejected", "issued", "suspended", "revoked", "cancelled", "expired")


async def act(svc: Service, permit_id: str, action: str) -> Any:
    body = BODIES[action]
    return await svc.http.post(
        f"/permit/permits/{permit_id}/{action}",
        headers=OFFICER,
        **({"json": body} if body is not None else {}),
    )


async def existing_permit(svc: Service, uscc: str, valid_to: dt.date, vocs: str = "3.2") -> str:
    """An existing certificate brought onto the register by the bulk import."""
    row = {
        "uscc": uscc,
        "pollutants": [
            {"pollutant": "VOCs", "amount_t": vocs},
            {"pollutant": "NOx", "amount_t": "1.5"},
        ],
        "valid_from": (valid_to - dt.timedelta(days=5 * 365)).isoformat(),
        "valid_to": valid_to.isoformat(),
    }
    r = await svc.http.post(
        "/permit/permits:import",
        content=json.dumps(row).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["created"] == 1, r.text
    return str(r.json()["results"][0]["id"])


async def permit_in(svc: Service, state: str) -> str:
    """A permit of a fresh enterprise, brought to `state` through the API."""
    uscc = await svc.enterprise(next(_serials))
    if state in ("applied", "rejected"):
        r = await svc.http.post(
            "/permit/permits",
            json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]},
            headers=OFFICER,
        )
        assert r.status_code == 201, r.text
        if state == "rejected":
            assert (await act(svc, r.json()["id"], "reject")).status_code == 200
        return str(r.json()["id"])
    today = local_today(utcnow())
    if state == "expired":
        pid = await existing_permit(svc, uscc, today)
        assert await permits.expire_due(svc.db, utcnow() + dt.timedelta(days=2)) >= 1
        return pid
    # Ending in 30 days: inside the renewal window, so `renew` is possible.
    pid = await existing_permit(svc, uscc, today + dt.timedelta(days=30))
    step = {"suspended": "suspend", "revoked": "revoke", "cancelled": "cancel"}.get(state)
    if step:
        assert (await act(svc, pid, step)).status_code == 200
    return pid


async def test_every_transition_legal_and_illegal(svc: Service) -> None:
    for state, action in itertools.product(STATES, BODIES):
        pid = await permit_in(svc, state)
        r = await act(svc, pid, action)
        if (state, action) in LEGAL:
            assert r.status_code == 200, (state, action, r.text)
            assert r.json()["status"] == LEGAL[(state, action)]
            assert r.json()["last_action"] == action
        else:
            assert r.status_code == 409, (state, action, r.text)
            problem = r.json()
            allowed = [a for (s, a) in LEGAL if s == state]
            assert problem["type"].endswith(":illegal-transition")
            assert problem["allowed"] == allowed, (state, action)
            assert problem["state"] == state and problem["action"] == action
            # Nothing changed.
            after = await svc.http.get(f"/permit/permits/{pid}", headers=OFFICER)
            assert after.json()["status"] == state


async def test_issue_numbers_terms_and_events(svc: Service) -> None:
    uscc = await svc.enterprise(1)
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "COD", "amount_t": "0.125"}]},
        headers=OFFICER,
    )
    pid = r.json()["id"]
    assert r.json()["permit_no"] is None and r.json()["allowed_actions"] == ["issue", "reject"]
    issued = (await act(svc, pid, "issue")).json()
    today = local_today(utcnow())
    assert issued["permit_no"] == uscc + "001P"
    assert issued["valid_from"] == today.isoformat()
    assert (
        issued["valid_to"]
        == (today.replace(year=today.year + 5) - dt.timedelta(days=1)).isoformat()
    )
    assert issued["pollutants"] == [{"pollutant": "COD", "amount_t": "0.125"}]
    (env,) = await svc.events("permit.issued.v1")
    assert env["data"]["permit_no"] == uscc + "001P" and env["partitionkey"] == pid
    # One permit per enterprise (一证式): a second application cannot be issued.
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "COD", "amount_t": "1"}]},
        headers=OFFICER,
    )
    again = await act(svc, r.json()["id"], "issue")
    assert again.status_code == 409 and again.json()["permit_no"] == uscc + "001P"
    # Renewing years ahead of expiry is refused, saying when it opens.
    early = await act(svc, pid, "renew")
    assert early.status_code == 409 and "renewal opens on" in early.json()["detail"]
    # Each step is in the audit trail, in the transaction of the change; the
    # refused renewal left nothing.
    for action in ("suspend", "reinstate", "change"):
        assert (await act(svc, pid, action)).status_code == 200
    async with svc.db.session() as s:
        trail = (
            await s.execute(
                select(AuditEntry.action, AuditEntry.actor)
                .where(AuditEntry.target_id == pid)
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [a for a, _ in trail] == [
        "permit.apply",
        "permit.issue",
        "permit.suspend",
        "permit.reinstate",
        "permit.change",
    ]
    assert {actor for _, actor in trail} == {"officer.test"}


async def test_change_publishes_deltas_and_renewal_follows_on(svc: Service) -> None:
    uscc = await svc.enterprise(2)
    today = local_today(utcnow())
    pid = await existing_permit(svc, uscc, today + dt.timedelta(days=40), vocs="12.5")
    r = await svc.http.post(
        f"/permit/permits/{pid}/change",
        json={
            "pollutants": [
                {"pollutant": "VOCs", "amount_t": "9.250"},
                {"pollutant": "NOx", "amount_t": "1.5"},
            ],
            "reason": "solvent replaced by water-based coating",
        },
        headers=OFFICER,
    )
    assert r.status_code == 200, r.text
    assert r.json()["vocs_t"] == "9.250"
    (env,) = await svc.events("permit.changed.v1")
    assert env["data"]["vocs_delta_t"] == "-3.250"
    assert env["data"]["pollutant_changes"] == [
        {"pollutant": "VOCs", "before_t": "12.500", "after_t": "9.250", "delta_t": "-3.250"}
    ]
    # The same amounts again is no change at all.
    same = await svc.http.post(
        f"/permit/permits/{pid}/change",
        json={
            "pollutants": [
                {"pollutant": "VOCs", "amount_t": "9.25"},
                {"pollutant": "NOx", "amount_t": "1.500"},
            ],
            "reason": "again",
        },
        headers=OFFICER,
    )
    assert same.status_code == 422 and same.json()["errors"][0]["field"] == "pollutants"
    # A reason of spaces alone says nothing, here as for every other reason.
    blank = await svc.http.post(
        f"/permit/permits/{pid}/change",
        json={"pollutants": [{"pollutant": "VOCs", "amount_t": "9"}], "reason": "   "},
        headers=OFFICER,
    )
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "reason"
    renewed = (await act(svc, pid, "renew")).json()
    old_end = today + dt.timedelta(days=40)
    assert renewed["valid_from"] == (old_end + dt.timedelta(days=1)).isoformat()
    (env,) = await svc.events("permit.renewed.v1")
    assert env["data"]["valid_to"] == renewed["valid_to"]


async def test_cancel_for_closure_frees_vocs_for_reclaim(svc: Service) -> None:
    uscc = await svc.enterprise(3)
    pid = await existing_permit(svc, uscc, local_today(utcnow()) + dt.timedelta(days=900), "18.6")
    r = await svc.http.post(
        f"/permit/permits/{pid}/cancel",
        json={"reason": "closure", "note": "关停"},
        headers=testing.auth("officer", [BAODI], idem="cancel-1"),
    )
    assert r.status_code == 200 and r.json()["cancel_reason"] == "closure"
    (env_json,) = await svc.events("permit.cancelled.v1")
    # The envelope as quota-svc receives it: through the wire format and the shared schema.
    env = Envelope.model_validate(env_json)
    received = Envelope.from_message(env.to_message("permit.events"))
    assert received.id == env.id and received.type == "permit.cancelled.v1"
    model = registry.model_for(received.type)
    assert model is not None
    payload = model.model_validate(received.data)
    assert isinstance(payload, PermitCancelled)
    assert payload.vocs_freed_t == Decimal("18.600")
    assert payload.reason == "closure" and payload.uscc == uscc
    assert {p.pollutant: str(p.amount_t) for p in payload.pollutants_freed} == {
        "VOCs": "18.600",
        "NOx": "1.500",
    }
    # The enterprise is closed, so it leaves the fixed-source count.
    e = await svc.http.get(f"/permit/enterprises/{uscc}", headers=OFFICER)
    assert e.json()["operating_status"] == "closed"
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "VOCs", "amount_t": "1"}]},
        headers=OFFICER,
    )
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    # Replaying the request (same Idempotency-Key) does not cancel twice.
    again = await svc.http.post(
        f"/permit/permits/{pid}/cancel",
        json={"reason": "closure", "note": "关停"},
        headers=testing.auth("officer", [BAODI], idem="cancel-1"),
    )
    assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
    assert len(await svc.events("permit.cancelled.v1")) == 1


async def test_a_cut_or_a_cancellation_names_who_made_it(svc: Service) -> None:
    """`permit.changed` and `permit.cancelled` carry the sub of the officer
    who made them (`actor`): quota-svc lets someone else confirm the reclaim
    of what they free (four eyes)."""
    pid = await existing_permit(
        svc, await svc.enterprise(5), local_today(utcnow()) + dt.timedelta(days=900)
    )
    cut = {"pollutants": [{"pollutant": "VOCs", "amount_t": "1"}], "reason": "治理设施升级"}
    wang = testing.auth("officer", [BAODI], sub="officer.wang")
    r = await svc.http.post(f"/permit/permits/{pid}/change", json=cut, headers=wang)
    assert r.status_code == 200, r.text
    zhao = testing.auth("officer", [BAODI], sub="officer.zhao")
    r = await svc.http.post(
        f"/permit/permits/{pid}/cancel", json={"reason": "closure"}, headers=zhao
    )
    assert r.status_code == 200, r.text
    (changed,) = await svc.events("permit.changed.v1")
    (cancelled,) = await svc.events("permit.cancelled.v1")
    assert (changed["data"]["actor"], changed["data"]["vocs_delta_t"]) == ("officer.wang", "-2.200")
    assert (cancelled["data"]["actor"], cancelled["data"]["vocs_freed_t"]) == (
        "officer.zhao",
        "1.000",
    )


async def test_statutory_clock_expires_permits_and_registrations(svc: Service) -> None:
    today = local_today(utcnow())
    soon = await existing_permit(svc, await svc.enterprise(4), today + dt.timedelta(days=10))
    later = await existing_permit(svc, await svc.enterprise(5), today + dt.timedelta(days=200))
    reg_uscc = await svc.enterprise(6, industry="3311")
    r = await svc.http.post("/permit/registrations", json={"uscc": reg_uscc}, headers=OFFICER)
    assert r.status_code == 201
    # Renewal reminders: what is in force and ends within 60 days.
    r = await svc.http.get("/permit/permits?expiring_within_days=60", headers=OFFICER)
    assert [p["id"] for p in r.json()["items"]] == [soon]
    assert r.json()["items"][0]["renewal_due"] == (today - dt.timedelta(days=50)).isoformat()
    # The whole list, soonest first, a page at a time.
    seen, cursor = [], None
    while True:
        page = (
            await svc.http.get(
                "/permit/permits?limit=1" + (f"&cursor={cursor}" if cursor else ""),
                headers=OFFICER,
            )
        ).json()
        seen += [p["id"] for p in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [soon, later]
    for bad in ("bm90LWEtbGlzdA", "WyJub3QtYS1kYXkiLCAieCJd"):  # "not-a-list", ["not-a-day","x"]
        r = await svc.http.get(f"/permit/permits?cursor={bad}", headers=OFFICER)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    # Nothing is due today.
    assert await permits.expire_due(svc.db, utcnow()) == 0
    eleven_days_on = utcnow() + dt.timedelta(days=11)
    assert await permits.expire_due(svc.db, eleven_days_on) == 1
    assert await permits.expire_due(svc.db, eleven_days_on) == 0  # a second sweep: no-op
    got = (await svc.http.get(f"/permit/permits/{soon}", headers=OFFICER)).json()
    assert got["status"] == "expired"
    assert (await svc.http.get(f"/permit/permits/{later}", headers=OFFICER)).json()[
        "status"
    ] == "issued"
    (env,) = await svc.events("permit.expired.v1")
    assert env["data"]["expired_on"] == (today + dt.timedelta(days=11)).isoformat()
    six_years_on = utcnow() + dt.timedelta(days=6 * 366)
    assert await registrations.expire_due(svc.db, six_years_on) == 1
    assert len(await svc.events("registration.expired.v1")) == 1


BAD_APPLICATIONS: list[tuple[dict[str, Any], str]] = [
    ({"pollutants": [{"pollutant": "VOCs", "amount_t": "1"}]}, "uscc"),
    ({"uscc": "91120115000000001K", "pollutants": []}, "uscc"),
    (
        {"uscc": "X", "pollutants": [{"pollutant": "VOCs", "amount_t": "1.0005"}]},
        "pollutants.0.amount_t",
    ),
    ({"uscc": "X", "pollutants": [{"pollutant": "Hg", "amount_t": "1"}]}, "pollutants.0.pollutant"),
    (
        {"uscc": "X", "pollutants": [{"pollutant": "VOCs", "amount_t": "-1"}]},
        "pollutants.0.amount_t",
    ),
    ({"uscc": "X", "pollutants": [{"pollutant": "VOCs", "amount_t": "1"}] * 2}, "pollutants"),
]


async def test_bad_applications_are_422_naming_the_field(svc: Service) -> None:
    for body, field in BAD_APPLICATIONS:
        r = await svc.http.post("/permit/permits", json=body, headers=OFFICER)
        assert r.status_code == 422, r.text
        assert field in {e["field"] for e in r.json()["errors"]}, (field, r.json())
    # A well-formed code of no known enterprise: 422 naming uscc; nothing written.
    body = {"uscc": make_uscc(BAODI, 999), "pollutants": [{"pollutant": "VOCs", "amount_t": "1"}]}
    r = await svc.http.post("/permit/permits", json=body, headers=OFFICER)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "uscc"
    assert (await svc.http.get("/permit/permits", headers=OFFICER)).json()["items"] == []


async def test_district_scoping_and_roles(svc: Service) -> None:
    uscc = await svc.enterprise(7)
    body = {"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]}
    elsewhere = testing.auth("officer", ["120119"])
    # Another district's enterprise is answered as one not here (422 on
    # uscc), never a 403 naming where it is.
    r = await svc.http.post("/permit/permits", json=body, headers=elsewhere)
    assert r.status_code == 422 and "district" not in r.json(), r.text
    assert r.json()["errors"][0]["message"].startswith("no enterprise has this code here")
    r = await svc.http.post("/permit/permits", json=body, headers=testing.auth("auditor"))
    assert r.status_code == 403
    r = await svc.http.get("/permit/permits", headers=elsewhere)
    assert r.status_code == 200 and r.json()["items"] == []
    r = await svc.http.get(f"/permit/permits?district={BAODI}", headers=elsewhere)
    assert r.status_code == 403


async def test_an_application_refused_says_why_and_leaves_the_way_open(svc: Service) -> None:
    """不予许可: an application is refused with its reason, audited, never
    issued; it drew nothing, so the enterprise may still bring in its
    existing certificate; a refusal needs a reason."""
    uscc = await svc.enterprise(next(_serials))
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "VOCs", "amount_t": "2"}]},
        headers=OFFICER,
    )
    pid = r.json()["id"]
    for blank in ({}, {"reason": "   "}):
        r = await svc.http.post(f"/permit/permits/{pid}/reject", json=blank, headers=OFFICER)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text
    r = await act(svc, pid, "reject")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["status_reason"]) == ("rejected", "申请材料不全")
    assert r.json()["permit_no"] is None and r.json()["quota_drawn_t"] == "0.000"
    async with svc.db.session() as s:
        audited = await s.scalar(
            select(AuditEntry.detail).where(
                AuditEntry.target_id == pid, AuditEntry.action == "permit.reject"
            )
        )
    assert audited is not None and audited["reason"] == "申请材料不全"
    assert (await act(svc, pid, "issue")).status_code == 409
    # Never issued: the enterprise's existing certificate still comes in.
    await existing_permit(svc, uscc, local_today(utcnow()) + dt.timedelta(days=400))
