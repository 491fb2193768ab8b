"""Connections kept warm between uses of the driver
(svc_common.warm_connections): on a real PostgreSQL, uses one after another
skip the pool and run on the same backend; a kept connection goes back to
the pool when unused for its linger; no more than `size` are kept; one the
server closed, one left in a transaction or one of a pool disposed of is
never used again; disposing of the database gives every one back. And the
keeper itself, with no database: most recent first, each expiring on time."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.pool import NullPool
from svc_common import testing
from svc_common.db import Database
from svc_common.warm_connections import WarmConnections

from .test_metrics import app_named


def _checkouts(db: Database) -> list[int]:
    """Counts the pool's checkouts from now on (one element each)."""
    seen: list[int] = []
    event.listen(db.engine.sync_engine, "checkout", lambda *_: seen.append(1))
    return seen


async def _pid(db: Database) -> int:
    async with db.driver() as conn:
        return int(await conn.fetchval("SELECT pg_backend_pid()"))


@pytest.mark.pg
async def test_uses_one_after_another_skip_the_pool(pg_url: str) -> None:
    db = Database(pg_url)
    db.warm.linger = 5.0
    checkouts = _checkouts(db)
    pids = [await _pid(db) for _ in range(5)]
    assert len(set(pids)) == 1  # one backend
    assert len(checkouts) == 1 and db.warm.reused == 4
    # Kept, it counts as idle, not in use.
    assert db.connections_in_use() == 0 and len(db.warm) == 1
    await db.dispose()


@pytest.mark.pg
async def test_a_kept_connection_goes_back_to_the_pool_after_its_linger(pg_url: str) -> None:
    db = Database(pg_url)
    db.warm.linger = 0.2
    first = await _pid(db)
    assert len(db.warm) == 1
    assert await testing.until(lambda: len(db.warm) == 0 and not db.warm._returning)
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    checkouts = _checkouts(db)
    assert await _pid(db) == first  # from the pool now: the same connection
    assert len(checkouts) == 1
    await db.dispose()


@pytest.mark.pg
async def test_no_more_than_its_size_are_kept(pg_url: str) -> None:
    db = Database(pg_url)
    db.warm.linger, db.warm.size = 5.0, 2
    gate = asyncio.Event()

    async def use() -> int:
        async with db.driver() as conn:
            await gate.wait()
            return int(await conn.fetchval("SELECT pg_backend_pid()"))

    uses = [asyncio.ensure_future(use()) for _ in range(4)]
    await asyncio.sleep(0.05)
    gate.set()
    assert len(set(await asyncio.gather(*uses))) == 4
    assert len(db.warm) == 2
    assert db.engine.pool.checkedout() == 2  # type: ignore[attr-defined]
    assert db.engine.pool.checkedin() == 2  # type: ignore[attr-defined]
    await db.dispose()


@pytest.mark.pg
async def test_a_unit_waiting_for_the_pool_is_not_kept_waiting_by_kept_ones(pg_url: str) -> None:
    """Statements on the driver one after another keep taking the kept
    connection; a unit of work waiting for the pool still gets it: none is
    kept while the pool has no room."""
    db = Database(pg_url, pool_size=2, max_overflow=0, pool_timeout=5)
    db.warm.linger, db.warm.max_out = 5.0, 60.0  # only the lack of room gives it back
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            async with db.driver() as conn:
                await conn.fetchval("SELECT 1")
            await asyncio.sleep(0.005)

    running = asyncio.create_task(traffic())
    try:
        assert await testing.until(lambda: db.warm.reused > 3)
        async with db.transaction() as first:
            await first.execute(text("SELECT 1"))  # the pool's other connection
            async with db.transaction() as second:  # waits for the one of the traffic
                assert (await second.execute(text("SELECT 1"))).scalar() == 1
    finally:
        stop.set()
        await running
        await db.dispose()


@pytest.mark.pg
async def test_a_connection_goes_back_through_the_pool_within_max_out(pg_url: str) -> None:
    """So the pool's checkout checks (an invalidation after a disconnect,
    recycling) still see a connection in steady use."""
    db = Database(pg_url)
    db.warm.linger, db.warm.max_out = 5.0, 0.2
    checkouts = _checkouts(db)
    loop = asyncio.get_running_loop()
    until = loop.time() + 0.7
    while loop.time() < until:
        await _pid(db)
        await asyncio.sleep(0.01)
    assert len(checkouts) >= 2 and db.warm.reused > 0
    await db.dispose()


