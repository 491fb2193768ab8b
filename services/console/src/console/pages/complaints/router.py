"""The complaints page (12369 环保投诉): the open complaints of the user's
districts as supervision-svc lists them (GET /supervision/complaints: an
officer's token sees its districts' complaints), the one due soonest first
with its statutory clock in Beijing days, and the problems reported more
than once ranked by attention (GET /supervision/complaints/clusters).
Each complaint's own page (`/console/complaints/{id}`) offers its
district's officers and the administrators the actions supervision-svc
allows it now, with the workbench's forms."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from svc_common.i18n import msg

from console import actions
from console.api import ApiError, PageParts, Services
from console.auth import csrf
from console.auth.users import User
from console.companies import company_names
from console.deps import services, signed_in
from console.pages.complaints.views import (
    ACTS,
    CLUSTERS_SHOWN,
    OPEN,
    OUTCOMES,
    act_label,
    category_label,
    clock,
    clock_label,
    cluster_rows,
    offered,
    open_rows,
    outcome_label,
    state_label,
)
from console.pages.workbench import queues
from console.web import (
    days_until,
    deadline_day,
    is_uuid,
    problem_page,
    render,
    render_with_failure,
)

router = APIRouter(prefix="/console/complaints")
#: supervision-svc's readers.
ROLES = ("officer", "admin", "auditor")
#: Who acts on a complaint (supervision-svc's writers): an officer in its
#: districts, an administrator citywide.
ACTORS = ("officer", "admin")
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
    parts = PageParts()
    rows: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    with parts.reading("complaints"):
        rows = open_rows(await _open_complaints(api, user))
    if not parts.failed:  # a service that failed once is not asked again for the page
        with parts.reading("clusters"):
            clusters = cluster_rows(await _clusters(api, user))
    # A complaint names its enterprise by USCC only: its name from
    # permit-svc, the code alone where that read fails.
    usccs = [str(x["uscc"]) for x in [*rows, *clusters] if x.get("uscc")]
    names = await company_names(api, user.token, usccs) if usccs else {}
    first = parts.first
    return render_with_failure(
        request,
        "complaints/index.html",
        first,
        rows=rows,
        clusters=clusters,
        names=names,
        clusters_shown=CLUSTERS_SHOWN,
        complaints_error=parts.said("complaints"),
        clusters_error=first.said() if first else None,
        state_label=state_label,
        category_label=category_label,
        clock_label=clock_label,
    )


def _no_complaint(request: Request) -> Response:
    return problem_page(request, 404, msg("No such complaint.", "没有该投诉。"))


def _shown(user: User, c: dict[str, Any], **context: Any) -> dict[str, Any]:
    """What the complaint's part of its page is drawn from: the complaint
    with its clock, and its actions' forms for who may act on it."""
    kind, due = clock(c)
    day = deadline_day(due) if c.get("status") in OPEN else ""
    may_act = user.role in ACTORS and user.may_act_in(str(c.get("district") or ""))
    return {
        "c": c,
        "clock_kind": kind,
        "due_on": day,
        "days_left": days_until(day) if day else None,
        "may_act": may_act,
        "actions": offered(c) if may_act else [],
        "acts": ACTS,
        "outcomes": [(k, msg(*w)) for k, w in OUTCOMES.items()],
        "queues": queues,
        "state_label": state_label,
        "category_label": category_label,
        "clock_label": clock_label,
        "outcome_label": outcome_label,
        "act_label": act_label,
        "new_key": lambda: uuid.uuid4().hex,
        **context,
    }


@router.get("/{complaint_id}")
async def complaint(
    complaint_id: str,
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """One complaint as supervision-svc has it now, with the forms of the
    actions it allows now (for its district's officers and the
    administrators; an auditor reads it). An id that is no UUID is no
    complaint's, said without asking the service; a refusal (no such
    complaint for this user: another district's) is the service's, on the
    console's page."""
    if not is_uuid(complaint_id):
        return _no_complaint(request)
    c = await api.get("supervision", f"/supervision/complaints/{complaint_id}", token=user.token)
    if not isinstance(c, dict):
        raise ApiError(502, {})  # not the complaint it documents: a bad answer
    names = await company_names(api, user.token, [str(c["uscc"])]) if c.get("uscc") else {}
    return render(request, "complaints/detail.html", **_shown(user, c, names=names))


@router.post("/{complaint_id}/act", dependencies=[Depends(csrf.verify)])
async def act(
    complaint_id: str,
    request: Request,
    op: str = Form(..., max_length=40),
    # Past this the form is refused unread; below it, the text's own
    # maximum (`Act.most`) is said on the form.
    reason: str = Form("", max_length=10_000),
    choice: str = Form("", max_length=40),
    idem: str = Form(..., min_length=8, max_length=100),
    user: User = Depends(signed_in(*ACTORS)),
    api: Services = Depends(services),
) -> Response:
    """A complaint's action, as the workbench's `act`: checked on the form
    as supervision-svc checks it (nothing sent when refused), then sent with
    the user's token and the form's Idempotency-Key. With htmx a success
    redraws the complaint from supervision-svc's answer (its state, its
    next actions) and a refusal is said beside its form, which keeps what
    was typed; without, post/redirect/get back to the complaint's page."""
    page = f"/console/complaints/{complaint_id}"
    spec = ACTS.get(op)
    if spec is None or not is_uuid(complaint_id) or (op == "close" and choice not in OUTCOMES):
        outcome = actions.refused(msg("this action is not known", "无法识别的操作"))
    elif problem := spec.text_problem(reason):
        outcome = actions.refused(problem, "reason")
    else:
        outcome = await actions.send(
            request,
            api,
            user,
            service="supervision",
            path=f"/supervision/complaints/{complaint_id}/{op}",
            body=spec.body(reason.strip(), choice),
            idem=idem,
            op=op,
            queue="complaint",
            state_label=state_label,
        )

    async def redraw(result: dict[str, Any], note: dict[str, Any]) -> Response:
        uscc = result.get("uscc")
        names = await company_names(api, user.token, [str(uscc)]) if uscc else {}
        context = _shown(user, result, note=note, names=names)
        return render(request, "complaints/_complaint.html", **context)

    return await actions.answer(
        request,
        page,
        outcome,
        state_label,
        redraw,
        form=actions.act_form(op, complaint_id),
        typed={"reason": reason, "choice": choice},
        field=actions.act_field,
    )
