"""The tests' migrated templates (svc_common.migration_templates): an empty
database asked to go to head becomes a copy of the first one migrated; one
that holds anything, or a revision but head, goes through Alembic."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from svc_common import clock, testing
from svc_common.migrate import upgrade
from svc_common.migration_templates import Templates, schema_key

ENV = (
    "from sqlalchemy import MetaData\n"
    "from svc_common.migrate import run_env\n\n"
    "run_env(MetaData())\n"
)


def _step(rev: str, down: str | None, body: str) -> str:
    return (
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade() -> None:\n{body}\n\n\ndef downgrade() -> None:\n    pass\n"
    )


FIRST = _step(
    "0001",
    None,
    "    t = op.create_table('things', sa.Column('id', sa.Integer, primary_key=True),"
    " sa.Column('name', sa.String(20)))\n"
    "    op.bulk_insert(t, [{'id': 1, 'name': 'seeded'}])",
)
SECOND = _step(
    "0002", "0001", "    op.add_column('things', sa.Column('colour', sa.String(10), nullable=True))"
)


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    d = tmp_path / "fake_svc" / "migrations"
    (d / "versions").mkdir(parents=True)
    (d / "env.py").write_text(ENV)
    (d / "versions" / "0001_things.py").write_text(FIRST)
    (d / "versions" / "0002_colour.py").write_text(SECOND)
    return d


@pytest.fixture
def templates() -> Iterator[Templates]:
    t = Templates(lambda: os.environ.get("TEST_PG_ADMIN_URL") or None)
    yield t
    t.close()


def _sqlite_url(tmp_path: Path, name: str) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/{name}.db"


def _sqlite_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(url.split("///", 1)[1])
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def _pg_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_an_empty_sqlite_database_is_a_copy_of_the_first_migrated(
    migrations: Path, templates: Templates, tmp_path: Path
) -> None:
    first, second = _sqlite_url(tmp_path, "first"), _sqlite_url(tmp_path, "second")
    await templates.upgrade_async(migrations, first)
    assert (templates.migrated, templates.copied) == (1, 0)
    await templates.upgrade_async(migrations, second)
    assert (templates.migrated, templates.copied) == (1, 1)
    for url in (first, second):
        assert _sqlite_rows(url, "SELECT version_num FROM alembic_version") == [("0002",)]
        assert _sqlite_rows(url, "SELECT id, name, colour FROM things") == [(1, "seeded", None)]
    # A copy is a database of its own.
    conn = sqlite3.connect(second.split("///", 1)[1])
    conn.execute("INSERT INTO things (id, name) VALUES (2, 'mine')")
    conn.commit()
    conn.close()
    assert _sqlite_rows(first, "SELECT count(*) FROM things") == [(1,)]


async def test_a_database_holding_rows_is_migrated_by_alembic(
    migrations: Path, templates: Templates, tmp_path: Path
) -> None:
    await templates.upgrade_async(migrations, _sqlite_url(tmp_path, "template"))
    url = _sqlite_url(tmp_path, "old")
    await asyncio.to_thread(upgrade, migrations, url, "0001")
    conn = sqlite3.connect(url.split("///", 1)[1])
    conn.execute("INSERT INTO things (id, name) VALUES (7, 'written at 0001')")
    conn.commit()
    conn.close()
    await templates.upgrade_async(migrations, url)
    assert templates.copied == 0
    assert _sqlite_rows(url, "SELECT id, colour FROM things ORDER BY id") == [
        (1, None),
        (7, None),
    ]
    assert _sqlite_rows(url, "SELECT version_num FROM alembic_version") == [("0002",)]


async def test_a_revision_but_head_is_never_a_copy(
    migrations: Path, templates: Templates, tmp_path: Path
) -> None:
    await templates.upgrade_async(migrations, _sqlite_url(tmp_path, "template"))
    url = _sqlite_url(tmp_path, "older")
    await asyncio.to_thread(templates.upgrade, migrations, url, "0001")
    assert templates.copied == 0
    assert _sqlite_rows(url, "SELECT version_num FROM alembic_version") == [("0001",)]


async def test_a_changed_migration_is_run_not_copied_from_before(
    migrations: Path, templates: Templates, tmp_path: Path
) -> None:
    before = schema_key(migrations)
    await templates.upgrade_async(migrations, _sqlite_url(tmp_path, "before"))
    (migrations / "versions" / "0002_colour.py").write_text(SECOND.replace("'colour'", "'shade'"))
    assert schema_key(migrations) != before
    url = _sqlite_url(tmp_path, "after")
    await templates.upgrade_async(migrations, url)
    assert (templates.migrated, templates.copied) == (2, 0)
    assert [r[1] for r in _sqlite_rows(url, "PRAGMA table_info(things)")] == [
        "id",
        "name",
        "shade",
    ]


def test_the_key_follows_the_first_party_modules_the_migrations_import(
    migrations: Path,
) -> None:
    """The common tables' steps live in svc_common, not in the folder."""
    plain = schema_key(migrations)
    (migrations / "versions" / "0002_colour.py").write_text(
        "from svc_common.common_migration import create_common_tables_v1\n" + SECOND
    )
    with_import = schema_key(migrations)
    (migrations / "versions" / "0002_colour.py").write_text(
        "from svc_common.calendar import local_date\n" + SECOND
    )
    assert len({plain, with_import, schema_key(migrations)}) == 3


