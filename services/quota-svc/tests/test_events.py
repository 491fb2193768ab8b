"""Handlers of eia-svc's and permit-svc's events, delivered through the inbox
with payloads built from the shared schemas: one effect per event, and per
business key when an event is re-published under a new id."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from quota_svc import events as quota_events
from quota_svc.app import create
from quota_svc.reservations import service as reservations_service
from quota_svc.reservations.models import ReservationRow
from quota_svc.reservations.service import expire_due
from quota_svc.settings import Settings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import testing
from svc_common.events.schemas.common import PollutantAmount
from svc_common.events.schemas.eia import (
    FilingAccepted,
    FilingApproved,
    FilingQuotaRetry,
    FilingRejected,
    FilingWithdrawn,
    ParkRegistered,
)
from svc_common.events.schemas.permit import PermitCancelled, PermitChanged
from svc_common.tables import AuditEntry, DeadLetter

from .conftest import AUDITOR, JIZHOU, OFFICER, Quota

USCC = "91120225MA05XXXX0X"


def accepted(
    filing: str = "F-1", increment: str = "3", attempt: int = 1, **kw: object
) -> FilingAccepted:
    fields: dict[str, object] = dict(
        filing_id=filing,
        project_ref=f"proj-{filing}",
        project_name="涂装线扩建",
        uscc=USCC,
        enterprise_name="蓟州某家具有限公司",
        district=JIZHOU,
        industry_code="C2110",
        project_type="furniture",
        category="report_form",
        channel="normal",
        vocs_increment_t=Decimal(increment),
        attempt=attempt,
    )
    fields.update(kw)
    return FilingAccepted(**fields)  # type: ignore[arg-type]


def approved(filing: str = "F-1", increment: str = "3") -> FilingApproved:
    return FilingApproved(
        filing_id=filing,
        project_ref=f"proj-{filing}",
        project_name="涂装线扩建",
        uscc=USCC,
        enterprise_name="蓟州某家具有限公司",
        district=JIZHOU,
        industry_code="C2110",
        category="report_form",
        vocs_increment_t=Decimal(increment),
    )


async def test_accepted_reserves_once_even_if_resent(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "10")
    env = await testing.deliver(quota.app, accepted())
    await testing.redeliver(quota.app, env, "eia.events")  # the same event again
    await testing.deliver(quota.app, accepted())  # asked again under a new id
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["available_t"]) == ("6.000", "4.000")
    # One hold; the request asked again is answered again, with the same hold.
    reserved, answer = await quota.events("quota.reserved.v1")
    assert answer["reservation_id"] == reserved["reservation_id"]
    assert (reserved["project_ref"], reserved["required_t"], reserved["uscc"]) == (
        "proj-F-1",
        "6.000",
        USCC,
    )


async def test_refused_then_retried_after_a_reclaim(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "5")
    await testing.deliver(quota.app, accepted(increment="3"))
    [refused] = await quota.events("quota.reservation_rejected.v1")
    assert (refused["required_t"], refused["available_t"], refused["shortfall_t"]) == (
        "6.000",
        "5.000",
        "1.000",
    )
    assert (await quota.availability(JIZHOU))["reserved_t"] == "0.000"
    # A closed plant frees 2 t; an officer confirms; the filing is retried.
    await testing.deliver(quota.app, cancelled("PM-9", "2"))
    [candidate] = (await quota.client.get("/quota/reclaims", headers=OFFICER)).json()["items"]
    r = await quota.client.post(f"/quota/reclaims/{candidate['id']}/confirm", headers=OFFICER)
    assert r.status_code == 200, r.text
    retry = FilingQuotaRetry(**{**accepted(increment="3").model_dump(), "attempt": 2})
    await testing.deliver(quota.app, retry)
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["available_t"]) == ("6.000", "1.000")
    [held] = await quota.events("quota.reserved.v1")
    assert held["attempt"] == 2


async def test_approved_allocates_and_rejected_releases_once(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    await testing.deliver(quota.app, accepted("F-1", "3"))
    await testing.deliver(quota.app, accepted("F-2", "2"))
    # Approved for less than applied: 2.5 t × 2.0 = 5 t allocated, 1 t released.
    env = await testing.deliver(quota.app, approved("F-1", "2.5"))
    await testing.redeliver(quota.app, env, "eia.events")
    await testing.deliver(quota.app, approved("F-1", "2.5"))
    rejected = FilingRejected(filing_id="F-2", project_ref="proj-F-2", district=JIZHOU, reason="x")
    await testing.deliver(quota.app, rejected)
    await testing.deliver(quota.app, rejected)
    withdrawn = FilingWithdrawn(filing_id="F-2", project_ref="proj-F-2", district=JIZHOU)
    await testing.deliver(quota.app, withdrawn)  # nothing left to release
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"], a["available_t"]) == ("5.000", "0.000", "15.000")
    [alloc] = await quota.events("quota.allocated.v1")
    assert (alloc["amount_t"], alloc["uscc"]) == ("5.000", USCC)
    reasons = sorted(e["reason"] for e in await quota.events("quota.released.v1"))
    assert reasons == ["rejected", "remainder"]


async def test_permit_events_become_candidates_once(quota: Quota) -> None:
    env = await testing.deliver(quota.app, cancelled("PM-1", "4.2"))
    await testing.redeliver(quota.app, env, "permit.events")
    await testing.deliver(quota.app, cancelled("PM-1", "4.2"))  # re-published
    await testing.deliver(quota.app, cancelled("PM-2", "1", reason="merged"))
    await testing.deliver(quota.app, changed("PM-3", "-1.3"))
    items = (await quota.client.get("/quota/reclaims?status=pending", headers=OFFICER)).json()[
        "items"
    ]
    assert sorted((i["permit_id"], i["source"], i["amount_t"]) for i in items) == [
        ("PM-1", "permit_cancelled", "4.200"),
        ("PM-3", "permit_changed", "1.300"),
    ]
    assert all(i["uscc"] == USCC and i["source_event_id"] for i in items)


async def test_a_permits_candidate_says_why_in_chinese(quota: Quota) -> None:
    """The note an officer reads beside a reclaim candidate (工作台) names the
    enterprise, the permit and the reason in Chinese, not the event's codes."""
    closed = cancelled("PM-7", "0.67").model_copy(update={"note": "生产设施已拆除"})
    await testing.deliver(quota.app, closed)
    await testing.deliver(quota.app, changed("PM-8", "-0.5"))
    items = (await quota.client.get("/quota/reclaims?status=pending", headers=OFFICER)).json()[
        "items"
    ]
    notes = {i["permit_id"]: i["note"] for i in items}
    assert notes == {
        "PM-7": "蓟州某化工厂（91120225X-PM-7）许可证注销：企业关停；生产设施已拆除",
        "PM-8": "蓟州某印刷厂（91120225X-PM-8）许可证变更",
    }


