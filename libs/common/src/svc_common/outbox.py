"""Transactional outbox: `emit` writes an event in the caller's transaction;
`OutboxRelay` publishes unsent rows, in order per key, and marks them sent.

Several relays (one per replica) may run against one PostgreSQL database:
rows are claimed with FOR UPDATE SKIP LOCKED, and a relay publishes a key's
rows only while they are the oldest unsent rows of that key, so two relays
never publish one key's events concurrently or out of order.

On PostgreSQL a transaction's last combined statement (`svc_common.writes`),
or a group commit's batch right after its writes, may also give its rows a
*lease* (`next_attempt_at`, DIRECT_LEASE_SECONDS ahead): each row whose key
has no earlier unsent row. After the commit the
writing process's relay publishes them at once from memory and marks them
sent, with no transaction, claim or lock (`publish_direct`); every other
relay leaves them alone until the lease ends, and a later row of their key
waits behind them as behind a claimed one. If the process dies first, the
lease ends and any relay publishes them as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, cast

import structlog
from prometheus_client import Counter
from sqlalchemy import (
    BigInteger,
    Boolean,
    Table,
    Text,
    bindparam,
    column,
    insert,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from svc_common import context
from svc_common.db import OUTBOX_WRITTEN, Database, DriverStatement
from svc_common.events.envelope import Envelope, Message, message_of
from svc_common.events.registry import SCHEMA_URN, EventPayload
from svc_common.tables import OutboxRow
from svc_common.tracing import Tracing
from svc_common.transports.base import Transport
from svc_common.types import utcnow

log = structlog.get_logger(__name__)

PUBLISHED = Counter("outbox_published_total", "Outbox rows published", ["service"])
PUBLISH_FAILURES = Counter("outbox_publish_failures_total", "Failed publish attempts", ["service"])

#: Longest wait of a row whose publishing failed. Kept short: the back-off is
#: also cut short as soon as the transport answers again (see `_recovered`).
MAX_BACKOFF_SECONDS = 10.0
#: How long every relay but the writing process's leaves a row alone that
#: that process publishes at once after its commit (`publish_direct`). Past
#: it, a row the process did not mark sent (it died, or the broker or the
#: database failed it) is any relay's to publish: at most this late after a
#: crash. The lease runs from the statement that gives it (the INSERT, or a
#: batch's lease after its writes): a transaction that commits late, or
#: a publish that outlasts it, may see another relay publish the row too
#: (the consumers' inbox absorbs the copy), never out of order: a later row
#: of its key is not leased and waits behind it.
DIRECT_LEASE_SECONDS = 5.0
#: A pass that left rows behind a row it could not claim tries again after
#: this (see `held_back_retry`).
HELD_BACK_RETRY_SECONDS = 0.01


def held_back_retry(
    held_back: bool, published: int, idle_held: int, sweep_seconds: float
) -> tuple[float | None, int]:
    """When a relay tries again by itself after a pass, and the count of
    passes in a row held back with nothing published: (seconds, or None to
    wait for a commit or the sweep; the new count).

    Rows held back wait behind one another replica's relay has claimed: it
    is publishing it now, and no commit may come to wake this relay when it
    is done (two replicas on one hot key then went one claim a sweep: 4,284
    events took 62 s). While passes publish, the next goes after
    HELD_BACK_RETRY_SECONDS; passes that publish nothing (a row waiting out
    a back-off, the broker down) wait twice as long each time, up to the
    sweep's interval."""
    if not held_back:
        return None, 0
    if published:
        return min(sweep_seconds, HELD_BACK_RETRY_SECONDS), 0
    return min(sweep_seconds, HELD_BACK_RETRY_SECONDS * 2**idle_held), min(idle_held + 1, 16)


def source_of(topic: str) -> str:
    """CloudEvents `source` of the service that owns a topic."""
    return f"urn:envbureau:{topic.split('.', 1)[0]}-svc"


def build_envelope(payload: EventPayload, *, subject: str | None = None) -> Envelope:
    ctx = context.current()
    key = payload.partition_key()
    return Envelope(
        source=source_of(payload.topic),
        type=payload.event_type,
        subject=subject or key,
        partitionkey=key,
        dataschema=SCHEMA_URN + payload.event_type,
        correlationid=ctx.correlation_id or context.new_id(),
        causationid=ctx.causation_id or ctx.request_id,
        traceparent=ctx.traceparent or context.new_traceparent(),
        data=payload.model_dump(mode="json"),
    )


