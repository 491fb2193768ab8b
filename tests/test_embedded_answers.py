"""The embedded default's own answers (the paths no single service owns)
carry the security headers every service's and the console's answers do."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bureau.embedded import Embedded


async def test_the_embedded_apps_own_answers_cannot_be_framed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded = Embedded(tmp_path, log_json=False)
    async with (
        embedded.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=embedded), base_url="http://testserver"
        ) as c,
    ):

        async def down() -> bool:
            return False

        monkeypatch.setattr(embedded.apps["/eia"].state.runtime.db, "ping", down)
        answers = [
            await c.get("/nowhere"),
            await c.get("/"),
            await c.get("/metrics"),
            await c.get("/ready"),
            await c.get("/quota/health"),
        ]
        assert [r.status_code for r in answers] == [404, 307, 200, 503, 200]
        for r in answers:
            assert r.headers["x-frame-options"] == "DENY", r.url
            assert r.headers["x-content-type-options"] == "nosniff", r.url
            assert r.headers["referrer-policy"] == "same-origin", r.url