async def test_park_subpool_is_carved_or_its_shortfall_announced(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "10")
    park = ParkRegistered(
        park_id="jz-park",
        district=JIZHOU,
        name="蓟州经济开发区",
        vocs_subpool_t=Decimal("6"),
        covered_project_types=["furniture"],
    )
    await testing.deliver(quota.app, park)
    await testing.deliver(quota.app, park)
    r = await quota.client.get("/quota/availability?district=120119", headers=OFFICER)
    pools = {p["pool_id"]: p["available_t"] for p in r.json()}
    assert pools == {"120119:VOCs": "4.000", "120119:VOCs:park:jz-park": "6.000"}
    # A project in the park draws on the park's sub-pool.
    await testing.deliver(quota.app, accepted("F-9", "2", park_id="jz-park"))
    [held] = await quota.events("quota.reserved.v1")
    assert held["pool_id"] == "120119:VOCs:park:jz-park"
    big = ParkRegistered(**{**park.model_dump(), "park_id": "big", "vocs_subpool_t": "50"})
    await testing.deliver(quota.app, big)
    [short] = await quota.events("quota.transfer_rejected.v1")
    assert (short["shortfall_t"], short["park_id"]) == ("46.000", "big")


def changed(permit: str, delta: str, uscc: str = USCC) -> PermitChanged:
    """A permit change (变更) of the VOCs amount by `delta` tonnes."""
    return PermitChanged(
        permit_id=permit,
        permit_no=f"91120225X-{permit}",
        uscc=uscc,
        enterprise_name="蓟州某印刷厂",
        district=JIZHOU,
        pollutant_changes=[],
        vocs_delta_t=Decimal(delta),
    )


