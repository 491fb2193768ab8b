"""Faults this system has had or could have, put back one at a time by
replacing real code, for the simulator to find.

Each plant is the code as it was (or as it would be written carelessly),
small enough to read next to the code it replaces."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from bureau_sim.config import SimConfig
from bureau_sim.run import Result, Templates, run_seed
from bureau_sim.world import Violation
from eia_svc.quota_saga import rules as saga_rules
from pydantic import ValidationError
from quota_svc.reservations import service as reservations
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import context
from svc_common.db import DriverStatement
from svc_common.events.envelope import Envelope, Message
from svc_common.events.registry import registry
from svc_common.inbox import InboxConsumer, record_in_inbox
from svc_common.outbox import OutboxRelay
from svc_common.tables import InboxRow
from svc_common.transports.base import DLQ_SUFFIX


# --- (a) a consumer that dead-letters on a transient database error ----------------------
async def dead_lettering_process(self: InboxConsumer, msg: Message) -> None:
    """InboxConsumer.process as it was: every failure counts, whatever its
    cause; after max_attempts quick retries the message goes to the .dlq
    topic, and consumption moves on."""
    try:
        env = Envelope.from_message(msg)
    except (ValidationError, ValueError) as exc:
        await _to_dlq(self, msg, exc, attempts=0)
        return
    handler = self.handlers.get(env.type)
    if handler is None:
        return
    model = registry.model_for(env.type)
    payload = model.model_validate(env.data) if model else env.data
    last: Exception | None = None
    for _attempt in range(1, self.max_attempts + 1):
        try:
            await self._apply(env, payload, handler, msg.topic)
            return
        except Exception as exc:
            last = exc
            await asyncio.sleep(0)
    assert last is not None
    await _to_dlq(self, msg, last, attempts=self.max_attempts)


async def _to_dlq(self: InboxConsumer, msg: Message, exc: BaseException, *, attempts: int) -> None:
    headers = [
        *msg.headers,
        ("dlq_error", repr(exc)[:4000].encode()),
        ("dlq_group", self.group.encode()),
        ("dlq_attempts", str(attempts).encode()),
    ]
    dlq = Message(topic=msg.topic + DLQ_SUFFIX, key=msg.key, value=msg.value, headers=headers)
    (result,) = await self.transport.publish_batch([dlq])
    if result is not None:
        raise RuntimeError("could not dead-letter message") from result


# --- (b) the late refusal after a withdrawal is ignored ------------------------------------
def refusal_ignored_once_decided(
    st: saga_rules.QuotaState,
    attempt: int,
    shortfall_kg: int,
    undecided: bool,
    approved: bool = False,
) -> saga_rules.QuotaState:
    """on_rejected as it was: a refusal reaching a decided filing changes nothing."""
    if saga_rules.is_stale(st, attempt) or not undecided or st.status != "pending":
        return st
    return replace(st, status="blocked", shortfall_kg=shortfall_kg)


# --- (c) a reservation check without the pool lock ---------------------------------------------
def pool_read_without_lock() -> DriverStatement:
    """The pool and the policy in force read as reservations.service reads
    them, but without FOR UPDATE: two reservations both see the old balance."""
    unlocked = reservations._LOCK_POOL_AND_POLICY.statement._generate()
    unlocked._for_update_arg = None
    return DriverStatement(unlocked)


# --- (d) a relay that publishes a key's rows out of order ------------------------------------
async def every_claimed_row(
    self: OutboxRelay, s: AsyncSession, claimed: list[Row[Any]]
) -> list[Row[Any]]:
    """_in_key_order forgotten: a row waiting for its retry no longer holds
    back the later rows of its key."""
    return list(claimed)


# --- (e) an inbox check-then-insert ------------------------------------------------------
async def check_then_insert(
    self: InboxConsumer, env: Envelope, payload: Any, handler: Any, topic: str, attempt: int = 1
) -> bool:
    """Asks whether the event was seen, then applies it and records it: two
    consumers handed the same message at once both find it unseen."""
    ctx = context.TraceContext(
        correlation_id=env.correlationid,
        causation_id=env.id,
        traceparent=context.new_traceparent(env.traceparent),
    )
    with context.use(ctx):
        async with self.db.session() as s:
            seen = await s.scalar(
                select(InboxRow.event_id).where(
                    InboxRow.consumer_group == self.group, InboxRow.event_id == env.id
                )
            )
        if seen is not None:
            return False
        async with self.db.transaction() as s:
            await record_in_inbox(s, self.group, env, topic)
            await handler(s, payload, env)
    return True


@dataclass
class Hunt:
    """Seeds run until a violation of `invariant` whose detail matches `detail`."""

    invariant: str
    detail: str
    found: list[tuple[int, Violation]] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)

    def matches(self, v: Violation) -> bool:
        return v.invariant == self.invariant and re.search(self.detail, v.detail) is not None


async def hunt(cfg: SimConfig, seeds: Iterator[int] | range, target: Hunt, *, stop: bool) -> Hunt:
    templates = Templates(cfg)
    try:
        for seed in seeds:
            r = await run_seed(seed, cfg, templates)
            target.results.append(r)
            target.found += [(seed, v) for v in r.violations if target.matches(v)]
            if stop and target.found:
                break
    finally:
        await templates.close()
    return target


# --- the cases: each plant with the mix that exposes it and what must be reported ----------
def dense(**settings: Any) -> SimConfig:
    """A short, busy year: every story within `days`, few of each."""
    base: dict[str, Any] = {
        "faults": "none",
        "days": 30,
        "enterprises": 300,
        "existing_permits": 30,
        "filings": 24,
        "permit_stories": 6,
        "registrations": 2,
        "machine_filings": 2,
        "bulk_uploads": 0,
        "audits": 2,
        "ratio_changes": 1,
        "manual_reclaims": 2,
        "manual_reservations": 2,
        "desk_rounds": 3,
        "reads": 0,
    }
    base.update(settings)
    return SimConfig(**base)


@dataclass
class Case:
    """One plant: what it replaces (object, attribute, replacement), the mix,
    and the violation the simulator must report."""

    name: str
    patch: Callable[[], tuple[Any, str, Any]]
    cfg: Callable[[], SimConfig]
    invariant: str
    detail: str

    def target(self) -> Hunt:
        return Hunt(self.invariant, self.detail)


def _pg_rush() -> SimConfig:
    from svc_common import testing

    return dense(
        db="pg",
        pg_admin_url=testing.pg_admin_url(),
        days=3,
        filings=10,
        manual_reservations=4,
        rushes=6,
        rush_size=8,
        concurrency=0.9,
        # Batched, one process's reservations of a pool never race: the
        # lock keeps replicas' batches apart, modelled by one transaction
        # per request.
        pool_batch_max=1,
    )


CASES = {
    "dead-letters": Case(
        "a consumer that dead-letters on a transient database error",
        lambda: (InboxConsumer, "process", dead_lettering_process),
        lambda: dense(db_outage=0.03, db_outage_max_seconds=120),
        "no dead letters",
        "simulated outage",
    ),
    "late-refusal": Case(
        "the late refusal after a withdrawal ignored",
        lambda: (saga_rules, "on_rejected", refusal_ignored_once_decided),
        lambda: dense(quick_withdraw=0.7, delayed_delivery=0.3, filings=30),
        "every saga reaches a final state",
        r"\(withdrawn, quota pending\)",
    ),
    "pool-lock": Case(
        "a reservation check without the pool lock (PostgreSQL)",
        lambda: (reservations, "_LOCK_POOL_AND_POLICY", pool_read_without_lock()),
        _pg_rush,
        "journal replays to every balance",
        "reserve",
    ),
    "relay-order": Case(
        "a relay that publishes a key's rows out of order",
        lambda: (OutboxRelay, "_in_key_order", every_claimed_row),
        # A flaky broker fails a batch from some row on: that row waits for
        # its retry while the next pass claims its key's later rows. (An
        # outage fails every row alike, and caught it in 1 seed of 12.)
        lambda: dense(broker_flaky=0.15, quick_withdraw=0.7, filings=30),
        "events of one aggregate in order",
        "before its earlier event",
    ),
    "inbox-race": Case(
        "an inbox check-then-insert",
        lambda: (InboxConsumer, "_apply", check_then_insert),
        lambda: dense(concurrent_redelivery=0.3),
        "every event applied once per service",
        "a second time",
    ),
}


async def _rates(names: list[str], seeds: range, *, year: bool) -> None:
    """Every seed of `seeds` with each plant in: which seeds report it; with
    `year`, in the default city-year and fault mix instead of the plant's."""
    for name in names:
        case = CASES[name]
        cfg = SimConfig() if year else case.cfg()
        obj, attr, replacement = case.patch()
        original = getattr(obj, attr)
        setattr(obj, attr, replacement)
        started = time.perf_counter()
        try:
            found = await hunt(
                cfg.model_copy(update={"stop_at_first": False}),
                seeds,
                case.target(),
                stop=False,
            )
        finally:
            setattr(obj, attr, original)
        caught = sorted({seed for seed, _ in found.found})
        print(
            f"{name}: caught by {len(caught)} of {len(seeds)} seeds "
            f"(first {caught[0] if caught else '-'}; {caught}), "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )


def main() -> None:
    """`python sim/tests/planted.py --seeds 12 [name …]`: how many seeds catch each plant."""
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=12)
    p.add_argument("--year", action="store_true", help="the default city-year and fault mix")
    p.add_argument("names", nargs="*", default=[n for n in CASES if n != "pool-lock"])
    args = p.parse_args()
    unknown = [n for n in args.names if n not in CASES]
    if unknown:
        sys.exit(f"unknown plants {unknown}; known: {list(CASES)}")
    asyncio.run(_rates(args.names, range(1, args.seeds + 1), year=args.year))


if __name__ == "__main__":
    main()
