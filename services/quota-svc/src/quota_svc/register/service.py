"""Writing to the register: `record` queues a public entry in the caller's
transaction; `chain_pending` (a periodic job, one writer at a time) appends
the queue to the hash chain."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import Database, hold_lock
from svc_common.types import utcnow

from quota_svc.register import rules
from quota_svc.register.models import ENTRIES, QUEUE, RegisterEntry, RegisterQueued

#: The lock that makes one chain writer at a time.
_CHAIN_LOCK = ("quota.register", "chain")


def queue_row(
    kind: str,
    *,
    district: str | None,
    pollutant: str | None,
    amount_kg: int | None,
    refs: str,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    return {
        "at": at or utcnow(),
        "district": district,
        "pollutant": pollutant,
        "kind": kind,
        "amount_kg": amount_kg,
        "refs": refs,
    }


def record(
    s: AsyncSession,
    kind: str,
    *,
    district: str | None,
    pollutant: str | None,
    amount_kg: int | None = None,
    **refs: object,
) -> None:
    """Queue a public entry (a decision or a posting) in the caller's transaction."""
    s.add(
        RegisterQueued(
            **queue_row(
                kind,
                district=district,
                pollutant=pollutant,
                amount_kg=amount_kg,
                refs=rules.refs_text(**refs),
            )
        )
    )


async def head(s: AsyncSession) -> RegisterEntry | None:
    return await s.scalar(select(RegisterEntry).order_by(RegisterEntry.seq.desc()).limit(1))


async def chain_pending(db: Database, batch: int = 2000) -> int:
    """Append queued entries to the chain, oldest queued first; returns how
    many. Safe on several replicas: one chain writer at a time."""
    total = 0
    while True:
        async with db.transaction() as s:
            await hold_lock(s, *_CHAIN_LOCK)
            last = await s.execute(
                select(ENTRIES.c.seq, ENTRIES.c.hash).order_by(ENTRIES.c.seq.desc()).limit(1)
            )
            row = last.first()
            seq, prev = (row.seq, row.hash) if row else (0, rules.GENESIS)
            queued = (await s.execute(select(QUEUE).order_by(QUEUE.c.id).limit(batch))).all()
            if not queued:
                return total
            out = []
            for q in queued:
                seq += 1
                fields = rules.content(
                    seq, q.at, q.district, q.pollutant, q.kind, q.amount_kg, q.refs
                )
                h = rules.entry_hash(prev, fields)
                out.append(
                    {
                        "seq": seq,
                        "at": q.at,
                        "district": q.district,
                        "pollutant": q.pollutant,
                        "kind": q.kind,
                        "amount_kg": q.amount_kg,
                        "refs": q.refs,
                        "prev_hash": prev,
                        "hash": h,
                    }
                )
                prev = h
            await s.execute(insert(ENTRIES), out)
            await s.execute(delete(QUEUE).where(QUEUE.c.id.in_([q.id for q in queued])))
        total += len(out)
        if len(queued) < batch:
            return total


def public_fields(e: RegisterEntry) -> dict[str, str]:
    return {
        **rules.content(e.seq, e.at, e.district, e.pollutant, e.kind, e.amount_kg, e.refs),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }
