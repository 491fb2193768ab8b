"""Group commit (svc_common.batching): one transaction per batch, each
operation answered alone; a refusal undoes its batch and the others run
again alone; a database failure fails the whole batch and keeps nothing. On
the driver (`on_driver`) the same, without a SQLAlchemy session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import String, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool
from svc_common import testing
from svc_common.batching import GroupCommit, InsertsTogether, batch_memo
from svc_common.db import Database
from svc_common.failures import TransientFailure
from svc_common.held_chain import spare_chains


class Base(DeclarativeBase):
    pass


class Mark(Base):
    __tablename__ = "marks"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(32))


class Refused(Exception):
    pass


async def _db(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return db


def _op(i: int, fail: type[Exception] | None = None):  # type: ignore[no-untyped-def]
    async def op(s: AsyncSession) -> int:
        s.add(Mark(id=i, label=f"m{i}"))
        await s.flush()
        if fail is not None:
            raise fail(f"operation {i}")
        return i

    return op


def _noting(label: Any, before: Callable[[], Awaitable[None]] | None = None):  # type: ignore[no-untyped-def]
    """An operation that notes `label` in its batch's memo and returns what
    the memo has noted so far (None alone: no memo); `before`, awaited first."""

    async def op(s: AsyncSession) -> list[Any] | None:
        if before is not None:
            await before()
        memo = batch_memo(s)
        if memo is None:
            return None
        memo.setdefault("seen", []).append(label)
        return list(memo["seen"])

    return op


async def _count(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Mark)) or 0)


@pytest.mark.pg
async def test_operations_queued_together_commit_together(pg_url: str) -> None:
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16)
    results = await asyncio.gather(*(batches.run("pool", _op(i)) for i in range(1, 31)))
    assert results == list(range(1, 31))  # each caller its own answer
    assert await _count(db) == 30
    assert batches.operations + batches.alone == 30
    assert batches.operations > batches.batches >= 1  # queued together, committed together
    assert batches.fallbacks == 0
    await db.dispose()


@pytest.mark.pg
@pytest.mark.parametrize("on_driver", [False, True])
async def test_a_batch_s_operations_share_one_memo_and_an_operation_alone_has_none(
    pg_url: str, on_driver: bool
) -> None:
    """`batch_memo`: one dict per batch, seen by each of its operations in
    turn; a new batch starts empty; an operation run alone gets None."""
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16, on_driver=on_driver)

    first = await asyncio.gather(*(batches.run("pool", _noting(i)) for i in (1, 2, 3)))
    assert first == [[1], [1, 2], [1, 2, 3]]
    second = await asyncio.gather(*(batches.run("pool", _noting(i)) for i in (4, 5)))
    assert second == [[4], [4, 5]]
    assert await batches.run("pool", _noting(6)) is None  # a batch of one runs alone
    await db.dispose()


@pytest.mark.pg
@pytest.mark.parametrize("on_driver", [False, True])
async def test_operations_queued_while_a_batch_s_first_operation_waits_join_it_by_kind(
    pg_url: str, on_driver: bool
) -> None:
    """What queues while a batch's first operation waits (for its pool's
    lock, in quota-svc) joins that batch: a kind with no prepare freely, a
    kind with a prepare as far as its `admit` takes them, a kind with a
    prepare and no admit not at all, nor a kind before the first
    operation's (its writes would not go with their kind's). They run in
    kind order, after the batch's own of their kind; the rest wait for the
    next batch."""
    db = await _db(pg_url)
    started, gate = asyncio.Event(), asyncio.Event()
    prepared: list[list[int]] = []
    asked: list[list[int]] = []

    async def prepare(s: AsyncSession, hints: list[int]) -> None:
        prepared.append(sorted(hints))

    async def admit(s: AsyncSession, hints: list[int]) -> set[int]:
        asked.append(sorted(hints))
        return {h for h in hints if h % 2 == 0}

    batches = GroupCommit(
        db,
        max_batch=16,
        on_driver=on_driver,
        prepare={1: prepare, 3: prepare},
        admit={1: admit},
    )

    async def wait_for_the_gate() -> None:
        started.set()
        await gate.wait()

    def run(label: str, kind: int, hint: int | None = None, first: bool = False):  # type: ignore[no-untyped-def]
        op = _noting(label, wait_for_the_gate if first else None)
        return asyncio.create_task(batches.run("pool", op, kind=kind, hint=hint))

    own = [run("a", 1, 2, first=True), run("b", 1, 4), run("c", 2)]
    await asyncio.wait_for(started.wait(), 15)
    late = {
        "before": run("before", 0),  # a kind before the first operation's
        "even": run("even", 1, 6),  # admitted
        "odd": run("odd", 1, 7),  # not admitted
        "free": run("free", 2),  # no prepare
        "no admit": run("no admit", 3, 8),  # a prepare and no admit
        "even 2": run("even 2", 1, 10),
    }
    await asyncio.sleep(0)  # each queues
    gate.set()
    mine = await asyncio.gather(*own)
    assert mine[-1] == ["a", "b", "even", "even 2", "c"]
    assert await late["even"] == ["a", "b", "even"]
    assert await late["free"] == ["a", "b", "even", "even 2", "c", "free"]
    assert prepared[0] == [2, 4] and asked == [[6, 7, 10]]
    assert batches.joined_late == 3
    # The others went on in the next batch, in kind order, each kind prepared.
    rest = [await late[k] for k in ("before", "odd", "no admit")]
    assert rest == [["before"], ["before", "odd"], ["before", "odd", "no admit"]]
    assert prepared[1:] == [[7], [8]]
    assert batches.batches == 2 and batches.operations == 6 + 3 and batches.fallbacks == 0
    await db.dispose()


def _measured(service: str, name: str, phase: str | None = None) -> tuple[float, float]:
    """(count, sum) of a GroupCommit's series of BATCH_SECONDS (`phase`) or
    of BATCH_OPERATIONS (no phase), as /metrics shows them."""
    labels = {"service": service, "batches": name}
    metric = "group_commit_batch_operations"
    if phase is not None:
        labels["phase"], metric = phase, "group_commit_batch_seconds"
    count = REGISTRY.get_sample_value(f"{metric}_count", labels)
    total = REGISTRY.get_sample_value(f"{metric}_sum", labels)
    return count or 0.0, total or 0.0


@pytest.mark.pg
@pytest.mark.parametrize("on_driver", [False, True])
async def test_each_committed_batch_is_measured_once_by_phase_and_size(
    pg_url: str, on_driver: bool
) -> None:
    """group_commit_batch_seconds and group_commit_batch_operations: a
    committed batch is counted once in each phase and its operations once;
    what its operations take is in `run`. A batch a refusal undid is not
    counted (its operations, run again alone, are not a batch)."""
    db = await _db(pg_url)
    service = f"gc-{uuid.uuid4().hex[:8]}"
    batches = GroupCommit(db, max_batch=16, on_driver=on_driver, service=service, name="pool")
    seen = await asyncio.gather(
        batches.run("pool", _noting(0, lambda: asyncio.sleep(0.05))),
        *(batches.run("pool", _noting(i)) for i in (1, 2, 3)),
    )
    assert seen[-1] == [0, 1, 2, 3]  # one batch
    assert batches.batches == 1 and batches.operations == 4

    assert _measured(service, "pool") == (1, 4)
    phases = {phase: _measured(service, "pool", phase) for phase in ("run", "write", "commit")}
    assert all(count == 1 for count, _sum in phases.values()), phases
    assert phases["run"][1] >= 0.05  # the first operation's wait
    assert phases["write"][1] >= 0 and phases["commit"][1] > 0

    # A refused batch: undone, each operation alone; no batch committed.
    async def refuse() -> None:
        raise Refused("operation 11")

    alone = await asyncio.gather(
        *(batches.run("pool", _noting(i, refuse if i == 11 else None)) for i in (10, 11, 12)),
        return_exceptions=True,
    )
    assert alone[0] is None and isinstance(alone[1], Refused) and alone[2] is None  # no memo
    assert batches.fallbacks == 1
    assert _measured(service, "pool") == (1, 4)
    await db.dispose()


@pytest.mark.pg
async def test_a_refusal_undoes_its_batch_and_each_operation_runs_alone(pg_url: str) -> None:
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16)
    ops = [_op(i, Refused if i % 3 == 0 else None) for i in range(1, 31)]
    results = await asyncio.gather(*(batches.run("pool", op) for op in ops), return_exceptions=True)
    for i, result in enumerate(results, start=1):
        if i % 3 == 0:
            assert isinstance(result, Refused) and str(result) == f"operation {i}"
        else:
            assert result == i
    assert await _count(db) == 20  # the refused ten were undone, the rest kept once
    assert batches.fallbacks >= 1
    await db.dispose()


@pytest.mark.pg
async def test_a_database_failure_fails_the_whole_batch_and_keeps_nothing(pg_url: str) -> None:
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16)
    gate = asyncio.Event()

    async def first(s: AsyncSession) -> int:
        await gate.wait()  # the others queue behind it into one batch
        return await _op(100)(s)

    running = asyncio.create_task(batches.run("pool", first))
    await asyncio.sleep(0.05)
    queued = [batches.run("pool", _op(i, TransientFailure if i == 3 else None)) for i in (1, 2, 3)]
    pending = asyncio.gather(*queued, return_exceptions=True)
    await asyncio.sleep(0.05)
    gate.set()
    assert await running == 100
    results = await pending
    assert all(isinstance(r, TransientFailure) for r in results), results
    assert await _count(db) == 1  # only the first batch's operation
    await db.dispose()


@pytest.mark.pg
@pytest.mark.parametrize("on_driver", [False, True])
async def test_a_worker_stopped_mid_batch_answers_every_caller(
    pg_url: str, on_driver: bool
) -> None:
    """The worker cancelled (the server stopping) with one batch in hand and
    another queued: nothing of either is kept, and every caller is answered
    503 in its own language instead of waiting forever."""
    from svc_common import i18n
    from svc_common.errors import Unavailable

    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=2, on_driver=on_driver)
    gate = asyncio.Event()
    write = _driver_op if on_driver else _op

    async def stuck(s: AsyncSession) -> int:
        await write(100)(s)
        await gate.wait()  # never set: the batch is in hand when the worker stops
        return 100

    async def caller(op, lang: str) -> object:  # type: ignore[no-untyped-def]
        with i18n.use(lang):  # type: ignore[arg-type]
            return await batches.run("pool", op)

    calls = [
        asyncio.create_task(caller(op, lang))
        for op, lang in ((stuck, "zh"), (write(1), "en"), (write(2), "zh"), (write(3), "en"))
    ]
    await asyncio.sleep(0.1)
    batches._workers["pool"].cancel()
    results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    assert all(isinstance(r, Unavailable) for r in results), results
    assert [str(r).startswith("服务正在停止") for r in results] == [True, False, True, False]
    assert await _count(db) == 0
    assert not batches._workers and not batches._queues
    await db.dispose()


async def test_on_sqlite_each_operation_runs_in_its_own_transaction(tmp_path: Path) -> None:
    db = await _db(f"sqlite+aiosqlite:///{tmp_path / 'marks.db'}")
    batches = GroupCommit(db, max_batch=16)
    results = await asyncio.gather(
        *(batches.run("pool", _op(i, Refused if i == 2 else None)) for i in (1, 2, 3)),
        return_exceptions=True,
    )
    assert results[0] == 1 and isinstance(results[1], Refused) and results[2] == 3
    assert await _count(db) == 2 and batches.batches == 0
    async with db.session() as s:
        assert (await s.execute(text("SELECT label FROM marks ORDER BY id"))).scalars().all() == [
            "m1",
            "m3",
        ]
    await db.dispose()


_ADD_MARK = None


def _add_mark_on_driver():  # type: ignore[no-untyped-def]
    from sqlalchemy import bindparam, insert
    from svc_common.db import DriverStatement

    global _ADD_MARK
    if _ADD_MARK is None:
        table = Mark.__table__
        _ADD_MARK = DriverStatement(
            insert(table).values(id=bindparam("id"), label=bindparam("label")).returning(table.c.id)
        )
    return _ADD_MARK


def _driver_op(i: int, fail: type[Exception] | None = None, orm: bool = False):  # type: ignore[no-untyped-def]
    """Writes its row with a DriverStatement (or, `orm`, through the session:
    a path the driver cannot take)."""

    async def op(s: AsyncSession) -> tuple[int, str]:
        if orm:
            s.add(Mark(id=i, label=f"m{i}"))
            await s.flush()
        else:
            await _add_mark_on_driver().fetch_in(await s.connection(), {"id": i, "label": f"m{i}"})
        if fail is not None:
            raise fail(f"operation {i}")
        return i, type(s).__name__

    return op


@pytest.mark.pg
async def test_on_the_driver_a_batch_commits_together_without_a_session(pg_url: str) -> None:
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16, on_driver=True)
    results = await asyncio.gather(*(batches.run("pool", _driver_op(i)) for i in range(1, 31)))
    assert [i for i, _ in results] == list(range(1, 31))
    assert {unit for _, unit in results} == {"DriverUnit"}
    assert await _count(db) == 30
    assert batches.operations > batches.batches >= 1 and batches.in_session == 0
    await db.dispose()


@pytest.mark.pg
async def test_on_the_driver_a_refusal_and_a_rare_path_keep_nothing_twice(pg_url: str) -> None:
    """A refused operation undoes its batch (the others run again alone and
    are kept once); one that asks the unit for a session's work runs again
    in a session, nothing of its first run kept."""
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16, on_driver=True)
    ops = [_driver_op(i, Refused if i % 5 == 0 else None, orm=i % 7 == 0) for i in range(1, 31)]
    results = await asyncio.gather(*(batches.run("pool", op) for op in ops), return_exceptions=True)
    for i, result in enumerate(results, start=1):
        if i % 5 == 0:
            assert isinstance(result, Refused) and str(result) == f"operation {i}"
        else:
            assert result == (i, "AsyncSession" if i % 7 == 0 else "DriverUnit"), (i, result)
    assert await _count(db) == 24  # the six refused undone, the rest kept once
    async with db.session() as s:
        ids = set((await s.execute(select(Mark.id))).scalars().all())
    assert ids == {i for i in range(1, 31) if i % 5}
    assert batches.in_session >= 4 and batches.fallbacks >= 1
    await db.dispose()


@pytest.mark.pg
async def test_on_the_driver_an_operation_alone_on_a_rare_path_runs_once_more_only(
    pg_url: str,
) -> None:
    """An operation alone that asks the unit for a session's work runs
    again in a session at once: twice in all, not once more on the driver."""
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16, on_driver=True)
    runs: list[str] = []

    async def op(s: AsyncSession) -> tuple[int, str]:
        runs.append(type(s).__name__)
        return await _driver_op(1, orm=True)(s)

    assert await batches.run("pool", op) == (1, "AsyncSession")
    assert runs == ["DriverUnit", "AsyncSession"]
    assert batches.in_session == 1 and batches.alone == 1
    assert await _count(db) == 1
    await db.dispose()


@pytest.mark.pg
async def test_on_the_driver_a_commit_that_wrote_outbox_rows_wakes_the_relay(pg_url: str) -> None:
    from svc_common.db import OUTBOX_WRITTEN

    db = await _db(pg_url)
    woken: list[int] = []
    db.on_outbox_commit(lambda: woken.append(len(woken)))
    batches = GroupCommit(db, max_batch=16, on_driver=True)

    async def emitting(s: AsyncSession) -> None:
        await _add_mark_on_driver().fetch_in(await s.connection(), {"id": 1, "label": "m1"})
        s.info[OUTBOX_WRITTEN] = True  # as Writes marks it

    async def refused(s: AsyncSession) -> None:
        s.info[OUTBOX_WRITTEN] = True
        raise Refused("nothing kept, nobody woken")

    await batches.run("pool", emitting)
    assert woken == [0]  # after the commit, once
    with pytest.raises(Refused):
        await batches.run("pool", refused)
    assert woken == [0]
    await db.dispose()


def _controls(sent: list[str]) -> list[str]:
    """The transaction control statements among those a connection was sent."""
    return [q for q in sent if q.startswith(("COMMIT", "BEGIN", "ROLLBACK"))]


async def _gated_chain(
    db: Database, batches: GroupCommit, ops: int
) -> tuple[list[object], list[str], set[int]]:
    """One operation holds the key's worker while `ops` more queue behind
    it; then every one runs. Returns the results, the statements the first
    operation's connection was sent from then on, and the connections
    (asyncpg's) every operation ran on."""
    sent: list[str] = []
    drivers: set[int] = set()
    gate = asyncio.Event()

    def on(i: int):  # type: ignore[no-untyped-def]
        async def op(s: AsyncSession) -> object:
            driver = (await s.connection()).driver
            drivers.add(id(driver))
            if i == 0:
                driver.add_query_logger(lambda q: sent.append(q.query))
                await gate.wait()
            return await _driver_op(i + 1)(s)

        return op

    first = asyncio.create_task(batches.run("pool", on(0)))
    await asyncio.sleep(0.05)
    rest = [asyncio.ensure_future(batches.run("pool", on(i))) for i in range(1, ops + 1)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    return results, sent, drivers


@pytest.mark.pg
async def test_on_the_driver_a_key_s_batches_follow_on_one_connection(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key's batches run one after another on one connection, each COMMIT
    sending the next batch's BEGIN with it (one round trip, no pool checkout
    between). An operation that comes within CHAIN_LINGER of the last commit
    finds its transaction begun; after that the empty transaction is rolled
    back and the connection goes back to the pool out of any transaction."""
    from svc_common import batching

    monkeypatch.setattr(batching, "CHAIN_LINGER", 0.5)  # ample on a loaded machine
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=4, on_driver=True)
    results, sent, drivers = await _gated_chain(db, batches, 20)
    assert [r for r, _unit in results] == list(range(1, 22))  # type: ignore[misc]
    assert await _count(db) == 21
    assert len(drivers) == 1  # every batch on the first one's connection
    assert batches.batches == 5 and batches.operations == 20 and batches.alone == 1
    assert (await batches.run("pool", _driver_op(22)))[0] == 22  # in the begun transaction
    # The first batch (one operation, twenty queued), five of four: each
    # COMMIT begins the next; no BEGIN goes alone. The late one, alone with
    # nothing queued, begins the next for a spare (held_chain.SpareChains):
    # nobody takes it, so it is rolled back and the connection goes back.
    assert not batches._workers and await _count(db) == 22
    for _ in range(100):  # SPARE_LINGER, on however loaded a machine
        if "ROLLBACK" in sent:
            break
        await asyncio.sleep(0.02)
    controls = _controls(sent)
    assert controls == ["COMMIT; BEGIN"] * 7 + ["ROLLBACK"], sent
    assert db.connections_in_use() == 0
    await db.dispose()


@pytest.mark.pg
async def test_on_the_driver_a_busy_key_waits_for_its_next_operation_a_quiet_one_does_not(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch of several, the worker keeps the next transaction begun
    for CHAIN_LINGER; nothing comes, it leaves it to the spares, where
    nothing comes either: it is rolled back and the connection goes back.
    One operation at a time: no waiting, the worker gone as soon as it
    commits, each commit beginning the next operation's transaction on the
    spare it leaves (held_chain.SpareChains)."""
    from svc_common import batching

    # Both waits ample on a loaded machine: the worker's for its key's next
    # operation (20 ms: it could end before the test looked), and a spare's
    # for the next batch (50 ms: it could be rolled back before the next
    # operation took it).
    monkeypatch.setattr(batching, "CHAIN_LINGER", 0.5)
    db = await _db(pg_url)
    spare_chains(db).linger = 1.0
    batches = GroupCommit(db, max_batch=16, on_driver=True)
    sent: list[str] = []
    seen: set[int] = set()

    def logged(i: int):  # type: ignore[no-untyped-def]
        async def op(s: AsyncSession) -> object:
            driver = (await s.connection()).driver
            if id(driver) not in seen:
                seen.add(id(driver))
                driver.add_query_logger(lambda q: sent.append(q.query))
            return await _driver_op(i)(s)

        return op

    for i in (1, 2, 3):  # one at a time
        await batches.run("pool", logged(i))
        assert not batches._workers
    await asyncio.sleep(0.01)
    # (A connection's logger is set after its first BEGIN.) One connection,
    # each operation's transaction begun by the commit before it.
    assert len(seen) == 1
    assert _controls(sent) == ["COMMIT; BEGIN"] * 3, sent
    sent.clear()
    await asyncio.gather(*(batches.run("pool", logged(i)) for i in (4, 5, 6)))
    assert batches._workers  # waiting, the next transaction begun
    await testing.until(lambda: not batches._workers)  # CHAIN_LINGER
    assert not batches._workers
    # Then the spare's linger: the ROLLBACK after the last COMMIT (not one
    # of an earlier spare, which would end the wait too soon).
    await testing.until(lambda: _controls(sent)[-1:] == ["ROLLBACK"])
    controls = _controls(sent)
    assert controls[-2:] == ["COMMIT; BEGIN", "ROLLBACK"], sent
    assert await _count(db) == 6
    await db.dispose()


@pytest.mark.pg
async def test_on_the_driver_a_chain_gives_its_connection_back_after_chain_max(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long chain goes back to the pool every CHAIN_MAX transactions (so the
    pool's recycling still sees the connection), and carries on."""
    from svc_common import batching

    monkeypatch.setattr(batching, "CHAIN_MAX", 2)
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=4, on_driver=True)
    results, sent, _drivers = await _gated_chain(db, batches, 20)
    assert [r for r, _unit in results] == list(range(1, 22))  # type: ignore[misc]
    assert await _count(db) == 21
    # On the first connection: its own batch and the next, then it was given
    # back (not left begun for a third: nothing to roll back but, at the
    # very end, the last chain's unused transaction).
    controls = _controls(sent)
    assert controls[:2] == ["COMMIT; BEGIN", "COMMIT"], sent
    assert "ROLLBACK" not in controls[:-1], sent
    await db.dispose()


@pytest.mark.pg
async def test_on_the_driver_a_failed_batch_mid_chain_leaves_the_next_to_another_connection(
    pg_url: str,
) -> None:
    """A database failure in a chained batch fails that batch only; the
    batches queued behind it run on (another transaction, or connection)."""
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=4, on_driver=True)
    gate = asyncio.Event()

    async def first(s: AsyncSession) -> object:
        await gate.wait()
        return await _driver_op(100)(s)

    running = asyncio.create_task(batches.run("pool", first))
    await asyncio.sleep(0.05)
    ops = [_driver_op(i, TransientFailure if i == 3 else None) for i in range(1, 9)]
    pending = asyncio.gather(*(batches.run("pool", op) for op in ops), return_exceptions=True)
    await asyncio.sleep(0.05)
    gate.set()
    assert (await running)[0] == 100
    results = await pending
    assert all(isinstance(r, TransientFailure) for r in results[:4]), results
    assert [r[0] for r in results[4:]] == [5, 6, 7, 8]  # type: ignore[index]
    assert await _count(db) == 5  # the first and the batch after the failed one
    async with db.driver() as driver:
        assert not driver.is_in_transaction()
    await db.dispose()


@pytest.mark.pg
async def test_a_chain_s_commit_begins_the_next_in_the_same_round_trip(pg_url: str) -> None:
    """DriverChain: `commit(then_begin=True)` commits (another connection sees
    the row) and leaves the next transaction open, so `begin()` sends
    nothing; a transaction begun and never used is rolled back when the
    chain ends; one left by an exception takes its connection with it."""
    db = await _db(pg_url)
    async with db.driver_chain() as chain:
        unit = await chain.begin()
        await _add_mark_on_driver().fetch_in(await unit.connection(), {"id": 1, "label": "m1"})
        await chain.commit(unit, then_begin=True)
        assert await _count(db) == 1
        driver = (await unit.connection()).driver
        assert driver.is_in_transaction()
        sent: list[str] = []
        driver.add_query_logger(lambda q: sent.append(q.query))
        unit = await chain.begin()
        await _add_mark_on_driver().fetch_in(await unit.connection(), {"id": 2, "label": "m2"})
        await asyncio.sleep(0.01)  # asyncpg calls its query loggers soon, not at once
        assert len(sent) == 1 and not [q for q in sent if "BEGIN" in q], sent
        await chain.commit(unit, then_begin=True)  # a next that never comes
    await asyncio.sleep(0.01)
    assert sent[-2:] == ["COMMIT; BEGIN", "ROLLBACK"], sent
    assert not driver.is_in_transaction() and not driver.is_closed()
    assert await _count(db) == 2
    with pytest.raises(Refused):
        async with db.driver_chain() as chain:
            unit = await chain.begin()
            await _add_mark_on_driver().fetch_in(await unit.connection(), {"id": 3, "label": "m3"})
            left = (await unit.connection()).driver
            raise Refused("mid-transaction")
    assert left.is_closed()  # not pooled again in a transaction
    assert await _count(db) == 2
    await db.dispose()


@pytest.mark.pg
async def test_a_chain_whose_connection_died_ends_without_an_error(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ended the connection while the next transaction waited
    (a restart, a failover): the chain's end cannot roll it back, closes the
    connection instead, raises nothing, and the pool serves a live one."""
    db = await _db(pg_url)
    async with db.driver_chain() as chain:
        unit = await chain.begin()
        await _add_mark_on_driver().fetch_in(await unit.connection(), {"id": 1, "label": "m1"})
        await chain.commit(unit, then_begin=True)
        driver = (await unit.connection()).driver
        pid = driver.get_server_pid()
        async with db.driver() as other:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
        await asyncio.sleep(0.1)
    assert driver.is_closed()
    assert await _count(db) == 1  # committed before
    # The same when the connection still looks open and its ROLLBACK fails.
    async with db.driver_chain() as chain:
        unit = await chain.begin()
        driver = (await unit.connection()).driver
        real = type(driver).execute

        async def dying(self: object, query: str, *args: object) -> str:
            if self is driver and query == "ROLLBACK":
                raise asyncpg.ConnectionDoesNotExistError("connection was closed")
            return await real(self, query, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(type(driver), "execute", dying)
    assert driver.is_closed()
    async with db.driver() as live:
        assert await live.fetchval("SELECT 1") == 1
    await db.dispose()


@pytest.mark.pg
async def test_on_the_driver_no_connection_to_be_had_fails_the_batch_not_the_worker(
    pg_url: str,
) -> None:
    """The pool has no connection to give (every one in use past its
    timeout, or the database unreachable): the batch's callers get that
    failure (503 with Retry-After, as any database failure), not "the
    service is stopping"; the worker ends cleanly and the key's next
    operation runs once a connection is free."""
    from svc_common.errors import Unavailable
    from svc_common.failures import is_transient

    db = Database(pg_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    batches = GroupCommit(db, max_batch=4, on_driver=True)
    async with db.driver() as held:  # the pool's only connection
        assert held is not None
        calls = [asyncio.ensure_future(batches.run("pool", _driver_op(i))) for i in (1, 2)]
        await asyncio.sleep(0)
        worker = batches._workers["pool"]
        results = await asyncio.gather(*calls, return_exceptions=True)
        await asyncio.wait([worker])
    for r in results:
        assert isinstance(r, Exception) and is_transient(r), results
        assert not isinstance(r, Unavailable), results  # not "the service is stopping"
    assert worker.exception() is None
    assert (await batches.run("pool", _driver_op(3)))[0] == 3
    assert await _count(db) == 1
    await db.dispose()


@pytest.mark.pg
async def test_a_chain_lingering_as_its_database_is_disposed_closes_its_connection(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops (its lifespan disposes of the database) while a busy
    key's worker waits for a next operation that will not come: when the
    wait ends the connection is closed, not left open in a pool that is gone
    (a backend the server keeps until the process exits)."""
    from svc_common import batching

    monkeypatch.setattr(batching, "CHAIN_LINGER", 0.5)  # ample on a loaded machine
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=4, on_driver=True)
    await asyncio.gather(*(batches.run("pool", _driver_op(i)) for i in (1, 2, 3)))
    worker = batches._workers["pool"]  # lingering, the next transaction begun
    await db.dispose()
    await asyncio.wait_for(worker, 5)
    other = Database(pg_url, poolclass=NullPool)
    async with other.driver() as driver:
        left = await driver.fetch(
            "SELECT state FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert not left, [tuple(r) for r in left]
    await other.dispose()


@pytest.mark.pg
async def test_inserts_queued_together_go_in_one_statement_and_a_refused_row_fails_alone(
    pg_url: str,
) -> None:
    """`InsertsTogether`: rows queued while a statement runs go in the next
    one together; a row a unique index refuses fails its own caller only,
    and every other row of its batch is kept once."""
    from svc_common.batching import InsertsTogether
    from svc_common.failures import is_unique_violation

    db = await _db(pg_url)
    inserts = InsertsTogether(db, _add_mark_on_driver())

    # Queued before the worker runs: one statement. A row alone goes alone.
    await asyncio.gather(*(inserts.insert({"id": i, "label": f"m{i}"}) for i in range(1, 10)))
    await inserts.insert({"id": 10, "label": "m10"})
    assert await _count(db) == 10
    assert (inserts.batches, inserts.rows) == (1, 9)

    # Ids 5 and 12 exist (12 from the first of the batch): those two fail
    # alone, the others are kept once.
    results = await asyncio.gather(
        *(inserts.insert({"id": i, "label": f"n{i}"}) for i in (12, 11, 12, 13, 5, 14)),
        return_exceptions=True,
    )
    assert [is_unique_violation(r) if r else r for r in results] == [
        None,
        None,
        True,
        None,
        True,
        None,
    ], results
    async with db.session() as s:
        ids = sorted((await s.execute(select(Mark.id))).scalars().all())
    assert ids == list(range(1, 15))
    assert inserts.batches == 1  # the second batch failed whole and went row by row
    await db.dispose()


@pytest.mark.pg
async def test_lookups_queued_together_go_in_one_statement_and_each_caller_gets_its_row(
    pg_url: str,
) -> None:
    """`LookupsTogether`: keys asked for while a lookup runs go in the next
    one together; each caller gets its own row (or None), a key asked twice
    is answered twice, and a failed statement fails every caller of it."""
    from svc_common.batching import LookupsTogether
    from svc_common.db import DriverStatement

    db = await _db(pg_url)
    inserts = InsertsTogether(db, _add_mark_on_driver())
    for i in (1, 2, 3, 5, 8):
        await inserts.insert({"id": i, "label": f"m{i}"})
    one = DriverStatement(text("SELECT label FROM marks WHERE id = :id"))
    many = DriverStatement(
        text(
            "SELECT m.id, m.label FROM marks AS m"
            " JOIN unnest(CAST(:ids AS INTEGER[])) AS k(id) ON m.id = k.id"
        )
    )
    lookups = LookupsTogether(db, one, many, ("id",))

    # Alone: the one-key statement, no batch.
    assert (await lookups.get((2,)))[0] == "m2"
    assert await lookups.get((4,)) is None
    assert lookups.batches == 0

    # Queued before the worker runs: one statement for all.
    asked = [1, 3, 4, 5, 3, 8, 9]
    found = await asyncio.gather(*(lookups.get((i,)) for i in asked))
    assert [f[0] if f is not None else None for f in found] == [
        "m1",
        "m3",
        None,
        "m5",
        "m3",
        "m8",
        None,
    ]
    assert (lookups.batches, lookups.rows) == (1, 7)

    # A statement that fails fails every caller of its batch, with its error.
    broken = LookupsTogether(db, one, DriverStatement(text("SELECT nope FROM marks")), ("id",))
    results = await asyncio.gather(*(broken.get((i,)) for i in (1, 2, 3)), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results), results
    assert (await broken.get((1,)))[0] == "m1"  # alone: the one-key statement
    await db.dispose()


@pytest.mark.pg
async def test_a_databases_helpers_go_with_it(pg_url: str) -> None:
    """The statements sent together are helpers of their database, made once
    and freed with it: a registry beside it kept every Database (and its
    engine) of the process alive."""
    import gc
    import weakref

    from svc_common import idempotency

    db = await _db(pg_url)
    assert idempotency._lookups(db) is idempotency._lookups(db)
    assert idempotency._stores(db) is idempotency._stores(db)
    await db.dispose()
    gone = weakref.ref(db)
    del db
    gc.collect()
    assert gone() is None


def _marking(i: int):  # type: ignore[no-untyped-def]
    """Writes mark `i` unless its batch's memo says it is committed already
    (put there by `_find_marks`): then answers "twin", writing nothing."""

    async def op(s: AsyncSession) -> str:
        memo = batch_memo(s)
        if memo is not None and i in memo.get("committed", ()):
            return "twin"
        await _add_mark_on_driver().fetch_in(await s.connection(), {"id": i, "label": f"m{i}"})
        return "written"

    return op


def _find_marks(found: list[list[Any]]):  # type: ignore[no-untyped-def]
    """A `twins` hook: the committed marks among the hints, into the memo
    (`found` notes each call's hints)."""

    from sqlalchemy import BigInteger, any_, bindparam
    from sqlalchemy.dialects.postgresql import ARRAY
    from svc_common.db import DriverStatement

    marks = DriverStatement(
        select(Mark.id).where(Mark.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
    )

    async def twins(s: Any, hints: list[Any]) -> int:
        found.append(sorted(hints))
        rows = await marks.fetch_in(await s.connection(), {"ids": hints})
        batch_memo(s).setdefault("committed", set()).update(row[0] for row in rows)
        return len(rows)

    return twins


@pytest.mark.pg
@pytest.mark.parametrize("on_driver", [False, True])
async def test_a_batch_refused_by_a_unique_index_runs_again_as_one_its_twins_found(
    pg_url: str, on_driver: bool
) -> None:
    """A batch with an operation that writes again what is committed (a
    retry whose answer was lost) fails at the unique index; it runs again as
    one batch, its kind's `twins` hook given every operation's hint first,
    and the twin answers from what the hook found: one more transaction,
    not one per operation."""
    db = await _db(pg_url)
    found: list[list[Any]] = []
    batches = GroupCommit(db, max_batch=16, on_driver=on_driver, twins={0: _find_marks(found)})
    assert await batches.run("pool", _marking(5)) == "written"
    alone = batches.alone
    results = await asyncio.gather(*(batches.run("pool", _marking(i), hint=i) for i in range(1, 9)))
    assert results == ["twin" if i == 5 else "written" for i in range(1, 9)]
    assert found == [list(range(1, 9))]
    assert (batches.run_again, batches.fallbacks, batches.alone - alone) == (1, 0, 0)
    assert batches.batches == 1 and await _count(db) == 8
    await db.dispose()


@pytest.mark.pg
@pytest.mark.parametrize("on_driver", [False, True])
async def test_a_batch_refused_again_when_run_again_runs_each_operation_alone(
    pg_url: str, on_driver: bool
) -> None:
    """A batch run again whose writes are refused again (its twin not found:
    committed between the two runs, say) is undone and each of its
    operations runs alone: the twin's caller gets the refusal, the others
    their rows, each kept once."""
    db = await _db(pg_url)

    async def finds_nothing(s: Any, hints: list[Any]) -> int:
        return 0

    batches = GroupCommit(db, max_batch=16, on_driver=on_driver, twins={0: finds_nothing})
    await batches.run("pool", _marking(5))
    runs = 0

    def counted(i: int):  # type: ignore[no-untyped-def]
        async def op(s: AsyncSession) -> str:
            nonlocal runs
            runs += 1
            return await _marking(i)(s)

        return op

    results = await asyncio.gather(
        *(batches.run("pool", counted(i), hint=i) for i in range(1, 9)), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == [
        "IntegrityError" if i == 5 else "str" for i in range(1, 9)
    ]
    assert (batches.run_again, batches.fallbacks) == (1, 1)
    # The batch ran up to its twin (5 operations), then, its hook having
    # found nothing, not again: each of the 8 alone.
    assert runs == 5 + 8
    assert await _count(db) == 8
    await db.dispose()


@pytest.mark.pg
async def test_a_batch_refused_on_its_chain_s_last_turn_runs_alone(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused on the last transaction its chain may run (CHAIN_MAX), a
    batch is not run again there: each of its operations runs alone, every
    caller is answered, and nothing counts it as run again."""
    from svc_common import batching

    monkeypatch.setattr(batching, "CHAIN_MAX", 1)
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16, on_driver=True, twins={0: _find_marks([])})
    await batches.run("pool", _marking(5))
    results = await asyncio.wait_for(
        asyncio.gather(
            *(batches.run("pool", _marking(i), hint=i) for i in range(1, 9)),
            return_exceptions=True,
        ),
        15,
    )
    assert [type(r).__name__ for r in results] == [
        "IntegrityError" if i == 5 else "str" for i in range(1, 9)
    ]
    assert (batches.run_again, batches.fallbacks) == (0, 1)
    assert await _count(db) == 8
    await db.dispose()


@pytest.mark.pg
@pytest.mark.parametrize("on_driver", [False, True])
async def test_what_joins_a_batch_run_again_has_its_twins_found_too(
    pg_url: str, on_driver: bool
) -> None:
    """Operations that queue while a batch run again waits on its first
    operation join it (`_late`) with their twins looked for as well: one
    of them writing again what is committed does not undo the batch."""
    db = await _db(pg_url)
    found: list[list[Any]] = []
    batches = GroupCommit(db, max_batch=16, on_driver=on_driver, twins={0: _find_marks(found)})
    for i in (5, 7):
        await batches.run("pool", _marking(i))
    started, gate = asyncio.Event(), asyncio.Event()
    runs = 0

    async def first(s: AsyncSession) -> str:
        nonlocal runs
        runs += 1
        if runs == 2:  # run again: those queued meanwhile join it
            started.set()
            await gate.wait()
        return await _marking(1)(s)

    own = [
        asyncio.create_task(batches.run("pool", first, hint=1)),
        asyncio.create_task(batches.run("pool", _marking(5), hint=5)),
    ]
    await asyncio.wait_for(started.wait(), 15)
    late = [asyncio.create_task(batches.run("pool", _marking(i), hint=i)) for i in (7, 8)]
    await asyncio.sleep(0)  # each queues
    gate.set()
    assert await asyncio.gather(*own, *late) == ["written", "twin", "twin", "written"]
    assert found == [[1, 5], [7, 8]] and batches.joined_late == 2
    assert (batches.run_again, batches.fallbacks) == (1, 0)
    assert await _count(db) == 4
    await db.dispose()


@pytest.mark.pg
async def test_a_batch_refused_otherwise_runs_alone_at_once(pg_url: str) -> None:
    """A batch is run again as one only when a unique index refused it and
    a kind of its operations has a `twins` hook: refused by an operation, or
    with no hook for its kinds, each operation runs alone at once."""
    db = await _db(pg_url)
    batches = GroupCommit(db, max_batch=16, on_driver=True, twins={1: _find_marks([])})
    await batches.run("pool", _marking(5))
    results = await asyncio.gather(
        *(batches.run("pool", _marking(i), hint=i) for i in range(1, 9)), return_exceptions=True
    )
    assert sum(isinstance(r, Exception) for r in results) == 1
    assert (batches.run_again, batches.fallbacks) == (0, 1)
    hooked = GroupCommit(db, max_batch=16, on_driver=True, twins={0: _find_marks([])})
    refused = await asyncio.gather(
        *(hooked.run("pool", _driver_op(i, Refused if i == 12 else None)) for i in range(10, 14)),
        return_exceptions=True,
    )
    assert [isinstance(r, Refused) for r in refused] == [False, False, True, False]
    assert (hooked.run_again, hooked.fallbacks) == (0, 1)
    await db.dispose()
