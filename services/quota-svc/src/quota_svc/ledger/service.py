"""Ledger I/O: creating and locking pools, posting journal entries, past
balances and reconciliation. Every posting runs inside the caller's
`db.transaction()`, with its pools locked first."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    Text,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from svc_common.db import DriverStatement, by_name, dialect_insert, in_chunks
from svc_common.events.schemas.quota import QuotaBalanceChanged
from svc_common.outbox import emit
from svc_common.types import UTCDateTime, kg_to_tonnes, utcnow
from svc_common.writes import Writes

from quota_svc.ledger import rules
from quota_svc.ledger.models import JournalEntry, Pool
from quota_svc.ledger.rules import Balance, EntryCode, PoolKind
from quota_svc.register import rules as register_rules
from quota_svc.register.models import QUEUE, RegisterQueued
from quota_svc.register.service import queue_row


def _entry_register_row(
    pool_district: str,
    pollutant: str,
    code: EntryCode,
    amount_kg: int,
    at: dt.datetime,
    *,
    idempotency_id: str,
    pool_id: str,
    reservation_id: str | None,
    reclaim_id: str | None,
    ref: str | None,
) -> dict[str, Any]:
    """A journal entry as a public register record (no actor, no note)."""
    return queue_row(
        code.value,
        district=pool_district,
        pollutant=pollutant,
        amount_kg=amount_kg,
        at=at,
        refs=register_rules.refs_text(
            entry=idempotency_id,
            pool=pool_id,
            reservation=reservation_id,
            reclaim=reclaim_id,
            ref=ref,
        ),
    )


@dataclass(frozen=True)
class PoolRef:
    """Which pool, and what it is, so it can be created on first use."""

    id: str
    district: str
    pollutant: str
    kind: PoolKind
    park_id: str | None = None

    @classmethod
    def district_pool(cls, district: str, pollutant: str) -> PoolRef:
        return cls(
            rules.district_pool_id(district, pollutant), district, pollutant, PoolKind.DISTRICT
        )

    @classmethod
    def park(cls, district: str, pollutant: str, park_id: str) -> PoolRef:
        pid = rules.park_pool_id(district, pollutant, park_id)
        return cls(pid, district, pollutant, PoolKind.PARK, park_id)

    @classmethod
    def reserve(cls, district: str, pollutant: str) -> PoolRef:
        return cls(
            rules.reserve_pool_id(district, pollutant), district, pollutant, PoolKind.RESERVE
        )

    @classmethod
    def of_id(cls, pool_id: str) -> PoolRef:
        """The pool an id names, as the ledger builds them (`<district>:<pollutant>`,
        `…:park:<park_id>`, `…:reserve`); ValueError for any other id."""
        district, _, rest = pool_id.partition(":")
        pollutant, _, kind = rest.partition(":")
        if not kind:
            ref = cls.district_pool(district, pollutant)
        elif kind == "reserve":
            ref = cls.reserve(district, pollutant)
        else:
            ref = cls.park(district, pollutant, kind.removeprefix("park:"))
        if ref.id != pool_id or not district or not pollutant:
            raise ValueError(f"{pool_id!r} is not a pool id")
        return ref


POOLS = cast(Table, Pool.__table__)
ENTRIES = cast(Table, JournalEntry.__table__)


def balance_of(pool: Pool) -> Balance:
    return Balance(pool.credited_kg, pool.reserved_kg, pool.allocated_kg)


async def _create_missing(s: AsyncSession | AsyncConnection, refs: Iterable[PoolRef]) -> None:
    ins = dialect_insert(s, POOLS)
    now = utcnow()
    rows = [
        {
            "id": r.id,
            "district": r.district,
            "pollutant": r.pollutant,
            "kind": r.kind.value,
            "park_id": r.park_id,
            "credited_kg": 0,
            "reserved_kg": 0,
            "allocated_kg": 0,
            "created_at": now,
        }
        for r in refs
    ]
    # A concurrent creator may win the race: DO NOTHING, then lock what exists.
    await s.execute(ins.values(rows).on_conflict_do_nothing())


async def lock_pools(s: AsyncSession, *refs: PoolRef) -> dict[str, Pool]:
    """Lock the pools (creating missing ones) in sorted id order, the one lock
    order every writer uses, so two transactions never wait on each other in a
    cycle. On SQLite the Database already serialises writers."""
    by_id = {r.id: r for r in refs}
    ids = sorted(by_id)

    async def fetch() -> dict[str, Pool]:
        stmt = (
            select(Pool)
            .where(Pool.id.in_(ids))
            .order_by(Pool.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {p.id: p for p in (await s.scalars(stmt)).all()}

    pools = await fetch()
    missing = [by_id[i] for i in ids if i not in pools]
    if missing:
        await _create_missing(s, missing)
        pools = await fetch()
    return pools


async def registered_park_district(s: AsyncSession, park_id: str) -> str | None:
    """The district a park was registered in, None if it never was.

    The park register (园区登记) is eia-svc's (`/eia/parks`); the ledger
    learns of each park from `eia.park.registered`, on which it makes the
    park's VOCs sub-pool in the park's district (`carve_park_subpool`, even
    when nothing could be moved into it). No other path makes a park's pool
    for a park the ledger has not seen registered, so that pool is the
    ledger's record of the register, not a second copy of it."""
    stmt = (
        select(Pool.district)
        .where(Pool.kind == PoolKind.PARK, Pool.pollutant == rules.VOCS, Pool.park_id == park_id)
        .order_by(Pool.created_at, Pool.id)
        .limit(1)
    )
    return cast(str | None, (await s.execute(stmt)).scalar_one_or_none())


