"""The inspections page (执法检查): the on-site inspections of the user's
districts as supervision-svc lists them (GET /supervision/inspections: an
officer's token sees its districts'), the latest first, a page at a time,
and the enforcement cases under way (立案查处, GET /supervision/cases).
An inspection's own page (`/console/inspections/{id}`) shows what it
found and the cases opened on it; a case's (`/console/cases/{id}`) offers
its district's officers and the administrators the actions supervision-svc
allows it now, with the workbench's forms, as a complaint's page does."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from svc_common.auth import same_person
from svc_common.districts import DISTRICTS
from svc_common.i18n import msg

from console import actions
from console.api import ApiError, PageParts, Services, idempotency_key
from console.auth import csrf
from console.auth.users import User
from console.companies import company_names
from console.deps import services, signed_in
from console.listing import ListPage, list_page
from console.pages.demands.router import demands_shown
from console.pages.demands.views import inspection_demands
from console.pages.inspections.views import (
    CASE_ACTS,
    DECISIONS,
    ENDPOINTS,
    INSPECTIONS_SHOWN,
    OPEN_CASES,
    PLANS_SHOWN,
    case_act_label,
    case_offered,
    case_rows,
    case_state_label,
    draw_body,
    drawn_rows,
    existing_plan_link,
    finding_label,
    findings_said,
    inspection_rows,
    item_label,
    measure_label,
    plan_rows,
    plan_size,
    result_label,
    severity_label,
    tier_label,
)
from console.pages.workbench import queues
from console.web import (
    back_to,
    days_until,
    drafted,
    is_htmx,
    is_uuid,
    problem_page,
    render,
    render_with_failure,
    session_ended,
)

router = APIRouter(prefix="/console/inspections")
cases_router = APIRouter(prefix="/console/cases")
#: supervision-svc's readers.
ROLES = ("officer", "admin", "auditor")
#: Who acts on a case (supervision-svc's writers): an officer in its
#: districts, an administrator citywide.
ACTORS = ("officer", "admin")

_LABELS = {
    "item_label": item_label,
    "result_label": result_label,
    "severity_label": severity_label,
    "finding_label": finding_label,
    "case_state_label": case_state_label,
    "measure_label": measure_label,
}


async def _open_cases(api: Services, user: User) -> list[Any]:
    found: list[Any] = []
    for status in OPEN_CASES:
        found += await api.all_pages(
            "supervision", "/supervision/cases", token=user.token, params={"status": status}
        )
    return found


@router.get("/")
async def inspections(
    request: Request,
    # A page's link (supervision-svc's `next_cursor`), passed on as it is:
    # one it does not take is its 422, said where the list would be.
    cursor: str = Query("", max_length=500),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The inspections, the latest first (`INSPECTIONS_SHOWN` a page, the
    next page's link below them), and the cases under way. supervision-svc
    failing leaves a note where a list would be, with the page's status
    saying so (503 with Retry-After, 502), never an empty list."""
    parts = PageParts()
    rows: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    links = ListPage([], not cursor, None)
    with parts.reading("inspections"):
        links = await list_page(
            api,
            user.token,
            "supervision",
            "/supervision/inspections",
            page="/console/inspections/",
            cursor=cursor,
            limit=INSPECTIONS_SHOWN,
        )
        rows = inspection_rows(links.items)
    if not parts.failed:  # a service that failed once is not asked again for the page
        with parts.reading("cases"):
            cases = case_rows(await _open_cases(api, user))
    # An inspection names its enterprise (supervision-svc's register); a
    # case by USCC only: its name from the inspections, else permit-svc.
    usccs = [str(c["uscc"]) for c in cases if c.get("uscc")]
    names = await company_names(api, user.token, usccs, known=rows) if usccs else {}
    first = parts.first
    return render_with_failure(
        request,
        "inspections/index.html",
        first,
        rows=rows,
        cases=cases,
        names=names,
        **links.links(),
        inspections_error=parts.said("inspections"),
        cases_error=first.said() if first else None,
        **_LABELS,
    )


def _draw_form(request: Request, user: User, **context: Any) -> dict[str, Any]:
    """What the draw form is drawn from: the districts the user may draw in
    (an officer's, all for an administrator), what was typed (a refused
    draw's, else the user's one district chosen) and a fresh key."""
    choices = [d for d in DISTRICTS if user.may_act_in(d)] if user.role in ACTORS else []
    typed = context.pop("typed", None) or {}
    if not typed.get("district") and len(choices) == 1:
        typed = {**typed, "district": choices[0]}
    return {
        "may_draw": bool(choices),
        "draw_districts": choices,
        "typed": typed,
        "new_key": lambda: uuid.uuid4().hex,
        **context,
    }


