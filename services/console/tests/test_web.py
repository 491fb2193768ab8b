"""The console's shared rendering helpers (console.web), on a bare request:
no server, no services."""

from __future__ import annotations

import pytest
from console.api import ApiError
from console.settings import Settings
from console.web import render_with_failure
from fastapi import FastAPI
from starlette.requests import Request


def _request() -> Request:
    app = FastAPI()
    app.state.settings = Settings()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/console/alerts/",
        "query_string": b"",
        "headers": [],
        "session": {},
        "app": app,
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("failed", "status", "retry_after"),
    [
        (None, 200, None),
        # The service's refusal of what was asked is the page's own 4xx.
        (ApiError(422, {"detail": "污染物：不受理"}), 422, None),
        # A service that failed: a bad answer (502), said with no retry time.
        (ApiError(500, {}), 502, None),
        # A service out: 503 with its own Retry-After, or the console's.
        (ApiError(503, {}, retry_after="30"), 503, "30"),
        (ApiError(503, {}), 503, "5"),
    ],
)
def test_a_page_with_a_failed_read_says_it_by_its_status_and_headers(
    failed: ApiError | None, status: int, retry_after: str | None
) -> None:
    """Every page that shows what it could read (招商, 预警, the public
    register and verification) takes its status and Retry-After from the
    read that failed, through this one helper: a page that dropped them
    would be a 200 a monitor or a cache takes for the whole page."""
    r = render_with_failure(_request(), "error.html", failed, heading="标题", detail="说明")
    assert r.status_code == status
    assert r.headers.get("retry-after") == retry_after
    assert "说明" in bytes(r.body).decode()