@pytest.mark.pg
async def test_a_kept_connection_the_server_closed_is_not_used(pg_url: str) -> None:
    db = Database(pg_url)
    db.warm.linger = 5.0
    first = await _pid(db)
    async with db.driver() as other:
        # (This use takes the kept one; put another one aside to kill it.)
        assert await other.fetchval("SELECT pg_backend_pid()") == first
    kept = db.warm._kept[-1].pooled.driver_connection
    admin = Database(pg_url, poolclass=NullPool)
    async with admin.driver() as conn:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", first)
    await admin.dispose()
    assert await testing.until(kept.is_closed)
    # The next use is not failed by the dead connection: it runs on another.
    assert await _pid(db) != first
    await db.dispose()


@pytest.mark.pg
async def test_a_connection_left_in_a_transaction_or_broken_is_not_kept(pg_url: str) -> None:
    db = Database(pg_url)
    db.warm.linger = 5.0
    async with db.driver() as conn:
        await conn.execute("BEGIN")
    assert len(db.warm) == 0  # thrown away, not kept
    with pytest.raises(ValueError):
        async with db.driver() as conn:
            raise ValueError("the caller's own error")
    assert len(db.warm) == 1  # a sound connection: kept
    assert db.connections_in_use() == 0
    await db.dispose()


@pytest.mark.pg
async def test_a_kept_connection_of_a_pool_disposed_of_is_not_used(pg_url: str) -> None:
    db = Database(pg_url)
    db.warm.linger = 5.0
    first = await _pid(db)
    await db.engine.dispose()  # the pool alone, as the chaos of a restart does
    assert db.connections_in_use() == 0  # the kept one is not the new pool's
    assert await _pid(db) != first
    assert await testing.until(lambda: not db.warm._returning)
    assert await testing.sessions_left(pg_url, pids=[first]) == []  # closed, not left open
    await db.dispose()


@pytest.mark.pg
async def test_disposing_of_the_database_gives_every_kept_one_back(pg_url: str) -> None:
    db = Database(pg_url)
    db.warm.linger = 60.0  # only the dispose ends it
    await _pid(db)
    # (Held here, so that no garbage collection closes it instead.)
    held = [kept.pooled for kept in db.warm._kept]
    assert len(held) == 1
    await db.dispose()
    assert len(db.warm) == 0
    assert all(pooled.driver_connection is None for pooled in held)  # given back
    assert await testing.sessions_left(pg_url) == []
    assert db.warm.size == 0  # stopping: it keeps none from then on


@pytest.mark.pg
@pytest.mark.parametrize("warm", [0, 3])
async def test_a_service_keeps_as_many_as_its_setting_says(pg_url: str, warm: int) -> None:
    """DB_WARM_CONNECTIONS: the service's database keeps that many (0: every
    use of the driver checks a connection out of the pool and back in)."""
    app = app_named("notes-svc", pg_url, db_warm_connections=warm)
    async with testing.running(app):
        db: Database = app.state.runtime.db
        assert db.warm.size == warm
        db.warm.linger = 5.0
        # (The service's own tasks use the driver too: count what these found.)
        before = db.warm.reused
        for _ in range(4):
            await _pid(db)
        if warm == 0:
            assert db.warm.reused == 0 and len(db.warm) == 0
        else:
            assert db.warm.reused - before >= 3
    # Stopped: every kept connection given back.
    assert await testing.sessions_left(pg_url) == []


@pytest.mark.pg
async def test_kept_connections_count_as_idle_in_the_pool_figures(pg_url: str) -> None:
    from types import SimpleNamespace

    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    from svc_common import metrics

    db = Database(pg_url)
    db.warm.linger = 5.0
    name = f"warm-{uuid.uuid4().hex[:6]}"
    runtime: Any = SimpleNamespace(db=db, service=name)
    metrics.attach(runtime)
    try:
        await _pid(db)
        assert len(db.warm) == 1 and db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        figures = {
            s.labels["state"]: s.value
            for family in text_string_to_metric_families(
                generate_latest(metrics.ServiceView(name)).decode()
            )
            for s in family.samples
            if s.name == "db_pool_connections"
        }
        assert figures == {"in_use": 0, "idle": 1}
    finally:
        metrics.detach(runtime)
        await db.dispose()