def _row(env: Envelope, topic: str) -> dict[str, object]:
    # The data is build_envelope's JSON-mode dump already: dumped again it
    # would be walked value by value as Any (an import's event: 14,000 values).
    envelope = env.model_dump(mode="json", exclude={"data"})
    envelope["data"] = env.data
    return {
        "event_id": env.id,
        "topic": topic,
        "key": env.partitionkey,
        "event_type": env.type,
        "envelope": envelope,
        "created_at": utcnow(),
        "attempts": 0,
    }


def emit(session: AsyncSession, payload: EventPayload, *, subject: str | None = None) -> Envelope:
    """Write `payload` to the outbox in the session's transaction."""
    env = build_envelope(payload, subject=subject)
    session.add(OutboxRow(**_row(env, payload.topic)))
    session.info[OUTBOX_WRITTEN] = True
    return env


def outbox_rows(payloads: Sequence[EventPayload]) -> list[dict[str, object]]:
    """The outbox rows of `payloads` for a caller that inserts them itself in
    its transaction (within one combined statement: `Writes.events`, which
    then tells the relay, by OUTBOX_WRITTEN or OUTBOX_DIRECT)."""
    return [_row(build_envelope(p), p.topic) for p in payloads]


def lease_until() -> dt.datetime:
    """The end of a lease given now (see DIRECT_LEASE_SECONDS)."""
    return utcnow() + dt.timedelta(seconds=DIRECT_LEASE_SECONDS)


#: PostgreSQL: one INSERT of column arrays for any number of rows, far cheaper
#: to plan and send than a multi-row VALUES list; `seq` follows array order.
_UNNEST_INSERT = text(
    "INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, attempts) "
    "SELECT e, t, k, ty, env::jsonb, c, 0 FROM unnest("
    "CAST(:event_id AS text[]), CAST(:topic AS text[]), CAST(:key AS text[]), "
    "CAST(:event_type AS text[]), CAST(:envelope AS text[]), CAST(:created_at AS timestamptz[])"
    ") AS u(e, t, k, ty, env, c)"
)


async def emit_many(session: AsyncSession, payloads: Iterable[EventPayload]) -> int:
    """Bulk form of `emit` for bulk endpoints: one statement for all rows."""
    pairs = [(build_envelope(p), p.topic) for p in payloads]
    if not pairs:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        now = utcnow()
        await session.execute(
            _UNNEST_INSERT,
            {
                "event_id": [e.id for e, _ in pairs],
                "topic": [t for _, t in pairs],
                "key": [e.partitionkey for e, _ in pairs],
                "event_type": [e.type for e, _ in pairs],
                "envelope": [e.model_dump_json() for e, _ in pairs],
                "created_at": [now] * len(pairs),
            },
        )
    else:
        await session.execute(insert(OutboxRow), [_row(e, t) for e, t in pairs])
    session.info[OUTBOX_WRITTEN] = True
    return len(pairs)


