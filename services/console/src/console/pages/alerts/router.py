"""The alerts page (重污染天气预警): the heavy-pollution alerts in force in the
user's districts, and those about to begin, as supervision-svc lists them
(GET /supervision/alerts: an officer's token sees its districts' alerts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.api import ApiError, Services
from console.auth.users import User
from console.deps import services, signed_in
from console.web import render

router = APIRouter(prefix="/console/alerts")
#: supervision-svc's readers.
ROLES = ("officer", "admin", "auditor")
#: The states the page shows, in its order: in force first.
SHOWN = ("in_force", "upcoming")


async def _alerts(api: Services, user: User, state: str) -> list[Any]:
    return await api.all_pages(
        "supervision", "/supervision/alerts", token=user.token, params={"state": state}
    )


@router.get("/")
async def alerts(
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """In force and upcoming, each the latest start first. supervision-svc
    failing leaves a note where the lists would be, with the page's status
    saying so (503 with Retry-After, 502), never an empty list."""
    lists: dict[str, list[Any]] = {}
    failed: ApiError | None = None
    try:
        for state in SHOWN:
            lists[state] = await _alerts(api, user, state)
    except ApiError as exc:
        if exc.status == 401:
            raise  # the session ended: sign in again
        failed = exc
    response = render(
        request,
        "alerts/index.html",
        status_code=failed.page_status if failed else 200,
        in_force=lists.get("in_force", []),
        upcoming=lists.get("upcoming", []),
        alerts_error=failed.said() if failed else None,
    )
    if failed is not None:
        response.headers.update(failed.page_headers)
    return response
