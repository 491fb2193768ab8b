"""Lifecycle steps of one permit, and filings of one registration, sent at
the same moment on PostgreSQL end as they would one after the other: the
steps that succeed chain from the permit's status, each with one audit
entry and one event; a repeated filing under one Idempotency-Key or under
keys of its own files one registration. No answer is a 5xx."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from itertools import pairwise

import httpx
import pytest
from permit_svc.app import create
from permit_svc.settings import Settings
from sqlalchemy import select
from svc_common import testing
from svc_common.tables import AuditEntry, OutboxRow

from .conftest import BAODI, Service

pytestmark = pytest.mark.pg

OFFICER = testing.auth("officer", [BAODI])
OFFICER2 = testing.auth("officer", [BAODI], sub="officer.two")

#: Each step's body (NOx only: no quota is drawn) and the event it publishes.
STEPS: dict[str, tuple[dict[str, object] | None, str]] = {
    "suspend": ({"reason": "执法检查"}, "permit.suspended.v1"),
    "reinstate": ({}, "permit.reinstated.v1"),
    "revoke": ({"reason": "违法排污"}, "permit.revoked.v1"),
    "cancel": ({"reason": "closure"}, "permit.cancelled.v1"),
    "change": (
        {"pollutants": [{"pollutant": "NOx", "amount_t": "1"}], "reason": "核减"},
        "permit.changed.v1",
    ),
}


@pytest.fixture
async def svc(pg_url: str) -> AsyncIterator[Service]:
    app = create(Settings(database_url=pg_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        yield Service(app, http)


def no_5xx(answers: list[httpx.Response]) -> None:
    assert all(r.status_code < 500 for r in answers), [r.text for r in answers]


async def _issued(svc: Service, serial: int) -> str:
    uscc = await svc.enterprise(serial)
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "2"}]},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    pid = str(r.json()["id"])
    r = await svc.http.post(f"/permit/permits/{pid}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    return pid


async def test_lifecycle_steps_sent_at_once_chain_as_one_after_the_other(svc: Service) -> None:
    for round_ in range(3):
        pid = await _issued(svc, 8100 + round_)
        sent = [(action, who) for action in STEPS for who in (OFFICER, OFFICER2, OFFICER)]
        answers = await asyncio.gather(
            *(
                svc.http.post(
                    f"/permit/permits/{pid}/{action}",
                    json=STEPS[action][0],
                    headers={**who, "Idempotency-Key": f"{round_}-{action}-{i}"},
                )
                for i, (action, who) in enumerate(sent)
            )
        )
        no_5xx(answers)
        assert {r.status_code for r in answers} <= {200, 409}, [r.text for r in answers]
        done = Counter(a for (a, _), r in zip(sent, answers, strict=True) if r.status_code == 200)
        async with svc.db.session() as s:
            trail = (
                await s.execute(
                    select(AuditEntry.action, AuditEntry.detail)
                    .where(AuditEntry.target_id == pid, AuditEntry.action != "permit.apply")
                    .order_by(AuditEntry.id)
                )
            ).all()
            events = Counter(
                await s.scalars(select(OutboxRow.event_type).where(OutboxRow.key == pid))
            )
        steps = [(action.removeprefix("permit."), detail) for action, detail in trail]
        assert steps[0][0] == "issue"
        # Each step starts where the one before it left the permit.
        for (_, before), (_, after) in pairwise(steps):
            assert after is not None and before is not None
            assert after["from"] == before["to"], steps
        final = (await svc.http.get(f"/permit/permits/{pid}", headers=OFFICER)).json()
        assert final["status"] == steps[-1][1]["to"], (final, steps)
        assert Counter(a for a, _ in steps[1:]) == done, (steps, done)
        assert events == Counter(
            {"permit.issued.v1": 1, **{STEPS[a][1]: n for a, n in done.items()}}
        ), events


async def test_a_registration_filed_at_once_is_filed_once(svc: Service) -> None:
    uscc = await svc.enterprise(8200, industry="2921")
    answers = await asyncio.gather(
        *(
            svc.http.post(
                "/permit/registrations",
                json={"uscc": uscc},
                headers={**OFFICER, "Idempotency-Key": "file-once"},
            )
            for _ in range(6)
        ),
        *(
            svc.http.post(
                "/permit/registrations",
                json={"uscc": uscc},
                headers={**OFFICER2, "Idempotency-Key": f"file-{i}"},
            )
            for i in range(6)
        ),
    )
    no_5xx(answers)
    created = [r for r in answers if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1, [r.text for r in answers]
    # The twins under one key got one answer: the registration, or the
    # refusal the other officer's filing caused.
    twins = answers[:6]
    assert len({(r.status_code, r.content) for r in twins}) == 1, [r.text for r in twins]
    assert all(r.status_code == 409 for r in answers[6:] if r not in created)
    assert len(await svc.events("registration.filed.v1")) == 1
    async with svc.db.session() as s:
        filed = (
            await s.scalars(select(AuditEntry.id).where(AuditEntry.action == "registration.file"))
        ).all()
    assert len(filed) == 1
