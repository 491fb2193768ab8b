"""The missed-report list (逾期未报): the periods the permits in force of
the user's districts owe an execution report (排污许可证执行报告) for
whose due date has passed with none filed, as permit-svc lists them
(GET /permit/execution-reports/missed, the user's token: an officer sees
its districts'), a page at a time, of one district when the form asks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from svc_common.districts import DISTRICTS

from console.api import ApiError, Services
from console.auth.users import User
from console.companies import company_names
from console.deps import services, signed_in
from console.listing import ListPage, list_page
from console.pages.execution_reports.views import MISSED_SHOWN, missed_rows
from console.pages.reports.views import district_of
from console.web import render, render_with_failure

router = APIRouter(prefix="/console/execution-reports")
#: The supervising roles (permit-svc lets investment staff read the list
#: too; the console keeps it with the other supervision pages).
ROLES = ("officer", "admin", "auditor")
PAGE = "/console/execution-reports/"


@router.get("/")
async def missed(
    request: Request,
    # One of the user's districts ("" for all of them); read from the
    # address by `district_of` (a district given twice picks none).
    district: str = Query("", max_length=40),
    # A page's link (permit-svc's `next_cursor`), passed on as it is: one
    # it does not take is its 422, said where the list would be.
    cursor: str = Query("", max_length=500),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The missed periods, by permit then period (`MISSED_SHOWN` a page,
    the next page's link below them), each enterprise by name. A district
    refused is said beside its field (422), nothing asked; permit-svc
    failing leaves a note where the list would be, with the page's status
    saying so (503 with Retry-After, 502), never an empty list."""
    visible = [d for d in DISTRICTS if not user.districts or d in user.districts]
    code, problems = district_of(request.query_params.getlist("district")[:20], visible)
    failed: ApiError | None = None
    rows: list[dict[str, Any]] = []
    links = ListPage([], not cursor, None)
    names: dict[str, str] = {}
    if not problems:
        try:
            links = await list_page(
                api,
                user.token,
                "permit",
                "/permit/execution-reports/missed",
                page=PAGE,
                cursor=cursor,
                limit=MISSED_SHOWN,
                filters={"district": code},
            )
            rows = missed_rows(links.items)
        except ApiError as exc:
            if exc.status == 401:
                raise  # the session ended: sign in again
            failed = exc
        usccs = [str(r["uscc"]) for r in rows if r.get("uscc")]
        names = await company_names(api, user.token, usccs) if usccs else {}
    context = {
        "rows": rows,
        "names": names,
        "district": code,
        "district_choices": visible,
        "problems": problems,
        "first_href": PAGE + (f"?district={code}" if code else ""),
        "missed_error": failed.said() if failed else None,
        **links.links(),
    }
    if problems:
        return render(request, "execution_reports/index.html", status_code=422, **context)
    return render_with_failure(request, "execution_reports/index.html", failed, **context)
