"""Lot I/O, on Core statements: making lots, drawing on them oldest first (or
from a named lot), moving tonnes between lots, and the rows the reservation
hot path adds to its combined write. A lot is only changed while its pool is
locked, so lots need no locks of their own."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from svc_common.auth import Principal
from svc_common.db import DriverStatement
from svc_common.types import utcnow
from svc_common.writes import Writes

from quota_svc.lots import rules
from quota_svc.lots.models import LOTS, MOVEMENTS
from quota_svc.lots.rules import Draws, LotShort, Move

#: (lot id, movement, kg) — one change of one lot.
Change = tuple[int, Move, int]

#: Read by every reservation: on the driver (see DriverStatement).
_OPEN_LOTS = DriverStatement(
    select(LOTS.c.id, LOTS.c.available_kg)
    .where(LOTS.c.pool_id == bindparam("pool_id"), LOTS.c.available_kg > 0)
    .order_by(LOTS.c.id)
)
_LOT = select(LOTS.c.id, LOTS.c.pool_id, LOTS.c.available_kg).where(
    LOTS.c.id == bindparam("lot_id")
)
_LOT_PLACE = select(LOTS.c.pool_id, LOTS.c.district, LOTS.c.pollutant).where(
    LOTS.c.id == bindparam("lot_id")
)


async def _conn(s: AsyncSession | AsyncConnection) -> AsyncConnection:
    return s if isinstance(s, AsyncConnection) else await s.connection()


async def open_lots(s: AsyncSession | AsyncConnection, pool_id: str) -> list[tuple[int, int]]:
    """(lot id, available kg) of the pool's lots with something left, oldest first."""
    rows = await _OPEN_LOTS.fetch_in(await _conn(s), {"pool_id": pool_id})
    return [(r[0], r[1]) for r in rows]


async def named_lot_problem(
    s: AsyncSession | AsyncConnection,
    lot_id: int,
    pool: tuple[str, str, str],
    principal: Principal,
) -> str | None:
    """Why a hold on `pool` (id, district, pollutant) may not draw on the lot
    an admin named (rules.named_lot_problem), or None. Read before the hold
    and without the pool's lock: a lot never changes pool. The lot's
    district is named only to a caller who may act there."""
    row = (await (await _conn(s)).execute(_LOT_PLACE, {"lot_id": lot_id})).first()
    lot = (row.pool_id, row.district, row.pollutant) if row is not None else None
    return rules.named_lot_problem(
        lot_id, lot, pool, name_theirs=lot is not None and principal.may_act_in(lot[1])
    )


#: A batch's memo (svc_common.batching) key for a locked pool's open lots.
_MEMO_OPEN = "lots.open"


async def draw(
    s: AsyncSession | AsyncConnection,
    pool_id: str,
    amount_kg: int,
    lot_id: int | None = None,
    memo: dict[Any, Any] | None = None,
) -> Draws:
    """Which lots give `amount_kg`: the named lot (LotShort if it lacks it;
    callers refuse a lot of another pool first, `named_lot_problem`), else
    the pool's lots oldest first; with a batch's `memo`, its lots as the
    batch's earlier operations left them."""
    conn = await _conn(s)
    if lot_id is not None:
        row = (await conn.execute(_LOT, {"lot_id": lot_id})).first()
        if row is None or row.pool_id != pool_id:
            raise LotShort(lot_id, amount_kg, 0)
        if row.available_kg < amount_kg:
            raise LotShort(lot_id, amount_kg, row.available_kg)
        return [(lot_id, amount_kg)]
    if memo is None:
        return rules.draw_oldest_first(await open_lots(conn, pool_id), amount_kg)
    kept = memo.get((_MEMO_OPEN, pool_id))
    if kept is None:
        kept = memo[(_MEMO_OPEN, pool_id)] = dict(await open_lots(conn, pool_id))
    return rules.draw_oldest_first(sorted(kept.items()), amount_kg)


def adopt(memo: dict[Any, Any] | None, carried: dict[Any, Any] | None, pool_id: str) -> None:
    """The pool's open lots as the key's last batch left them (its memo,
    `carried`), for a batch that found the pool as that batch committed it
    (ledger's `pool_as_left`): `draw` reads them there instead of again
    under the lock (one round trip fewer while the pool is held)."""
    kept = carried.get((_MEMO_OPEN, pool_id)) if carried is not None else None
    if memo is not None and kept is not None:
        memo.setdefault((_MEMO_OPEN, pool_id), dict(kept))


def _remember(memo: dict[Any, Any] | None, pool_id: str, changes: Sequence[Change]) -> None:
    """The batch's open lots of the pool (if it read them) after `changes`."""
    kept = memo.get((_MEMO_OPEN, pool_id)) if memo is not None else None
    if kept is None:
        return
    for lot_id, move, kg in changes:
        left = kept.get(lot_id, 0) + rules.column_deltas(move, kg).get("available_kg", 0)
        if left > 0:
            kept[lot_id] = left
        else:
            kept.pop(lot_id, None)


def update_rows(changes: Iterable[Change]) -> list[dict[str, Any]]:
    """One row of column increments per lot (a lot changed twice in one step,
    e.g. allocated and its remainder released, is one UPDATE)."""
    per_lot: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(rules.COLUMNS, 0))
    for lot_id, move, kg in changes:
        for col, d in rules.column_deltas(move, kg).items():
            per_lot[lot_id][col] += d
    return [{"id": lot_id, **cols} for lot_id, cols in per_lot.items() if any(cols.values())]


