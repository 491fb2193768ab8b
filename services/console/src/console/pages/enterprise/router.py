"""The enterprise page (企业档案): everything the services know about one
unified social credit code — permits and registrations, EIA filings and
registration forms, quota held, audits — and the history in time order."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from svc_common.i18n import msg
from svc_common.uscc import uscc_problem

from console.api import ApiError, Services
from console.auth.users import User
from console.deps import services, signed_in
from console.pages.enterprise import history
from console.pages.workbench.queues import channel_label, quota_label, status_label
from console.web import render

router = APIRouter(prefix="/console/enterprise")
ROLES = ("officer", "admin", "auditor", "investment")
_USCC = re.compile(r"^[0-9A-Z]{18}$")


@router.get("/")
async def search(
    request: Request,
    uscc: str | None = Query(None, max_length=40),
    user: User = Depends(signed_in(*ROLES)),
) -> Response:
    if uscc:
        # Typed in a Chinese input method's full-width mode (９１１２…Ａ９ＣＧ), a
        # code is the same code.
        code = unicodedata.normalize("NFKC", uscc).strip().upper()
        problem = uscc_problem(code)
        if problem is None:
            return RedirectResponse(f"/console/enterprise/{code}", status_code=303)
        return render(request, "enterprise/search.html", uscc=uscc, problem=problem)
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


@router.get("/{uscc}")
async def enterprise(
    request: Request,
    uscc: str,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    code = uscc.upper()
    if not _USCC.match(code):
        return RedirectResponse(
            "/console/enterprise/?" + urlencode({"uscc": uscc[:40]}), status_code=303
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
    lists = (permits, registrations, audits, filings, forms)
    return render(
        request,
        "enterprise/page.html",
        uscc=code,
        company=company,
        industry=industry,
        permits=permits or [],
        registrations=registrations or [],
        audits=audits or [],
        filings=filings or [],
        forms=forms or [],
        quota=history.quota_held(
            filings, permits, reservations, reservations_read=held is not None
        ),
        events=history.timeline(*(x or [] for x in lists)),
        unseen=unseen,
        left_out=history.left_out(list(unseen)) if set(unseen) - {"reservations"} else None,
        notes=sorted(set(notes)),
        status_label=status_label,
        not_numbered=history.not_numbered,
        quota_label=quota_label,
        channel_label=channel_label,
        # Nothing to show only when every list was read and is empty: a list
        # the user may not read might hold the enterprise's records.
        nothing=company is None and not unseen and not any(lists),
        msg=msg,
    )
