"""The complaints page (12369 环保投诉): the open complaints of the user's
districts as supervision-svc lists them (GET /supervision/complaints: an
officer's token sees its districts' complaints), the one due soonest first
with its statutory clock in Beijing days, and the problems reported more
than once ranked by attention (GET /supervision/complaints/clusters).
Reading only: a complaint is accepted, assigned, replied to and closed
through supervision-svc's API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from console.api import ApiError, Services
from console.auth.users import User
from console.companies import company_names
from console.deps import services, signed_in
from console.pages.complaints.views import (
    CLUSTERS_SHOWN,
    OPEN,
    category_label,
    clock_label,
    cluster_rows,
    open_rows,
    state_label,
)
from console.web import render_with_failure

router = APIRouter(prefix="/console/complaints")
#: supervision-svc's readers.
ROLES = ("officer", "admin", "auditor")
#: How many clusters are asked for: the best ranked, of which those with two
#: reports or more are shown (a complaint alone is a cluster of one).
CLUSTERS_ASKED = 200


async def _open_complaints(api: Services, user: User) -> list[Any]:
    found: list[Any] = []
    for status in OPEN:
        found += await api.all_pages(
            "supervision", "/supervision/complaints", token=user.token, params={"status": status}
        )
    return found


async def _clusters(api: Services, user: User) -> list[Any]:
    answer = await api.get(
        "supervision",
        "/supervision/complaints/clusters",
        token=user.token,
        params={"limit": CLUSTERS_ASKED},
    )
    if not isinstance(answer, list):
        raise ApiError(502, {})  # not the list it documents: a bad answer
    return answer


@router.get("/")
async def complaints(
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The open complaints, the one due soonest first, and the duplicate
    clusters by attention. supervision-svc failing leaves a note where a
    list would be, with the page's status saying so (503 with Retry-After,
    502), never an empty list."""
    failed: dict[str, ApiError] = {}
    rows: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    try:
        rows = open_rows(await _open_complaints(api, user))
    except ApiError as exc:
        if exc.status == 401:
            raise  # the session ended: sign in again
        failed["complaints"] = exc
    if not failed:  # a service that failed once is not asked again for the page
        try:
            clusters = cluster_rows(await _clusters(api, user))
        except ApiError as exc:
            if exc.status == 401:
                raise
            failed["clusters"] = exc
    # A complaint names its enterprise by USCC only: its name from
    # permit-svc, the code alone where that read fails.
    usccs = [str(x["uscc"]) for x in [*rows, *clusters] if x.get("uscc")]
    names = await company_names(api, user.token, usccs) if usccs else {}
    first = next(iter(failed.values()), None)
    return render_with_failure(
        request,
        "complaints/index.html",
        first,
        rows=rows,
        clusters=clusters,
        names=names,
        clusters_shown=CLUSTERS_SHOWN,
        complaints_error=failed["complaints"].said() if "complaints" in failed else None,
        clusters_error=first.said() if first else None,
        state_label=state_label,
        category_label=category_label,
        clock_label=clock_label,
    )
