"""The register learns industry codes in the one form (GB/T 4754 with its
section letter) whichever form an event carries: events written before the
change say "2641", which reads as "C2641"; rows learned before are migrated."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from supervision_svc.app import create
from supervision_svc.settings import Settings
from svc_common import testing
from svc_common.events.schemas import permit as pev
from svc_common.migrate import upgrade
from svc_common.types import UTCDateTime
from svc_common.uscc import make_uscc

from .conftest import AUDITOR, DONGLI, T0, Service

MIGRATIONS = pathlib.Path(__file__).parents[1] / "src/supervision_svc/migrations"


async def test_events_in_either_form_are_learned_in_one(svc: Service) -> None:
    old, imported = make_uscc(DONGLI, 1), make_uscc(DONGLI, 2)
    # Built without validation: exactly what a producer before the change sent.
    await testing.deliver(
        svc.app,
        pev.EnterpriseRegistered.model_construct(
            uscc=old,
            name="旧事件企业",
            district=DONGLI,
            industry_code="2641",
            category="key",
            operating_status="operating",
            address="",
            updated_at=T0,
        ),
    )
    await testing.deliver(
        svc.app,
        pev.EnterprisesImported.model_construct(
            batch_id="b1",
            updated_at=T0,
            fields=list(pev.ENTERPRISE_ROW_FIELDS),
            rows=[[imported, "导入企业", DONGLI, "3311", "registration", "operating", ""]],
        ),
    )
    for uscc, code in ((old, "C2641"), (imported, "C3311")):
        r = await svc.http.get(f"/supervision/enterprises/{uscc}", headers=AUDITOR)
        assert r.status_code == 200, r.text
        assert r.json()["industry_code"] == code


async def test_rows_learned_before_are_migrated(db_url: str) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, db_url, "common_v2")
    engine = create_async_engine(db_url)
    uscc = make_uscc(DONGLI, 3)
    enterprises = sa.table(
        "enterprises",
        *(
            sa.column(c, sa.String)
            for c in ("uscc", "name", "district", "industry_code", "category", "address")
        ),
        sa.column("operating_status", sa.String),
        sa.column("learned_at", UTCDateTime),
    )
    async with engine.begin() as c:
        await c.execute(
            enterprises.insert().values(
                uscc=uscc,
                name="x",
                district=DONGLI,
                industry_code="2641",
                category="key",
                address="",
                operating_status="operating",
                learned_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )
    await engine.dispose()
    app = create(Settings(database_url=db_url, log_json=False, log_level="WARNING"))
    async with testing.running(app) as http:
        r = await http.get(f"/supervision/enterprises/{uscc}", headers=AUDITOR)
        assert r.json()["industry_code"] == "C2641"