_OUTBOX = cast(Table, OutboxRow.__table__)
_OUTBOX_COLS = _OUTBOX.c
#: Built once on the table (no ORM synchronisation of loaded objects: the
#: relay loads none): marking a pass's rows sent is one statement.
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX_COLS.seq.in_(bindparam("seqs", expanding=True)))
    .values(
        sent_at=bindparam("now", type_=_OUTBOX_COLS.sent_at.type),
        attempts=_OUTBOX_COLS.attempts + 1,
        last_error=None,
    )
)
#: The oldest unsent rows, locked, each with whether it is held back: an
#: earlier unsent row of its key lies outside the claim (locked by another
#: relay, or waiting for a retry). `first_outside` finds, per claimed key, the
#: oldest such row with one walk of the key's unsent rows, stopping at the
#: first row not claimed; as the claimed rows are the oldest unsent ones, the
#: walk is as long as the key's share of the claim. It is MATERIALIZED, so
#: computed once: inlined, with statistics that say almost nothing is unsent
#: (the outbox's usual state: every row is sent within milliseconds, so
#: autovacuum's ANALYZE sees none) the planner expected one claimed row, put
#: it inside a nested loop and ran it again for every claimed row: a claim of
#: 200 rows over 118 keys walked 23,600 times, 0.7 s a claim at any
#: backlog from 1,000 to 200,000; once, 7-9 ms (bench/RESULTS.md,
#: 2026-12-03). `:skip` leaves out the keys an earlier claim of the same
#: drain found held back (see `drain`). The claim itself takes only the
#: narrow columns; the envelopes are read for the claimed rows alone. The
#: claim walks ix_outbox_unsent_seq in order and stops after `:limit` rows
#: only while `seq` has statistics (at any correlation seen); on a table never
#: analysed with rows in it the planner fetched every unsent row and sorted
#: them (50,000 unsent: 56 ms a claim, 4 ms once `seq` is analysed), so the
#: relay has `seq` analysed once (`_analyse_seq_once`).
_CLAIM_IN_KEY_ORDER = (
    text(
        """
    WITH claimed AS (
        SELECT seq, key, attempts FROM outbox
        WHERE sent_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
          AND key <> ALL(:skip)
        ORDER BY seq
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ),
    first_outside AS MATERIALIZED (
        SELECT k.key, o.seq
        FROM (SELECT key, max(seq) AS last FROM claimed GROUP BY key) k
        CROSS JOIN LATERAL (
            SELECT u.seq FROM outbox u
            WHERE u.key = k.key AND u.sent_at IS NULL AND u.seq < k.last
              AND u.seq NOT IN (SELECT seq FROM claimed)
            ORDER BY u.seq
            LIMIT 1
        ) o
    )
    SELECT c.seq, c.key, o.topic, o.envelope, c.attempts,
        coalesce(f.seq < c.seq, false) AS held_back
    FROM claimed c JOIN outbox o ON o.seq = c.seq
    LEFT JOIN first_outside f ON f.key = c.key
    ORDER BY c.seq
    """
    )
    .bindparams(bindparam("now", type_=_OUTBOX_COLS.next_attempt_at.type))
    .columns(
        _OUTBOX_COLS.seq,
        _OUTBOX_COLS.key,
        _OUTBOX_COLS.topic,
        _OUTBOX_COLS.envelope,
        _OUTBOX_COLS.attempts,
        column("held_back", Boolean),
    )
)
#: The same claim and mark on PostgreSQL, run on asyncpg itself: a relay
#: pass follows every commit that emitted (see `DriverStatement`). The mark
#: also ends a lease, and skips a row already sent: a row published at once
#: (`publish_direct`, outside any transaction) that another relay sent once
#: its lease ended keeps that relay's mark. A claimed row is locked and unsent.
_CLAIM_ON_DRIVER = DriverStatement(_CLAIM_IN_KEY_ORDER)
_MARK_SENT_ON_DRIVER = DriverStatement(
    text(
        "UPDATE outbox SET sent_at = :now, attempts = attempts + 1, last_error = NULL,"
        " next_attempt_at = NULL WHERE seq = ANY(:seqs) AND sent_at IS NULL"
    ).bindparams(
        bindparam("now", type_=_OUTBOX_COLS.sent_at.type),
        bindparam("seqs", type_=ARRAY(BigInteger)),
    )
)
#: Whether the outbox's `seq` has statistics (see `_analyse_seq_once`).
_SEQ_HAS_STATISTICS = (
    "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE tablename = 'outbox' AND attname = 'seq'"
    " AND schemaname = ANY(current_schemas(false)))"
)
#: How long the relay waits for the outbox's lock to analyse `seq`.
_ANALYSE_LOCK_WAIT = "1s"
#: A row whose publishing failed waits out its back-off. A row published at
#: once (`publish_direct`, outside any transaction) that another relay sent
#: once its lease ended stays sent; a claimed row is locked and unsent.
_BACK_OFF = (
    update(_OUTBOX)
    .where(_OUTBOX_COLS.seq == bindparam("row_seq"), _OUTBOX_COLS.sent_at.is_(None))
    .values(
        attempts=_OUTBOX_COLS.attempts + 1,
        last_error=bindparam("error", type_=_OUTBOX_COLS.last_error.type),
        next_attempt_at=bindparam("next", type_=_OUTBOX_COLS.next_attempt_at.type),
    )
)
_BACK_OFF_ON_DRIVER = DriverStatement(_BACK_OFF)


class NotHandedOver(Exception):
    """A claimed row the relay did not give the transport: its envelope
    cannot be read, or an earlier row of its key could not."""


class Claimed(NamedTuple):
    """An unsent row claimed by a relay pass."""

    seq: int
    key: str
    topic: str
    envelope: dict[str, Any]
    attempts: int


