"""A PostgreSQL server that stops answering (its processes paused: SIGSTOP,
a VM frozen, a network that drops without a reset) makes a request wait at
most about DB_CONNECT_TIMEOUT_SECONDS for a connection, then answers 503
with Retry-After, as the docs promise for an unavailable dependency. A
pooled connection idle past a second is checked before it is handed out;
the check waited for the statements' own timeout (300 s), so every request
hung for the whole freeze."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from svc_common import testing
from svc_common.db import Database
from svc_common.failures import DatabaseUnreachable, is_transient
from svc_common.service import ServiceSpec, create_app
from svc_common.settings import ServiceSettings

pytestmark = pytest.mark.pg

QUOTA_MIGRATIONS = Path(__file__).parents[3] / "services/quota-svc/src/quota_svc/migrations"
#: The bound under test (DB_CONNECT_TIMEOUT_SECONDS).
BOUND = 1.0
#: Longer than the bound and any slack: an old hang fails the test here
#: instead of hanging it for the statements' 300 s.
NEVER = 15


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _server_processes(backend_pid: int) -> list[int]:
    """The postmaster of `backend_pid` first, then each of its children
    (each in a session of its own: no one process group holds them)."""
    try:
        postmaster = _parent(backend_pid)
    except OSError:
        pytest.skip("the test's PostgreSQL does not run on this machine")
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if _parent(int(entry)) == postmaster:
                    children.append(int(entry))
    return [postmaster, *children]


@contextlib.contextmanager
def frozen(backend_pid: int) -> Iterator[None]:
    """Every process of the server paused (SIGSTOP) while in the block, and
    always continued (SIGCONT) after it."""
    pids = _server_processes(backend_pid)
    stopped = []
    try:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
            except PermissionError:
                pytest.skip("not allowed to pause the test's PostgreSQL")
            except ProcessLookupError:
                continue
            stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def _backend_pid(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_request_on_a_frozen_server_is_503_within_the_connect_timeout(
    tmp_path: Path,
) -> None:
    async with testing.database_url("pg", tmp_path) as url:
        spec = ServiceSpec(
            name="steps-svc",
            prefix="/steps",
            title="steps",
            description="steps",
            migrations_dir=QUOTA_MIGRATIONS,
            routers=[],
        )
        settings = ServiceSettings(
            database_url=url,
            log_json=False,
            db_connect_timeout_seconds=BOUND,
            # Nothing in the background uses a connection meanwhile.
            outbox_sweep_seconds=3600,
            metrics_refresh_seconds=3600,
            db_warm_connections=0,
            db_spare_transactions=0,
        )
        app = create_app(spec, settings)
        admin = testing.auth("admin")
        async with testing.running(app) as c:
            db: Database = app.state.runtime.db
            assert (await c.get("/steps/admin/outbox", headers=admin)).status_code == 200
            backend = await _backend_pid(db)
            await asyncio.sleep(1.2)  # the pooled connections idle past their check's threshold
            with frozen(backend):
                for method, path, headers in (
                    ("GET", "/steps/admin/outbox", admin),
                    # A write's Idempotency-Key lookup, on the driver.
                    (
                        "POST",
                        "/steps/admin/dead-letters/987654321/discard",
                        {**admin, "Idempotency-Key": uuid.uuid4().hex},
                    ),
                ):
                    began = time.monotonic()
                    async with asyncio.timeout(NEVER):
                        r = await c.request(method, path, headers=headers)
                    took = time.monotonic() - began
                    assert r.status_code == 503, (path, r.status_code, r.text)
                    assert r.headers.get("retry-after"), path
                    assert r.headers["content-type"].startswith("application/problem+json")
                    # The check's bound, then a new connection's: each BOUND.
                    assert took < 3 * BOUND + 1, (path, took)
                # On the driver's own path too, as DatabaseUnreachable (transient).
                began = time.monotonic()
                with pytest.raises(DatabaseUnreachable) as failed:
                    async with asyncio.timeout(NEVER), db.driver() as raw:
                        await raw.fetchval("SELECT 1")
                assert is_transient(failed.value)
                assert time.monotonic() - began < 3 * BOUND + 1
            # The server continued: the next request is answered as ever.
            async with asyncio.timeout(NEVER):
                r = await c.get("/steps/admin/outbox", headers=admin)
            assert r.status_code == 200, r.text


async def test_a_lookup_sent_as_the_server_froze_does_not_hold_up_every_write(
    tmp_path: Path,
) -> None:
    """A connection used a moment ago is handed out unchecked (kept warm
    between uses, or back in the pool under a second): the write requests'
    Idempotency-Key lookups, which queue behind the one running
    (svc_common.batching.LookupsTogether), waited with it for the
    statements' own timeout. The lookup is bounded (`answer_within`): every
    write behind it is answered 503 within it."""
    async with testing.database_url("pg", tmp_path) as url:
        spec = ServiceSpec(
            name="steps-svc",
            prefix="/steps",
            title="steps",
            description="steps",
            migrations_dir=QUOTA_MIGRATIONS,
            routers=[],
        )
        settings = ServiceSettings(
            database_url=url,
            log_json=False,
            db_connect_timeout_seconds=BOUND,
            db_lock_timeout_seconds=BOUND,
            outbox_sweep_seconds=3600,
            metrics_refresh_seconds=3600,
        )
        app = create_app(spec, settings)
        admin = testing.auth("admin")
        async with testing.running(app) as c:
            db: Database = app.state.runtime.db
            assert db.answer_within == BOUND
            backend = await _backend_pid(db)

            def discard() -> Any:
                headers = {**admin, "Idempotency-Key": uuid.uuid4().hex}
                return c.post(
                    "/steps/admin/dead-letters/987654321/discard",
                    json={"reason": "a test"},
                    headers=headers,
                )

            assert (await discard()).status_code == 404  # a connection used, kept warm
            with frozen(backend):
                began = time.monotonic()
                async with asyncio.timeout(NEVER):
                    answers = await asyncio.gather(*(discard() for _ in range(5)))
                took = time.monotonic() - began
                assert [r.status_code for r in answers] == [503] * 5, [r.text for r in answers]
                assert all(r.headers.get("retry-after") for r in answers)
                assert took < 3 * BOUND + 1, took
            async with asyncio.timeout(NEVER):
                assert (await discard()).status_code == 404
