"""Group commit for writes that contend on one row (热点批量提交).

A hot row — a district's quota pool that every reservation locks — admits
one transaction at a time: with one transaction per request, requests queue on
the row lock and each holds it for several round trips and its own commit.
`GroupCommit.run(key, op)` queues the operation under its key (the pool) and
one worker per key applies what has queued in one transaction, one commit for
all, then every caller gets its own answer. When an operation refuses (raises),
the batch is rolled back and each of its operations runs again alone, so a
refusal reaches its caller alone and the others are kept. TigerBeetle's
request batching is the model.

What does not change: each operation still checks its balance itself and
takes its locks, or finds them taken by an earlier operation of the same
transaction (the memo below), so no other transaction comes between (a batch
of another replica waits for the row lock like any transaction); outbox rows
and audit entries commit with their effect. What does change: the effect commits
in the batch's transaction, not in the request's own unit of work. An
operation that renders its answer before its last write hands it to that
write (`Writes.answer`): the request's Idempotency-Key answer then commits
with the effect, in the same statement (quota-svc's reservations and
allocations). Any other answer is stored after the batch's commit; a crash
between the two leaves the effect without a stored answer, and a retry is
answered by the operation's business key (a reservation's project, for
instance).

On SQLite (one writer, and a request's unit of work holds the write lock) the
operation runs at once in the request's own transaction.

What joins a batch under way: the operations of its key that queued while
its first operation ran (mostly waiting for its first lock, held by another
process's batch of the same key), once that one is done (`_late`, 迟到加入):
each joins with its kind, after the batch's own, so a batch's writes still
go by kind. A kind with an `admit` joins as far as it readies them
without waiting (see `_late`); a kind with a `prepare` and no admit waits
for the next batch. A batch of one runs as alone and takes none.

What a batch's operations may share: `batch_memo(unit)` is a dict that
lives as long as one batch's transaction, for rows an operation read under
a lock the batch holds to its end (the pool row, the pool's open lots). The
next operation of the batch reads them there instead of again from the
database, and an operation that changes them puts back what it wrote (a
path that writes them some other way clears the memo first). Only
a batch of two or more has one; an operation alone, or in any other unit of
work, gets None and reads the database as ever.

What a batch may carry over (`batch_carried(unit)`): the memo of the last
batch of its key this process committed, read only, or None. Whether what
it remembers is still so is for the operation to tell (a quota pool's open
lots are trusted only while the pool's row is as that batch committed it:
quota_svc.ledger's `pool_as_left`); it saves the next batch a read under its
lock. A batch that fails, or an operation that runs alone, leaves none.

What a batch on the driver may also take: an operation's last write
(`batch_writes(unit)`, BatchWrites), sent at the batch's end with the other
operations' of the same statement, one pipelined `executemany` for a run of
them. The operations of a batch run by kind (reservations, then
allocations), so a batch sends about one statement a kind where it sent one
an operation. An operation that leaves its writes reads what they write
only from the memo (the pool, its lots, the reservations it wrote).

When a batch's callers are answered, on the driver: at its commit, or, if
the key's next operations are queued by then, as the next batch sends its
writes (应答延后, at most ANSWER_WITHIN later): their answers, and the
requests they send next, then take the event loop while PostgreSQL works on
the next batch's writes, not between its steps, which hold the pool's
lock. A key whose callers all move together (a batch of SPLIT_AT or more,
nothing queued behind it) is halved, so that two halves alternate.
`group_commit_batch_seconds` and `group_commit_batch_operations` show each
committed batch's phases and size (docs/operations.md).

`on_driver=True` (PostgreSQL on asyncpg): a batch runs in a `DriverUnit`,
one transaction on asyncpg itself, for operations whose every statement is a
`DriverStatement`; the operation gets the unit where its type says
AsyncSession. An operation that asks the unit for anything else (an ORM
write, a Core statement: a rare path) raises NeedsSession: its batch is
undone like a refused one, and it runs again alone in `Database.transaction()`.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Collection, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

import structlog
from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from svc_common.db import (
    CHAIN_MAX,
    Database,
    DriverChain,
    DriverConnection,
    DriverStatement,
    NeedsSession,
    run_to_completion,
)
from svc_common.errors import Unavailable
from svc_common.failures import TransientFailure, is_transient, is_unique_violation
from svc_common.held_chain import SpareChains, release, spare_chains
from svc_common.i18n import msg

T = TypeVar("T")
K = TypeVar("K")
R = TypeVar("R")
Operation = Callable[[AsyncSession], Coroutine[Any, Any, T]]
#: Run once at a batch's start, before any of its operations, with the
#: hints of its operations of one kind.
Prepare = Callable[[Any, list[Any]], Coroutine[Any, Any, None]]
#: What lets operations of a kind join a batch under way
#: (`GroupCommit(admit=...)`): given their hints, it readies those it can
#: without waiting (does what the kind's prepare does, reads again what the
#: batch read before they came) and returns their hints.
Admit = Callable[[Any, list[Any]], Coroutine[Any, Any, Collection[Any]]]
#: What a batch run again after a unique index refused its writes does for
#: the operations of one kind, given their hints, before they run: find the
#: rows already committed that they would write twice (`GroupCommit(twins=...)`),
#: and say how many it found.
Twins = Callable[[Any, list[Any]], Coroutine[Any, Any, int]]

log = structlog.get_logger(__name__)

#: How long a committed batch held its transaction, by phase: `run` from its
#: BEGIN to the end of its operations (its prepares, its locks, a wait for
#: another replica's batch of the same key, each operation's reads and
#: work), `write` its writes sent at its end (on the driver: BatchWrites;
#: the last batch's callers are answered meanwhile, see `_turns`, and the
#: phase ends when the worker runs again), `commit` its COMMIT's round
#: trip. Their sum is how long the key's rows stayed locked from its first
#: lock; the time between one batch's commit and the next one's BEGIN is
#: when the key is free (its callers answered, the next ones on their way).
#: Batches of one on the driver are counted; operations run alone after a
#: refusal undid their batch are not. Labelled by the service and by what
#: its batches are of (`GroupCommit(name=...)`: a quota pool, say).
BATCH_SECONDS = Histogram(
    "group_commit_batch_seconds",
    "How long a batch committed together held its transaction, by phase "
    "(run: its operations and locks; write: its writes sent at its end; commit)",
    ["service", "batches", "phase"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_OPERATIONS = Histogram(
    "group_commit_batch_operations",
    "Operations committed in one batch (1: an operation alone in its batch)",
    ["service", "batches"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)

#: The key of a batch's memo in its unit's `info`.
_MEMO = "svc_common.batching.memo"
#: The key of the memo carried over from the key's last batch (`batch_carried`).
_CARRIED = "svc_common.batching.carried"
#: The key of a batch's unsent writes (BatchWrites) in its unit's `info`.
_WRITES = "svc_common.batching.writes"
#: How long a busy key's worker keeps its connection, with the next
#: transaction begun, for an operation to come (seconds). Under load one
#: comes within a few milliseconds; idle, the chain is then parked as a
#: spare for any key (held_chain.SpareChains) or, with no room, rolled back.
CHAIN_LINGER = 0.02
#: A batch this large answered at its commit, nothing of its key queued
#: behind it, halves the key's next batches (see `_turns`).
SPLIT_AT = 12
#: The longest a committed batch's callers wait for their answers while the
#: next batch runs (seconds; see `_turns`).
ANSWER_WITHIN = 0.005


def batch_memo(unit: Any) -> dict[Any, Any] | None:
    """The memo of the batch whose transaction `unit` is (see the module's
    docstring), or None when `unit` is not a batch of two or more."""
    info = getattr(unit, "info", None)
    return info.get(_MEMO) if isinstance(info, dict) else None


def batch_carried(unit: Any) -> dict[Any, Any] | None:
    """The memo of the last batch of this batch's key that this process
    committed (see the module's docstring): to read, never to change, and
    to trust only as far as the operation can check it is still so. None:
    `unit` is not a batch of two or more, or its key's last batch failed,
    ran alone, or was never."""
    info = getattr(unit, "info", None)
    return info.get(_CARRIED) if isinstance(info, dict) else None


class LastStep(Protocol):
    """A step of a batch's end after its writes (`BatchWrites.last`)."""

    async def send(self, driver: Any) -> None: ...


_Step = TypeVar("_Step", bound=LastStep)


class BatchWrites:
    """The writes of a batch's operations, sent at its end (一批写入，末尾一并发送).

    An operation of a batch on the driver (`DriverUnit`) hands its last
    statement here instead of running it, if it reads what that statement
    writes only from the batch's memo. At the batch's end, before its
    COMMIT, the statements go in their order, consecutive runs of the same
    statement as one pipelined `executemany`: with the batch's operations
    ordered by kind (`GroupCommit.run(kind=...)`), a batch of reservations
    and allocations sends two statements where it sent one each. A write
    that fails fails the batch, which is undone and run again alone, as a
    refusal is: a constraint (a unique index, a CHECK) still guards every
    row, and an operation that cannot see an earlier one's unsent row is
    caught there (two allocations of one reservation, one project held
    twice). After the statements come the batch's last steps (`last`):
    the lease of its outbox rows (svc_common.writes)."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, list[Any]]] = []
        self.statements = 0
        #: How long sending them took (seconds), for BATCH_SECONDS.
        self.seconds = 0.0
        #: What runs after the statements, once a batch, by name (the
        #: outbox's lease of the batch's rows: svc_common.writes).
        self._last: dict[str, LastStep] = {}

    def add(
        self, statement: DriverStatement, conn: DriverConnection, params: dict[str, Any]
    ) -> None:
        """Run `statement` with `params` on `conn` at the batch's end."""
        self._pending.append(statement.bound(conn.dialect, params))

    def last(self, name: str, make: Callable[[], _Step]) -> _Step:
        """The step `name` to run after the batch's statements, made by
        `make` at its first asking: a step of several operations."""
        step = self._last.get(name)
        if step is None:
            step = self._last[name] = make()
        return cast(_Step, step)

    async def send(self, driver: Any) -> None:
        started = time.perf_counter()
        await self._send(driver)
        last, self._last = self._last, {}
        for step in last.values():
            await step.send(driver)
            self.statements += 1
        self.seconds += time.perf_counter() - started

    async def _send(self, driver: Any) -> None:
        pending, self._pending = self._pending, []
        i = 0
        while i < len(pending):
            sql = pending[i][0]
            j = i
            while j < len(pending) and pending[j][0] == sql:
                j += 1
            if j - i == 1:
                await driver.execute(sql, *pending[i][1])
            else:
                await driver.executemany(sql, [a for _s, a in pending[i:j]])
            self.statements += 1
            i = j


def batch_writes(unit: Any) -> BatchWrites | None:
    """Where an operation of a batch on the driver may leave its writes for
    the batch's end (see BatchWrites), or None: not such a batch."""
    info = getattr(unit, "info", None)
    return info.get(_WRITES) if isinstance(info, dict) else None


@dataclass
class _Queued(Generic[T]):
    op: Operation[T]
    future: asyncio.Future[T]
    #: Operations of one kind go together in their batch (see `run`).
    kind: int
    hint: Any
    #: The caller's context (request id, correlation id, trace) without its
    #: unit of work: events and log lines of the operation carry the caller's ids.
    context: contextvars.Context


async def run_in_context(context: contextvars.Context, coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` in `context` (its caller's: language, request id,
    actor), inside the current task, as a task of its own would run it.

    Why not `asyncio.create_task(coro, context=context)`: a task starts at
    the loop's next turn and wakes its awaiter at the turn after it ends, so
    each operation of a batch cost two turns of the loop, each behind every
    other request's ready work — under load, about 1 ms an operation while
    the batch held its pool's lock. Most operations of a batch read what
    they need from its memo and end without waiting at all: stepped here,
    they cost no turn, and one that waits (on the database) costs one.

    Each step runs in `context`, as a task's steps do. The coroutine reads
    what it waited for from its own future; a cancellation of this task
    reaches it through that future or, if the future was already done, is
    thrown into it. Not to be called inside an `except` block: unlike a
    task's, the coroutine's steps would see the exception being handled
    there as theirs (sys.exc_info(), the __context__ of what they raise)."""
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                waited = context.run(coro.send, None)
            else:
                waited = context.run(coro.throw, error)
        except StopIteration as stop:
            return stop.value
        error = None
        if waited is None:  # a bare yield (asyncio.sleep(0)): let the loop turn
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError as exc:
                error = exc
            continue
        if not asyncio.isfuture(waited):
            error = RuntimeError(f"operation yielded {waited!r}, not a future")
            continue
        # The operation's await marked its future as waited on; a task that
        # takes it over unmarks it first (or the next await refuses it).
        waited._asyncio_future_blocking = False
        try:
            await waited
        except asyncio.CancelledError as exc:
            if not waited.cancelled():
                error = exc  # this task was cancelled, not what the operation waited for
        except GeneratorExit:  # this coroutine is closed (its task destroyed): so is the operation
            coro.close()
            raise
        except BaseException:  # the operation reads its future's outcome itself
            pass


def _stopped() -> Unavailable:
    return Unavailable(
        msg(
            "the service is stopping and the write may not have been applied: retry it "
            "with the same Idempotency-Key",
            "服务正在停止，写入可能未完成：请使用相同的 Idempotency-Key 重试",
        )
    )


class _NoTwins(Exception):
    """A batch run again found none of the rows its operations would write
    twice: it is given up for each operation alone."""


class GroupCommit:
    """Per-key batches of operations, each batch one transaction."""

    def __init__(
        self,
        db: Database,
        max_batch: int = 64,
        *,
        on_driver: bool = False,
        prepare: dict[int, Prepare] | None = None,
        admit: dict[int, Admit] | None = None,
        twins: dict[int, Twins] | None = None,
        service: str = "service",
        name: str = "batches",
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.on_driver = on_driver and db.on_asyncpg
        #: By kind: what a batch does once at its start, before any of its
        #: operations, given the hints of its operations of that kind (lock
        #: the rows they will lock, in one statement, into the memo).
        self.prepare = prepare or {}
        #: By kind: what admits late arrivals of the kind (see `_late`); a
        #: kind with a prepare and no admit joins no batch under way.
        self.admit = admit or {}
        #: By kind: what finds, for a batch run again after a unique index
        #: refused its writes, the rows its operations would write twice
        #: (see `_again`).
        self.twins = twins or {}
        self._queues: dict[str, list[_Queued[Any]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        #: A chain's worker waiting for its key's next operation (`_next`).
        self._waiting: dict[str, asyncio.Future[None]] = {}
        #: Batches committed together and the operations in them; operations
        #: run alone (a batch of one, or after a refusal undid their batch).
        self.batches = 0
        self.operations = 0
        self.alone = 0
        self.fallbacks = 0
        #: Operations run again in a session after the driver would not do.
        self.in_session = 0
        #: Statements the batches' unsent writes went in (BatchWrites).
        self.statements_sent = 0
        #: Operations that joined a batch under way (`_late`).
        self.joined_late = 0
        #: Batches run again as one, their twins looked for (`_again`).
        self.run_again = 0
        #: By key: a batch committed on its chain and not yet answered, with
        #: its results (`_answer`).
        self._unanswered: dict[str, tuple[list[_Queued[Any]], list[Any], asyncio.TimerHandle]] = {}
        #: By key: at most this many in its next batches (see `_turns`).
        self._split: dict[str, int] = {}
        #: By key: the memo of its last batch committed (`batch_carried`).
        self._carried: dict[str, dict[Any, Any]] = {}
        # The series of BATCH_SECONDS and BATCH_OPERATIONS, bound once.
        self._phases = tuple(
            BATCH_SECONDS.labels(service, name, phase) for phase in ("run", "write", "commit")
        )
        self._sizes = BATCH_OPERATIONS.labels(service, name)

    def _observe(self, unit: Any, operations: int, begun: float, ran: float) -> None:
        """A committed batch's phases into BATCH_SECONDS (see there): begun
        at `begun`, its operations done at `ran` (its writes included),
        committed now."""
        committed = time.perf_counter()
        writes = batch_writes(unit)
        wrote = writes.seconds if writes is not None else 0.0
        run, write, commit = self._phases
        run.observe(ran - begun - wrote)
        write.observe(wrote)
        commit.observe(committed - ran)
        self._sizes.observe(operations)

    @property
    def enabled(self) -> bool:
        return self.db.is_postgres and self.max_batch > 1

    async def run(self, key: str, op: Operation[T], kind: int = 0, hint: Any = None) -> T:
        """Apply `op(session)` in a batch of `key` and return its result, or
        raise what it raised (then it ran alone, nothing of it kept). A
        batch runs its operations by `kind`, in arrival order within a kind:
        they were concurrent, so any order is one they could have had, and
        one kind after another sends their writes together (BatchWrites).
        `hint` goes to the kind's `prepare`, if it has one (run at the
        batch's start)."""
        if not self.enabled:
            async with self.db.transaction() as s:
                return await op(s)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        context = contextvars.copy_context()
        context.run(self.db.leave_unit)
        queued = _Queued(op, future, kind, hint, context)
        self._queues.setdefault(key, []).append(queued)
        waiting = self._waiting.get(key)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        if key not in self._workers:
            # A fresh context: the worker must not join any request's unit.
            self._workers[key] = asyncio.create_task(
                self._drain(key), name=f"group-commit-{key}", context=contextvars.Context()
            )
        return await self._outcome(key, queued)

    async def _outcome(self, key: str, queued: _Queued[T]) -> T:
        """The caller's wait: for its turn at most `Database.answer_within`
        (then TimeoutError, transient: 503, nothing of it run), then for its
        batch. A caller queued behind a batch that waits on a server that
        stopped answering waited with it, then as long again for its own
        batch's connection: its 503 came after twice the documented bound
        (or the statements' 300 s). Once its batch has taken it, the
        operation may commit: the caller waits for what it did. A timer, not
        a timeout around the wait: this is every write's path, and a timer
        costs the loop one handle (no shielded second future)."""
        timer = asyncio.get_running_loop().call_later(
            self.db.answer_within, self._overdue, key, queued
        )
        try:
            return await queued.future
        finally:
            timer.cancel()

    def _overdue(self, key: str, queued: _Queued[Any]) -> None:
        """`queued`'s wait for its turn is over: if no batch has taken it, it
        leaves the queue and its caller gets a TimeoutError (never run)."""
        queue = self._queues.get(key, [])
        if queued.future.done() or not any(q is queued for q in queue):
            return  # answered, or taken by a batch: its caller waits for it
        self._queues[key] = [q for q in queue if q is not queued]
        queued.future.set_exception(
            TimeoutError(
                f"the database did not answer within {self.db.answer_within} s (waiting for"
                " the batches ahead of this one)"
            )
        )

    async def _drain(self, key: str) -> None:
        hand: list[_Queued[Any]] = []  # the batch in hand
        try:
            while self._queues.get(key):
                if self.on_driver:
                    try:
                        refused = await self._chain(key, hand)
                    except Exception as exc:
                        # No connection to be had (the pool's timeout, the
                        # database unreachable): the next batch fails with
                        # it, as a batch's own failure (503 with Retry-After,
                        # not "stopping"), and the worker goes on with the
                        # rest, as each batch took its own connection before.
                        if not hand:
                            hand[:] = self._take(key)
                        self._fail(hand, exc)
                        hand.clear()
                        continue
                    if len(refused) > 1:
                        self.fallbacks += 1
                    # Undone as a whole, each again alone, the chain's
                    # connection back in its pool first (never two held). An
                    # operation that was alone and asked for a session gets
                    # one at once (the driver would refuse it again).
                    for q in refused:
                        await self._alone(q, in_session=len(refused) == 1)
                else:
                    hand[:] = self._take(key)
                    if hand:
                        await self._apply(key, hand)
                hand.clear()
        finally:
            self._workers.pop(key, None)
            self._split.pop(key, None)  # idle now: its next callers may not move together
            # Stopped half way (the worker cancelled as the server stops): the
            # batch in hand was rolled back (or, cancelled during its COMMIT,
            # may have been applied) and the queued ones never ran; their
            # callers must not wait forever. They get a 503: retried, each is
            # answered by its Idempotency-Key or its business key.
            for q in hand + self._queues.pop(key, []):
                if not q.future.done():
                    q.future.set_exception(q.context.run(_stopped))  # in its language

    def _take(self, key: str) -> list[_Queued[Any]]:
        """The next batch of `key`, in kind order: up to `max_batch` of its
        queue, less the callers that gave up before their turn (client gone)."""
        queue = self._queues.get(key, [])
        most = self._most(key)
        batch, self._queues[key] = queue[:most], queue[most:]
        return sorted((q for q in batch if not q.future.done()), key=lambda q: q.kind)

    def _again(self, batch: list[_Queued[Any]], failed: Exception) -> list[_Queued[Any]] | None:
        """The operations of a batch that `failed` to run again as one, their
        twins looked for first (一批重试，先查重), or None: each alone.

        A unique index refusing a batch's writes at its end is mostly one
        operation that writes again what is committed already: a retry of a
        request whose answer was lost on the way, run with no lookup first.
        Each alone, a batch of n would cost n transactions, and under a
        retry storm every batch would: the pool back to one transaction a
        request when it is busiest. Run again with the committed rows its
        kinds' `twins` find (one statement a kind, in the batch's memo), the
        retry answers from them and the others keep their batch. A row
        committed between the two runs fails the second: then each alone.
        Callers that gave up meanwhile are left out, as they are alone."""
        if not is_unique_violation(failed) or not any(q.kind in self.twins for q in batch):
            return None
        left = [q for q in batch if not q.future.cancelled()]
        return left if len(left) > 1 else None

    async def _find_twins(self, s: Any, ops: list[_Queued[Any]]) -> int:
        """The rows the operations would write twice, into the batch's memo
        by their kinds' hooks; how many."""
        found = 0
        for kind in sorted({q.kind for q in ops}):
            find = self.twins.get(kind)
            if find is not None:
                found += await find(s, [q.hint for q in ops if q.kind == kind])
        return found

    async def _steps(
        self, s: Any, key: str, batch: list[_Queued[Any]], *, again: bool = False
    ) -> list[Any]:
        """Run a batch of two or more of `key` in its transaction `s`: every
        kind's prepare, then each operation, then those that came meanwhile
        (`_late`, added to `batch`), then (on the driver) their writes.
        `again`: run again after a unique index refused it (`_again`): the
        operations' twins are looked for before they run."""
        s.info[_MEMO] = {}
        s.info[_CARRIED] = self._carried.pop(key, None)
        if self.on_driver:
            writes = s.info[_WRITES] = BatchWrites()
        # Every kind's prepare before the first operation: the rows a prepare
        # locks come before any an operation locks (a quota batch's
        # reservations before its pool, the order every other transaction
        # takes them in).
        for kind in sorted({q.kind for q in batch}):
            prepare = self.prepare.get(kind)
            if prepare is not None:
                await prepare(s, [q.hint for q in batch if q.kind == kind])
        if again and not await self._find_twins(s, batch):
            # Nothing written twice found (a key's answer given twice, say):
            # run again, the batch would be refused again; each goes alone.
            raise _NoTwins()
        results = [await run_in_context(batch[0].context, batch[0].op(s))]
        room = self._most(key) - len(batch)
        if room > 0:
            # The first operation has run (mostly waiting for the key's lock,
            # now held): those that queued meanwhile join, each with its kind.
            late = await self._late(s, key, batch[0].kind, room)
            if again and late:
                await self._find_twins(s, late)
            batch[1:] = sorted(batch[1:] + late, key=lambda q: q.kind)
        results += [await run_in_context(q.context, q.op(s)) for q in batch[1:]]
        if self.on_driver:
            # The last batch's callers are answered now, while this one's
            # writes keep PostgreSQL busy, not before its operations ran.
            self._answer(key)
            await writes.send((await s.connection()).driver)
            self.statements_sent += writes.statements
        return results

    async def _late(self, s: Any, key: str, kind: int, room: int) -> list[_Queued[Any]]:
        """Operations of `key` queued while its batch's first operation ran,
        that join the batch (迟到加入): up to `room`, taken off the queue.
        A batch mostly waits on its first lock, held by another replica's
        batch of the same pool; what queues meanwhile would be the next
        batch, which would wait in turn. Joining now, it shares this batch's
        lock, memo, writes and commit. It came after every operation of the
        batch, so running it after the batch's own of its kind is an order
        it could have had. Only kinds from the first operation's (`kind`)
        on: the first one's writes are already left for the batch's end, and
        an earlier kind's would break their run. A kind with an `admit` joins
        as far as it readies them: what the batch read before they came
        (read by a statement that began before its wait) read again, and for
        a kind with a prepare (rows locked before any operation's: a quota
        batch's reservations, before its pool) their rows locked without
        waiting, since waiting for them now, with later rows held, could
        close a cycle of waits with another transaction. The others, and a
        kind with a prepare and no admit, wait for the next batch. A batch
        of one (run as alone) takes none."""
        queue = self._queues.get(key) or []
        offered = [
            q
            for q in queue
            if q.kind >= kind
            and not q.future.done()
            and (q.kind not in self.prepare or q.kind in self.admit)
        ][:room]
        joining: list[_Queued[Any]] = []
        for each in sorted({q.kind for q in offered}):
            of_kind = [q for q in offered if q.kind == each]
            admit = self.admit.get(each)
            if admit is not None:
                admitted = await admit(s, [q.hint for q in of_kind])
                of_kind = [q for q in of_kind if q.hint in admitted]
            joining += of_kind
        # A caller may give up during an admit (its client gone, its wait
        # over): it is left out, as before its turn.
        joining = [q for q in joining if not q.future.done()]
        if joining:
            taken = {id(q) for q in joining}
            # The queue may have grown during an admit: taken by identity.
            self._queues[key] = [q for q in self._queues.get(key, []) if id(q) not in taken]
            self.joined_late += len(joining)
        return joining

    def _most(self, key: str) -> int:
        """How many operations the next batch of `key` may take."""
        return min(self.max_batch, self._split.get(key, self.max_batch))

    def _answer(self, key: str) -> None:
        """Answer the callers of `key`'s batch committed last, if not yet."""
        unanswered = self._unanswered.pop(key, None)
        if unanswered is not None:
            batch, results, timer = unanswered
            timer.cancel()
            self._settle(batch, results)

    def _settle(self, batch: list[_Queued[Any]], results: list[Any]) -> None:
        """A committed batch: every caller gets its result."""
        if len(batch) > 1:
            self.batches += 1
            self.operations += len(batch)
        else:
            self.alone += 1
        for q, result in zip(batch, results, strict=True):
            if not q.future.done():
                q.future.set_result(result)

    def _fail(self, batch: list[_Queued[Any]], exc: Exception) -> None:
        """The database failed, not an operation: nothing was kept and every
        caller gets the failure (503 with Retry-After)."""
        for q in batch:
            if not q.future.done():
                q.future.set_exception(exc)
        log.warning("group commit failed", error=repr(exc), operations=len(batch))

    async def _chain(self, key: str, hand: list[_Queued[Any]]) -> list[_Queued[Any]]:
        """On the driver: the batches of `key`, each one transaction, one
        after another on one connection (at most `CHAIN_MAX`, then the
        connection goes back to its pool): a batch's COMMIT begins the next
        one in the same round trip (DriverChain). When the key is busy (its
        last batch had several operations) and nothing is queued, the worker
        waits up to `CHAIN_LINGER` seconds for the next one's first
        operation; a key with one operation at a time does not wait. Its
        chain then, its next transaction begun, is parked as a spare for the
        next batch of any key (held_chain.SpareChains), or, with no room for
        it, rolled back and given back. A batch begins on a spare when there
        is one. A batch of one runs as it would alone (no memo, its writes
        at once). Returns a batch of two or more that an operation refused,
        undone, for the caller to run alone, or an operation alone that
        needs a session (NeedsSession), for the caller to run in one; a
        refusal of a batch of one reaches its caller here."""
        spares = spare_chains(self.db)
        taken = spares.take()
        if taken is None:
            stack = AsyncExitStack()
            chain = await stack.enter_async_context(self.db.driver_chain())
        else:
            stack, chain = taken
        try:
            refused = await self._batches_on(chain, key, hand, spares)
        except BaseException as exc:
            spares.abandon(chain)
            # As leaving `driver_chain()` by an exception: a connection left
            # in a transaction is thrown away, not pooled again.
            await run_to_completion(stack.__aexit__(type(exc), exc, exc.__traceback__))
            raise
        if not spares.park(stack, chain):
            await run_to_completion(release(stack))
        return refused

    async def _batches_on(
        self, chain: DriverChain, key: str, hand: list[_Queued[Any]], spares: SpareChains
    ) -> list[_Queued[Any]]:
        """`_chain`'s batches on `chain`. Returns with the chain's begun
        transaction unused, or none begun; every batch it committed answered
        (`_answer`), whatever ends it."""
        try:
            return await self._turns(chain, key, hand, spares)
        finally:
            self._answer(key)

    async def _turns(
        self, chain: DriverChain, key: str, hand: list[_Queued[Any]], spares: SpareChains
    ) -> list[_Queued[Any]]:
        """The batches of `_batches_on`, one a turn.

        A batch committed while the key's next operations are queued is
        answered as the next batch sends its writes (应答延后), not at
        once: its callers' answers, and the requests they send next, would
        otherwise be ready work on the loop ahead of each step of the next
        batch, which holds the pool's lock the while (measured on a hot
        pool: a batch of 8 ran its operations in 6.2 ms instead of 2.6).
        Answered during the next batch's writes, they are dealt with while
        PostgreSQL works. They wait at most ANSWER_WITHIN (the next batch
        may wait for another replica's lock), and are answered when the
        next batch fails, or the worker stops, too.

        A key whose callers move together (a batch of SPLIT_AT or more,
        nothing queued behind it at its commit) has its next batch take
        at most half as many: then two halves alternate, one's operations
        running while the other's writes are in PostgreSQL and its callers
        answered, and it stays so while each finds the other queued."""
        # Whether the last batch found the key busy: then the worker waits a
        # moment for the key's next operation.
        busy = False
        # A batch a unique index refused, to run again as one (`_again`).
        again: list[_Queued[Any]] = []
        # A spare comes with transactions behind it: CHAIN_MAX in all.
        for turn in range(max(CHAIN_MAX - chain.transactions, 1), 0, -1):
            rerun = bool(again)
            if rerun:
                self.run_again += 1
            hand[:] = again or self._take(key)
            again = []
            if len(hand) < 2:
                self._answer(key)
            if not hand:
                if self._queues.get(key):
                    continue  # every caller of this batch gave up; more behind
                if not chain.begun or not busy or not await self._next(key):
                    return []
                continue
            failed: Exception | None = None
            try:
                begun = time.perf_counter()
                # Where an operation's type says AsyncSession (see DriverUnit).
                unit: Any = await chain.begin()
                if len(hand) == 1:
                    results = [await run_in_context(hand[0].context, hand[0].op(unit))]
                else:
                    results = await self._steps(unit, key, hand, again=rerun)
                ran = time.perf_counter()
                # A busy key (a batch of several, or more queued): the
                # next batch is begun at once, saving its BEGIN's round
                # trip. A key with one operation at a time begins one
                # only for a spare (room for it), for another key's batch.
                busy = len(hand) > 1 or bool(self._queues.get(key))
                await chain.commit(unit, then_begin=turn > 1 and (busy or spares.wants(chain)))
            except Exception as exc:
                failed = exc
            if failed is None:
                # The last batch was answered before this one's writes
                # (`_steps`), or at its take if this one is alone.
                self._observe(unit, len(hand), begun, ran)
                self._carry(key, unit)
                if turn > 1 and len(hand) > 1 and self._queues.get(key):
                    # The next batch is queued: it runs its operations
                    # first, and answers these as it sends its writes.
                    timer = asyncio.get_running_loop().call_later(ANSWER_WITHIN, self._answer, key)
                    self._unanswered[key] = (list(hand), results, timer)
                    self._split.pop(key, None)
                else:
                    self._settle(hand, results)
                    if len(hand) >= SPLIT_AT and not self._queues.get(key):
                        self._split[key] = (len(hand) + 1) // 2
                    else:
                        self._split.pop(key, None)
                continue
            self._answer(key)
            if is_transient(failed):
                self._fail(hand, failed)
                hand.clear()
                # The connection may be gone: the next batch takes another.
                await chain.rollback()
                return []
            # Outside the `except` (see `_apply`).
            await chain.rollback()
            if not rerun and (again := self._again(hand, failed) or []):
                continue
            if len(hand) > 1 or isinstance(failed, NeedsSession):
                return list(hand)  # alone, once the connection is back in the pool
            self.alone += 1
            if not hand[0].future.done():
                hand[0].future.set_exception(failed)
        # The chain's last turn went to the batch that failed: alone, then
        # (not run again: `run_again` counts only batches that were).
        return again

    async def _next(self, key: str) -> bool:
        """Wait up to CHAIN_LINGER for an operation of `key`; whether one came."""
        waiting = self._waiting[key] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(CHAIN_LINGER):
                await waiting
        except TimeoutError:
            pass
        finally:
            del self._waiting[key]
        return bool(self._queues.get(key))

    async def _apply(self, key: str, batch: list[_Queued[Any]]) -> None:
        """In a session (not on the driver): one batch of `key`, one
        transaction (`batch` grows by those that join it late)."""
        if len(batch) == 1:
            self._carried.pop(key, None)
            await self._alone(batch[0])
            return
        failed: Exception | None = None
        for again in (False, True):
            try:
                begun = time.perf_counter()
                async with self._unit() as s:
                    results = await self._steps(s, key, batch, again=again)
                    ran = time.perf_counter()
            except Exception as exc:
                if is_transient(exc):
                    self._fail(batch, exc)
                    return
                failed = exc
            else:
                failed = None
                self._observe(s, len(batch), begun, ran)
                self._carry(key, s)
                break
            left = None if again else self._again(batch, failed)
            if left is None:
                break
            batch[:] = left
            self.run_again += 1
        if failed is not None:
            # An operation refused (or failed): the batch was rolled back as a
            # whole, so each operation runs again alone and its caller gets
            # its own answer. No savepoint per operation: measured, they cost
            # more than a rare second run (bench/RESULTS.md). Run outside the
            # `except`: an operation stepped here (`run_in_context`) would see
            # the refusal as the exception being handled (sys.exc_info(), the
            # __context__ of what it raises), another caller's error.
            self.fallbacks += 1
            for q in batch:
                await self._alone(q)
            return
        self._settle(batch, results)

    def _carry(self, key: str, unit: Any) -> None:
        """`unit` committed: its memo, if a batch's, is carried to the key's
        next batch; after an operation alone, none is (its memo was taken
        by the batch that began, `_steps`, and is not put back)."""
        memo = batch_memo(unit)
        if memo is not None:
            self._carried[key] = memo
        else:
            self._carried.pop(key, None)

    def _unit(self) -> AbstractAsyncContextManager[Any]:
        """A batch's transaction: on the driver, or a session's."""
        return self.db.driver_unit() if self.on_driver else self.db.transaction()

    async def _alone(self, q: _Queued[Any], *, in_session: bool = False) -> None:
        """One operation in its own transaction, as without batching
        (`in_session`: it already asked the driver for a session's work)."""
        if q.future.done():
            return
        self.alone += 1
        try:
            needs_session = in_session
            if not needs_session:
                try:
                    async with self._unit() as s:
                        result = await run_in_context(q.context, q.op(s))
                except NeedsSession:
                    needs_session = True
            if needs_session:  # again outside the `except` (see `_apply`)
                self.in_session += 1
                async with self.db.transaction() as s:
                    result = await run_in_context(q.context, q.op(s))
        except Exception as exc:
            if not q.future.done():
                q.future.set_exception(exc)
            return
        if not q.future.done():
            q.future.set_result(result)


class _Together(Generic[K, R]):
    """What InsertsTogether and LookupsTogether share: items queued while a
    statement runs go together in the next one; no timer, so an item that
    finds nothing running goes at once, alone. On PostgreSQL on asyncpg only
    (SQLite has one connection's worth of work to share: nothing to gain)."""

    def __init__(self, db: Database, max_items: int) -> None:
        if not db.on_asyncpg:
            raise RuntimeError(f"{type(self).__name__} is for PostgreSQL on asyncpg only")
        self.db = db
        self.max_items = max_items
        self._queue: list[tuple[K, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        #: Statements sent for more than one item, and the items in them.
        self.batches = 0
        self.rows = 0

    async def _submit(self, item: K, within: float | None = None) -> R:
        """`item`'s result. With `within`, the caller waits at most that many
        seconds in all — behind the statement running, for a connection and
        for its own statement — then TimeoutError (transient: 503); its
        item is left out of any statement not yet sent (`_drain`), and
        `_settle` leaves its future, already failed, as it is."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None:
            self._worker = asyncio.create_task(
                self._drain(), name=type(self).__name__, context=contextvars.Context()
            )
        if within is None:
            return await future
        # A timer, not a timeout around the wait: every write's lookup.
        timer = asyncio.get_running_loop().call_later(within, _overdue, future, within)
        try:
            return await future
        finally:
            timer.cancel()

    async def _drain(self) -> None:
        batch: list[tuple[K, asyncio.Future[R]]] = []
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_items], self._queue[self.max_items :]
                # Lookups whose wait ran out (503, `within`): nobody reads
                # them, and sending them would keep fresh callers behind
                # them while the database is slow. A caller who went (its
                # future cancelled) still has its row sent, as ever: an
                # insert of an answer is kept for the retry.
                batch = [
                    (item, future)
                    for item, future in batch
                    if not future.done() or future.cancelled()
                ]
                if batch:
                    await self._send(batch)
                batch = []
        finally:
            self._worker = None
            for _item, future in batch + self._queue:
                if not future.done():
                    future.set_exception(TransientFailure("the service is stopping"))
            self._queue = []

    async def _send(self, batch: list[tuple[K, asyncio.Future[R]]]) -> None:
        raise NotImplementedError


def _overdue(future: asyncio.Future[Any], within: float) -> None:
    if not future.done():
        future.set_exception(
            TimeoutError(
                f"the database did not answer within {within} s (waiting behind other"
                " lookups, for a connection and for this one)"
            )
        )


def _settle(
    future: asyncio.Future[R], result: R | None = None, exc: BaseException | None = None
) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]


class InsertsTogether(_Together[dict[str, Any], None]):
    """Single-row INSERTs of one statement, each atomic alone (no transaction
    around it), sent together on PostgreSQL: the rows queued while a
    statement runs go in the next one, as one pipelined `executemany` on the
    driver. The requests of a group commit are answered at once, and each
    then stores its Idempotency-Key answer: one round trip for all of them
    instead of one each.

    `executemany` is atomic: if a row fails (a unique index: a twin request
    stored its answer first), none of the batch is kept and each row is
    inserted again alone, so only its own caller gets the failure. A
    database failure fails every caller of the batch."""

    def __init__(self, db: Database, statement: DriverStatement, max_rows: int = 64) -> None:
        super().__init__(db, max_rows)
        self.statement = statement

    async def insert(self, row: dict[str, Any]) -> None:
        """Insert `row` (in its own or a shared statement); raises what its
        own insert raised."""
        await self._submit(row)

    async def _send(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        if len(batch) > 1:
            try:
                async with self.db.driver() as conn:
                    await self.statement.execute_many(self.db, conn, [row for row, _ in batch])
            except Exception as exc:
                if not is_unique_violation(exc):
                    for _row, future in batch:
                        _settle(future, exc=exc)
                    return
                # One row refused: nothing was kept; each goes again alone.
            else:
                self.batches += 1
                self.rows += len(batch)
                for _row, future in batch:
                    _settle(future)
                return
        for row, future in batch:
            try:
                await self.db.fetch_alone(self.statement, row)
            except Exception as exc:
                _settle(future, exc=exc)
            else:
                _settle(future)


class LookupsTogether(_Together[tuple[Any, ...], Any]):
    """Lookups of one row by its key, outside any transaction, sent together
    on PostgreSQL: the keys asked for while a lookup runs go in the next one,
    as one statement for all of them. Every write request with an
    Idempotency-Key looks its key up before it runs; under load that was a
    round trip (and a pooled connection) each, a fifth of a quota write's
    CPU (bench/RESULTS.md).

    `one` takes the key's columns by name and returns the row; `many` takes
    them as arrays (`<name>s`: owners, keys) and returns each row found with
    the key's columns first. A key not found gets None. A failure fails
    every caller of the batch, as their own lookups would have."""

    def __init__(
        self,
        db: Database,
        one: DriverStatement,
        many: DriverStatement,
        key_names: tuple[str, ...],
        max_keys: int = 64,
    ) -> None:
        super().__init__(db, max_keys)
        self.one, self.many, self.key_names = one, many, key_names

    async def get(self, key: tuple[Any, ...]) -> Any:
        """The row for `key`, or None. Waits at most `Database.answer_within`
        in all: a lookup queued behind one that waits out that bound used
        to wait it out too, then as long again for its own connection and
        statement (a write's 503 came after 18-25 s, not 15)."""
        return await self._submit(key, within=self.db.answer_within)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                key = batch[0][0]
                rows = await self.db.fetch_alone(
                    self.one, dict(zip(self.key_names, key, strict=True))
                )
                found = {key: rows[0]} if rows else {}
            else:
                keys = list(dict.fromkeys(k for k, _ in batch))
                arrays = {f"{n}s": [k[i] for k in keys] for i, n in enumerate(self.key_names)}
                width = len(self.key_names)
                rows = await self.db.fetch_alone(self.many, arrays)
                found = {tuple(r[:width]): r[width:] for r in rows}
                self.batches += 1
                self.rows += len(batch)
        except Exception as exc:
            for _key, future in batch:
                _settle(future, exc=exc)
            return
        for key, future in batch:
            _settle(future, found.get(key))