def _stored_json(text: str) -> Any:
    """A stored envelope's JSON, or the text itself if it is not JSON (it
    then fails validation as an unreadable envelope)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        service: str,
        batch_size: int = 200,
        sweep_seconds: float = 2.0,
        coalesce_seconds: float = 0.0,
        tracing: Tracing | None = None,
    ) -> None:
        self.db = db
        self.tracing = tracing or Tracing(service)
        self.transport = transport
        self.service = service
        self.batch_size = batch_size
        self.sweep_seconds = sweep_seconds
        self.coalesce_seconds = coalesce_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        #: A whole pass failed (the transport is down): rows wait out back-offs
        #: that are cut short as soon as it answers again.
        self._backing_off = False
        #: The last drain left rows behind an earlier row of their key that
        #: it could not claim: locked by another replica's relay, or
        #: waiting out a back-off.
        self.held_back = False
        #: PostgreSQL: whether this relay has checked that `seq` has statistics.
        self._seq_checked = False
        #: Leased rows this process committed, to publish at once (`take`).
        self._direct: list[Claimed] = []
        #: A commit wrote rows to claim, or a pass is due for another reason:
        #: the next pass drains. Set at first: rows may wait from before.
        self._drain_due = True
        #: When the last drain ended (the one clock's time), or None: none yet.
        self._drained_at: dt.datetime | None = None
        #: A graceful stop asked for its last pass (`stop`).
        self._stopping = False
        db.on_outbox_direct(self.take)
        db.on_outbox_commit(self.wake)

    def wake(self) -> None:
        """A pass soon that drains: rows to claim were committed, or are due."""
        self._drain_due = True
        self._wake.set()

    def take(self, rows: list[Claimed]) -> None:
        """A commit's leased rows: a pass soon publishes them, in commit order."""
        self._direct.extend(rows)
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self, grace: float = 0.0) -> None:
        """Stop the loop. With `grace`, gracefully: the pass under way ends
        (a pass cancelled after handing rows to the transport but before
        marking them sent left them to be published again by another
        replica: sent twice), then a last pass publishes what this process
        committed, all within `grace` seconds; past it, the loop is cancelled."""
        task, self._task = self._task, None
        if task is None:
            return
        if grace > 0:
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        if not task.done():
            log.warning("outbox relay stopped before its last pass ended", service=self.service)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        retry: asyncio.TimerHandle | None = None
        idle_held = 0
        while True:
            # On timeout this is the sweep: republish what a crash or outage left unsent.
            swept = False
            try:
                # Not asyncio.wait_for: on Python 3.11 it loses a cancel that
                # arrives as the wake-up completes, and stop() then waits forever.
                async with asyncio.timeout(self.sweep_seconds):
                    await self._wake.wait()
            except TimeoutError:
                swept = True
            if retry is not None:
                retry.cancel()
                retry = None
            if self._stopping:
                # The last pass: this process's leased rows and any due
                # (what fails stays unsent, for another replica's sweep).
                try:
                    await self.run_pass(swept=True)
                except Exception as exc:
                    log.warning("outbox relay's last pass failed", error=repr(exc))
                return
            if not swept and self.coalesce_seconds:
                # Let the commits of concurrent requests pile up: one pass
                # then relays them all, instead of one pass per commit.
                await asyncio.sleep(self.coalesce_seconds)
            self._wake.clear()
            published = 0
            try:
                published = await self.run_pass(swept=swept)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep relaying; the rows stay unsent
                log.warning("outbox relay pass failed", error=repr(exc))
            delay, idle_held = held_back_retry(
                self.held_back, published, idle_held, self.sweep_seconds
            )
            if delay is not None:
                retry = asyncio.get_running_loop().call_later(delay, self.wake)

    async def run_pass(self, *, swept: bool) -> int:
        """One pass of the loop: after a wake-up, or a sweep (`swept`) for
        rows a crash or an outage left unsent. The loop runs it; a scheduler
        driving the relay step by step (the simulator) calls it instead.

        A pass woken only by rows to publish at once does not drain, but a
        pass sweeps whenever the last drain is `sweep_seconds` old: wake-ups
        that never leave the loop a quiet `sweep_seconds` must not keep the
        sweep from the rows a dead replica leased, the broker refused or a
        failed mark left."""
        now = utcnow()
        if self._drained_at is None or (now - self._drained_at).total_seconds() >= (
            self.sweep_seconds
        ):
            swept = True
        if swept and self._backing_off and await self.transport.ready():
            await self._recovered()
        published = await self.publish_direct()
        if swept or self._drain_due:
            self._drain_due = False
            try:
                published += await self.drain()
            except BaseException:
                self._drain_due = True  # the next pass drains again
                raise
            self._drained_at = utcnow()
        return published

    async def publish_direct(self) -> int:
        """PostgreSQL: publish the leased rows this process's commits handed
        over (`take`), then mark them sent in one statement outside any
        transaction; a row the broker refused waits out a back-off, as one
        claimed would. Their lease kept every other relay off them and made
        any later row of their key wait. Under the drain's lock, so this
        process publishes a key's rows in commit order. Returns rows
        published."""
        total = 0
        while self._direct:
            async with self._lock:
                # At most a claim's worth at a time.
                rows = self._direct[: self.batch_size]
                del self._direct[: self.batch_size]
                try:
                    # Envelopes this process made (`outbox_rows`), not read back.
                    results = await self._publish(rows, made_here=True)
                except BaseException:
                    # Not handed over (cancelled, or the transport raised):
                    # the next pass tries them again, before any taken since.
                    self._direct[:0] = rows
                    raise
                async with self.db.driver() as conn:
                    total += await self._mark_on_driver(conn, rows, results)
        return total

    async def drain(self) -> int:
        """Publish until nothing publishable is left; returns rows published.

        On PostgreSQL a claim may take rows that must wait behind an earlier
        row of their key (in back-off, or locked by another relay). The next
        claims of this drain leave those keys out: enough rows behind one
        row the broker keeps refusing would otherwise fill every claim, and
        no other key would be published either."""
        total = 0
        skip: set[str] = set()
        async with self._lock:
            while True:
                published, claimed, held = await self._relay_once(skip)
                total += published
                if published and self._backing_off:
                    # The transport answers again: what waits out a back-off
                    # goes now, not when its timer says.
                    await self._recovered()
                    continue
                newly_held = held - skip
                skip |= held
                if claimed < self.batch_size or (published == 0 and not newly_held):
                    break
            self.held_back = bool(skip)
        return total

    async def _recovered(self) -> None:
        """Cut every back-off short (the transport is back). A row never
        tried (`attempts` 0) is not waiting out a back-off but leased to
        the replica publishing it now (`publish_direct`): left alone."""
        self._backing_off = False
        async with self.db.transaction() as s:
            await s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.sent_at.is_(None),
                    OutboxRow.next_attempt_at.is_not(None),
                    OutboxRow.attempts > 0,
                )
                .values(next_attempt_at=None)
            )

    async def _relay_once(self, skip: set[str]) -> tuple[int, int, set[str]]:
        """One batch: (rows published, rows claimed, keys held back); on
        PostgreSQL the keys in `skip` are not claimed."""
        if self.db.is_postgres:
            return await self._relay_on_driver(skip)
        published, claimed = await self._relay_in_session()
        return published, claimed, set()

    async def _relay_on_driver(self, skip: set[str]) -> tuple[int, int, set[str]]:
        """PostgreSQL. One transaction holds the row locks while publishing,
        so a second replica skips these rows instead of publishing them
        again. On the driver itself, not through SQLAlchemy: this runs after
        every commit that emitted."""
        async with self.db.driver() as conn, conn.transaction():
            claimed, rows, held = await self._claim_in_key_order(conn, skip)
            results = await self._publish(rows)
            sent = await self._mark_on_driver(conn, rows, results)
        if len(claimed) == self.batch_size and not self._seq_checked:
            await self._analyse_seq_once()
        return sent, len(claimed), held

    async def _mark_on_driver(
        self, conn: Any, rows: Sequence[Claimed], results: list[BaseException | None]
    ) -> int:
        """PostgreSQL: mark the rows sent and back off the others, on `conn`
        (in the claim's transaction, or outside any for rows published at
        once); returns rows sent."""
        sent, failed = self._outcome(rows, results)
        if sent:
            await _MARK_SENT_ON_DRIVER.execute(self.db, conn, {"now": utcnow(), "seqs": sent})
        for params in failed:
            await _BACK_OFF_ON_DRIVER.execute(self.db, conn, params)
        PUBLISHED.labels(self.service).inc(len(sent))
        return len(sent)

    async def _analyse_seq_once(self) -> None:
        """PostgreSQL, at this relay's first full claim (a backlog): if the
        outbox's `seq` has no statistics (no ANALYZE has seen the table with
        rows in it: a new database, before autovacuum's first), take them.
        Without them each claim read and sorted every unsent row instead of
        walking ix_outbox_unsent_seq for `batch_size` rows; with them it
        walks the index, also after marking rows sent has scattered `seq`
        over the table (a correlation of 0.41 measured). Once taken, the
        table keeps statistics (autovacuum's ANALYZEs replace them), so this
        runs once per database; the other columns' are not needed by the
        claim's plan. The relay
        waits at most `_ANALYSE_LOCK_WAIT` for the table's lock: a VACUUM,
        an ANALYZE or a CREATE INDEX CONCURRENTLY on the outbox holds it,
        and this drain would publish nothing until it ended."""
        self._seq_checked = True
        try:
            async with self.db.driver() as conn, conn.transaction():
                if not await conn.fetchval(_SEQ_HAS_STATISTICS):
                    await conn.execute(f"SET LOCAL lock_timeout = '{_ANALYSE_LOCK_WAIT}'")
                    await conn.execute("ANALYZE outbox (seq)")
                    if await conn.fetchval(_SEQ_HAS_STATISTICS):
                        log.info("outbox seq analysed for the relay's claim", service=self.service)
                    else:  # PostgreSQL only warns: the role does not own the table
                        log.warning("outbox seq not analysed", service=self.service)
        except Exception as exc:  # the relay works without; its claims cost more
            log.warning("outbox statistics not taken", error=repr(exc))

    async def _relay_in_session(self) -> tuple[int, int]:
        """SQLite: one process, one relay (self._lock). The write lock is not
        held while publishing: in-process delivery writes other databases
        whose relays may in turn be delivering here."""
        async with self.db.session() as s:
            claimed = await self._claim(s)
            rows = await self._in_key_order(s, claimed)
        results = await self._publish(rows)
        if rows:
            async with self.db.transaction() as s:
                await self._mark(s, rows, results)
        return sum(1 for r in results if r is None), len(claimed)

    async def _claim_in_key_order(
        self, conn: Any, skip: set[str] | None = None
    ) -> tuple[list[Claimed], list[Claimed], set[str]]:
        """PostgreSQL: `_claim` and `_in_key_order` in one round trip (this
        runs after every commit): (claimed rows, rows to publish, keys held
        back). Each claimed row says whether an earlier unsent row of its key
        lies outside the claim (locked by another relay or waiting for a
        retry): then it and its key's later rows wait. Keys in `skip` are
        not claimed."""
        records = await _CLAIM_ON_DRIVER.fetch(
            self.db,
            conn,
            {"now": utcnow(), "limit": self.batch_size, "skip": sorted(skip or ())},
        )
        claimed: list[Claimed] = []
        blocked: set[str] = set()
        ready: list[Claimed] = []
        for rec in records:
            row = Claimed(rec["seq"], rec["key"], rec["topic"], rec["envelope"], rec["attempts"])
            claimed.append(row)
            if row.key in blocked or rec["held_back"]:
                blocked.add(row.key)
            else:
                ready.append(row)
        return claimed, ready, blocked

    async def _claim(self, s: AsyncSession) -> list[Claimed]:
        # SQLite (PostgreSQL claims in `_claim_in_key_order`). Plain columns,
        # not ORM entities: this runs after every commit. The envelope as its
        # stored text: a row edited by hand may not be JSON at all, and it
        # must fail alone in `_publish`, not stop the whole pass.
        now = utcnow()
        q = (
            select(
                OutboxRow.seq,
                OutboxRow.key,
                OutboxRow.topic,
                type_coerce(OutboxRow.envelope, Text).label("envelope"),
                OutboxRow.attempts,
            )
            .where(OutboxRow.sent_at.is_(None))
            .where(or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now))
            .order_by(OutboxRow.seq)
            .limit(self.batch_size)
        )
        return [
            Claimed(r.seq, r.key, r.topic, _stored_json(r.envelope), r.attempts)
            for r in (await s.execute(q)).all()
        ]

    async def _in_key_order(self, s: AsyncSession, claimed: Sequence[Claimed]) -> list[Claimed]:
        """Keep, per key, only the claimed rows that are the oldest unsent rows
        of that key: a row locked by another relay, or waiting for a retry,
        holds back every later row of its key."""
        if not claimed:
            return []
        max_seq = claimed[-1].seq
        keys = {r.key for r in claimed}
        unsent = await s.execute(
            select(OutboxRow.key, OutboxRow.seq)
            .where(OutboxRow.sent_at.is_(None), OutboxRow.key.in_(keys), OutboxRow.seq <= max_seq)
            .order_by(OutboxRow.seq)
        )
        expected: dict[str, list[int]] = defaultdict(list)
        for key, seq in unsent:
            expected[key].append(seq)
        position: dict[str, int] = defaultdict(int)
        blocked: set[str] = set()
        ready: list[Claimed] = []
        for row in claimed:
            if row.key in blocked:
                continue
            i = position[row.key]
            if i < len(expected[row.key]) and expected[row.key][i] == row.seq:
                ready.append(row)
                position[row.key] = i + 1
            else:
                blocked.add(row.key)
        return ready

    async def _publish(
        self, rows: Sequence[Claimed], *, made_here: bool = False
    ) -> list[BaseException | None]:
        """Each row's outcome: None if published, else why not. A row whose
        envelope cannot be read is not handed over: it fails alone (kept,
        retried with back-off, shown in the outbox figures) and holds back
        its key's later rows, as a row the broker refused would; the other
        keys go on. `made_here`: the envelopes are this process's own, as it
        wrote them, and go out unvalidated (`message_of`)."""
        if not rows:
            return []
        outcomes: list[BaseException | None] = [None] * len(rows)
        handed: list[int] = []
        messages: list[Message] = []
        blocked: set[str] = set()
        for i, r in enumerate(rows):
            if r.key in blocked:
                outcomes[i] = NotHandedOver(f"held back behind an unreadable row of key {r.key}")
                continue
            try:
                messages.append(
                    message_of(r.envelope, r.topic)
                    if made_here
                    else Envelope.model_validate(r.envelope).to_message(r.topic)
                )
            except Exception as exc:
                outcomes[i] = NotHandedOver(f"unreadable envelope in outbox row {r.seq}: {exc}")
                blocked.add(r.key)
                continue
            handed.append(i)
        if not messages:
            return outcomes
        results = await self._hand_over(messages, [rows[i] for i in handed])
        for i, result in zip(handed, results, strict=True):
            outcomes[i] = result
        return outcomes

    async def _hand_over(
        self, messages: list[Message], rows: Sequence[Claimed]
    ) -> list[BaseException | None]:
        if not self.tracing.enabled:
            return await self.transport.publish_batch(messages)
        spans = self.tracing.publish_spans([r.envelope for r in rows], [r.topic for r in rows])
        try:
            results = await self.transport.publish_batch(messages)
        except BaseException as exc:
            self.tracing.end_publish(spans, [exc] * len(spans))
            raise
        self.tracing.end_publish(spans, results)
        return results

    def _outcome(
        self, rows: Sequence[Claimed], results: list[BaseException | None]
    ) -> tuple[list[int], list[dict[str, Any]]]:
        """The rows sent, and the back-off of each row that was not (counted
        as published once marked)."""
        now = utcnow()
        sent = [r.seq for r, err in zip(rows, results, strict=True) if err is None]
        handed = [err for err in results if not isinstance(err, NotHandedOver)]
        if handed and all(err is not None for err in handed):
            # Nothing handed over went through: the transport is down, not
            # one message bad. Its back-offs are cut short once it answers again.
            self._backing_off = True
        failed: list[dict[str, Any]] = []
        for row, err in zip(rows, results, strict=True):
            if err is None:
                continue
            PUBLISH_FAILURES.labels(self.service).inc()
            backoff = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(row.attempts, 6))
            failed.append(
                {
                    "row_seq": row.seq,
                    "error": repr(err)[:2000],
                    "next": now + dt.timedelta(seconds=backoff),
                }
            )
        return sent, failed

    async def _mark(
        self,
        s: AsyncSession | AsyncConnection,
        rows: Sequence[Claimed],
        results: list[BaseException | None],
    ) -> None:
        """SQLite: mark the pass's rows in the session."""
        sent, failed = self._outcome(rows, results)
        if sent:
            await s.execute(_MARK_SENT, {"now": utcnow(), "seqs": sent})
        for params in failed:
            await s.execute(_BACK_OFF, params)
        PUBLISHED.labels(self.service).inc(len(sent))
