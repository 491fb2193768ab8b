"""eia-svc test fixtures: the app on a fresh database, tokens and sample data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from eia_svc.app import create
from eia_svc.settings import Settings
from fastapi import FastAPI
from svc_common import testing
from svc_common.uscc import check_character

JIZHOU = "120119"  # 蓟州区
BAODI = "120115"  # 宝坻区


def uscc(body17: str) -> str:
    """A well-formed credit code: 17 given characters plus their check character."""
    return body17 + check_character(body17)


ENTERPRISE = uscc("91120225MA05L8XK1")


@pytest.fixture
def make_app(db_url: str) -> Callable[..., FastAPI]:
    def make(**settings: Any) -> FastAPI:
        return create(Settings(database_url=db_url, log_json=False, **settings))

    return make


@pytest.fixture
async def client(make_app: Callable[..., FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(posthoc_sample_rate=0.0)
    async with testing.running(app) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


def registration(**over: Any) -> dict[str, Any]:
    body = {
        "project_name": "蓟州区社区卫生服务中心改造",
        "uscc": ENTERPRISE,
        "enterprise_name": "天津市蓟州区某医疗服务有限公司",
        "district": JIZHOU,
        "project_type": "Q8412",
        "vocs_increment_t": "0",
    }
    body.update(over)
    return body


def filing(**over: Any) -> dict[str, Any]:
    body = {
        "project_name": "蓟州区汽车零部件涂装线",
        "uscc": ENTERPRISE,
        "enterprise_name": "天津某汽车零部件有限公司",
        "district": JIZHOU,
        "project_type": "C3670",
        "category": "report_form",
        "vocs_increment_t": "1.5",
        "major_project": False,
    }
    body.update(over)
    return body


def filer(sub: str = "filer.a") -> dict[str, str]:
    return testing.auth("filer", sub=sub)


def officer(district: str = JIZHOU) -> dict[str, str]:
    return testing.auth("officer", [district], sub=f"officer.{district}")


def clerk(district: str = JIZHOU) -> dict[str, str]:
    """An officer who enters filings for applicants (代为提交): four eyes,
    another officer (`officer`) decides them."""
    return testing.auth("officer", [district], sub=f"clerk.{district}")


def admin() -> dict[str, str]:
    return testing.auth("admin")


async def events_of(app: FastAPI, event_type: str) -> list[dict[str, Any]]:
    """Payloads of the events this app wrote to its outbox, oldest first."""
    from sqlalchemy import select
    from svc_common.tables import OutboxRow

    async with app.state.runtime.db.session() as s:
        rows = await s.execute(
            select(OutboxRow.envelope)
            .where(OutboxRow.event_type == event_type)
            .order_by(OutboxRow.seq)
        )
        return [env["data"] for env in rows.scalars()]


async def count_rows(app: FastAPI, table: str) -> int:
    from sqlalchemy import text

    async with app.state.runtime.db.session() as s:
        return int((await s.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
