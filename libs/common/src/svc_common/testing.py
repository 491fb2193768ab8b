"""Test helpers shared by every service's tests (loaded by the root conftest).

Integration tests run against the real PostgreSQL and Kafka that `make test`
starts; it exports TEST_PG_ADMIN_URL and TEST_KAFKA_BOOTSTRAP. Where they are
missing a test that needs them is skipped, except under REQUIRE_SERVERS=1 (set
by `make test`), where it fails: CI never passes by skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, MutableMapping
from typing import Any

import asyncpg
import httpx
import pytest
import structlog
from fastapi import FastAPI
from structlog.testing import capture_logs

from svc_common.auth import mint_token
from svc_common.settings import DEV_JWT_SECRET


def _missing(what: str) -> None:
    if os.environ.get("REQUIRE_SERVERS") == "1":
        pytest.fail(f"{what} is not set but REQUIRE_SERVERS=1: start the servers (make test)")
    pytest.skip(f"{what} not set: run under `make test` for the real server")


def tool(name: str) -> str:
    """The path of a command-line tool a test drives (shellcheck, promtool):
    skipped where it is missing, except under `make test` (REQUIRE_SERVERS=1),
    which installs it (scripts/test-deps.sh) and must not skip."""
    import shutil

    path = shutil.which(name)
    if path is None:
        if os.environ.get("REQUIRE_SERVERS") == "1":
            pytest.fail(f"{name} is not installed but REQUIRE_SERVERS=1 (scripts/test-deps.sh)")
        pytest.skip(f"{name} not installed: run under `make test`")
    return path


def pg_admin_url() -> str:
    url = os.environ.get("TEST_PG_ADMIN_URL")
    if not url:
        _missing("TEST_PG_ADMIN_URL")
    assert url
    return url


def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("TEST_KAFKA_BOOTSTRAP")
    if not bootstrap:
        _missing("TEST_KAFKA_BOOTSTRAP")
    assert bootstrap
    return bootstrap


@contextlib.contextmanager
def captured_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """structlog's `capture_logs`, whatever an earlier test on this worker
    configured: an app started with LOG_LEVEL=CRITICAL (the simulation's)
    filters a warning out before any processor sees it, so every level
    passes here. A module's logger first used before this keeps what it
    was configured with (cache_logger_on_first_use): give the test a fresh
    one (monkeypatch the module's `log`)."""
    saved = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)


async def create_pg_database(prefix: str = "t") -> str:
    """A new empty PostgreSQL database; returns its asyncpg SQLAlchemy URL."""
    admin = pg_admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(pg_admin_url())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def database_url(kind: str, tmp_dir: Any, prefix: str = "t") -> AsyncIterator[str]:
    """`kind` is "sqlite" or "pg"; yields a fresh database's URL."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_dir}/{prefix}-{uuid.uuid4().hex[:8]}.db"
        return
    url = await create_pg_database(prefix)
    try:
        yield url
    finally:
        await drop_pg_database(url)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run an app's lifespan and give an HTTP client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        # Tests read English messages unless they ask for Chinese (zh-CN is
        # what a client gets when it sends no Accept-Language).
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            headers={"Accept-Language": "en"},
        ) as client:
            yield client


#: The secret of tests that run the distributed mode (Kafka), which refuses
#: the public development secret.
DISTRIBUTED_SECRET = "envbureau-tests-distributed-secret-7f3c9a1e5b2d4f60"


def token(
    role: str,
    districts: Iterable[str] = (),
    sub: str | None = None,
    secret: str | None = None,
    uscc: str | None = None,
) -> str:
    return mint_token(
        secret or DEV_JWT_SECRET,
        sub=sub or f"{role}.test",
        role=role,
        districts=districts,
        uscc=uscc,
    )


def auth(
    role: str,
    districts: Iterable[str] = (),
    sub: str | None = None,
    *,
    secret: str | None = None,
    uscc: str | None = None,
    **headers: str,
) -> dict[str, str]:
    """Headers for a request as `role` (with an Idempotency-Key if given as idem=…),
    signed with the development secret or `secret`; a filer's token naming
    the enterprise `uscc`."""
    h = {"Authorization": f"Bearer {token(role, districts, sub, secret, uscc)}"}
    if "idem" in headers:
        h["Idempotency-Key"] = headers.pop("idem")
    h.update(headers)
    return h


def as_not_found(r: httpx.Response, *renamed: tuple[str, str]) -> bytes:
    """A 404's body as sent, for comparing two answers byte for byte: its
    `request_id` (one per request) blanked, and each (said, as) pair of
    `renamed` replaced (the id asked for, which the detail and `instance`
    name). Another district's record must read as one that does not exist
    (`Principal.require_found`)."""
    assert r.status_code == 404, r.text
    body = r.content
    request_id = r.json().get("request_id")
    if request_id:
        body = body.replace(request_id.encode(), b"")
    for said, as_ in renamed:
        body = body.replace(said.encode(), as_.encode())
    return body


async def deliver(app: FastAPI, payload: Any, **envelope_fields: Any) -> Any:
    """Push an event built from the shared schemas through a running app's
    inbox consumer, exactly as a transport would; returns the envelope (pass
    it to `redeliver` to test duplicates)."""
    from svc_common.outbox import build_envelope

    env = build_envelope(payload)
    if envelope_fields:
        env = env.model_copy(update=envelope_fields)
    await redeliver(app, env, payload.topic)
    return env


async def redeliver(app: FastAPI, env: Any, topic: str) -> None:
    consumer = app.state.runtime.consumer
    assert consumer is not None, "this service handles no events"
    await consumer.process(env.to_message(topic))


Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def figures(app: FastAPI, client: httpx.AsyncClient) -> Figures:
    """Refresh a running app's periodic figures now and scrape its own
    /metrics: {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    await app.state.metrics_refresher.refresh()
    r = await client.get(f"{app.state.spec.prefix}/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def figure(samples: Figures, name: str, **labels: str) -> float:
    """One sample's value; `service` is implied by the scrape and may be left out."""
    for (n, lbls), v in samples.items():
        if n == name and {k: v2 for k, v2 in lbls if k != "service"} == labels:
            return v
    raise KeyError(f"no sample {name}{labels}")


class TcpProxy:
    """A TCP proxy in front of a real server (PostgreSQL, Kafka) that a test
    can cut — every open connection reset, new ones refused — and restore:
    the client sees exactly what a restarting or unreachable server does."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut_off = False

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.cut_off = True
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.cut_off = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def via_proxy(url: str, proxy: TcpProxy) -> str:
    """`url` (a SQLAlchemy/PostgreSQL URL) rewritten to go through `proxy`."""
    from sqlalchemy.engine import make_url

    return (
        make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )


async def proxy_for(url: str) -> TcpProxy:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return await TcpProxy(u.host or "127.0.0.1", u.port or 5432).start()


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Poll `check()` every 20 ms until it is true or `seconds` have passed;
    whether it became true. For timers and background tasks on a loaded
    machine, where a fixed sleep races them: `assert await until(...)`, or
    the test's own assertion after it says what was wrong."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return True
        await asyncio.sleep(0.02)
    return bool(check())


async def sessions_left(
    url: str, pids: Iterable[int] | None = None, seconds: float = 5.0
) -> list[int]:
    """The other sessions (of `pids`, or any) still on the database of `url`
    once those closing have had up to `seconds` to go. A backend leaves
    pg_stat_activity a moment after its client closed the connection, so a
    look taken at once races it on a loaded machine; a session still open
    is there however long one waits."""
    wanted = set(pids) if pids is not None else None

    async def left() -> list[int]:
        found = [pid for _state, pid in await other_sessions(url)]
        return found if wanted is None else [p for p in found if p in wanted]

    for _ in range(int(seconds / 0.05)):
        if not await left():
            return []
        await asyncio.sleep(0.05)
    return await left()


async def other_sessions(url: str) -> list[tuple[str | None, int]]:
    """Every other session on the database of `url`, from a connection of
    its own: (state, pid) each, as pg_stat_activity shows them."""
    from sqlalchemy.pool import NullPool

    from svc_common.db import Database

    other = Database(url, poolclass=NullPool)
    try:
        async with other.driver() as conn:
            rows = await conn.fetch(
                "SELECT state, pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    finally:
        await other.dispose()
    return [(r[0], int(r[1])) for r in rows]


def wait_until_ready(proc: Any, url: str, log: Any, within: float = 60) -> httpx.Response:
    """The first 200 of GET `url` from the served process `proc` (a
    subprocess.Popen), polled until `within` seconds have passed; fails
    with the process's log (`log`, a Path) if it exits first."""
    deadline = time.monotonic() + within
    while True:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(httpx.HTTPError):
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
        assert time.monotonic() < deadline, f"{url} not ready within {within} s"
        time.sleep(0.1)


def first_not_ok(url: str, within: float = 1.5) -> tuple[int, Any] | str | None:
    """What GET `url` first answers other than 200 within `within` seconds:
    (status, JSON body), or the error that came instead (a refused
    connection, as its repr), or None if it kept answering 200. For a
    stopping replica's /ready, whose first refusal must be a 503 saying why."""
    until = time.monotonic() + within
    while time.monotonic() < until:
        try:
            r = httpx.get(url, timeout=2)
        except httpx.HTTPError as exc:
            return repr(exc)
        if r.status_code != 200:
            return r.status_code, r.json()
        time.sleep(0.05)
    return None


def stopped_gracefully(proc: Any, url: str, log: Any, within: float = 40) -> None:
    """The served process `proc`, sent SIGTERM, has ended as a graceful stop
    ends (uvicorn raises the signal it was sent once done, or exits 0), and
    GET `url` is refused: it listens no more. Fails with its log (a Path)."""
    proc.wait(timeout=within)
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return
    raise AssertionError(f"{url} still answered after the process ended")
