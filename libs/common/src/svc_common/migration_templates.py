"""Migrated template databases for the tests (the root conftest installs
them; nothing in production uses this module).

Every test that starts a service's app hands its lifespan an empty database,
which the lifespan migrates from nothing to head: a second or more of the
suite for each of its thousands of app starts. Here the first such migration
in a pytest process is kept as a template, per migrations folder (keyed by
the hash of its files and of the modules they import from the service and
svc_common) and dialect, and a later empty database asking for head becomes
a copy of it instead: SQLite through the backup API (page for page, under
SQLite's own locking, so its WAL and journal stay consistent), PostgreSQL
(only when TEST_PG_TEMPLATES=1, see PG_SWITCH) by dropping the database and
creating it again from the template. A database
that holds anything (a migration test that stopped at an older revision and
inserted rows) and any revision but head go through Alembic as before.

Rows that a migration seeds carry the clock's time (quota-svc's default
air-quality ratios' `set_at`), which a ledger refuses to find later than
now: under a manual clock the template is also keyed by the clock's time, so
a copy holds what a migration at that moment would have written; under the
system clock a copy holds an earlier time, as a database migrated at an
earlier start would.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import hashlib
import importlib.util
import itertools
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import URL, make_url

from svc_common import clock, migrate

#: Set to 1 to migrate every test database from nothing (no templates).
SWITCH = "TEST_MIGRATE_FROM_SCRATCH"
#: Set to 1 to copy PostgreSQL templates too. Off by default: a copy costs
#: the server about what creating the empty database did (0.35-0.45 s of
#: CPU), more than migrating it saves on both sides.
PG_SWITCH = "TEST_PG_TEMPLATES"
#: The PostgreSQL templates' names start with this, then the process id.
PG_PREFIX = "tmpl_"

T = TypeVar("T")


def schema_key(migrations_dir: Path) -> str:
    """A hash of what decides the schema a migration to head builds: the
    migrations folder's files and the first-party modules they import (the
    common tables' steps, column types, code tables, the models env.py reads)."""
    package = migrations_dir.parent.name
    h = hashlib.sha256()
    modules: set[str] = set()
    for path in sorted(migrations_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        data = path.read_bytes()
        h.update(str(path.relative_to(migrations_dir)).encode() + b"\0" + data + b"\0")
        if path.suffix == ".py":
            modules |= _imports(data, first_party=("svc_common", package))
    for module in sorted(modules):
        for source in _sources(module):
            h.update(module.encode() + b"\0" + source.read_bytes() + b"\0")
    return h.hexdigest()


def _imports(source: bytes, first_party: tuple[str, ...]) -> set[str]:
    """The modules a file imports from `first_party` packages: for `from a
    import b` both a and a.b (b may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in first_party}


def _sources(module: str) -> list[Path]:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return []
    origin = Path(spec.origin)
    if spec.submodule_search_locations is not None and origin.name == "__init__.py":
        # A package (models split in modules): all of it.
        return sorted(p for p in origin.parent.rglob("*.py") if "__pycache__" not in p.parts)
    return [origin]


class Templates:
    """The templates of one pytest process. `upgrade` stands in for
    svc_common.migrate.upgrade; `close` drops what it made."""

    def __init__(self, pg_admin_url: Callable[[], str | None], *, pg: bool = True) -> None:
        self._pg_admin_url = pg_admin_url
        self._use_pg = pg
        self._dir: Path | None = None
        #: (schema key, dialect, server, clock key) -> the template's file or name.
        self._made: dict[tuple[str, str, str, str], str] = {}
        self._lock = threading.Lock()
        self._serial = itertools.count()
        self._db_locks: dict[str, threading.Lock] = {}
        #: How many databases were copied and migrated (for the tests of this).
        self.copied = 0
        self.migrated = 0

    # -- the stand-ins -------------------------------------------------------

    def upgrade(self, migrations_dir: Path, database_url: str, revision: str = "head") -> None:
        if revision != "head":
            migrate.upgrade(migrations_dir, database_url, revision)
            return
        url = make_url(database_url)
        with self._db_lock(database_url):
            if url.get_backend_name() == "sqlite":
                self._sqlite(migrations_dir, database_url, url)
            elif url.get_backend_name() == "postgresql" and self._use_pg:
                self._pg(migrations_dir, database_url, url)
            else:
                migrate.upgrade(migrations_dir, database_url)

    async def upgrade_async(self, migrations_dir: Path, database_url: str) -> None:
        await asyncio.to_thread(self.upgrade, migrations_dir, database_url)

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, {}
        pg = [(server, name) for (_k, dialect, server, _c), name in made.items() if dialect == "pg"]
        for server, name in pg:
            # The server may have gone first: it is a throwaway one.
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                _run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- SQLite --------------------------------------------------------------

    def _sqlite(self, migrations_dir: Path, database_url: str, url: URL) -> None:
        db = url.database
        if not db or db == ":memory:" or db.startswith("file:") or url.query:
            migrate.upgrade(migrations_dir, database_url)
            return
        path = Path(db)
        if not _sqlite_empty(path):
            migrate.upgrade(migrations_dir, database_url)
            return
        key = (schema_key(migrations_dir), "sqlite", "", _clock_key())
        template = self._made.get(key)
        if template is not None:
            _sqlite_copy(Path(template), path)
            self.copied += 1
            return
        migrate.upgrade(migrations_dir, database_url)
        self.migrated += 1
        target = self._tmp_dir() / f"{next(self._serial)}-{key[0][:16]}.db"
        _sqlite_copy(path, target)
        with self._lock:
            self._made[key] = str(target)

    def _tmp_dir(self) -> Path:
        with self._lock:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="migration-templates-"))
            return self._dir

    # -- PostgreSQL ----------------------------------------------------------

    def _pg(self, migrations_dir: Path, database_url: str, url: URL) -> None:
        admin_url = self._pg_admin_url()
        admin = make_url(admin_url) if admin_url else None
        if (
            admin_url is None
            or admin is None
            or (url.host, url.port, url.username) != (admin.host, admin.port, admin.username)
            or not url.database
            or url.database == admin.database
            or url.database.startswith(PG_PREFIX)
        ):
            migrate.upgrade(migrations_dir, database_url)
            return
        key = (schema_key(migrations_dir), "pg", admin_url, _clock_key())
        template = self._made.get(key)
        if template is not None and _run(
            _pg_copy(_asyncpg_dsn(url), admin_url, url.database, template)
        ):
            self.copied += 1
            return
        empty = _run(_pg_empty(_asyncpg_dsn(url)))
        migrate.upgrade(migrations_dir, database_url)
        if not empty or template is not None:
            return
        self.migrated += 1
        name = f"{PG_PREFIX}{os.getpid()}_{next(self._serial)}_{key[0][:16]}"
        try:
            _run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"'))
            _run(_admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"', True))
        except asyncpg.PostgresError:
            return  # something is connected to it: no template this time
        with self._lock:
            self._made[key] = name

    def _db_lock(self, database_url: str) -> threading.Lock:
        """Replicas started together on one database take turns here (the
        first migrates or copies, the others find it done)."""
        with self._lock:
            return self._db_locks.setdefault(database_url, threading.Lock())


def _clock_key() -> str:
    """The manual clock's time, if one is installed (a test's, usually at
    the same start): a migration's seeded rows carry it."""
    manual = clock.manual()
    return "" if manual is None else manual.now().isoformat()


