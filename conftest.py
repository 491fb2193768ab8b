"""Shared pytest set-up: see svc_common.testing for the real-server fixtures."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Iterator

import pytest
from svc_common import i18n, testing


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first: `make test` runs the suite on two
    workers (pytest-xdist), which take tests in this order, so the longest
    start early and the run does not end with one worker busy alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Rules and handlers called directly speak English in tests (a request
    picks its language from Accept-Language; the test client asks for en)."""
    with i18n.use("en"):
        yield


@pytest.fixture(params=["sqlite", "pg"])
async def db_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    """A fresh database of each kind: the test runs on SQLite and on PostgreSQL."""
    async with testing.database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def pg_url(tmp_path: pathlib.Path) -> AsyncIterator[str]:
    async with testing.database_url("pg", tmp_path) as url:
        yield url
