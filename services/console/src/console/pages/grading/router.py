"""The grading page (绩效分级): the performance grades for heavy-pollution-
weather measures in force today in the user's districts as supervision-svc
lists them (GET /supervision/grades: an officer's token sees its
districts'), a page at a time, and the guarantee list (保障类正面清单, GET
/supervision/guarantee-list). An enterprise's own page
(`/console/grading/{uscc}`) shows its grade history, its guarantee-list
entry and its plant plan (一厂一策, a measure per alert level), and offers
the district's officers and the administrators the forms supervision-svc
allows them (set a grade; put on or take off the guarantee list), as an
inspection plan's draw form is: auditors read."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from svc_common.i18n import msg
from svc_common.uscc import is_valid_uscc

from console import actions
from console.api import ApiError, PageParts, Services
from console.auth import csrf
from console.auth.users import User
from console.companies import company_names
from console.deps import services, signed_in
from console.listing import ListPage, list_page
from console.pages.grading.views import (
    BENCHMARKS,
    GRADES,
    GRADES_SHOWN,
    KINDS,
    LEVELS,
    REASONS,
    benchmark_label,
    grade_body,
    grade_label,
    grade_rows,
    guarantee_body,
    guarantee_rows,
    level_label,
    plant_plan_body,
    plant_plan_rows,
    reason_label,
)
from console.pages.inspections.router import ACTORS, ROLES
from console.web import drafted, problem_page, render_with_failure

router = APIRouter(prefix="/console/grading")
#: The most guarantee-list entries a page lists.
GUARANTEES_SHOWN = 500

_LABELS = {
    "grade_label": grade_label,
    "benchmark_label": benchmark_label,
    "reason_label": reason_label,
    "level_label": level_label,
}


@router.get("/")
async def grading(
    request: Request,
    # A page's link (supervision-svc's `next_cursor`), passed on as it is.
    cursor: str = Query("", max_length=500),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """The grades in force today (`GRADES_SHOWN` a page, by USCC, the next
    page's link below them) and the guarantee list. supervision-svc failing
    leaves a note where a list would be, with the page's status saying so
    (503 with Retry-After, 502), never an empty list."""
    parts = PageParts()
    rows: list[dict[str, Any]] = []
    guarantees: list[dict[str, Any]] = []
    links = ListPage([], not cursor, None)
    with parts.reading("grades"):
        links = await list_page(
            api,
            user.token,
            "supervision",
            "/supervision/grades",
            page="/console/grading/",
            cursor=cursor,
            limit=GRADES_SHOWN,
        )
        rows = grade_rows(links.items)
    if not parts.failed:  # a service that failed once is not asked again for the page
        with parts.reading("guarantees"):
            guarantees = guarantee_rows(
                await api.all_pages(
                    "supervision",
                    "/supervision/guarantee-list",
                    token=user.token,
                    max_items=GUARANTEES_SHOWN,
                )
            )
    first = parts.first
    return render_with_failure(
        request,
        "grading/index.html",
        first,
        rows=rows,
        guarantees=guarantees,
        **links.links(),
        grades_error=parts.said("grades"),
        guarantees_error=first.said() if first else None,
        **_LABELS,
    )


def _no_enterprise(request: Request) -> Response:
    return problem_page(request, 404, msg("No such enterprise.", "没有该企业。"))


def _forms(
    request: Request, user: User, district: str, current: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What the forms are drawn from: whether the user may act on the
    enterprise (an officer of its district, an administrator), what was
    typed (a refused form's, else the grade in force's industry and
    benchmark) and a fresh key for each form."""
    may_act = user.role in ACTORS and (not district or user.may_act_in(district))
    typed: dict[str, dict[str, str]] = {
        "grade": {
            "industry": str((current or {}).get("industry") or ""),
            "benchmark": str((current or {}).get("benchmark") or "none"),
        },
        "guarantee": {},
        "plan": {},
    }
    for form in typed:
        if draft := drafted(request, form):
            typed[form] = dict(draft["typed"])
    return {
        "may_act": may_act,
        "typed": typed,
        "grades": GRADES,
        "benchmarks": BENCHMARKS,
        "reasons": REASONS,
        "kinds": KINDS,
        "levels": LEVELS,
        "new_key": lambda: uuid.uuid4().hex,
    }


@router.get("/{uscc}")
async def enterprise(
    uscc: str,
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    """One enterprise: its grade in force and every grading before it
    (`GET /supervision/grades/{uscc}`), its guarantee-list entry in force
    (the district's list read) and its plant plan (`GET
    /supervision/plant-plans/{uscc}`); a read failing leaves a note, the
    grades shown. A code that is no USCC is said without asking the
    service; another district's enterprise is the service's 404."""
    if not is_valid_uscc(uscc):
        return _no_enterprise(request)
    h = await api.get("supervision", f"/supervision/grades/{uscc}", token=user.token)
    if not isinstance(h, dict) or not isinstance(h.get("history"), list):
        raise ApiError(502, {})
    history = grade_rows(h["history"])
    current = h.get("current") if isinstance(h.get("current"), Mapping) else None
    district = str((current or (history[0] if history else {})).get("district") or "")
    parts = PageParts()
    plans: list[dict[str, Any]] = []
    entry: dict[str, Any] | None = None
    with parts.reading("plans"):
        answer = await api.get("supervision", f"/supervision/plant-plans/{uscc}", token=user.token)
        if not isinstance(answer, list):
            raise ApiError(502, {})
        plans = plant_plan_rows(answer)
    if not parts.failed:
        with parts.reading("guarantee"):
            listed = await api.all_pages(
                "supervision",
                "/supervision/guarantee-list",
                token=user.token,
                params={"district": district} if district else None,
                max_items=GUARANTEES_SHOWN,
            )
            entry = next(iter(g for g in guarantee_rows(listed) if g.get("uscc") == uscc), None)
    known = [x for x in (current, *history, entry) if x]
    district = district or str((entry or {}).get("district") or "")
    names = await company_names(api, user.token, [uscc], known=known)
    first = parts.first
    return render_with_failure(
        request,
        "grading/detail.html",
        first,
        uscc=uscc,
        enterprise_name=names.get(uscc, ""),
        district=district,
        current=current,
        history=history,
        entry=entry,
        plans=plans,
        plans_error=parts.said("plans"),
        guarantee_error=first.said() if first else None,
        **_forms(request, user, district, current),
        **_LABELS,
    )


async def _send(
    request: Request,
    user: User,
    api: Services,
    *,
    uscc: str,
    form: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    refusal: actions.Outcome | None,
    typed: dict[str, str],
    idem: str,
    said: str,
) -> Response:
    """A form's change sent to supervision-svc as any record's action
    (`actions.send`), unless the form was refused (`refusal`, naming the
    field it concerns: nothing is sent). With htmx a refusal is said beside
    the form, which keeps what was typed, and a change sends the browser to
    the enterprise's page drawn again; without, post/redirect/get back to
    it, a refused form as it was typed, the refusal beside its field."""
    page = f"/console/grading/{uscc}" if is_valid_uscc(uscc) else "/console/grading/"
    outcome = (
        refusal
        if refusal is not None
        else await actions.send(
            request,
            api,
            user,
            service="supervision",
            path=path,
            body=body,
            idem=idem,
            method=method,
        )
    )
    return await actions.answer(
        request, page, outcome, str, None, said=lambda _: said, form=form, typed=typed
    )


def _not_an_enterprise() -> actions.Outcome:
    return actions.refused(msg("no such enterprise", "没有该企业"))


@router.post("/{uscc}/grade", dependencies=[Depends(csrf.verify)])
async def set_grade(
    uscc: str,
    request: Request,
    grade: str = Form("", max_length=20),
    benchmark: str = Form("", max_length=20),
    industry: str = Form("", max_length=200),
    valid_from: str = Form("", max_length=40),
    valid_to: str = Form("", max_length=40),
    basis: str = Form("", max_length=2000),
    idem: str = Form(..., min_length=8, max_length=100),
    user: User = Depends(signed_in(*ACTORS)),
    api: Services = Depends(services),
) -> Response:
    """A grade set (`PUT /supervision/grades/{uscc}`): checked on the form
    first, supervision-svc's own rules (a validity of at most ten years, an
    enterprise of the officer's districts) said by its refusal."""
    typed = {
        "grade": grade,
        "benchmark": benchmark,
        "industry": industry,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "basis": basis,
    }
    body, refusal = grade_body(typed) if is_valid_uscc(uscc) else (None, _not_an_enterprise())
    said = grade_label(str((body or {}).get("grade") or ""))
    return await _send(
        request,
        user,
        api,
        uscc=uscc,
        form="grade",
        method="PUT",
        path=f"/supervision/grades/{uscc}",
        body=body,
        refusal=refusal,
        typed=typed,
        idem=idem,
        said=msg(f"graded {said}", f"绩效等级：{said}"),
    )


@router.post("/{uscc}/guarantee", dependencies=[Depends(csrf.verify)])
async def put_guarantee(
    uscc: str,
    request: Request,
    reason: str = Form("", max_length=40),
    valid_from: str = Form("", max_length=40),
    valid_to: str = Form("", max_length=40),
    kind: str = Form("", max_length=40),
    percent: str = Form("", max_length=20),
    processes: str = Form("", max_length=5000),
    note: str = Form("", max_length=2000),
    idem: str = Form(..., min_length=8, max_length=100),
    user: User = Depends(signed_in(*ACTORS)),
    api: Services = Depends(services),
) -> Response:
    """An enterprise put on the guarantee list (`PUT
    /supervision/guarantee-list/{uscc}`; an entry it had is replaced)."""
    typed = {
        "reason": reason,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "kind": kind,
        "percent": percent,
        "processes": processes,
        "note": note,
    }
    body, refusal = guarantee_body(typed) if is_valid_uscc(uscc) else (None, _not_an_enterprise())
    return await _send(
        request,
        user,
        api,
        uscc=uscc,
        form="guarantee",
        method="PUT",
        path=f"/supervision/guarantee-list/{uscc}",
        body=body,
        refusal=refusal,
        typed=typed,
        idem=idem,
        said=msg("on the guarantee list", "已纳入保障类正面清单"),
    )


@router.post("/{uscc}/guarantee/remove", dependencies=[Depends(csrf.verify)])
async def remove_guarantee(
    uscc: str,
    request: Request,
    idem: str = Form(..., min_length=8, max_length=100),
    user: User = Depends(signed_in(*ACTORS)),
    api: Services = Depends(services),
) -> Response:
    """An enterprise taken off the guarantee list (`DELETE
    /supervision/guarantee-list/{uscc}`)."""
    return await _send(
        request,
        user,
        api,
        uscc=uscc,
        form="remove",
        method="DELETE",
        path=f"/supervision/guarantee-list/{uscc}",
        body=None,
        refusal=None if is_valid_uscc(uscc) else _not_an_enterprise(),
        typed={},
        idem=idem,
        said=msg("taken off the guarantee list", "已移出保障类正面清单"),
    )


@router.post("/{uscc}/plan", dependencies=[Depends(csrf.verify)])
async def put_plant_plan(
    uscc: str,
    request: Request,
    level: str = Form("", max_length=20),
    kind: str = Form("", max_length=40),
    percent: str = Form("", max_length=20),
    processes: str = Form("", max_length=5000),
    note: str = Form("", max_length=2000),
    idem: str = Form(..., min_length=8, max_length=100),
    user: User = Depends(signed_in(*ACTORS)),
    api: Services = Depends(services),
) -> Response:
    """The enterprise's own measure at an alert level recorded (一厂一策,
    `PUT /supervision/plant-plans/{uscc}`; the level's measure it had is
    replaced), as its grade is set."""
    typed = {"level": level, "kind": kind, "percent": percent, "processes": processes, "note": note}
    body, refusal = plant_plan_body(typed) if is_valid_uscc(uscc) else (None, _not_an_enterprise())
    said = level_label(str((body or {}).get("level") or ""))
    return await _send(
        request,
        user,
        api,
        uscc=uscc,
        form="plan",
        method="PUT",
        path=f"/supervision/plant-plans/{uscc}",
        body=body,
        refusal=refusal,
        typed=typed,
        idem=idem,
        said=msg(f"plant plan: {said}", f"一厂一策：{said}"),
    )