def cancelled(permit: str, freed: str, reason: str = "closure") -> PermitCancelled:
    return PermitCancelled(
        permit_id=permit,
        permit_no=f"91120225X-{permit}",
        uscc=USCC,
        enterprise_name="蓟州某化工厂",
        district=JIZHOU,
        reason=reason,  # type: ignore[arg-type]
        pollutants_freed=[PollutantAmount(pollutant="VOCs", amount_t=Decimal(freed))],
        vocs_freed_t=Decimal(freed),
    )


async def _dead_letters(quota: Quota) -> list[tuple[str, str]]:
    from sqlalchemy import text

    async with quota.app.state.runtime.db.session() as s:
        rows = await s.execute(text("SELECT event_type, error FROM dead_letters ORDER BY id"))
        return [(r[0], r[1]) for r in rows]


async def test_a_filing_never_takes_over_a_reservation_made_by_hand(quota: Quota) -> None:
    """A reservation made by hand under the filing's project ref (possible
    before refs of filings were refused) is neither adopted by the filing's
    saga, nor allocated or released by its decisions: each such event is
    dead-lettered with the reason, for an operator, and nothing moves."""
    await quota.baseline(JIZHOU, "10")
    by_hand = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "0.001", "project_ref": "proj-F-1"},
        headers=OFFICER,
    )
    assert by_hand.status_code == 201, by_hand.text
    await testing.deliver(quota.app, accepted("F-1", "3"))
    await testing.deliver(quota.app, approved("F-1", "3"))
    await testing.deliver(
        quota.app, FilingWithdrawn(filing_id="F-1", project_ref="proj-F-1", district=JIZHOU)
    )
    # The filing was told nothing: the only hold announced is the one by hand.
    [announced] = await quota.events("quota.reserved.v1")
    assert announced["reservation_id"] == by_hand.json()["id"]
    dead = await _dead_letters(quota)
    assert [t for t, _ in dead] == [
        "eia.filing.accepted.v1",
        "eia.filing.approved.v1",
        "eia.filing.withdrawn.v1",
    ]
    assert all("not made for filing F-1" in error for _, error in dead)
    mine = await quota.client.get(f"/quota/reservations/{by_hand.json()['id']}", headers=OFFICER)
    assert (mine.json()["status"], mine.json()["required_t"]) == ("held", "0.002")


async def test_a_filings_reservation_is_resolved_by_the_filing_alone(quota: Quota) -> None:
    """By hand, allocating or releasing the quota a filing holds would leave
    the filing saying it is secured: refused (409), pointing at the filing."""
    await quota.baseline(JIZHOU, "10")
    await testing.deliver(quota.app, accepted("F-1", "3"))
    [reserved] = await quota.events("quota.reserved.v1")
    rid = reserved["reservation_id"]
    for action, body in (("allocate", {}), ("release", {"reason": "by hand"})):
        r = await quota.client.post(
            f"/quota/reservations/{rid}/{action}",
            json=body,
            headers={**OFFICER, "Accept-Language": "en"},
        )
        assert r.status_code == 409, r.text
        assert (r.json()["reason"], r.json()["filing_id"]) == ("owned_by_filing", "F-1")
        assert "EIA filing F-1" in r.json()["detail"]
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["allocated_t"]) == ("6.000", "0.000")
    await testing.deliver(quota.app, approved("F-1", "3"))  # the filing's own decision
    a = await quota.availability(JIZHOU)
    assert (a["reserved_t"], a["allocated_t"]) == ("0.000", "6.000")


async def test_an_approval_that_arrives_after_the_hold_lapsed_allocates_anew(
    quota: Quota,
) -> None:
    """The filing showed its quota secured when the officer approved it, but
    the hold expired before the approval reached the ledger (a delayed or
    backed-up topic): the approved project's need is held again and
    allocated, not skipped, so the ledger shows the quota spent and the
    permit can be issued."""
    db = quota.app.state.runtime.db
    await quota.baseline(JIZHOU, "10")
    await testing.deliver(quota.app, accepted("F-1", "3"))
    [held] = await quota.events("quota.reserved.v1")
    later = dt.datetime.fromisoformat(held["expires_at"]) + dt.timedelta(seconds=1)
    assert await expire_due(db, later) == 1
    assert (await quota.availability(JIZHOU))["reserved_t"] == "0.000"

    env = await testing.deliver(quota.app, approved("F-1", "3"))
    await testing.redeliver(quota.app, env, "eia.events")  # no second effect
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"], a["available_t"]) == ("6.000", "0.000", "4.000")
    [alloc] = await quota.events("quota.allocated.v1")
    assert alloc["amount_t"] == "6.000" and alloc["project_ref"] == "proj-F-1"
    assert alloc["reservation_id"] != held["reservation_id"]
    # The ledger still reconciles.
    r = await quota.client.get("/quota/reconciliation", headers=AUDITOR)
    assert r.json()["ok"] is True, r.text


