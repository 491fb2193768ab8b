"""The missed-report list (逾期未报): the periods the permits in force of
the user's districts owe an execution report (排污许可证执行报告) for
whose due date has passed with none filed, as permit-svc lists them
(GET /permit/execution-reports/missed, the user's token: an officer sees
its districts'), a page at a time, of one district when the form asks,
judged on the day the form asks (`as_of`, a Beijing day; today by
default)."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from svc_common.districts import DISTRICTS

from console.api import ApiError, Services
from console.auth.users import User
from console.companies import company_names
from console.deps import services, signed_in
from console.filters import repeated_filters
from console.listing import ListPage, list_page
from console.pages.execution_reports.views import MISSED_SHOWN, missed_rows
from console.pages.reports.views import district_of
from console.web import render, render_with_failure, today_beijing

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
    # The day overdue is judged on (a Beijing day, YYYY-MM-DD; today when
    # none is typed), passed on to permit-svc as typed: its refusal is said
    # beside the field.
    as_of: str = Query("", max_length=40),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The missed periods, by permit then period (`MISSED_SHOWN` a page,
    the next page's link below them, its district and day kept), each
    enterprise by name, judged on `as_of`. A district refused, or a day
    given twice, is said beside its field (422), nothing asked; a day
    permit-svc refuses (its 422 naming `as_of`) is said beside that field
    in its words; permit-svc failing otherwise leaves a note where the
    list would be, with the page's status saying so (503 with Retry-After,
    502), never an empty list."""
    visible = [d for d in DISTRICTS if not user.districts or d in user.districts]
    code, problems = district_of(request.query_params.getlist("district")[:20], visible)
    problems |= repeated_filters({"as_of": request.query_params.getlist("as_of")[:20]})
    # Digits typed full-width, or spaces around the day, are read as the day.
    day = unicodedata.normalize("NFKC", as_of).strip() or today_beijing().isoformat()
    filters = {"district": code, "as_of": day}
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
                filters=filters,
            )
            rows = missed_rows(links.items)
        except ApiError as exc:
            if exc.status == 401:
                raise  # the session ended: sign in again
            refused = [e for e in exc.field_errors if e.get("field") == "as_of"]
            if exc.status == 422 and refused:
                problems["as_of"] = str(refused[0].get("message") or exc.said())
            else:
                failed = exc
        usccs = [str(r["uscc"]) for r in rows if r.get("uscc")]
        names = await company_names(api, user.token, usccs) if usccs else {}
    context = {
        "rows": rows,
        "names": names,
        "district": code,
        "district_choices": visible,
        "as_of": day,
        "problems": problems,
        "first_href": PAGE + "?" + urlencode({k: v for k, v in filters.items() if v}),
        "missed_error": failed.said() if failed else None,
        **links.links(),
    }
    if problems:
        return render(request, "execution_reports/index.html", status_code=422, **context)
    return render_with_failure(request, "execution_reports/index.html", failed, **context)