@router.get("/plans", include_in_schema=False)
async def plans_without_slash() -> Response:
    """The plans' page typed without its slash: the page, as the other
    sections' are (Starlette's redirect), not an inspection called "plans"."""
    return RedirectResponse("/console/inspections/plans/", status_code=307)


@router.get("/plans/")
async def plans(
    request: Request,
    cursor: str = Query("", max_length=500),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The double-random plans (抽查计划) of the user's districts, the latest
    drawn first (`PLANS_SHOWN` a page, the next page's link below them), and
    for the districts' officers and the administrators the form that draws
    one. supervision-svc failing leaves a note where the list would be, with
    the page's status saying so, never an empty list."""
    failed: ApiError | None = None
    rows: list[dict[str, Any]] = []
    links = ListPage([], not cursor, None)
    try:
        links = await list_page(
            api,
            user.token,
            "supervision",
            "/supervision/inspection-plans",
            page="/console/inspections/plans/",
            cursor=cursor,
            limit=PLANS_SHOWN,
        )
        rows = plan_rows(links.items)
    except ApiError as exc:
        if exc.status == 401:
            raise
        failed = exc
    draft = drafted(request, "draw")
    return render_with_failure(
        request,
        "inspections/plans.html",
        failed,
        rows=rows,
        **links.links(),
        plans_error=failed.said() if failed else None,
        **_draw_form(request, user, typed=draft["typed"] if draft else None),
    )


@router.post("/plans/", dependencies=[Depends(csrf.verify)])
async def draw(
    request: Request,
    district: str = Form("", max_length=20),
    period: str = Form("", max_length=40),
    count: str = Form("", max_length=20),
    share_percent: str = Form("", max_length=20),
    inspector_pool: str = Form("", max_length=20_000),
    idem: str = Form(..., min_length=8, max_length=100),
    user: User = Depends(signed_in(*ACTORS)),
    api: Services = Depends(services),
) -> Response:
    """A double-random draw (`POST /supervision/inspection-plans`) from the
    plans' page, as a case's action: checked on the form first (nothing sent
    when refused), then sent with the user's token and the form's
    Idempotency-Key. With htmx a refusal is said beside the form, which
    keeps what was typed, and a draw redraws the form with a link to its
    plan; without, post/redirect/get: to the plan's page, or back to the
    plans' page with the form as it was typed."""
    typed = {
        "district": district,
        "period": period,
        "count": count,
        "share_percent": share_percent,
        "inspector_pool": inspector_pool,
    }
    body, refusal = draw_body(typed, user.may_act_in)
    problem, field = (refusal.problem, refusal.field) if refusal else (None, None)
    status = 200 if problem is None else 422
    plan: Any = None
    # The plan a refusal names (its period, or one overlapping it, drawn
    # already), linked beside it.
    link: dict[str, str] | None = None
    if body is not None:
        try:
            plan = await api.post(
                "supervision",
                "/supervision/inspection-plans",
                token=user.token,
                json=body,
                idempotency_key=idempotency_key(user.sub, idem),
            )
        except ApiError as exc:
            status = exc.page_status
            problem = session_ended() if exc.status == 401 else exc.said()
            field = exc.field
            link = existing_plan_link(exc.problem) if exc.status == 409 else None
    if problem is None and not (isinstance(plan, dict) and is_uuid(str(plan.get("id") or ""))):
        problem, status = ApiError(502, {}).said(), 502  # not the plan it documents
    said = (
        None
        if problem is not None
        else msg(
            f"{plan.get('sample_size')} enterprise(s) drawn",
            f"已抽取 {plan.get('sample_size')} 家企业",
        )
    )
    if not is_htmx(request):
        if problem is not None:
            return back_to(
                request,
                "/console/inspections/plans/",
                problem,
                None,
                form="draw",
                typed=typed,
                field=field,
                link=link,
            )
        return back_to(request, f"/console/inspections/plans/{plan['id']}", None, said)
    if problem is None:
        done = msg("Done", "已办理")
        note = {"ok": True, "text": f"{done} — {said}", "plan": plan}
        return render(request, "inspections/_draw.html", **_draw_form(request, user, note=note))
    return render(
        request,
        "workbench/_result.html",
        status_code=status,
        ok=False,
        text=problem,
        outcome=None,
        link=link,
    )


@router.get("/plans/{plan_id}")
async def plan(
    plan_id: str,
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """One plan: what was asked, the candidates by tier, and the enterprises
    drawn (by name) with their inspectors and the inspections recorded under
    the plan (`GET /supervision/inspections?plan_id=`), each linked; the
    inspections' read failing leaves a note, the plan shown. An id that is
    no UUID is no plan's, said without asking the service; another
    district's is the service's 404."""
    if not is_uuid(plan_id):
        return problem_page(request, 404, msg("No such plan.", "没有该抽查计划。"))
    p = await api.get("supervision", f"/supervision/inspection-plans/{plan_id}", token=user.token)
    if not isinstance(p, dict):
        raise ApiError(502, {})
    failed: ApiError | None = None
    inspections: list[Any] = []
    try:
        inspections = await api.all_pages(
            "supervision", "/supervision/inspections", token=user.token, params={"plan_id": plan_id}
        )
    except ApiError as exc:
        if exc.status == 401:
            raise
        failed = exc
    selection = p.get("selection")
    known = [
        {"uscc": x.get("uscc"), "enterprise_name": x.get("name")}
        for x in (selection if isinstance(selection, list) else [])
        if isinstance(x, Mapping)
    ]
    names = await company_names(
        api, user.token, [str(k["uscc"]) for k in known if k["uscc"]], known=[*known, *inspections]
    )
    rows = drawn_rows(p, inspections, names)
    return render_with_failure(
        request,
        "inspections/plan.html",
        failed,
        p=p,
        rows=rows,
        size=plan_size(p),
        inspected=sum(1 for r in rows if r["inspections"]),
        inspections_error=failed.said() if failed else None,
        tier_label=tier_label,
    )


@router.get("/{inspection_id}")
async def inspection(
    inspection_id: str,
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """One inspection: its inspectors, its items and what each found, the
    cases opened on its findings (the district's cases read from
    supervision-svc) and the items of the demands list it is the source of
    (the district's list read), each open one with its 办结 form for the
    district's officers and the administrators; a read failing leaves a
    note, the inspection shown. An id that is no UUID is no inspection's,
    said without asking the service; another district's is the service's
    404."""
    if not is_uuid(inspection_id):
        return problem_page(request, 404, msg("No such inspection.", "没有该检查记录。"))
    i = await api.get("supervision", f"/supervision/inspections/{inspection_id}", token=user.token)
    if not isinstance(i, dict):
        raise ApiError(502, {})
    findings = [f for f in i.get("findings") or [] if isinstance(f, Mapping)]
    cases: list[Any] = []
    parts = PageParts()
    if any(f.get("status") != "open" for f in findings):
        with parts.reading("cases"):
            cases = await api.all_pages(
                "supervision",
                "/supervision/cases",
                token=user.token,
                params={"district": str(i.get("district") or "")},
            )
    demands: list[Mapping[str, Any]] = []
    if not parts.failed:  # a service that failed once is not asked again for the page
        with parts.reading("demands"):
            demands = inspection_demands(
                await api.all_pages(
                    "supervision",
                    "/supervision/demands",
                    token=user.token,
                    params={"district": str(i.get("district") or "")},
                ),
                str(i.get("inspection_no") or ""),
            )
    # The district's cases by their finding (the page shows its findings').
    by_finding: dict[str, list[Any]] = {}
    for c in cases:
        if isinstance(c, Mapping):
            by_finding.setdefault(str(c.get("finding_id")), []).append(c)
    return render_with_failure(
        request,
        "inspections/detail.html",
        parts.first,
        i=i,
        findings=findings,
        by_finding=by_finding,
        result=findings_said(i),
        cases_error=parts.said("cases"),
        demands_error=parts.first.said() if parts.first else None,
        **demands_shown(user, demands, back=str(i.get("id") or "")),
        **_LABELS,
    )


def _no_case(request: Request) -> Response:
    return problem_page(request, 404, msg("No such case.", "没有该案件。"))


def _shown(user: User, c: dict[str, Any], **context: Any) -> dict[str, Any]:
    """What the case's part of its page is drawn from: the case with its
    rectification deadline, and its actions' forms for who may act on it."""
    day = str(c.get("rectify_by") or "") if c.get("status") in OPEN_CASES else ""
    may_act = user.role in ACTORS and user.may_act_in(str(c.get("district") or ""))
    proposer = same_person(str(c.get("proposed_by") or ""), user.sub)
    return {
        "c": c,
        "due_on": day,
        "days_left": days_until(day) if day else None,
        "may_act": may_act,
        "actions": case_offered(c, proposer=proposer) if may_act else [],
        # The decision is another officer's: said where its forms would be.
        "four_eyes": may_act
        and proposer
        and any(a in DECISIONS for a in case_offered(c, proposer=False)),
        "acts": CASE_ACTS,
        "queues": queues,
        "act_label": case_act_label,
        "new_key": lambda: uuid.uuid4().hex,
        **_LABELS,
        **context,
    }


async def _found_by(api: Services, user: User, c: Mapping[str, Any]) -> dict[str, Any] | None:
    """The inspection whose finding the case was opened on, and the finding
    (the enterprise's inspections read; None when none has it)."""
    inspections = await api.all_pages(
        "supervision", "/supervision/inspections", token=user.token, params={"uscc": c["uscc"]}
    )
    for i in inspections:
        found = i.get("findings") if isinstance(i, Mapping) else None
        for f in found if isinstance(found, list) else []:
            if isinstance(f, Mapping) and f.get("id") == c.get("finding_id"):
                return {"inspection": i, "finding": f}
    return None


@cases_router.get("/{case_id}")
async def case(
    case_id: str,
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """One case as supervision-svc has it now, the finding it was opened on
    (with its inspection), and the forms of the actions it allows now for
    its district's officers and the administrators (no decision for the
    officer who proposed it); an auditor reads it."""
    if not is_uuid(case_id):
        return _no_case(request)
    c = await api.get("supervision", f"/supervision/cases/{case_id}", token=user.token)
    if not isinstance(c, dict):
        raise ApiError(502, {})
    failed: ApiError | None = None
    origin: dict[str, Any] | None = None
    if c.get("uscc"):
        try:
            origin = await _found_by(api, user, c)
        except ApiError as exc:
            if exc.status == 401:
                raise
            failed = exc
    known = [origin["inspection"]] if origin else []
    names = await company_names(api, user.token, [str(c["uscc"])], known=known)
    return render_with_failure(
        request,
        "inspections/case.html",
        failed,
        **_shown(user, c, names=names, origin=origin),
        origin_error=failed.said() if failed else None,
    )


@cases_router.post("/{case_id}/act", dependencies=[Depends(csrf.verify)])
async def act(
    case_id: str,
    request: Request,
    op: str = Form(..., max_length=40),
    # Past this the form is refused unread; below it, the text's own
    # maximum (`Act.most`) is said on the form.
    reason: str = Form("", max_length=10_000),
    idem: str = Form(..., min_length=8, max_length=100),
    user: User = Depends(signed_in(*ACTORS)),
    api: Services = Depends(services),
) -> Response:
    """A case's action, as a complaint's: checked on the form as
    supervision-svc checks it (nothing sent when refused), then sent with
    the user's token and the form's Idempotency-Key. With htmx a success
    redraws the case from supervision-svc's answer and a refusal is said
    beside its form, which keeps what was typed; without, post/redirect/get
    back to the case's page."""
    page = f"/console/cases/{case_id}"
    spec = CASE_ACTS.get(op)
    if spec is None or not is_uuid(case_id):
        outcome = actions.refused(msg("this action is not known", "无法识别的操作"))
    elif problem := spec.text_problem(reason):
        outcome = actions.refused(problem, "reason")
    else:
        # Someone else deciding or closing the case since the page was
        # drawn is said plainly, where it stands now.
        outcome = await actions.send(
            request,
            api,
            user,
            service="supervision",
            path=f"/supervision/cases/{case_id}/{ENDPOINTS[op]}",
            body=spec.body(reason.strip(), ""),
            idem=idem,
            op=op,
            queue="case",
            state_label=case_state_label,
        )

    async def redraw(result: dict[str, Any], note: dict[str, Any]) -> Response:
        uscc = result.get("uscc")
        names = await company_names(api, user.token, [str(uscc)]) if uscc else {}
        context = _shown(user, result, note=note, names=names)
        return render(request, "inspections/_case.html", **context)

    return await actions.answer(
        request,
        page,
        outcome,
        case_state_label,
        redraw,
        form=actions.act_form(op, case_id),
        typed={"reason": reason},
        field=actions.act_field,
    )