async def test_an_approval_after_a_lapse_in_a_short_pool_says_so(quota: Quota) -> None:
    """If the lapsed tonnes went to another project meanwhile, nothing is
    allocated: the shortfall is announced (quota.reservation_rejected) and
    audited instead of an approval skipped in silence."""
    db = quota.app.state.runtime.db
    await quota.baseline(JIZHOU, "10")
    await testing.deliver(quota.app, accepted("F-1", "3"))
    [held] = await quota.events("quota.reserved.v1")
    later = dt.datetime.fromisoformat(held["expires_at"]) + dt.timedelta(seconds=1)
    assert await expire_due(db, later) == 1
    await testing.deliver(quota.app, accepted("F-2", "4.5"))  # takes 9 of the 10 t
    await testing.deliver(quota.app, approved("F-1", "3"))
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"]) == ("0.000", "9.000")
    assert await quota.events("quota.allocated.v1") == []
    [short] = await quota.events("quota.reservation_rejected.v1")
    assert (short["project_ref"], short["shortfall_t"]) == ("proj-F-1", "5.000")


async def _approved_short(quota: Quota) -> None:
    """F-1 approved on a hold that lapsed on the way, F-2 took the tonnes
    meanwhile: F-1's quota lapsed short (5 t short of its 6 t)."""
    db = quota.app.state.runtime.db
    await quota.baseline(JIZHOU, "10")
    await testing.deliver(quota.app, accepted("F-1", "3"))
    [held] = await quota.events("quota.reserved.v1")
    later = dt.datetime.fromisoformat(held["expires_at"]) + dt.timedelta(seconds=1)
    assert await expire_due(db, later) == 1
    await testing.deliver(quota.app, accepted("F-2", "4.5"))  # takes 9 of the 10 t
    await testing.deliver(quota.app, approved("F-1", "3"))
    [short] = await quota.events("quota.reservation_rejected.v1")
    assert short["shortfall_t"] == "5.000"


def redrive(filing: str = "F-1", increment: str = "3", attempt: int = 2) -> FilingQuotaRetry:
    """An officer's retry of an approved filing whose quota lapsed short."""
    return FilingQuotaRetry(
        **{**accepted(filing, increment).model_dump(), "attempt": attempt, "allocate_on_hold": True}
    )


async def test_a_lapsed_short_approval_redriven_is_held_and_allocated_at_once(
    quota: Quota,
) -> None:
    """An approved filing whose quota lapsed short could not be re-driven:
    a retry only held (and the hold of an approved project would never be
    allocated), the approval was spent. Its re-drive now holds and
    allocates in one transaction, on the late approval's own path, once per
    filing and attempt; while the district is short it is answered with the
    shortfall again."""
    await _approved_short(quota)
    # Still short: the shortfall again, for this attempt; nothing written.
    await testing.deliver(quota.app, redrive(attempt=2))
    short = await quota.events("quota.reservation_rejected.v1")
    assert [(e["attempt"], e["shortfall_t"]) for e in short] == [(1, "5.000"), (2, "5.000")]
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"], a["available_t"]) == ("0.000", "9.000", "1.000")

    # F-2 is withdrawn: its 9 t come back; the officer re-drives F-1 again.
    withdrawn = FilingWithdrawn(filing_id="F-2", project_ref="proj-F-2", district=JIZHOU)
    await testing.deliver(quota.app, withdrawn)
    env = await testing.deliver(quota.app, redrive(attempt=3))
    await testing.redeliver(quota.app, env, "eia.events")  # the same event: no effect
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"], a["available_t"]) == ("6.000", "0.000", "4.000")
    [alloc] = await quota.events("quota.allocated.v1")
    assert (alloc["project_ref"], alloc["amount_t"]) == ("proj-F-1", "6.000")
    renewed = (await quota.events("quota.reserved.v1"))[-1]
    assert renewed["attempt"] == 3 and renewed["reservation_id"] == alloc["reservation_id"]

    # Asked again under a new id (eia-svc heard nothing): answered with the
    # allocation it made, not a second one.
    await testing.deliver(quota.app, redrive(attempt=3))
    first, again = await quota.events("quota.allocated.v1")
    assert again == first
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["available_t"]) == ("6.000", "4.000")
    # The approval itself arriving again changes nothing either.
    await testing.deliver(quota.app, approved("F-1", "3"))
    assert len(await quota.events("quota.allocated.v1")) == 2
    r = await quota.client.get("/quota/reconciliation", headers=AUDITOR)
    assert r.json()["ok"] is True, r.text
    async with quota.app.state.runtime.db.session() as s:
        actions = list(
            await s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == "proj-F-1"))
        )
    assert actions.count("quota.allocate.lapsed_short") == 2
    assert actions.count("quota.allocate.lapsed_renewed") == 1


