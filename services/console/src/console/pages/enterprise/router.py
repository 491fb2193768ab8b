"""The enterprise page (企业档案): everything the services know about one
unified social credit code — permits and registrations, EIA filings and
registration forms, quota held, audits — and the history in time order."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from svc_common.i18n import msg
from svc_common.names import is_hidden
from svc_common.uscc import LENGTH as USCC_LENGTH
from svc_common.uscc import PERMIT_NO_LENGTH, permit_no_problem, uscc_problem

from console.api import ApiError, Services
from console.auth.users import User
from console.deps import services, signed_in
from console.pages.enterprise import history
from console.pages.execution_reports.views import report_rows
from console.pages.workbench.queues import channel_label, quota_label, status_label
from console.web import render

router = APIRouter(prefix="/console/enterprise")
ROLES = ("officer", "admin", "auditor", "investment")
#: Matched whole (fullmatch): `$` let a final line break through, into
#: permit-svc's address, which cannot hold one (a 500).
_USCC = re.compile(r"[0-9A-Z]{18}")


#: The most characters the search field holds (its `maxlength` in
#: enterprise/search.html): a longer code typed into the address is
#: refused beside the field, which shows its first characters.
FIELD_CHARS = 40
#: The most characters of a path that is not a code carried back to the
#: search: enough to count a code's length by, short enough for any address.
CARRIED_CHARS = 300


def _as_seen(typed: str) -> str:
    """The code a reader sees in what was typed or pasted: typed in a Chinese
    input method's full-width mode (９１１２…Ａ９ＣＧ), copied from a PDF in groups
    (9112 0119 …) or from a web page with a zero-width space or a soft hyphen
    in it, it is the same code (a look-up, not a record to keep as written)."""
    text = unicodedata.normalize("NFKC", typed)
    return "".join(c for c in text if not c.isspace() and not is_hidden(c)).upper()


@router.get("/")
async def search(
    request: Request,
    # No max_length: a code too long for the field is answered beside it
    # (必须是 18 个字符，实际为 41 个), not with the generic page of a 422.
    uscc: str | None = Query(None),
    user: User = Depends(signed_in(*ROLES)),
) -> Response:
    if uscc:
        code = _as_seen(uscc)
        if len(code) == PERMIT_NO_LENGTH:
            # A permit's certificate number (许可证编号): its holder's code,
            # three digits and P, opens the holder's page.
            problem = permit_no_problem(code)
            if problem is None:
                holder = code[:USCC_LENGTH]
                return RedirectResponse(f"/console/enterprise/{holder}", status_code=303)
            problem = msg("permit number: ", "许可证编号：") + problem
        else:
            problem = uscc_problem(code)
        if problem is None:
            return RedirectResponse(f"/console/enterprise/{code}", status_code=303)
        shown = uscc[:FIELD_CHARS]
        return render(request, "enterprise/search.html", uscc=shown, problem=problem)
    return render(request, "enterprise/search.html", uscc="", problem=None)


async def _industry_name(api: Services, token: str, company: dict[str, Any] | None) -> str | None:
    """The name of the enterprise's industry in permit-svc's classification
    table (行业分类), or None: the page then shows the code alone."""
    if company is None:
        return None
    try:
        table = await api.get("permit", "/permit/industries", token=token)
    except ApiError:
        return None
    code = company.get("industry_code")
    return next((str(i["name"]) for i in table if i.get("industry_code") == code), None)


#: At most this many permits' audit trails are read for one page.
MAX_PERMIT_TRAILS = 20


async def _permit_steps(
    read: Callable[..., Awaitable[list[Any] | None]], permits: list[dict[str, Any]]
) -> dict[str, list[Any]]:
    """Each permit's audit trail (`GET /permit/audit?target_id=`), by permit
    id: its steps with their reasons (a suspension names its case). Citywide
    auditors and administrators read every permit's, officers (and a
    district's auditors and administrators) those of their districts' permits;
    for a role that may not (investment staff) the first refusal ends the
    reads, and the history says it leaves the steps out."""
    steps: dict[str, list[Any]] = {}
    for p in permits[:MAX_PERMIT_TRAILS]:
        trail = await read("permit_steps", "permit", "/permit/audit", target_id=str(p["id"]))
        if trail is None:
            break
        steps[str(p["id"])] = trail
    return steps


#: A permit never issued owes no execution report: its list is not read.
NEVER_ISSUED = ("applied", "rejected", "merged")


async def _execution_reports(
    read: Callable[..., Awaitable[list[Any] | None]], permits: list[dict[str, Any]]
) -> dict[str, list[Any]]:
    """Each issued permit's execution reports (`GET
    /permit/permits/{id}/execution-reports`, the current version of each
    period), by permit id, with their periods and findings in words; the
    first read failing ends the reads, and the section says why."""
    found: dict[str, list[Any]] = {}
    for p in permits[:MAX_PERMIT_TRAILS]:
        if p.get("status") in NEVER_ISSUED:
            continue
        pid = str(p["id"])
        reports = await read(
            "execution_reports", "permit", f"/permit/permits/{pid}/execution-reports"
        )
        if reports is None:
            break
        found[pid] = report_rows(reports)
    return found


@router.get("/{uscc}")
async def enterprise(
    request: Request,
    uscc: str,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    code = uscc.upper()
    if not _USCC.fullmatch(code):
        return RedirectResponse(
            "/console/enterprise/?" + urlencode({"uscc": uscc[:CARRIED_CHARS]}),
            status_code=303,
        )
    notes: list[str] = []
    #: The lists not read, with why (the role may not, or the service
    #: failed): their sections and the figures drawn from them say so
    #: instead of showing nothing, or 0.
    unseen: dict[str, str] = {}
    t = user.token

    async def read(source: str, service: str, path: str, **params: Any) -> list[Any] | None:
        try:
            return list(await api.all_pages(service, path, token=t, params=params, max_items=1000))
        except ApiError as exc:
            if exc.status != 403:
                notes.append(exc.said())
            unseen[source] = history.unseen_said(source, exc.status)
            return None

    try:
        company: dict[str, Any] | None = await api.get(
            "permit", f"/permit/enterprises/{code}", token=t
        )
    except ApiError as exc:
        if exc.status == 422:
            # Not a code permit-svc takes (its check character wrong: a
            # link typed by hand): the search form, which says what is wrong
            # beside the field, not the refusal on a page of its own.
            return RedirectResponse(
                "/console/enterprise/?" + urlencode({"uscc": code}), status_code=303
            )
        if exc.status not in (403, 404):
            raise
        company = None
    industry = await _industry_name(api, t, company)
    permits = await read("permits", "permit", "/permit/permits", uscc=code)
    registrations = await read("registrations", "permit", "/permit/registrations", uscc=code)
    audits = await read("audits", "permit", "/permit/audits", uscc=code)
    filings = await read("filings", "eia", "/eia/filings", uscc=code)
    forms = await read("forms", "eia", "/eia/registrations", uscc=code)

    # The enterprise's held reservations in one list (the ledger's amounts of
    # the filings under review), not one request per filing.
    held = await read("reservations", "quota", "/quota/reservations", uscc=code, status="held")
    reservations = {str(r["id"]): r for r in held or []}
    # What it holds now, retired and sold: its holdings, the emptied ones too
    # (a holding sold out is what says how much was sold).
    holdings = await read("holdings", "quota", "/quota/holdings", uscc=code, include_empty="true")
    steps = await _permit_steps(read, permits or [])
    execution_reports = await _execution_reports(read, permits or [])
    lists = (permits, registrations, audits, filings, forms)
    return render(
        request,
        "enterprise/page.html",
        uscc=code,
        company=company,
        industry=industry,
        permits=permits or [],
        execution_reports=execution_reports,
        registrations=registrations or [],
        audits=audits or [],
        filings=filings or [],
        forms=forms or [],
        quota=history.quota_held(
            filings,
            permits,
            reservations,
            reservations_read=held is not None,
            holdings=holdings,
        ),
        events=history.timeline(
            permits or [],
            registrations or [],
            audits or [],
            filings or [],
            forms or [],
            steps=steps,
        ),
        unseen=unseen,
        left_out=(history.left_out(list(unseen)) if set(unseen) - history.NOT_IN_HISTORY else None),
        notes=sorted(set(notes)),
        status_label=status_label,
        not_numbered=history.not_numbered,
        application_ref=history.application_ref,
        quota_label=quota_label,
        channel_label=channel_label,
        # Nothing to show only when every list was read and is empty: a list
        # the user may not read might hold the enterprise's records.
        nothing=company is None and not unseen and not any(lists) and not holdings,
        msg=msg,
    )
