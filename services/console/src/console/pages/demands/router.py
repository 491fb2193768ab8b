"""The demands list (群众诉求清单): the items of the user's districts as
supervision-svc lists them (GET /supervision/demands: an officer's token
sees its districts'), the open first by their deadline, each with the
forms of its district's officers and the administrators: progress (进展,
`PATCH /supervision/demands/{id}`) and 办结 (`POST …/{id}/done`). The
same item and forms are on the page of the inspection it came from; both
pages post them here."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from svc_common.districts import DISTRICTS
from svc_common.i18n import msg

from console import actions
from console.api import ApiError, Services
from console.auth import csrf
from console.auth.users import User
from console.deps import services, signed_in
from console.pages.demands.views import (
    DEMAND_ACTS,
    ENDPOINTS,
    demand_rows,
    demand_state_label,
    percent_choices,
    percent_problem,
    source_label,
)
from console.pages.workbench import queues
from console.web import (
    is_uuid,
    problem_page,
    render,
    render_with_failure,
)

router = APIRouter(prefix="/console/demands")
#: supervision-svc's readers.
ROLES = ("officer", "admin", "auditor")
#: Who acts on an item (supervision-svc's writers): an officer in its
#: districts, an administrator citywide.
ACTORS = ("officer", "admin")
LIST_PAGE = "/console/demands/"


def demands_shown(
    user: User, demands: Sequence[Mapping[str, Any]], *, back: str = "", **context: Any
) -> dict[str, Any]:
    """What a list of items is drawn from (`demands/_demand.html`): the
    items, and the forms of each open one for who may act on it; `back`,
    the inspection whose page the list is on ("" for the demands list),
    where a form sent without htmx returns to."""
    return {
        "demands": demands,
        "may_act_on": lambda d: (
            user.role in ACTORS
            and user.may_act_in(str(d.get("district") or ""))
            and d.get("status") == "open"
        ),
        "acts": DEMAND_ACTS,
        "back": back,
        "percent_choices": percent_choices,
        "demand_state_label": demand_state_label,
        "source_label": source_label,
        "source_pages": SOURCE_PAGES,
        "queues": queues,
        "new_key": lambda: uuid.uuid4().hex,
        **context,
    }


@router.get("/")
async def demands(
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The items of the user's districts (citywide for a citywide token),
    the open first by their deadline, then those done. supervision-svc
    failing leaves a note where the list would be, with the page's status
    saying so (503 with Retry-After, 502), never an empty list."""
    failed: ApiError | None = None
    rows: list[dict[str, Any]] = []
    try:
        rows = demand_rows(
            await api.all_pages("supervision", "/supervision/demands", token=user.token)
        )
    except ApiError as exc:
        if exc.status == 401:
            raise  # the session ended: sign in again
        failed = exc
    return render_with_failure(
        request,
        "demands/index.html",
        failed,
        open_count=sum(1 for r in rows if r.get("status") == "open"),
        overdue_count=sum(1 for r in rows if r.get("status") == "open" and r.get("overdue")),
        demands_error=failed.said() if failed else None,
        **demands_shown(user, rows, show_source=True),
    )


#: The sources whose page the console has: the list each is found in
#: (by the district's records), the field naming it, and its page.
SOURCE_PAGES = {
    "inspection": ("/supervision/inspections", "inspection_no", "/console/inspections/"),
    "complaint": ("/supervision/complaints", "case_no", "/console/complaints/"),
}


@router.get("/source")
async def source(
    request: Request,
    kind: str = Query("", max_length=20),
    ref: str = Query("", max_length=100),
    district: str = Query("", max_length=20),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The page of an item's source (an inspection, a complaint), which the
    item names by its number only: the district's records read when the
    link is followed (not for every item of the list), and the browser sent
    to the one with that number (303); none found is said (404), a read
    failing is its note (503 with Retry-After, 502)."""
    where = SOURCE_PAGES.get(kind)
    if where is None or not ref or district not in DISTRICTS:
        return problem_page(request, 404, _no_source())
    path, field, page = where
    found = await api.all_pages(
        "supervision", path, token=user.token, params={"district": district}
    )
    for x in found:
        if isinstance(x, Mapping) and x.get(field) == ref and is_uuid(str(x.get("id") or "")):
            return RedirectResponse(f"{page}{x['id']}", status_code=303)
    return problem_page(request, 404, _no_source())


def _no_source() -> str:
    return msg(
        "The item's source is not found among your districts' records.",
        "在您所辖区的记录中未找到该事项的来源。",
    )


def _back_page(back: str) -> str:
    return f"/console/inspections/{back}" if is_uuid(back) else LIST_PAGE


@router.post("/{demand_id}/act", dependencies=[Depends(csrf.verify)])
async def demand_act(
    demand_id: str,
    request: Request,
    op: str = Form(..., max_length=40),
    reason: str = Form("", max_length=10_000),
    choice: str = Form("", max_length=20),
    # The inspection whose page the form is on (none: the demands list):
    # where the browser is sent back to without htmx.
    sub: str = Form("", max_length=100),
    idem: str = Form(..., min_length=8, max_length=100),
    user: User = Depends(signed_in(*ACTORS)),
    api: Services = Depends(services),
) -> Response:
    """An action on an item of the demands list, as a case's action: its
    progress (a percent chosen, a note if any) or 办结 (a note if any),
    checked on the form as supervision-svc checks it (nothing sent when
    refused), then sent with the user's token and the form's
    Idempotency-Key. With htmx a success redraws the item from
    supervision-svc's answer and a refusal is said beside its form, which
    keeps what was typed; without, post/redirect/get back to the page the
    form was on."""
    page = _back_page(sub)
    spec = DEMAND_ACTS.get(op)
    problem: str | None = None
    field: str | None = None
    if spec is None or not is_uuid(demand_id):
        problem = msg("this action is not known", "无法识别的操作")
    elif op == "progress" and (problem := percent_problem(choice)):
        field = "choice"
    if problem is None and spec is not None and (problem := spec.text_problem(reason)):
        field = "reason"
    if problem is not None or spec is None:
        outcome = actions.refused(problem or "", field)
    else:
        method, tail = ENDPOINTS[op]
        outcome = await actions.send(
            request,
            api,
            user,
            service="supervision",
            path=f"/supervision/demands/{demand_id}{tail}",
            body=spec.body(
                reason.strip(), unicodedata.normalize("NFKC", choice).strip().rstrip("%")
            ),
            idem=idem,
            op=op,
            queue="demand",
            state_label=demand_state_label,
            method=method,
        )

    def progress_said(result: dict[str, Any]) -> str | None:
        if op != "progress" or result.get("status") != "open":
            return None
        n = result.get("progress_percent")
        return msg(f"progress {n}%", f"进展 {n}%")

    async def redraw(result: dict[str, Any], note: dict[str, Any]) -> Response:
        context = demands_shown(
            user, [result], back=sub, d=result, note=note, show_source=not is_uuid(sub)
        )
        return render(request, "demands/_demand.html", **context)

    return await actions.answer(
        request,
        page,
        outcome,
        demand_state_label,
        redraw,
        said=progress_said,
        form=actions.act_form(op, demand_id, sub),
        typed={"reason": reason, "choice": choice},
        field=actions.act_field,
    )