def movement_rows(
    pool_id: str,
    changes: Iterable[Change],
    *,
    reservation_id: str | None = None,
    ref: str | None = None,
    counter_lot_id: int | None = None,
    at: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    when = at or utcnow()
    return [
        {
            "lot_id": lot_id,
            "pool_id": pool_id,
            "code": move.value,
            "amount_kg": kg,
            "reservation_id": reservation_id,
            "ref": ref,
            "counter_lot_id": counter_lot_id,
            "at": when,
        }
        for lot_id, move, kg in changes
    ]


def stage(
    writes: Writes,
    pool_id: str,
    changes: Sequence[Change],
    *,
    reservation_id: str | None = None,
    ref: str | None = None,
    memo: dict[Any, Any] | None = None,
) -> None:
    """Add the lot updates and their movements to a combined write (and to
    a batch's `memo`, for its next operation)."""
    writes.add(LOTS, "id", update_rows(changes))
    writes.insert(
        MOVEMENTS, movement_rows(pool_id, changes, reservation_id=reservation_id, ref=ref)
    )
    _remember(memo, pool_id, changes)


async def apply(
    s: AsyncSession | AsyncConnection,
    pool_id: str,
    changes: Sequence[Change],
    *,
    reservation_id: str | None = None,
    ref: str | None = None,
    counter_lot_id: int | None = None,
) -> None:
    """Apply lot changes now (cold paths)."""
    conn = await _conn(s)
    for row in update_rows(changes):
        lot_id = row.pop("id")
        await conn.execute(
            update(LOTS)
            .where(LOTS.c.id == lot_id)
            .values({c: LOTS.c[c] + d for c, d in row.items() if d})
        )
    rows = movement_rows(
        pool_id, changes, reservation_id=reservation_id, ref=ref, counter_lot_id=counter_lot_id
    )
    if rows:
        await conn.execute(insert(MOVEMENTS), rows)


async def create_lot(
    s: AsyncSession | AsyncConnection,
    *,
    pool_id: str,
    district: str,
    pollutant: str,
    source: str,
    amount_kg: int,
    allocated: bool = False,
    parent_lot_id: int | None = None,
    uscc: str | None = None,
    permit_id: str | None = None,
    source_event_id: str | None = None,
    reclaim_id: str | None = None,
    ref: str | None = None,
    confirmed_by: str | None = None,
    note: str | None = None,
) -> int:
    """A new lot in a locked pool (its serial numbers the pool's lots in
    order); `allocated` makes it allocated at once (a bought lot)."""
    conn = await _conn(s)
    n = await conn.scalar(select(func.count()).select_from(LOTS).where(LOTS.c.pool_id == pool_id))
    now = utcnow()
    lot_id = (
        await conn.execute(
            insert(LOTS)
            .values(
                serial=f"{pool_id}:L{(n or 0) + 1:06d}",
                pool_id=pool_id,
                district=district,
                pollutant=pollutant,
                source=source,
                original_kg=amount_kg,
                available_kg=0 if allocated else amount_kg,
                held_kg=0,
                allocated_kg=amount_kg if allocated else 0,
                out_kg=0,
                repaid_kg=0,
                parent_lot_id=parent_lot_id,
                uscc=uscc,
                permit_id=permit_id,
                source_event_id=source_event_id,
                reclaim_id=reclaim_id,
                ref=ref,
                confirmed_by=confirmed_by,
                note=note,
                created_at=now,
            )
            .returning(LOTS.c.id)
        )
    ).scalar_one()
    await conn.execute(
        insert(MOVEMENTS),
        movement_rows(
            pool_id,
            # A bought lot arrives allocated: its movements say so, in order.
            [(lot_id, Move.CREDIT, amount_kg)]
            + (
                [(lot_id, Move.HOLD, amount_kg), (lot_id, Move.ALLOCATE, amount_kg)]
                if allocated
                else []
            ),
            ref=ref,
            counter_lot_id=parent_lot_id,
            at=now,
        ),
    )
    return int(lot_id)


async def move_to_pool(
    s: AsyncSession | AsyncConnection,
    draws: Draws,
    move: Move,
    *,
    source_pool_id: str,
    target_pool_id: str,
    target_district: str,
    pollutant: str,
    source: str,
    ref: str,
    allocated: bool = False,
    note: str | None = None,
) -> list[int]:
    """Move drawn tonnes out of their lots (`move`: OUT from available,
    HELD_OUT from held, SOLD_OUT from allocated) into new lots of the target
    pool, one child lot per source lot, so lineage follows the tonnes.
    Returns the new lots' ids."""
    conn = await _conn(s)
    parents = {
        r.id: r
        for r in await conn.execute(
            select(LOTS.c.id, LOTS.c.uscc, LOTS.c.permit_id, LOTS.c.reclaim_id).where(
                LOTS.c.id.in_([lot for lot, _ in draws])
            )
        )
    }
    created = []
    for lot_id, kg in draws:
        parent = parents[lot_id]
        child = await create_lot(
            conn,
            pool_id=target_pool_id,
            district=target_district,
            pollutant=pollutant,
            source=source,
            amount_kg=kg,
            allocated=allocated,
            parent_lot_id=lot_id,
            uscc=parent.uscc,
            permit_id=parent.permit_id,
            reclaim_id=parent.reclaim_id,
            ref=ref,
            note=note,
        )
        await apply(conn, source_pool_id, [(lot_id, move, kg)], ref=ref, counter_lot_id=child)
        created.append(child)
    return created


def as_draws(value: Any) -> Draws:
    """Draws stored as JSON ([[lot_id, kg], ...]) back as tuples."""
    return [(int(lot), int(kg)) for lot, kg in (value or [])]