async def test_a_plain_retry_still_only_holds(quota: Quota) -> None:
    """Without the flag (an undecided filing's retry, or an older producer)
    a retry holds and does not allocate."""
    await quota.baseline(JIZHOU, "10")
    await testing.deliver(quota.app, FilingQuotaRetry(**accepted("F-1", "3").model_dump()))
    assert await quota.events("quota.allocated.v1") == []
    assert (await quota.availability(JIZHOU))["reserved_t"] == "6.000"


@pytest.fixture
async def pg_quota(pg_url: str) -> AsyncIterator[Quota]:
    app = create(Settings(database_url=pg_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        yield Quota(app, client)


async def test_an_approval_racing_the_hold_expiry_allocates_anew(
    pg_quota: Quota, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The expiry sweep committed between the approval's look-up of the live
    hold and its lock on it (PostgreSQL, read committed): the locked row was
    expired and the approval returned as if it had been allocated already,
    so an approved project's quota was neither allocated nor held again.
    Under the lock an expired hold is a lapsed one: held anew and allocated."""
    quota = pg_quota
    db = quota.app.state.runtime.db
    await quota.baseline(JIZHOU, "10")
    await testing.deliver(quota.app, accepted("F-1", "3"))
    [held] = await quota.events("quota.reserved.v1")
    later = dt.datetime.fromisoformat(held["expires_at"]) + dt.timedelta(seconds=1)
    find_live = reservations_service.find_live

    async def found_then_swept(s: AsyncSession, project_ref: str) -> ReservationRow | None:
        live = await find_live(s, project_ref)
        if live is not None:
            assert await expire_due(db, later) == 1  # the sweep, in its own transaction
        return live

    monkeypatch.setattr(reservations_service, "find_live", found_then_swept)
    await testing.deliver(quota.app, approved("F-1", "3"))
    monkeypatch.undo()
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"], a["available_t"]) == ("6.000", "0.000", "4.000")
    [alloc] = await quota.events("quota.allocated.v1")
    assert alloc["project_ref"] == "proj-F-1" and alloc["amount_t"] == "6.000"
    r = await quota.client.get("/quota/reconciliation", headers=AUDITOR)
    assert r.json()["ok"] is True, r.text


@pytest.mark.parametrize("second", ["approval", "redrive"])
async def test_an_approval_and_a_redrive_renewing_one_lapsed_hold_at_once_renew_it_once(
    quota: Quota, monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    """A filing's approval and an officer's re-drive of it both found its
    hold lapsed, and both held it again: the second's hold met the first's
    on the project's unique live hold, raised, and its event was retried
    (it converged on the retry). The second now finds the hold renewed and
    is done with it, as a retry would be: nothing raised, nothing retried,
    the hold renewed and allocated once.

    On PostgreSQL the first commits between the second's look-ups and its
    hold (read committed). SQLite's writers take turns in one process: the
    first commits before the second, whose look-ups read what they would
    have read before it (nothing live, the lapsed hold)."""
    db = quota.app.state.runtime.db
    consumer = quota.app.state.runtime.consumer
    consumer.max_attempts = 1  # a handler that raises is dead-lettered, not retried
    await quota.baseline(JIZHOU, "10")
    await testing.deliver(quota.app, accepted("F-1", "3"))
    [held] = await quota.events("quota.reserved.v1")
    later = dt.datetime.fromisoformat(held["expires_at"]) + dt.timedelta(seconds=1)
    assert await expire_due(db, later) == 1
    lapsed = await reservations_service.find_reservation(db, held["reservation_id"])
    assert lapsed is not None and lapsed.status == "expired"

    events = {"approval": approved("F-1", "3"), "redrive": redrive(attempt=2)}
    second_event = events[second]
    first_event = events["redrive" if second == "approval" else "approval"]
    latest_hold = quota_events._latest_hold
    raced: list[bool] = []

    async def first_commits_meanwhile(
        s: AsyncSession, e: quota_events.ApprovedFiling
    ) -> ReservationRow | None:
        if db.is_sqlite:
            return lapsed  # read before the first committed
        found = await latest_hold(s, e)
        if type(e) is type(second_event) and not raced:
            raced.append(True)
            assert found is not None and found.id == lapsed.id
            await testing.deliver(quota.app, first_event)  # in its own transaction
        return found

    async def nothing_live(s: AsyncSession, project_ref: str) -> ReservationRow | None:
        return None  # read before the first committed

    if db.is_sqlite:
        await testing.deliver(quota.app, first_event)
        monkeypatch.setattr(reservations_service, "find_live", nothing_live)
    monkeypatch.setattr(quota_events, "_latest_hold", first_commits_meanwhile)
    await testing.deliver(quota.app, second_event)
    monkeypatch.undo()
    assert raced or db.is_sqlite

    async with db.session() as s:
        assert list(await s.scalars(select(DeadLetter.error))) == []
        actions = list(
            await s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == "proj-F-1"))
        )
    assert actions.count("quota.allocate.lapsed_renewed") == 1
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"], a["available_t"]) == ("6.000", "0.000", "4.000")
    renewed = (await quota.events("quota.reserved.v1"))[1:]
    allocated = await quota.events("quota.allocated.v1")
    assert len(renewed) == 1 and allocated[0]["reservation_id"] == renewed[0]["reservation_id"]
    # As when the two come one after the other: a re-drive after the
    # approval is answered with the allocation; an approval after the
    # re-drive finds it allocated and says nothing.
    assert allocated == [allocated[0]] * (2 if second == "redrive" else 1)
    r = await quota.client.get("/quota/reconciliation", headers=AUDITOR)
    assert r.json()["ok"] is True, r.text


async def test_an_approval_finding_the_hold_renewed_by_a_redrive_meanwhile_says_nothing_skipped(
    quota: Quota, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-drive renewed and allocated a lapsed hold after the approval
    looked for a live one and before it looked for a lapsed one (read
    committed): the approval found neither, warned "approved project holds
    no quota" and audited `quota.allocate.skipped` though the quota was
    allocated. It now finds the re-drive's allocation, as when the two come
    one after the other: nothing said, nothing allocated twice."""
    db = quota.app.state.runtime.db
    await quota.baseline(JIZHOU, "10")
    await testing.deliver(quota.app, accepted("F-1", "3"))
    [held] = await quota.events("quota.reserved.v1")
    later = dt.datetime.fromisoformat(held["expires_at"]) + dt.timedelta(seconds=1)
    assert await expire_due(db, later) == 1
    await testing.deliver(quota.app, redrive(attempt=2))

    async def nothing_live(s: AsyncSession, project_ref: str) -> ReservationRow | None:
        return None  # read before the re-drive committed

    monkeypatch.setattr(reservations_service, "find_live", nothing_live)
    await testing.deliver(quota.app, approved("F-1", "3"))
    monkeypatch.undo()

    async with db.session() as s:
        assert list(await s.scalars(select(DeadLetter.error))) == []
        actions = list(
            await s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == "proj-F-1"))
        )
    assert "quota.allocate.skipped" not in actions
    assert actions.count("quota.allocate.lapsed_renewed") == 1
    allocated = await quota.events("quota.allocated.v1")
    assert len(allocated) == 1
    a = await quota.availability(JIZHOU)
    assert (a["allocated_t"], a["reserved_t"], a["available_t"]) == ("6.000", "0.000", "4.000")
