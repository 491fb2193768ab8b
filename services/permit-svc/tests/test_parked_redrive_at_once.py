"""A parked filing re-driven while its approval, sent again, is handled, on
PostgreSQL where the two really run side by side: they take their locks in
one order (the parked row, then the enterprise and the application that
drafting writes), so one waits for the other instead of deadlocking (the
handler used to lock the parked row after drafting; PostgreSQL broke the
cycle, and the re-drive answered 503 or the event was retried). One
application is drafted, and the parked filing shows it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from permit_svc.app import create
from permit_svc.settings import Settings
from svc_common import inbox, testing
from svc_common.events.schemas.eia import FilingApproved

from .conftest import Service
from .test_parked_filings import approved, parked

pytestmark = pytest.mark.pg

ADMIN = testing.auth("admin")
APPROVED = FilingApproved.event_type


@pytest.fixture
async def svc(pg_url: str) -> AsyncIterator[Service]:
    app = create(Settings(database_url=pg_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        yield Service(app, http)


def handler_failures() -> float:
    return sum(
        inbox.FAILURES.labels("permit-svc", APPROVED, kind)._value.get()
        for kind in ("transient", "permanent")
    )


async def parked_then_registered(svc: Service, serial: int) -> FilingApproved:
    """A filing parked for want of its enterprise's class, whose enterprise
    an officer then registers: both a re-drive and the approval sent again
    draft it now."""
    event = approved(serial)
    await testing.deliver(svc.app, event)
    await svc.enterprise(serial, industry="C2641")
    return event


async def drafted_once(svc: Service, event: FilingApproved) -> None:
    r = await svc.http.get(f"/permit/permits?uscc={event.uscc}", headers=ADMIN)
    assert r.status_code == 200, r.text
    (draft,) = r.json()["items"]
    done = {i["filing_id"]: i for i in (await parked(svc, "?state=drafted", ADMIN))["items"]}
    assert done[event.filing_id]["permit_id"] == draft["id"]


def redrive(svc: Service, event: FilingApproved) -> Any:
    return svc.http.post(f"/permit/parked-filings/{event.filing_id}/redrive", headers=ADMIN)


def answered(r: httpx.Response) -> None:
    # 409: the handler drafted it first.
    assert r.status_code in (200, 409), r.text
    if r.status_code == 409:
        assert r.json()["state"] == "drafted", r.text


async def test_a_redrive_and_the_approval_at_the_deadlock_s_interleaving(
    svc: Service, pg_url: str
) -> None:
    """The interleaving that deadlocked, made certain: a side transaction
    holds the parked row; the re-drive waits for it first, then the
    handler (which used to have written the application by then). The
    re-drive gets the row when the side transaction ends, and drafts."""
    event = await parked_then_registered(svc, 1)
    before = handler_failures()
    side = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:

        async def waiting(n: int, what: str) -> None:
            for _ in range(1000):
                found = await side.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")
                if found >= n:
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(f"{what} never waited for a lock")

        holding = side.transaction()
        await holding.start()
        await side.execute(
            "SELECT 1 FROM parked_filings WHERE filing_id = $1 FOR UPDATE", event.filing_id
        )
        redriven = asyncio.create_task(redrive(svc, event))
        await waiting(1, "the re-drive")
        handled = asyncio.create_task(testing.deliver(svc.app, event))
        await waiting(2, "the approval's handler")
        await holding.rollback()
        r = await asyncio.wait_for(redriven, 60)
        await asyncio.wait_for(handled, 60)
    finally:
        await side.close()
    answered(r)
    assert handler_failures() == before, "the approval's handler failed and was retried"
    await drafted_once(svc, event)


async def test_redrives_and_approvals_at_once(svc: Service) -> None:
    """Side by side, as they come: never a 503, never a retried event."""
    before = handler_failures()
    for serial in range(10, 22):
        event = await parked_then_registered(svc, serial)
        r, _ = await asyncio.gather(redrive(svc, event), testing.deliver(svc.app, event))
        answered(r)
        await drafted_once(svc, event)
    assert handler_failures() == before, "the approval's handler failed and was retried"