def _sqlite_empty(path: Path) -> bool:
    if not path.exists():
        return not any(Path(f"{path}{s}").exists() for s in ("-wal", "-journal"))
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return bool(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0)
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # whatever it is, Alembic shall see it


def _sqlite_copy(source: Path, target: Path) -> None:
    """Page for page through SQLite (the target's WAL or journal, and any
    connection open on it, stay consistent; a plain file copy would not)."""
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, also where an event
    loop runs in this thread (then in a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _strategy(conn: asyncpg.Connection) -> str:
    """Copy the files, not each page through the WAL (PostgreSQL 15's
    default): a tenth of the server's CPU for a small database, whose price,
    a checkpoint, is small on the tests' cluster, which does not fsync."""
    return " STRATEGY FILE_COPY" if conn.get_server_version().major >= 15 else ""


async def _admin(admin_url: str, sql: str, copy: bool = False) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql + _strategy(conn) if copy else sql)
    finally:
        await conn.close()


async def _pg_empty(dsn: str) -> bool:
    """No relation, type or function of its own and no schema but public."""
    conn = await asyncpg.connect(dsn)
    try:
        owned = await conn.fetchval(
            """
            SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                      AND n.nspname NOT LIKE 'pg_toast%')
                 + (SELECT count(*) FROM pg_namespace
                    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
                      AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%')
                 + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = 'public')
                 + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                    WHERE n.nspname = 'public')
            """
        )
    finally:
        await conn.close()
    return bool(owned == 0)


async def _pg_copy(dsn: str, admin_url: str, name: str, template: str) -> bool:
    """Make the empty database `name` a copy of `template`: drop it and create
    it again from the template, if nothing but this would notice (nobody
    connected, owned by the admin user, no grants or settings of its own,
    the template's encoding and locale). False, and the database as it was,
    otherwise."""
    if not await _pg_empty(dsn):
        return False
    conn = await asyncpg.connect(admin_url)
    try:
        same = await conn.fetchval(
            """
            SELECT d.datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)
               AND d.datacl IS NULL
               AND NOT EXISTS (SELECT 1 FROM pg_db_role_setting s WHERE s.setdatabase = d.oid)
               AND (d.encoding, d.datcollate, d.datctype) = (t.encoding, t.datcollate, t.datctype)
            FROM pg_database d, pg_database t
            WHERE d.datname = $1 AND t.datname = $2
            """,
            name,
            template,
        )
        if not same:
            return False
        try:
            # Refused while anyone is connected (after waiting a few seconds
            # for closing sessions to go), and then the database is untouched.
            await conn.execute(f'DROP DATABASE "{name}"')
        except asyncpg.PostgresError:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{_strategy(conn)}')
        except asyncpg.PostgresError:
            await conn.execute(f'CREATE DATABASE "{name}"')
            return False
        return True
    finally:
        await conn.close()
