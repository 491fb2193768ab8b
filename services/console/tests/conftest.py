"""Console test fixtures: the embedded default as a real server process with
the demonstration data loaded through its API (once per session), and the
console app alone in-process for the cookie and sign-in tests."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from svc_common import testing

from bureau.stack import EmbeddedServer

ROOT = Path(__file__).resolve().parents[3]
#: Where the browser tests leave their screenshots (CI keeps them).
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / ".local" / "test-artifacts"))


Server = EmbeddedServer


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The embedded default with the demonstration data (宝坻区 scaled down to
    keep the session short: the pages and actions are the same)."""
    from bureau.client import Api
    from bureau.demo import Demo

    base = tmp_path_factory.mktemp("console-demo")
    server = Server(base / "data", base / "server.log").start()
    try:
        api = Api(server.url)
        try:
            Demo(api, baodi_permits=40, baodi_registrations=200, say=lambda _: None).run()
        finally:
            api.close()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = ARTIFACTS / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def receive_complaint(url: str, description: str, address: str) -> dict[str, Any]:
    """A complaint of 蓟州区 received now through supervision-svc's API, as
    the 12369 platform's machine client posts one (a test's own: the
    demonstration's stay as they are for the other tests)."""
    body = {
        "channel": "web",
        "received_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
        "district": "120119",
        "address": address,
        "category": "water",
        "description": description,
    }
    headers = testing.auth("filer", sub="console-test-12369", idem=str(uuid.uuid4()))
    r = httpx.post(f"{url}/supervision/complaints", json=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    complaint: dict[str, Any] = r.json()["complaint"]
    return complaint
