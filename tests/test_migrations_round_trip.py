"""Every service's migrations go up to head, down to before the common
tables' third step (through any later step of the service's own) and up
again on PostgreSQL, and the outbox's partial indexes of unsent rows, its
pages' fill and its indexes at head (no whole index by key) come and go
with them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from svc_common import testing
from svc_common.common_migration import OUTBOX_FILLFACTOR
from svc_common.migrate import alembic_config

pytestmark = pytest.mark.pg

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["eia-svc", "permit-svc", "quota-svc", "supervision-svc"]
UNSENT = {"ix_outbox_unsent_seq", "ix_outbox_unsent_key_seq"}
#: The outbox's indexes at head: its keys, the unsent rows', the sweep's.
AT_HEAD = {"outbox_pkey", "outbox_event_id_key", "ix_outbox_unsent"} | UNSENT


async def _outbox_fillfactor(url: str) -> str | None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        options = await conn.fetchval("SELECT reloptions FROM pg_class WHERE relname = 'outbox'")
    finally:
        await conn.close()
    return next((o for o in options or [] if o.startswith("fillfactor=")), None)


async def _outbox_indexes(url: str) -> set[str]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'outbox'")
    finally:
        await conn.close()
    return {r["indexname"] for r in rows}


@pytest.mark.parametrize("service", SERVICES)
async def test_up_down_and_up_again(service: str, tmp_path: Path) -> None:
    package = service.replace("-", "_")
    migrations = ROOT / "services" / service / "src" / package / "migrations"
    async with testing.database_url("pg", tmp_path) as url:
        cfg = alembic_config(migrations, url)
        await asyncio.to_thread(command.upgrade, cfg, "head")
        assert await _outbox_indexes(url) == AT_HEAD
        assert await _outbox_fillfactor(url) == f"fillfactor={OUTBOX_FILLFACTOR}"
        await asyncio.to_thread(command.downgrade, cfg, "common_v6")
        assert await _outbox_indexes(url) == AT_HEAD | {"ix_outbox_key_seq"}
        await asyncio.to_thread(command.downgrade, cfg, "common_v3-1")
        assert not UNSENT & await _outbox_indexes(url)
        assert await _outbox_fillfactor(url) is None
        await asyncio.to_thread(command.upgrade, cfg, "head")
        assert await _outbox_indexes(url) == AT_HEAD
        assert await _outbox_fillfactor(url) == f"fillfactor={OUTBOX_FILLFACTOR}"