async def test_under_a_manual_clock_a_copy_holds_the_time_a_migration_would_write(
    migrations: Path, templates: Templates, tmp_path: Path
) -> None:
    """quota-svc seeds its default ratios stamped with the clock's time; a
    ledger refuses a time later than now."""
    (migrations / "versions" / "0003_stamp.py").write_text(
        _step(
            "0003",
            "0002",
            "    from svc_common.clock import now\n"
            "    t = op.create_table('stamps', sa.Column('at', sa.String(40)))\n"
            "    op.bulk_insert(t, [{'at': now().isoformat()}])",
        )
    )
    stamps: list[object] = []
    for i, start in enumerate(["2026-12-07T06:00:00", "2026-03-01T01:00:00"] * 2):
        url = _sqlite_url(tmp_path, f"at-{i}")
        with clock.using(clock.ManualClock(dt.datetime.fromisoformat(start + "+00:00"))):
            await templates.upgrade_async(migrations, url)
        stamps += _sqlite_rows(url, "SELECT at FROM stamps")
    assert (templates.migrated, templates.copied) == (2, 2)
    assert [str(s[0])[:19] for s in stamps] == [
        "2026-12-07T06:00:00",
        "2026-03-01T01:00:00",
    ] * 2


@pytest.mark.pg
async def test_an_empty_pg_database_is_a_copy_and_one_holding_rows_is_migrated(
    migrations: Path, templates: Templates, tmp_path: Path
) -> None:
    async with (
        testing.database_url("pg", tmp_path) as first,
        testing.database_url("pg", tmp_path) as second,
        testing.database_url("pg", tmp_path) as old,
    ):
        await templates.upgrade_async(migrations, first)
        await templates.upgrade_async(migrations, second)
        assert (templates.migrated, templates.copied) == (1, 1)
        for url in (first, second):
            assert await _pg_rows(url, "SELECT version_num FROM alembic_version") == [("0002",)]
            assert await _pg_rows(url, "SELECT id, name, colour FROM things") == [
                (1, "seeded", None)
            ]

        await asyncio.to_thread(upgrade, migrations, old, "0001")
        await _pg_rows(old, "INSERT INTO things (id, name) VALUES (7, 'written at 0001')")
        await templates.upgrade_async(migrations, old)
        assert templates.copied == 1
        assert await _pg_rows(old, "SELECT id FROM things ORDER BY id") == [(1,), (7,)]