async def park_problem(s: AsyncSession, district: str, park_id: str) -> str | None:
    """Why `park_id` cannot name a sub-pool in `district` (rules.park_problem), or None."""
    return rules.park_problem(park_id, district, await registered_park_district(s, park_id))


async def entry_exists(s: AsyncSession, idempotency_id: str) -> bool:
    found = await s.scalar(
        select(JournalEntry.id).where(JournalEntry.idempotency_id == idempotency_id)
    )
    return found is not None


def post_entry(
    s: AsyncSession,
    pool: Pool,
    code: EntryCode,
    amount_kg: int,
    *,
    idempotency_id: str,
    actor: str,
    effective_at: dt.datetime | None = None,
    reservation_id: str | None = None,
    reclaim_id: str | None = None,
    reason: str | None = None,
    note: str | None = None,
    ref: str | None = None,
) -> JournalEntry:
    """Post one entry to a locked pool: check the balance in code (raising
    rules.Overdraft), then write the entry, the new pool balance and its
    public register record."""
    after = rules.post(pool.id, balance_of(pool), code, amount_kg)
    now = utcnow()
    effective = effective_at or now
    if pool.last_effective_at is not None and effective < pool.last_effective_at:
        # Only an explicitly back-dated entry can land here (callers validate);
        # a clock step back is absorbed so the journal stays time-ordered.
        effective = pool.last_effective_at
    pool.credited_kg, pool.reserved_kg, pool.allocated_kg = (
        after.credited,
        after.reserved,
        after.allocated,
    )
    pool.last_effective_at = effective
    entry = JournalEntry(
        pool_id=pool.id,
        district=pool.district,
        pollutant=pool.pollutant,
        code=code.value,
        amount_kg=amount_kg,
        idempotency_id=idempotency_id,
        reservation_id=reservation_id,
        reclaim_id=reclaim_id,
        reason=reason,
        effective_at=effective,
        recorded_at=now,
        credited_after_kg=after.credited,
        reserved_after_kg=after.reserved,
        allocated_after_kg=after.allocated,
        actor=actor,
        note=note,
        ref=ref,
    )
    s.add(entry)
    s.add(
        RegisterQueued(
            **_entry_register_row(
                pool.district,
                pool.pollutant,
                code,
                amount_kg,
                now,
                idempotency_id=idempotency_id,
                pool_id=pool.id,
                reservation_id=reservation_id,
                reclaim_id=reclaim_id,
                ref=ref,
            )
        )
    )
    return entry


