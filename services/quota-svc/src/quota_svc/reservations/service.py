"""Reservation orchestration: reserve (hold), allocate (post), release (void)
and expire (timeout), each one transaction with its journal entries, pool
update, events and audit entry."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import String, Table, any_, bindparam, or_, select, text, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, AsyncSessionTransaction
from starlette.responses import Response
from svc_common.audit import SYSTEM, audit_row
from svc_common.auth import Principal
from svc_common.batching import LookupsTogether, batch_carried, batch_memo, batch_writes
from svc_common.context import new_id
from svc_common.db import Database, DriverStatement, by_name
from svc_common.events.registry import EventPayload
from svc_common.events.schemas.quota import QuotaAllocated, QuotaReleased, QuotaReserved
from svc_common.pagination import keyset_after
from svc_common.types import kg_to_tonnes, utcnow
from svc_common.writes import Writes

from quota_svc.debts import service as debts
from quota_svc.ledger import rules as ledger_rules
from quota_svc.ledger.rules import Balance, EntryCode, Overdraft
from quota_svc.ledger.service import (
    LOCK_POOL,
    LOCK_POOL_IN_BATCH,
    POOL_VERSIONS,
    POOLS,
    PoolRef,
    PoolState,
    Postings,
    balance_changed,
    balance_of,
    lock_pool_rows,
    lock_pools,
    pool_as_left,
    remember_pool,
    remembered_pool,
)
from quota_svc.lots import rules as lot_rules
from quota_svc.lots import service as lots
from quota_svc.lots.models import LOTS, MOVEMENTS
from quota_svc.lots.rules import Draws, Move
from quota_svc.policy.rules import Policy
from quota_svc.policy.service import policy_columns, policy_of
from quota_svc.reservations.models import Reservation, ReservationRow
from quota_svc.reservations.rules import LIVE, ReservationStatus, check_action, split_allocation
from quota_svc.trading import rules as trading_rules
from quota_svc.trading.models import Holding

# Everything below runs on SQLAlchemy Core statements built once (their
# compiled SQL is cached): plain rows in, plain rows out, no ORM unit of work.

RESERVATIONS = cast(Table, Reservation.__table__)
HOLDINGS = cast(Table, Holding.__table__)
_LIVE = [s.value for s in LIVE]
#: A batch's memo (svc_common.batching) key for the policy read with a pool's lock.
_MEMO_POLICY = "reservations.policy"


#: In one round trip: the pool locked, the district policy and air-quality
#: ratio in force now. Not the pool's lots: a statement that waited for the
#: lock reads everything but the locked row as it was before the wait, so
#: lots another reservation emptied meanwhile would look available.
_LOCK_POOL_AND_POLICY = DriverStatement(
    LOCK_POOL.add_columns(*policy_columns(bindparam("district"), bindparam("pollutant")))
)
#: The same in a batch: with the pool row's version (ledger's POOL_VERSIONS).
_LOCK_POOL_AND_POLICY_IN_BATCH = DriverStatement(
    LOCK_POOL.add_columns(
        *policy_columns(bindparam("district"), bindparam("pollutant")), *POOL_VERSIONS
    )
)


def _adopt_if_as_left(s: AsyncSession, memo: dict[Any, Any] | None, row: Any) -> None:
    """In a batch, the pool just locked (`row`): its open lots as this
    process's last batch of the pool left them, if no one has written the
    pool since (ledger's `pool_as_left`; lots' `adopt`)."""
    if memo is None:
        return
    carried = batch_carried(s)
    if pool_as_left(memo, carried, row):
        lots.adopt(memo, carried, by_name(row)["id"])


#: The policy in force now alone: for a reservation that joined a batch
#: under way (`admit_reservations_late`), the pool as the batch left it.
_POLICY_IN_FORCE = DriverStatement(
    select(*policy_columns(bindparam("district"), bindparam("pollutant")))
)

#: A new hold; nothing is inserted (and no row returned) if the idempotency id
#: or the project's live reservation exists (the unique indexes), so a twin
#: racing on another pool waits for the first and then finds its row.
_INSERT_RESERVATION = {
    "postgresql": DriverStatement(
        postgresql.insert(RESERVATIONS).on_conflict_do_nothing().returning(RESERVATIONS.c.id)
    ),
    "sqlite": DriverStatement(
        sqlite.insert(RESERVATIONS).on_conflict_do_nothing().returning(RESERVATIONS.c.id)
    ),
}

_LOCK_RESERVATION = DriverStatement(
    select(RESERVATIONS).where(RESERVATIONS.c.id == bindparam("rid")).with_for_update()
)


def _lock_reservation_and_pool() -> DriverStatement:
    """An allocation alone (no batch): its reservation locked, then its pool,
    in one round trip, the order every transaction takes them in (the
    CTE's row is locked as it is read, before the LATERAL locks the pool).
    Each locked row is read as it is once locked, as two statements would
    read them. The pool's columns are named `pool_…`: the reservation has
    an `allocated_kg` too."""
    r = select(RESERVATIONS).where(RESERVATIONS.c.id == bindparam("rid")).with_for_update().cte()
    p = (
        select(
            POOLS.c.credited_kg.label("pool_credited_kg"),
            POOLS.c.reserved_kg.label("pool_reserved_kg"),
            POOLS.c.allocated_kg.label("pool_allocated_kg"),
            POOLS.c.last_effective_at.label("pool_last_effective_at"),
        )
        .where(POOLS.c.id == r.c.pool_id)
        .with_for_update(of=POOLS)
        .lateral()
    )
    return DriverStatement(select(r, p).select_from(r.join(p, true())))


_LOCK_RESERVATION_AND_POOL = _lock_reservation_and_pool()

_FIND_LIVE = select(RESERVATIONS).where(
    RESERVATIONS.c.project_ref == bindparam("project_ref"), RESERVATIONS.c.status.in_(_LIVE)
)

#: A request's earlier hold, or its project's live one (a refusal looks here too).
_FIND_EARLIER = DriverStatement(
    select(RESERVATIONS).where(
        or_(
            RESERVATIONS.c.idempotency_id == bindparam("idempotency_id"),
            (RESERVATIONS.c.project_ref == bindparam("project_ref"))
            & RESERVATIONS.c.status.in_(_LIVE),
        )
    )
)


def _resolved(r: ReservationRow) -> dict[str, Any]:
    """The columns a resolution (allocated, released or expired) sets."""
    return {
        "id": r.id,
        "status": r.status,
        "allocated_kg": r.allocated_kg,
        "released_kg": r.released_kg,
        "release_reason": r.release_reason,
        "note": r.note,
        "resolved_at": r.resolved_at,
        "resolved_by": r.resolved_by,
    }


def _events_and_audit(
    s: AsyncSession,
    writes: Writes,
    events: list[EventPayload],
    audits: list[dict[str, Any]],
) -> None:
    writes.events(s, events)
    writes.audit(audits)


@dataclass(frozen=True)
class ReserveRequest:
    district: str
    pollutant: str
    increment_kg: int
    project_ref: str
    idempotency_id: str
    uscc: str | None = None
    park_id: str | None = None
    priority_reserve: bool = False
    filing_id: str | None = None
    attempt: int = 1
    #: Draw on this lot rather than the oldest ones (an admin's choice).
    lot_id: int | None = None
    #: An admin approves going beyond what is available (先用后补).
    advance: bool = False

    def pool(self) -> PoolRef:
        if self.park_id:
            return PoolRef.park(self.district, self.pollutant, self.park_id)
        if self.priority_reserve:
            return PoolRef.reserve(self.district, self.pollutant)
        return PoolRef.district_pool(self.district, self.pollutant)


class ReservationRefused(Exception):
    """The pool cannot hold the need: nothing was written."""

    def __init__(self, req: ReserveRequest, pool_id: str, ratio_h: int, od: Overdraft) -> None:
        super().__init__(str(od))
        self.request = req
        self.pool_id = pool_id
        self.ratio_hundredths = ratio_h
        self.required_kg = od.needed_kg
        self.available_kg = od.available_kg
        self.shortfall_kg = od.shortfall_kg


class ProjectAlreadyReserved(Exception):
    """The project already has a live (held or allocated) reservation."""

    def __init__(self, existing: ReservationRow) -> None:
        super().__init__(f"project {existing.project_ref} already has reservation {existing.id}")
        self.existing = existing


@dataclass(frozen=True)
class Reserved:
    reservation: ReservationRow
    created: bool


@dataclass(frozen=True)
class AdvanceLimits:
    """The default advance limit and debt term where a district set none."""

    limit_kg: int = 0
    term_days: int = 365


async def find_live(s: AsyncSession, project_ref: str) -> ReservationRow | None:
    conn = await s.connection()
    row = (await conn.execute(_FIND_LIVE, {"project_ref": project_ref})).first()
    return ReservationRow.of(row) if row else None


async def _earlier(conn: AsyncConnection, req: ReserveRequest) -> Reserved | None:
    """This request's earlier hold (returned), or the project's live
    reservation (ProjectAlreadyReserved); None if neither exists."""
    found = [
        ReservationRow.of(row)
        for row in await _FIND_EARLIER.fetch_in(
            conn, {"idempotency_id": req.idempotency_id, "project_ref": req.project_ref}
        )
    ]
    for r in found:
        if r.idempotency_id == req.idempotency_id:
            return Reserved(r, created=False)
    if found:
        raise ProjectAlreadyReserved(found[0])
    return None


async def reserve(
    s: AsyncSession,
    req: ReserveRequest,
    actor: Principal,
    default: Policy,
    limits: AdvanceLimits | None = None,
    respond: Callable[[ReservationRow], Response] | None = None,
) -> Reserved:
    """Hold the project's need (increment × the ratio in force now), drawn on
    the pool's lots oldest first (or on the named lot). Returns the existing
    reservation if this idempotency id already held; raises
    ProjectAlreadyReserved, ReservationRefused, lots LotShort or debts
    AdvanceRefused (nothing written). `respond`: the request's answer to a
    new reservation, kept with it (`Writes.answer`)."""
    now = utcnow()
    ref = req.pool()
    conn = await s.connection()
    # In a batch that has locked the pool: the pool and policy as it left them.
    memo = batch_memo(s)
    if (earlier := _earlier_in_batch(memo, req)) is not None:
        return earlier
    pool = remembered_pool(memo, ref.id)
    policy = memo.get((_MEMO_POLICY, ref.id)) if memo is not None else None
    params = {"district": req.district, "pollutant": req.pollutant, "at": now}
    if pool is None:
        # One round trip: the pool locked and the policy in force (in a
        # batch, and the row's version: its lots may be the last batch's).
        stmt = _LOCK_POOL_AND_POLICY if memo is None else _LOCK_POOL_AND_POLICY_IN_BATCH
        row = (await lock_pool_rows(conn, ref, stmt=stmt, params=params))[ref.id]
        _adopt_if_as_left(s, memo, row)
        policy = policy_of(row, req.pollutant, default)
        pool = PoolState.of(row)
    elif policy is None:
        # The pool as the batch left it (its writes may not be sent yet).
        found = await _POLICY_IN_FORCE.fetch_in(conn, params)
        policy = policy_of(found[0], req.pollutant, default)
    if memo is not None:
        memo[(_MEMO_POLICY, ref.id)] = policy
    need = ledger_rules.need_kg(req.increment_kg, policy.offset_ratio_hundredths)
    rid = new_id()
    advanced: AsyncSessionTransaction | None = None
    postings = Postings({ref.id: pool})
    try:
        # The balance is checked in code before anything is written.
        postings.post(
            ref.id,
            EntryCode.RESERVE,
            need,
            idempotency_id=f"res:{rid}:reserve",
            actor=actor.sub,
            reservation_id=rid,
            note=req.project_ref,
        )
    except Overdraft as od:
        # An earlier answer to this request, or the project's live hold, wins
        # over the refusal (as if looked up first).
        earlier = await _earlier(conn, req)
        if earlier is not None:
            return earlier
        if not req.advance:
            raise ReservationRefused(req, ref.id, policy.offset_ratio_hundredths, od) from od
        # 先用后补: credit the shortfall as an advance (a debt), then hold.
        # The advance writes the pool and a lot by its own paths: what a
        # batch remembered of them is no longer so.
        if memo is not None:
            memo.clear()
            memo = None
        # In a savepoint: the project may yet be found held on another pool
        # (its twin waits on the unique index below), and then the advance
        # goes with the hold it was for.
        advanced = await s.begin_nested()
        orm_pool = (await lock_pools(s, ref))[ref.id]
        lim = limits or AdvanceLimits()
        limit_kg, term = await debts.limit_in_force(
            s, req.district, req.pollutant, lim.limit_kg, lim.term_days
        )
        await debts.advance(
            s,
            orm_pool,
            od.shortfall_kg,
            reservation_id=rid,
            actor=actor,
            limit_kg=limit_kg,
            term_days=term,
        )
        await s.flush()
        pool = PoolState(
            orm_pool.id,
            orm_pool.district,
            orm_pool.pollutant,
            balance_of(orm_pool),
            orm_pool.last_effective_at,
        )
        postings = Postings({ref.id: pool})
        postings.post(
            ref.id,
            EntryCode.RESERVE,
            need,
            idempotency_id=f"res:{rid}:reserve",
            actor=actor.sub,
            reservation_id=rid,
            note=req.project_ref,
        )
    # Read now, under the lock: the lots as the last holder of the lock left them.
    draws: Draws = await lots.draw(conn, ref.id, need, req.lot_id, memo)
    r = ReservationRow(
        id=rid,
        idempotency_id=req.idempotency_id,
        project_ref=req.project_ref,
        uscc=req.uscc,
        filing_id=req.filing_id,
        attempt=req.attempt,
        district=req.district,
        pollutant=req.pollutant,
        pool_id=ref.id,
        increment_kg=req.increment_kg,
        offset_ratio_hundredths=policy.offset_ratio_hundredths,
        held_kg=need,
        allocated_kg=0,
        released_kg=0,
        status=ReservationStatus.HELD.value,
        release_reason=None,
        note=None,
        created_by=actor.sub,
        created_at=now,
        expires_at=policy.expires_at(now),
        resolved_at=None,
        resolved_by=None,
        lots=[[lot, kg] for lot, kg in draws],
    )
    writes = Writes()
    later = batch_writes(s)
    if later is not None:
        # Sent at the batch's end with the rest: a twin (the same request,
        # or the project held by another) fails the batch's writes on the
        # unique index, and the batch runs again alone, where the twin is
        # found below.
        writes.insert(RESERVATIONS, [r.values()])
        _remember(memo, r)
    else:
        # Under the pool lock, so a concurrent twin on this pool sees the first
        # one's row; a twin on another pool waits on the unique index instead.
        inserted = await _INSERT_RESERVATION[conn.dialect.name].fetch_in(conn, r.values())
        if not inserted:
            if advanced is not None:
                await advanced.rollback()
            earlier = await _earlier(conn, req)
            if earlier is None:  # pragma: no cover - the conflicting row is committed
                raise RuntimeError(f"reservation of {req.project_ref} conflicted with no row")
            return earlier
    if advanced is not None:
        await advanced.commit()
    # The rest in one round trip on PostgreSQL: entry, pool, lots, events, audit.
    postings.stage(writes)
    remember_pool(memo, pool)
    lots.stage(
        writes, ref.id, [(lot, Move.HOLD, kg) for lot, kg in draws], reservation_id=rid, memo=memo
    )
    _events_and_audit(
        s,
        writes,
        [reserved_event(r), balance_changed(pool, EntryCode.RESERVE)],
        [
            audit_row(
                actor,
                "quota.reserve",
                "reservation",
                rid,
                {"project_ref": req.project_ref, "pool_id": ref.id, "held_kg": need},
            )
        ],
    )
    if respond is not None:
        writes.answer(s, respond(r))
    await writes.execute(conn, later)
    return Reserved(r, created=True)


def reserved_event(r: ReservationRow, *, attempt: int | None = None) -> QuotaReserved:
    """`attempt`: the request this hold answers (a later attempt of the same
    project may find the hold an earlier one made)."""
    return QuotaReserved(
        reservation_id=r.id,
        project_ref=r.project_ref,
        uscc=r.uscc,
        district=r.district,
        pollutant=r.pollutant,
        pool_id=r.pool_id,
        increment_t=kg_to_tonnes(r.increment_kg),
        offset_ratio=ledger_rules.hundredths_to_ratio(r.offset_ratio_hundredths),
        required_t=kg_to_tonnes(r.held_kg),
        expires_at=r.expires_at,
        attempt=attempt if attempt is not None else r.attempt,
    )


_POOL_OF_RESERVATION = DriverStatement(
    select(RESERVATIONS.c.pool_id).where(RESERVATIONS.c.id == bindparam("rid"))
)


_POOLS_OF_RESERVATIONS = DriverStatement(
    text(
        "SELECT r.id, r.pool_id FROM reservations AS r"
        " JOIN unnest(CAST(:rids AS VARCHAR[])) AS k(id) ON r.id = k.id"
    )
)


#: How many reservations' pools a process remembers (`remember_pool_of`).
KNOWN_POOLS_MAX = 4096


def _known_pools(db: Database) -> OrderedDict[str, str]:
    return db.helper("quota.known_pools_of_reservations", OrderedDict)


def remember_pool_of(db: Database, reservation_id: str, pool_id: str) -> None:
    """Remember the pool of a reservation this process made or looked up:
    an allocation of it then finds its batch's key without a round trip.
    A reservation's pool never changes, so what is remembered stays true;
    the oldest is forgotten beyond `KNOWN_POOLS_MAX`."""
    known = _known_pools(db)
    known[reservation_id] = pool_id
    known.move_to_end(reservation_id)
    while len(known) > KNOWN_POOLS_MAX:
        known.popitem(last=False)


async def pool_of_reservation(db: Database, reservation_id: str) -> str | None:
    """The pool a reservation holds on (it never changes): the key of its
    batch. Remembered if this process made or looked the reservation up
    lately; else one statement, outside any transaction, on PostgreSQL
    together with the other requests' of the moment (svc_common.batching).
    A remembered reservation since deleted is not found by the batch's
    operation, under its lock, as one looked up would not be."""
    known = _known_pools(db).get(reservation_id)
    if known is not None:
        return known
    if not db.on_asyncpg:
        found = await db.fetch_alone(_POOL_OF_RESERVATION, {"rid": reservation_id})
    else:
        lookups = db.helper(
            "quota.pools_of_reservations",
            lambda: LookupsTogether(db, _POOL_OF_RESERVATION, _POOLS_OF_RESERVATIONS, ("rid",)),
        )
        row = await lookups.get((reservation_id,))
        found = [row] if row is not None else []
    if not found:
        return None
    pool_id = cast(str, found[0][0])
    remember_pool_of(db, reservation_id, pool_id)
    return pool_id


_BY_ID = DriverStatement(select(RESERVATIONS).where(RESERVATIONS.c.id == bindparam("rid")))


async def find_reservation(db: Database, reservation_id: str) -> ReservationRow | None:
    """A reservation by id, for reading: one statement, on PostgreSQL one
    autocommit round trip on the driver (bench/RESULTS.md: a read request's
    CPU)."""
    found = await db.fetch_alone(_BY_ID, {"rid": reservation_id})
    return ReservationRow.of(found[0]) if found else None


async def list_reservations(
    db: Database,
    districts: Sequence[str],
    *,
    uscc: str | None,
    status: str | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[ReservationRow]:
    """Reservations in `districts`, oldest first (created_at, id), after the
    cursor's: an enterprise's (`uscc`), by status."""
    stmt = select(RESERVATIONS).where(RESERVATIONS.c.district.in_(districts))
    if uscc is not None:
        stmt = stmt.where(RESERVATIONS.c.uscc == uscc)
    if status is not None:
        stmt = stmt.where(RESERVATIONS.c.status == status)
    if after is not None:
        stmt = stmt.where(keyset_after(after, RESERVATIONS.c.created_at, RESERVATIONS.c.id))
    stmt = stmt.order_by(RESERVATIONS.c.created_at, RESERVATIONS.c.id).limit(limit)
    async with db.session() as s:
        return [ReservationRow.of(row) for row in (await s.execute(stmt)).all()]


#: A batch's memo keys for the reservations its operations wrote: by id,
#: and the live one of a project (their rows may not be sent yet).
_MEMO_RESERVATION = "reservations.by_id"
_MEMO_PROJECT = "reservations.live_of_project"


def _remember(memo: dict[Any, Any] | None, r: ReservationRow) -> None:
    if memo is not None:
        memo[(_MEMO_RESERVATION, r.id)] = r
        memo[(_MEMO_PROJECT, r.project_ref)] = r


def _earlier_in_batch(memo: dict[Any, Any] | None, req: ReserveRequest) -> Reserved | None:
    """`_earlier` for what this batch's operations wrote before this one."""
    r = memo.get((_MEMO_PROJECT, req.project_ref)) if memo is not None else None
    if r is None or r.status not in _LIVE:
        return None
    if r.idempotency_id == req.idempotency_id:
        return Reserved(r, created=False)
    raise ProjectAlreadyReserved(r)


_RESERVATIONS_BY_IDS = (
    select(RESERVATIONS)
    .where(RESERVATIONS.c.id == any_(bindparam("rids", type_=postgresql.ARRAY(String))))
    .order_by(RESERVATIONS.c.id)
)
_LOCK_RESERVATIONS = DriverStatement(_RESERVATIONS_BY_IDS.with_for_update())
#: Those not locked by another transaction (see `admit_allocations_late`).
_LOCK_FREE_RESERVATIONS = DriverStatement(_RESERVATIONS_BY_IDS.with_for_update(skip_locked=True))


async def lock_reservations_of_batch(s: AsyncSession, reservation_ids: list[Any]) -> None:
    """A batch's allocations lock their reservations in one statement, in
    id order, at the batch's start (GroupCommit's `prepare`): before its
    reservations lock the pool, in the order of every other transaction
    (a reservation, then its pool). Each then finds its reservation in the
    batch's memo (`lock_reservation`)."""
    await _lock_into_memo(s, _LOCK_RESERVATIONS, reservation_ids)


#: The live holds of some projects (see `find_projects_held`).
_LIVE_OF_PROJECTS = DriverStatement(
    select(RESERVATIONS).where(
        RESERVATIONS.c.project_ref == any_(bindparam("refs", type_=postgresql.ARRAY(String))),
        RESERVATIONS.c.status.in_(_LIVE),
    )
)


async def find_projects_held(s: AsyncSession, project_refs: list[Any]) -> int:
    """The live holds of a batch's projects, in one statement, into its memo
    (GroupCommit's `twins`, 查重): run for a batch again after a unique index
    refused its writes. A reservation asked again whose first hold committed
    (a retry whose answer was lost) then finds that hold here, as alone it
    finds it on the index (`_earlier_in_batch`), and the batch keeps the
    others. Read before the batch waits for its pool, and not locked: a
    hold released while it waits is still the answer to a request for its
    project (a 409, or the same request's hold), as it would have been had
    the request come a moment sooner. Returns how many holds it found."""
    memo = batch_memo(s)
    refs = sorted({str(ref) for ref in project_refs if ref is not None})
    if memo is None or not refs:
        return 0
    conn = await s.connection()
    found = await _LIVE_OF_PROJECTS.fetch_in(conn, {"refs": refs})
    for row in found:
        r = ReservationRow.of(row)
        memo.setdefault((_MEMO_PROJECT, r.project_ref), r)
    return len(found)


async def admit_reservations_late(s: AsyncSession, hints: list[Any]) -> list[Any]:
    """Reservations that queued while their pool's batch ran join it
    (GroupCommit's `admit`, 迟到加入), all of them, with the policy in force
    read again: the batch's was read by a statement that began before it
    waited for the pool, perhaps before they came (a ratio changed
    meanwhile is theirs). The first of them reads it (one statement, no
    lock), the next ones find it in the memo. Returns their hints."""
    memo = batch_memo(s)
    if memo is not None:
        for key in [k for k in memo if isinstance(k, tuple) and k[0] == _MEMO_POLICY]:
            del memo[key]
    return hints


async def admit_allocations_late(s: AsyncSession, reservation_ids: list[Any]) -> set[str]:
    """Allocations that queued while their pool's batch ran join it (GroupCommit's
    `admit`, 迟到加入) if their reservations can be locked now, the pool
    already held: those no other transaction has locked, in one statement.
    Waiting for one, with the pool held, could close a cycle of waits with
    a transaction that holds it and waits for the pool; the others (and a
    reservation not found) wait for the next batch, whose prepare locks them
    first. Returns the ids locked."""
    return await _lock_into_memo(s, _LOCK_FREE_RESERVATIONS, reservation_ids)


async def _lock_into_memo(
    s: AsyncSession, statement: DriverStatement, reservation_ids: list[Any]
) -> set[str]:
    """Lock the reservations with `statement` into the batch's memo (one
    written by the batch stays as it is there); returns the ids locked."""
    memo = batch_memo(s)
    if memo is None:
        return set()
    ids = sorted({str(i) for i in reservation_ids if i is not None})
    conn = await s.connection()
    locked = set()
    for row in await statement.fetch_in(conn, {"rids": ids}):
        r = ReservationRow.of(row)
        memo.setdefault((_MEMO_RESERVATION, r.id), r)
        locked.add(r.id)
    return locked


async def lock_reservation(s: AsyncSession, reservation_id: str) -> ReservationRow | None:
    memo = batch_memo(s)
    if memo is not None and (r := memo.get((_MEMO_RESERVATION, reservation_id))) is not None:
        return replace(r)  # written by this batch, perhaps not sent yet
    conn = await s.connection()
    found = await _LOCK_RESERVATION.fetch_in(conn, {"rid": reservation_id})
    return ReservationRow.of(found[0]) if found else None


async def lock_for_allocation(
    s: AsyncSession, reservation_id: str
) -> tuple[ReservationRow, PoolState | None] | None:
    """The reservation to allocate, locked, and, for an allocation alone on
    PostgreSQL, its pool locked with it in the same round trip (for
    `allocate`); in a batch, the reservation as `lock_reservation` finds it
    and no pool (the batch's memo has it). None: no such reservation."""
    conn = await s.connection()
    if batch_memo(s) is not None or conn.dialect.name != "postgresql":
        r = await lock_reservation(s, reservation_id)
        return (r, None) if r is not None else None
    found = await _LOCK_RESERVATION_AND_POOL.fetch_in(conn, {"rid": reservation_id})
    if not found:
        return None
    m = dict(by_name(found[0]))
    balance = Balance(
        m.pop("pool_credited_kg"), m.pop("pool_reserved_kg"), m.pop("pool_allocated_kg")
    )
    last = m.pop("pool_last_effective_at")
    r = ReservationRow.of(m)
    return r, PoolState(r.pool_id, r.district, r.pollutant, balance, last)


def _pool_ref(r: ReservationRow) -> PoolRef:
    # The pool exists (the reserve created it); its kind does not matter to lock it.
    return PoolRef(r.pool_id, r.district, r.pollutant, ledger_rules.PoolKind.DISTRICT)


async def _lock_pools_of(
    conn: AsyncConnection, reservations: list[ReservationRow], s: AsyncSession | None = None
) -> dict[str, PoolState]:
    # All the pools at once, in the one lock order (after the reservations).
    refs = {_pool_ref(r) for r in reservations}
    memo = batch_memo(s) if s is not None else None
    if memo is None or len(refs) != 1:
        rows = await lock_pool_rows(conn, *refs)
    else:
        # A batch's first lock of its pool: with the row's version.
        rows = await lock_pool_rows(conn, *refs, stmt=LOCK_POOL_IN_BATCH)
        for row in rows.values():
            _adopt_if_as_left(cast(AsyncSession, s), memo, row)
    return {pid: PoolState.of(row) for pid, row in rows.items()}


async def allocate(
    s: AsyncSession,
    r: ReservationRow,
    requested_kg: int | None,
    actor: Principal,
    pool: PoolState | None = None,
    respond: Callable[[ReservationRow], Response] | None = None,
) -> ReservationRow:
    """Post all or part of a locked held reservation; release the remainder in
    the same step. `pool`: its pool, locked with it (`lock_for_allocation`).
    `respond`: the request's answer, kept with the allocation
    (`Writes.answer`). Raises IllegalTransition or AllocationExceedsHold."""
    check_action(r.status, "allocate")
    amount, remainder = split_allocation(r.held_kg, requested_kg)
    conn = await s.connection()
    memo = batch_memo(s)
    known = remembered_pool(memo, r.pool_id) or pool
    postings = Postings({r.pool_id: known} if known else await _lock_pools_of(conn, [r], s))
    pool = postings.post(
        r.pool_id,
        EntryCode.ALLOCATE,
        amount,
        idempotency_id=f"res:{r.id}:allocate",
        actor=actor.sub,
        reservation_id=r.id,
        note=r.project_ref,
    )
    if remainder:
        postings.post(
            r.pool_id,
            EntryCode.RELEASE,
            remainder,
            idempotency_id=f"res:{r.id}:remainder",
            actor=actor.sub,
            reservation_id=r.id,
            reason="remainder",
            note=r.project_ref,
        )
    r.status = ReservationStatus.ALLOCATED.value
    r.allocated_kg, r.released_kg = amount, remainder
    r.release_reason = "remainder" if remainder else None
    now = utcnow()
    r.resolved_at, r.resolved_by = now, actor.sub
    # The oldest part of the hold is allocated, the newest returns to its lots.
    head, tail = lot_rules.split(lots.as_draws(r.lots), amount)
    changes: list[lots.Change] = [(lot, Move.ALLOCATE, kg) for lot, kg in head] + [
        (lot, Move.RELEASE, kg) for lot, kg in tail
    ]
    writes = Writes()
    audits: list[dict[str, Any]] = []
    if remainder:
        # An advance granted for this hold keeps the debt for what was
        # allocated; the remainder's part of its credit goes with it.
        withdrawn = await _withdraw_advances(conn, postings, [(r, tail)], actor)
        changes += withdrawn.changes
        withdrawn.stage(writes)
        audits += withdrawn.audits
    postings.stage(writes)
    remember_pool(memo, pool)
    writes.update(RESERVATIONS, "id", [_resolved(r)])
    lots.stage(writes, r.pool_id, changes, reservation_id=r.id, memo=memo)
    if amount:
        writes.insert(HOLDINGS, [holding_row(r, amount, head, now)])
    events: list[EventPayload] = [allocated_event(r, amount)]
    if remainder:
        events.append(released_event(r, remainder, "remainder", None))
    events.append(balance_changed(pool, EntryCode.ALLOCATE))
    audit = audit_row(
        actor,
        "quota.allocate",
        "reservation",
        r.id,
        {"allocated_kg": amount, "remainder_kg": remainder},
    )
    _events_and_audit(s, writes, events, [audit, *audits])
    if respond is not None:
        writes.answer(s, respond(r))
    await writes.execute(conn, batch_writes(s))
    # Sent or not, the batch's next operation must find the reservation as
    # this one left it, not as the batch's prepare locked it.
    _remember(memo, r)
    return r


def holding_row(
    r: ReservationRow, amount_kg: int, draws: Draws, now: dt.datetime
) -> dict[str, Any]:
    """The holding (排污权) an allocation gives the project's enterprise."""
    return {
        "id": r.id,
        "uscc": r.uscc,
        "district": r.district,
        "pollutant": r.pollutant,
        "pool_id": r.pool_id,
        "source": "allocation",
        "original_kg": amount_kg,
        "amount_kg": amount_kg,
        "rights_kg": trading_rules.rights_kg(amount_kg, r.offset_ratio_hundredths, r.increment_kg),
        "offset_ratio_hundredths": r.offset_ratio_hundredths,
        "reservation_id": r.id,
        "trade_id": None,
        "lots": [[lot, kg] for lot, kg in draws],
        "acquired_at": now,
        "valid_until": trading_rules.valid_until(now),
    }


def allocated_event(r: ReservationRow, amount_kg: int) -> QuotaAllocated:
    """`increment_t`: the emission the allocated quota backs (quota ÷ the
    ratio, rounded down, at most the project's increment, as its holding's
    rights): the whole increment for the whole hold, less for a part. A
    permit drawn on it may add no more (permit-svc)."""
    return QuotaAllocated(
        reservation_id=r.id,
        project_ref=r.project_ref,
        uscc=r.uscc,
        district=r.district,
        pollutant=r.pollutant,
        pool_id=r.pool_id,
        amount_t=kg_to_tonnes(amount_kg),
        increment_t=kg_to_tonnes(
            trading_rules.rights_kg(amount_kg, r.offset_ratio_hundredths, r.increment_kg)
        ),
        offset_ratio=ledger_rules.hundredths_to_ratio(r.offset_ratio_hundredths),
    )


def answer_for(r: ReservationRow, attempt: int) -> EventPayload:
    """The reply that tells a requester where its reservation stands now
    (held, allocated, released or expired), for a request asked again: the
    saga's requester gets an answer whatever was lost on the way."""
    status = ReservationStatus(r.status)
    if status == ReservationStatus.HELD:
        return reserved_event(r, attempt=attempt)
    if status == ReservationStatus.ALLOCATED:
        return allocated_event(r, r.allocated_kg)
    reason = "expired" if status == ReservationStatus.EXPIRED else (r.release_reason or "manual")
    return released_event(r, r.released_kg or r.held_kg, reason, r.note)


def released_event(
    r: ReservationRow, amount_kg: int, reason: str, note: str | None
) -> QuotaReleased:
    return QuotaReleased(
        reservation_id=r.id,
        project_ref=r.project_ref,
        district=r.district,
        pollutant=r.pollutant,
        pool_id=r.pool_id,
        amount_t=kg_to_tonnes(amount_kg),
        reason=reason,
        note=note,
    )


def _stage_release(
    postings: Postings,
    r: ReservationRow,
    *,
    reason: str,
    note: str | None,
    actor: Principal,
    expire: bool,
) -> list[EventPayload]:
    """Void (or, for the sweeper, time out) a locked held reservation whose
    pool `postings` holds locked; returns its events."""
    check_action(r.status, "expire" if expire else "release")
    code = EntryCode.EXPIRE if expire else EntryCode.RELEASE
    pool = postings.post(
        r.pool_id,
        code,
        r.held_kg,
        idempotency_id=f"res:{r.id}:{code.value}",
        actor=actor.sub,
        reservation_id=r.id,
        reason=reason,
        note=note,
    )
    r.status = (ReservationStatus.EXPIRED if expire else ReservationStatus.RELEASED).value
    r.released_kg, r.release_reason, r.note = r.held_kg, reason, note
    r.resolved_at, r.resolved_by = utcnow(), actor.sub
    # The balance event carries the pool's balance right after this entry.
    return [released_event(r, r.held_kg, reason, note), balance_changed(pool, code)]


async def _release_all(
    s: AsyncSession,
    conn: AsyncConnection,
    due: list[ReservationRow],
    *,
    reason: str,
    note: str | None,
    actor: Principal,
    expire: bool,
) -> None:
    postings = Postings(await _lock_pools_of(conn, due))
    events: list[EventPayload] = []
    for r in due:
        events += _stage_release(postings, r, reason=reason, note=note, actor=actor, expire=expire)
    writes = Writes()
    # Every hold's tonnes back to their lots: one UPDATE per lot, one INSERT.
    returns: dict[str, list[lots.Change]] = {
        r.id: [(lot, Move.RELEASE, kg) for lot, kg in lots.as_draws(r.lots)] for r in due
    }
    # An advance granted for a released hold goes with it (先用后补).
    withdrawn = await _withdraw_advances(
        conn, postings, [(r, lots.as_draws(r.lots)) for r in due], actor
    )
    for rid, changes in withdrawn.by_reservation.items():
        returns[rid] += changes
    postings.stage(writes)
    writes.update(RESERVATIONS, "id", [_resolved(r) for r in due])
    withdrawn.stage(writes)
    writes.add(LOTS, "id", lots.update_rows(c for cs in returns.values() for c in cs))
    writes.insert(
        MOVEMENTS,
        [m for r in due for m in lots.movement_rows(r.pool_id, returns[r.id], reservation_id=r.id)],
    )
    action = f"quota.{(EntryCode.EXPIRE if expire else EntryCode.RELEASE).value}"
    audits = [
        audit_row(actor, action, "reservation", r.id, {"reason": reason, "note": note}) for r in due
    ]
    _events_and_audit(s, writes, events, audits + withdrawn.audits)
    await writes.execute(conn)


@dataclass
class _Withdrawn:
    """What releases withdrew of the advances granted for their holds."""

    by_reservation: dict[str, list[lots.Change]]
    debts: list[dict[str, Any]]
    audits: list[dict[str, Any]]

    @property
    def changes(self) -> list[lots.Change]:
        return [c for cs in self.by_reservation.values() for c in cs]

    def stage(self, writes: Writes) -> None:
        writes.update(debts.DEBTS, "id", self.debts)


async def _withdraw_advances(
    conn: AsyncConnection,
    postings: Postings,
    released: list[tuple[ReservationRow, Draws]],
    actor: Principal,
) -> _Withdrawn:
    """For each released reservation (with the lots its released tonnes go
    back to) that an advance was granted for: the advance's credit the
    release frees, withdrawn (debts.stage_withdrawal), its pool locked in
    `postings`."""
    out = _Withdrawn({}, [], [])
    found = await debts.open_debts_of_reservations(
        conn, [(r.pool_id, r.id) for r, back in released if back]
    )
    for r, back in released:
        debt = found.get(r.id)
        if debt is None:
            continue
        staged = debts.stage_withdrawal(
            postings,
            debt,
            pool_id=r.pool_id,
            reservation_id=r.id,
            project_ref=r.project_ref,
            returned=back,
            actor=actor,
        )
        if staged is not None:
            changes, row, audit = staged
            out.by_reservation[r.id] = changes
            out.debts.append(row)
            out.audits.append(audit)
    return out


async def release(
    s: AsyncSession, r: ReservationRow, *, reason: str, note: str | None, actor: Principal
) -> ReservationRow:
    """Void a locked held reservation. Raises IllegalTransition."""
    check_action(r.status, "release")
    conn = await s.connection()
    await _release_all(s, conn, [r], reason=reason, note=note, actor=actor, expire=False)
    return r


_DUE = (
    select(RESERVATIONS)
    .where(
        RESERVATIONS.c.status == ReservationStatus.HELD.value,
        RESERVATIONS.c.expires_at <= bindparam("now"),
    )
    .order_by(RESERVATIONS.c.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)


async def expire_due(db: Database, now: dt.datetime | None = None, batch: int = 200) -> int:
    """Expire held reservations past their expiry; returns how many. Safe on
    several replicas: rows are claimed with FOR UPDATE SKIP LOCKED and the
    status is re-checked under the lock."""
    now = now or utcnow()
    total = 0
    while True:
        async with db.transaction() as s:
            conn = await s.connection()
            due = [
                ReservationRow.of(row)
                for row in await conn.execute(_DUE, {"now": now, "batch": batch})
            ]
            if not due:
                return total
            await _release_all(s, conn, due, reason="expired", note=None, actor=SYSTEM, expire=True)
        total += len(due)
        if len(due) < batch:
            return total
