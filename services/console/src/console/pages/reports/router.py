"""The supervision reports (监管统计): supervision-svc's three reports of
the user's districts (an officer's token reads its districts', a citywide
one the whole city's) — complaints (GET /supervision/reports/complaints)
and enforcement (…/enforcement) for a period of Beijing dates, this month
unless the form asks another, and the demands list as it stands
(…/demands) — as tables, each downloadable as .xlsx."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from svc_common.districts import DISTRICTS
from svc_common.i18n import msg

from console import sheets
from console.api import ApiError, Services
from console.auth.users import User
from console.deps import services, signed_in
from console.pages.reports.views import (
    CATEGORY_FIGURES,
    REPORTS,
    by_category,
    default_period,
    district_of,
    figures,
    period_of,
    scope_said,
    sheet,
)
from console.web import problem_page, render, render_with_failure, today_beijing

router = APIRouter(prefix="/console/reports")
#: supervision-svc's readers (an officer its districts').
ROLES = ("officer", "admin", "auditor")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _visible(user: User) -> list[str]:
    """The districts whose reports the user may read: its own, every one
    for a citywide token."""
    return [d for d in DISTRICTS if not user.districts or d in user.districts]


def _district(request: Request, user: User) -> tuple[str, dict[str, str]]:
    return district_of(request.query_params.getlist("district")[:20], _visible(user))


async def _read(
    api: Services, user: User, name: str, period: tuple[dt.date, dt.date], district: str = ""
) -> Mapping[str, Any]:
    r = REPORTS[name]
    params = {"from": period[0].isoformat(), "to": period[1].isoformat()} if r.period else {}
    if district:
        params["district"] = district
    report = await api.get("supervision", r.path, token=user.token, params=params or None)
    if not isinstance(report, Mapping):
        raise ApiError(502, {})  # not the report it documents: a bad answer
    return report


@router.get("/")
async def reports(
    request: Request,
    start: str = Query("", alias="from", max_length=40),
    end: str = Query("", alias="to", max_length=40),
    # One of the user's districts ("" for all of them); read from the
    # address by `_district` (a district given twice picks none).
    district: str = Query("", max_length=40),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The three reports for the period the form asks for (this month by
    default) and the district it asks for (all the user's by default),
    each a table with its download. A date or district refused is said
    beside its field (422), nothing asked; supervision-svc failing leaves a note
    where the tables would be, with the page's status saying so (503 with
    Retry-After, 502; its refusal of the period, its 422 beside the form),
    never an empty table: a service that failed once is not asked again."""
    period, problems = period_of(start, end, today_beijing())
    code, refused = _district(request, user)
    problems |= refused
    period = None if refused else period  # nothing is asked, nothing shown
    shown: dict[str, Mapping[str, Any]] = {}
    failed: ApiError | None = None
    if period is not None:
        for name in REPORTS:
            try:
                shown[name] = await _read(api, user, name, period, code)
            except ApiError as exc:
                if exc.status == 401:
                    raise  # the session ended: sign in again
                failed = exc
                break
    first, last = period or default_period(today_beijing())
    typed = {
        "from": start.strip() or first.isoformat(),
        "to": end.strip() or last.isoformat(),
        "district": code,
    }
    query = urlencode(
        {"from": first.isoformat(), "to": last.isoformat()} | ({"district": code} if code else {})
    )
    context = {
        "typed": typed,
        "district_choices": _visible(user),
        "problems": problems,
        "period": period,
        "reports": REPORTS,
        "shown": {n: figures(n, r) for n, r in shown.items()},
        "categories": by_category(shown.get("complaints", {})),
        "category_figures": CATEGORY_FIGURES,
        "scope": scope_said(next(iter(shown.values()), {}), [code] if code else user.districts),
        "download": {n: f"/console/reports/{n}.xlsx?{query}" for n in REPORTS},
        "reports_error": failed.said() if failed else None,
    }
    if problems:
        return render(request, "reports/index.html", status_code=422, **context)
    return render_with_failure(request, "reports/index.html", failed, **context)


@router.get("/{name}.xlsx")
async def export(
    name: str,
    request: Request,
    start: str = Query("", alias="from", max_length=40),
    end: str = Query("", alias="to", max_length=40),
    district: str = Query("", max_length=40),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """One report as a spreadsheet (.xlsx): its figures with what, of whom
    and of what period above them (and the complaints' by category on a
    second sheet). A date refused, or supervision-svc failing, is the
    console's page with its status (422; 503 with Retry-After, 502), never
    an empty spreadsheet."""
    if name not in REPORTS:
        return problem_page(request, 404, msg("No such report.", "没有该统计报表。"))
    period, problems = period_of(start, end, today_beijing())
    code, refused = _district(request, user)
    problems |= refused
    if period is None or refused:
        return problem_page(request, 422, msg("; ", "；").join(problems.values()))
    try:
        report = await _read(api, user, name, period, code)
    except ApiError as exc:
        if exc.status == 401:
            raise
        return problem_page(request, exc.page_status, exc.said(), headers=exc.page_headers)
    book = sheet(name, report, period, scope_said(report, [code] if code else user.districts))
    body = await asyncio.to_thread(sheets.to_xlsx, book)
    stamp = f"{period[0]:%Y%m%d}-{period[1]:%Y%m%d}" if REPORTS[name].period else ""
    filename = f"supervision-{name}-{stamp or today_beijing().strftime('%Y%m%d')}.xlsx"
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