def balance_changed(pool: Pool | PoolState, code: EntryCode) -> QuotaBalanceChanged:
    bal = pool.balance if isinstance(pool, PoolState) else balance_of(pool)
    return QuotaBalanceChanged(
        pool_id=pool.id,
        district=pool.district,
        pollutant=pool.pollutant,
        entry_code=code.value,
        credited_t=kg_to_tonnes(bal.credited),
        reserved_t=kg_to_tonnes(bal.reserved),
        allocated_t=kg_to_tonnes(bal.allocated),
        available_t=kg_to_tonnes(bal.available),
    )


def emit_balance_changed(s: AsyncSession, pool: Pool, code: EntryCode) -> None:
    emit(s, balance_changed(pool, code))


# --- Core path: plain rows, no ORM unit of work ---------------------------------
# The reservation write path runs on these: the same lock order, the same
# balance check in code before any write and the same journal entries as
# lock_pools/post_entry, at a fraction of the interpreter time.


@dataclass
class PoolState:
    """A locked pool as plain values; `Postings` keeps it current."""

    id: str
    district: str
    pollutant: str
    balance: Balance
    last_effective_at: dt.datetime | None

    @classmethod
    def of(cls, row: Any) -> PoolState:
        """From a SQLAlchemy row or a driver record (asyncpg's, by name)."""
        m = by_name(row)
        return cls(
            m["id"],
            m["district"],
            m["pollutant"],
            Balance(m["credited_kg"], m["reserved_kg"], m["allocated_kg"]),
            m["last_effective_at"],
        )


#: A batch's memo (svc_common.batching) key for a pool it has locked.
_MEMO_POOL = "ledger.pool"


def remembered_pool(memo: dict[Any, Any] | None, pool_id: str) -> PoolState | None:
    """A copy of the pool as the batch's last operation left it, if the
    batch has locked it (post on the copy; `remember_pool` it once the
    operation's writes are staged)."""
    pool = memo.get((_MEMO_POOL, pool_id)) if memo is not None else None
    return replace(pool) if pool is not None else None


def remember_pool(memo: dict[Any, Any] | None, pool: PoolState) -> None:
    """Keep the locked pool as this operation leaves it, for the next
    operation of the batch (which posts on a copy: `remembered_pool`)."""
    if memo is not None:
        memo[(_MEMO_POOL, pool.id)] = pool


_POOL_COLUMNS = (
    POOLS.c.id,
    POOLS.c.district,
    POOLS.c.pollutant,
    POOLS.c.credited_kg,
    POOLS.c.reserved_kg,
    POOLS.c.allocated_kg,
    POOLS.c.last_effective_at,
)


#: Lock one pool by id (:pool_id), returning what a posting needs. A variant
#: with more columns (`add_columns`), as a DriverStatement, can be given to
#: `lock_pool_rows`.
LOCK_POOL: Select[Any] = (
    select(*_POOL_COLUMNS).where(POOLS.c.id == bindparam("pool_id")).with_for_update(of=POOLS)
)
_LOCK_ONE_POOL = DriverStatement(LOCK_POOL)

#: Columns to add to a pool's lock in a batch (PostgreSQL): the row's
#: version, the id of the transaction that wrote it last (xmin), and this
#: transaction's own id, for `pool_as_left`.
POOL_VERSIONS = (
    literal_column(f"{POOLS.name}.xmin::text", Text).label("pool_xmin"),
    func.pg_current_xact_id().cast(Text).label("xact_id"),
)
#: LOCK_POOL with POOL_VERSIONS, as a DriverStatement.
LOCK_POOL_IN_BATCH = DriverStatement(LOCK_POOL.add_columns(*POOL_VERSIONS))
#: A batch's memo key: the id of its transaction, from its pool's lock.
_MEMO_XACT = "ledger.xact"
#: xmin is the low 32 bits of the writer's 64-bit transaction id.
_XID_BITS = 0xFFFFFFFF


