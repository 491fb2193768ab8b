"""The alerts page (重污染天气预警): the heavy-pollution alerts in force in the
user's districts, and those about to begin, as supervision-svc lists them
(GET /supervision/alerts: an officer's token sees its districts' alerts),
each with its list of measures (减排措施清单) to download for the district
teams who call on the enterprises."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from svc_common.i18n import msg

from console.api import ApiError, Services, raise_for_problem
from console.auth.users import User
from console.deps import services, signed_in
from console.web import is_uuid, problem_page, render_with_failure

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
    return render_with_failure(
        request,
        "alerts/index.html",
        failed,
        in_force=lists.get("in_force", []),
        upcoming=lists.get("upcoming", []),
        alerts_error=failed.said() if failed else None,
    )


@router.get("/{alert_id}/measures.csv")
async def measures_csv(
    alert_id: str,
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The alert's measures (减排措施清单) as supervision-svc writes them
    (`GET /supervision/alerts/{id}/measures.csv`, UTF-8 with BOM): every
    affected enterprise of the user's districts with its required measure
    and why, and each district's expected reductions. A refusal (no such
    alert for this user, no measures table in force on its day) is the
    service's words on the console's error page; a service out, a 503."""
    if not is_uuid(alert_id):  # no alert's id: said without asking the service
        return problem_page(request, 404, msg("No such alert.", "没有该预警。"))
    # A refusal or an outage is an ApiError: the app's handler says it (a
    # 401 signs the user out), as for every page.
    r = await api.request(
        "GET", "supervision", f"/supervision/alerts/{alert_id}/measures.csv", token=user.token
    )
    raise_for_problem(r)
    headers = {}
    if "content-disposition" in r.headers:
        headers["content-disposition"] = r.headers["content-disposition"]
    media = r.headers.get("content-type", "text/csv; charset=utf-8")
    return Response(r.content, media_type=media, headers=headers)