class _Pooled:
    """A stand-in for a pooled connection: whether it is still fit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fit = True


def _keep(warm: WarmConnections, pooled: _Pooled, pool: object, *, room: bool = True) -> bool:
    """Keep `pooled`, out of the pool since now."""
    now = asyncio.get_running_loop().time()
    return warm.keep(pooled, pool, now, pool_has_room=room)


async def test_the_keeper_hands_out_the_most_recent_and_gives_back_the_rest() -> None:
    given_back: list[tuple[str, object]] = []

    async def give_back(pooled: Any, pool: object) -> None:
        given_back.append((pooled.name, pool))

    warm = WarmConnections(give_back, size=2, linger=5.0)
    pool, other_pool = object(), object()
    a, b, c = _Pooled("a"), _Pooled("b"), _Pooled("c")
    assert _keep(warm, a, pool) and _keep(warm, b, pool)
    assert not _keep(warm, c, pool)  # full: the caller gives it back itself
    taken = warm.take(pool, lambda p: p.fit)
    assert taken is not None and taken[0] is b  # most recent first
    b.fit = False
    _keep(warm, b, pool)
    # b is no longer fit: given back, and a handed out instead.
    taken = warm.take(pool, lambda p: p.fit)
    assert taken is not None and taken[0] is a
    _keep(warm, a, other_pool)
    assert warm.take(pool, lambda p: p.fit) is None  # a came from another pool
    await asyncio.sleep(0)
    assert given_back == [("b", pool), ("a", other_pool)]
    assert warm.reused == 2
    await warm.aclose()


async def test_the_keeper_keeps_none_when_the_pool_has_no_room_nor_past_max_out() -> None:
    async def give_back(_pooled: Any, _pool: object) -> None:
        pass

    warm = WarmConnections(give_back, size=2, linger=5.0, max_out=0.2)
    pool = object()
    assert not _keep(warm, _Pooled("a"), pool, room=False)  # a waiter may need it
    now = asyncio.get_running_loop().time()
    assert not warm.keep(_Pooled("b"), pool, now - 0.2, pool_has_room=True)
    assert warm.keep(_Pooled("c"), pool, now - 0.1, pool_has_room=True)
    taken = warm.take(pool, lambda p: True)
    # When it came out of the pool goes with it, to be kept again or not.
    assert taken is not None and taken[0].name == "c" and taken[1] == now - 0.1
    await warm.aclose()


async def test_the_keeper_gives_each_back_a_linger_after_its_last_use() -> None:
    loop = asyncio.get_running_loop()
    given_back: dict[str, float] = {}

    async def give_back(pooled: Any, _pool: object) -> None:
        given_back[pooled.name] = loop.time()

    warm = WarmConnections(give_back, size=2, linger=0.3)
    pool = object()
    kept_at = {"a": loop.time()}
    _keep(warm, _Pooled("a"), pool)
    await asyncio.sleep(0.15)
    kept_at["b"] = loop.time()
    _keep(warm, _Pooled("b"), pool)
    assert await testing.until(lambda: len(given_back) == 2)
    assert len(warm) == 0
    # Each no sooner than a linger after it was kept (timers fire late on a
    # loaded machine, never early): b did not go with a.
    assert all(given_back[name] >= kept_at[name] + 0.3 for name in "ab"), (given_back, kept_at)
    await warm.aclose()


def test_the_keeper_arms_its_timer_again_on_a_new_event_loop() -> None:
    """A timer of an event loop that ended never fires: one kept on the next
    loop still goes back after its linger."""
    given_back: list[str] = []

    async def give_back(pooled: Any, _pool: object) -> None:
        given_back.append(pooled.name)

    warm = WarmConnections(give_back, size=2, linger=0.05)
    pool = object()

    async def first() -> None:
        _keep(warm, _Pooled("a"), pool)  # the loop ends before its timer fires

    async def second() -> None:
        warm.take(pool, lambda p: False)  # a, of the loop gone: given back
        _keep(warm, _Pooled("b"), pool)
        assert await testing.until(lambda: "b" in given_back)

    asyncio.run(first())
    asyncio.run(second())
    assert given_back == ["a", "b"] and len(warm) == 0