def pool_as_left(memo: dict[Any, Any] | None, carried: dict[Any, Any] | None, row: Any) -> bool:
    """Whether the pool just locked in a batch (`row`, read with
    POOL_VERSIONS) is as this process's last batch of it committed it
    (`carried`, that batch's memo: svc_common.batching.batch_carried): no
    transaction has written the row since. Every change of a pool's lots
    posts to the pool, so what that batch remembered of its lots is still
    so (and if not, a lot's CHECKs refuse a draw on what it lacks, and the
    batch runs again alone). Keeps this transaction's id in `memo`, for
    the next batch's asking."""
    m = by_name(row)
    pool_id = m["id"]
    if memo is not None:
        memo[(_MEMO_XACT, pool_id)] = int(str(m["xact_id"])) & _XID_BITS
    if carried is None:
        return False
    last = carried.get((_MEMO_XACT, pool_id))
    return last is not None and last == int(str(m["pool_xmin"]))


async def lock_pool_rows(
    conn: AsyncConnection,
    *refs: PoolRef,
    stmt: DriverStatement = _LOCK_ONE_POOL,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Core form of `lock_pools`: lock the pools (creating missing ones) in
    sorted id order and return their rows (see `PoolState.of`). For one pool,
    `stmt` may be a variant of LOCK_POOL reading more in the same round trip,
    with its `params`; one pool is locked on the driver (`fetch_in`: a
    SQLAlchemy row or an asyncpg record, id first)."""
    by_id = {r.id: r for r in refs}
    ids = sorted(by_id)

    async def fetch() -> dict[str, Any]:
        if len(ids) == 1:
            found = await stmt.fetch_in(conn, {"pool_id": ids[0], **(params or {})})
            return {r[0]: r for r in found}
        if stmt is not _LOCK_ONE_POOL:
            raise ValueError("a LOCK_POOL variant locks one pool")
        many = (
            select(*_POOL_COLUMNS)
            .where(POOLS.c.id.in_(ids))
            .order_by(POOLS.c.id)
            .with_for_update(of=POOLS)
        )
        return {r.id: r for r in (await conn.execute(many)).all()}

    rows = await fetch()
    missing = [by_id[i] for i in ids if i not in rows]
    if missing:
        await _create_missing(conn, missing)
        rows = await fetch()
    return rows


class Postings:
    """Journal entries posted to locked pools within one transaction, kept in
    memory until `stage`d into the transaction's `Writes`: one INSERT for the
    entries and one UPDATE of each touched pool's balance. `post` checks the
    balance in code first (as `post_entry` does) and stages nothing if it
    would overdraw."""

    def __init__(self, pools: dict[str, PoolState]) -> None:
        self.pools = pools
        self._entries: list[dict[str, Any]] = []
        self._register: list[dict[str, Any]] = []
        self._touched: dict[str, PoolState] = {}

    def post(
        self,
        pool_id: str,
        code: EntryCode,
        amount_kg: int,
        *,
        idempotency_id: str,
        actor: str,
        reservation_id: str | None = None,
        reason: str | None = None,
        note: str | None = None,
        ref: str | None = None,
    ) -> PoolState:
        pool = self.pools[pool_id]
        after = rules.post(pool.id, pool.balance, code, amount_kg)
        now = utcnow()
        effective = now
        if pool.last_effective_at is not None and effective < pool.last_effective_at:
            effective = pool.last_effective_at  # a clock step back, as in post_entry
        pool.balance = after
        pool.last_effective_at = effective
        self._touched[pool.id] = pool
        self._entries.append(
            {
                "pool_id": pool.id,
                "district": pool.district,
                "pollutant": pool.pollutant,
                "code": code.value,
                "amount_kg": amount_kg,
                "idempotency_id": idempotency_id,
                "reservation_id": reservation_id,
                "reclaim_id": None,
                "reason": reason,
                "effective_at": effective,
                "recorded_at": now,
                "credited_after_kg": after.credited,
                "reserved_after_kg": after.reserved,
                "allocated_after_kg": after.allocated,
                "actor": actor,
                "note": note,
                "ref": ref,
            }
        )
        self._register.append(
            _entry_register_row(
                pool.district,
                pool.pollutant,
                code,
                amount_kg,
                now,
                idempotency_id=idempotency_id,
                pool_id=pool.id,
                reservation_id=reservation_id,
                reclaim_id=None,
                ref=ref,
            )
        )
        return pool

    def stage(self, writes: Writes) -> None:
        """Add the staged entries and the touched pools' new balances to `writes`."""
        writes.insert(ENTRIES, self._entries)
        writes.insert(QUEUE, self._register)
        writes.update(
            POOLS,
            "id",
            [
                {
                    "id": p.id,
                    "credited_kg": p.balance.credited,
                    "reserved_kg": p.balance.reserved,
                    "allocated_kg": p.balance.allocated,
                    "last_effective_at": p.last_effective_at,
                }
                for p in self._touched.values()
            ],
        )
        self._entries, self._register, self._touched = [], [], {}


async def transfer(
    s: AsyncSession,
    source: PoolRef,
    target: PoolRef,
    amount_kg: int,
    *,
    idempotency_id: str,
    actor: str,
    note: str | None = None,
) -> tuple[Pool, Pool] | None:
    """Move credited quota between pools (two entries, one per pool), drawn
    on the source's lots oldest first into child lots of the target. Returns
    None if this transfer was already posted; raises rules.Overdraft if the
    source lacks it."""
    from quota_svc.lots import service as lots  # lots builds on this module
    from quota_svc.lots.rules import Move

    pools = await lock_pools(s, source, target)
    if await entry_exists(s, idempotency_id + ":out"):
        return None
    out_pool, in_pool = pools[source.id], pools[target.id]
    if balance_of(out_pool).available < amount_kg:
        raise rules.Overdraft(out_pool.id, amount_kg, balance_of(out_pool).available)
    await lots.move_to_pool(
        s,
        await lots.draw(s, source.id, amount_kg),
        Move.OUT,
        source_pool_id=source.id,
        target_pool_id=target.id,
        target_district=target.district,
        pollutant=target.pollutant,
        source="transfer",
        ref=f"transfer:{idempotency_id}"[:80],
        note=note,
    )
    post_entry(
        s,
        out_pool,
        EntryCode.TRANSFER,
        -amount_kg,
        idempotency_id=idempotency_id + ":out",
        actor=actor,
        reason="out",
        note=note,
    )
    post_entry(
        s,
        in_pool,
        EntryCode.TRANSFER,
        amount_kg,
        idempotency_id=idempotency_id + ":in",
        actor=actor,
        reason="in",
        note=note,
    )
    emit_balance_changed(s, out_pool, EntryCode.TRANSFER)
    emit_balance_changed(s, in_pool, EntryCode.TRANSFER)
    return out_pool, in_pool


async def balances_at_many(
    s: AsyncSession, pool_ids: Sequence[str], moments: Sequence[dt.datetime]
) -> dict[tuple[str, dt.datetime], Balance]:
    """Each pool's balance at each moment: the balance after its last entry
    effective at or before the moment (ties by id), in one statement: each
    (pool, moment) pair finds its last entry through the journal's
    (pool, effective_at, id) index, so the cost grows with the pairs asked
    for, not with the journal's length."""
    if not pool_ids or not moments:
        return {}
    # The pools that exist, crossed with the moments (a pool not yet created
    # has no entries: its balance is zero at every moment).
    times = union_all(*(select(literal(m, UTCDateTime()).label("at")) for m in moments)).subquery()
    pools = select(Pool.id.label("pool_id")).where(Pool.id.in_(pool_ids)).subquery()
    pairs = select(pools.c.pool_id, times.c.at).join(times, true()).subquery()
    last = (
        select(JournalEntry.id)
        .where(JournalEntry.pool_id == pairs.c.pool_id, JournalEntry.effective_at <= pairs.c.at)
        .order_by(JournalEntry.effective_at.desc(), JournalEntry.id.desc())
        .limit(1)
        .correlate(pairs)
        .scalar_subquery()
    )
    found = select(pairs.c.pool_id, pairs.c.at, last.label("entry_id")).subquery()
    rows = await s.execute(
        select(
            found.c.pool_id,
            found.c.at,
            JournalEntry.credited_after_kg,
            JournalEntry.reserved_after_kg,
            JournalEntry.allocated_after_kg,
        ).outerjoin(JournalEntry, JournalEntry.id == found.c.entry_id)
    )
    out = {(p, m): Balance() for p in pool_ids for m in moments}
    for pool_id, at, credited, reserved, allocated in rows:
        if credited is not None:
            out[(pool_id, at)] = Balance(credited, reserved, allocated)
    return out


@dataclass(frozen=True)
class Reconciliation:
    """A pool's stored balance against the replay of its journal."""

    pool_id: str
    stored: Balance
    replayed: Balance
    entries: int
    #: Entries whose stored balance-after differs from the running replay.
    broken_entry_ids: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return self.stored == self.replayed and not self.broken_entry_ids


async def reconcile(s: AsyncSession, pool_id: str) -> Reconciliation:
    pool = await s.get(Pool, pool_id)
    stored = balance_of(pool) if pool else Balance()
    return _replay(pool_id, stored, (await _journals(s, [pool_id]))[pool_id])


async def reconcile_pools(s: AsyncSession, pools: Sequence[Pool]) -> list[Reconciliation]:
    """`reconcile` for many pools, their journals read together rather than
    in a statement a pool."""
    journals = await _journals(s, [p.id for p in pools])
    return [_replay(p.id, balance_of(p), journals[p.id]) for p in pools]


async def _journals(s: AsyncSession, pool_ids: list[str]) -> dict[str, list[Any]]:
    """Each pool's journal entries in order, as the replay reads them."""
    out: dict[str, list[Any]] = defaultdict(list)
    for chunk in in_chunks(pool_ids):
        rows = await s.execute(
            select(
                JournalEntry.pool_id,
                JournalEntry.id,
                JournalEntry.code,
                JournalEntry.amount_kg,
                JournalEntry.credited_after_kg,
                JournalEntry.reserved_after_kg,
                JournalEntry.allocated_after_kg,
            )
            .where(JournalEntry.pool_id.in_(chunk))
            .order_by(JournalEntry.pool_id, JournalEntry.id)
        )
        for row in rows:
            out[row.pool_id].append(row)
    return out


def _replay(pool_id: str, stored: Balance, rows: list[Any]) -> Reconciliation:
    running = Balance()
    broken: list[int] = []
    for _pool_id, entry_id, code, amount, c, r, a in rows:
        running = running.apply(rules.delta_for(EntryCode(code), amount))
        if running != Balance(c, r, a):
            broken.append(entry_id)
    return Reconciliation(pool_id, stored, running, len(rows), tuple(broken))


async def pools_of(s: AsyncSession, districts: Iterable[str], pollutant: str | None) -> list[Pool]:
    stmt = select(Pool).where(Pool.district.in_(list(districts))).order_by(Pool.id)
    if pollutant:
        stmt = stmt.where(Pool.pollutant == pollutant)
    return list((await s.scalars(stmt)).all())


async def credited_by_reclaims(s: AsyncSession, pool_ids: list[str]) -> dict[str, int]:
    """Total credited by reclaims and reduction credits, per pool."""
    out: dict[str, int] = {}
    for chunk in in_chunks(pool_ids):  # a ledger may hold more pools than one statement takes
        rows = await s.execute(
            select(JournalEntry.pool_id, func.sum(JournalEntry.amount_kg))
            .where(
                JournalEntry.pool_id.in_(chunk),
                JournalEntry.code.in_(rules.RECLAIM_CODES),
            )
            .group_by(JournalEntry.pool_id)
        )
        out.update((pid, int(total or 0)) for pid, total in rows.all())
    return out
