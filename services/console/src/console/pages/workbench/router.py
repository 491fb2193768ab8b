"""The officer's workbench (审批工作台): queues with statutory countdowns in
Beijing dates, each item with the form of its next action. A form posts to
the console, which calls the service's API with the user's token and the
form's Idempotency-Key (made when the page was drawn: a double submit is
answered once)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from svc_common.i18n import msg

from console.api import ApiError, Services, gather_limited, idempotency_key
from console.auth import csrf
from console.auth.users import DEV_USERS, User
from console.deps import services, signed_in
from console.pages.workbench import queues
from console.web import is_htmx, render, session_ended

router = APIRouter(prefix="/console/workbench")
ROLES = ("officer", "admin", "auditor")


class Reads:
    """The queues' reads. A service that fails leaves its section with a note
    instead of taking the whole page down; a queue the role may not read
    (403) or that failed says so on its section and its tab, never "nothing
    waiting" and (0)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        #: queue → why it is not (wholly) on the page
        self.unseen: dict[str, str] = {}

    async def __call__(self, queue: str, call: Awaitable[Any]) -> list[Any]:
        try:
            return list(await call)
        except ApiError as exc:
            if exc.status != 403:
                self.errors.append(exc.said())
            self.unseen.setdefault(queue, queue_unseen_said(exc.status))
            return []


def queue_unseen_said(status: int) -> str:
    if status == 403:
        return msg("Your role cannot see this queue.", "您的角色无权查看此项待办。")
    return msg(
        "This queue could not be read in full just now (see the note above).",
        "此项待办暂时无法完整读取（原因见页首）。",
    )


#: The queues' tabs, in order, and what each is drawn from.
TABS = ("filings", "overdue", "blocked", "reclaims", "checks", "expiring", "findings")
DRAWN_FROM = {
    "overdue": ("filings",),
    "blocked": ("filings", "lapsed_short"),
    "findings": ("audits",),
}


@dataclass
class Queues:
    """Every queue of the workbench as read for the signed-in user."""

    filings: list[dict[str, Any]]
    overdue: list[dict[str, Any]]
    blocked: list[dict[str, Any]]
    reclaims: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    expiring: list[dict[str, Any]]
    findings: list[Any]
    errors: list[str]
    unseen: dict[str, str]

    def counts(self) -> dict[str, int | None]:
        """Each tab's count; None for a queue not (wholly) read."""
        return {k: None if k in self.unseen else len(getattr(self, k)) for k in TABS}


async def read_queues(api: Services, t: str) -> Queues:
    reads = Reads()
    filings: list[dict[str, Any]] = []
    for status in queues.UNDECIDED:
        filings += await reads(
            "filings",
            api.all_pages("eia", "/eia/filings", token=t, params={"status": status}, max_items=500),
        )
    filings = queues.by_deadline(filings)
    # Approved filings whose quota lapsed short: decided, so not in the queue
    # above, but waiting for the district's officer to re-drive them.
    lapsed_short = await reads(
        "lapsed_short",
        api.all_pages(
            "eia",
            "/eia/filings",
            token=t,
            params={"quota_status": queues.LAPSED_SHORT},
            max_items=500,
        ),
    )
    reclaims = await reads(
        "reclaims",
        api.all_pages(
            "quota", "/quota/reclaims", token=t, params={"status": "pending"}, max_items=500
        ),
    )
    checks = await reads(
        "checks", api.all_pages("eia", "/eia/review-queue", token=t, max_items=500)
    )
    expiring = await reads(
        "expiring",
        api.all_pages(
            "permit", "/permit/permits", token=t, params={"expiring_within_days": 60}, max_items=500
        ),
    )
    audits = await reads(
        "audits", api.all_pages("permit", "/permit/audits", token=t, max_items=2000)
    )
    unseen = dict(reads.unseen)
    for queue, sources in DRAWN_FROM.items():
        why = next((unseen[s] for s in sources if s in unseen), None)
        if why is not None:
            unseen.setdefault(queue, why)
    return Queues(
        filings=filings,
        overdue=[f for f in filings if f.get("overdue")],
        blocked=queues.quota_blocked(filings, lapsed_short),
        reclaims=reclaims,
        checks=checks,
        expiring=expiring,
        findings=queues.open_findings(audits),
        errors=sorted(set(reads.errors)),
        unseen=unseen,
    )


#: At most this many enterprises are looked up for the findings queue; any
#: more show by their code (a district's whole register is never read).
MAX_NAME_LOOKUPS = 40


async def _company_names(
    api: Services, token: str, findings: list[Any], known: list[dict[str, Any]]
) -> dict[str, str]:
    """An audit names its enterprise by USCC only: the name from what the
    page read already, else one read of the enterprise (eight at a time, at
    most MAX_NAME_LOOKUPS); the code alone when neither has it."""
    names = {
        str(x["uscc"]): str(x["enterprise_name"])
        for x in known
        if x.get("uscc") and x.get("enterprise_name")
    }
    missing = sorted({f.uscc for f in findings if f.uscc not in names})[:MAX_NAME_LOOKUPS]

    async def one(uscc: str) -> tuple[str, str | None]:
        try:
            company = await api.get("permit", f"/permit/enterprises/{uscc}", token=token)
        except ApiError:
            return uscc, None
        return uscc, str(company.get("name") or "") or None

    for uscc, name in await gather_limited((one(u) for u in missing), limit=8):
        if name:
            names[uscc] = name
    return names


@router.get("/")
async def workbench(
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    t = user.token
    q = await read_queues(api, t)
    filings, checks, expiring, findings = q.filings, q.checks, q.expiring, q.findings
    companies = await _company_names(api, t, findings, [*filings, *checks, *expiring])
    # The names the console knows people by: the development users' (only
    # when they can sign in) and the signed-in user's own. With OpenID
    # Connect there is no directory to ask: anyone else shows by login id.
    people = {u.sub: u.name for u in DEV_USERS} if request.app.state.settings.dev_login else {}
    people[user.sub] = user.name
    return render(
        request,
        "workbench/index.html",
        queues=queues,
        filings=filings,
        overdue=q.overdue,
        blocked=q.blocked,
        reclaims=q.reclaims,
        checks=checks,
        expiring=expiring,
        findings=findings,
        companies=companies,
        errors=q.errors,
        unseen=q.unseen,
        counts=q.counts(),
        may_act=user.role in ("officer", "admin"),
        # Confirming or rejecting a reclaim is an officer's (four eyes).
        may_confirm=user.role in OPS["reclaim-confirm"].roles,
        people=people,
        new_key=lambda: uuid.uuid4().hex,
    )


@dataclass(frozen=True)
class Op:
    service: str
    path: str
    roles: tuple[str, ...]
    #: The API's body from the form's reason and action: only the fields
    #: the operation takes (the services refuse any other).
    body: Callable[[str, str], dict[str, Any] | None]
    needs_reason: bool = False
    needs_sub: bool = False


def _no_body(_: str, __: str) -> None:
    return None


#: The filing actions that take a reason (a decision's note; reject's is
#: required): the others take no body at all.
FILING_REASONS = ("approve", "reject", "withdraw")


def _filing_body(reason: str, action: str) -> dict[str, Any] | None:
    if action in queues.ACCEPT_DECISIONS:  # the officer's decision on a major claim
        return {"green_channel": queues.ACCEPT_DECISIONS[action]}
    return {"reason": reason} if reason and action in FILING_REASONS else None


OPS: dict[str, Op] = {
    "filing": Op("eia", "/eia/filings/{id}/{action}", ("officer", "admin"), _filing_body),
    "reclaim-confirm": Op("quota", "/quota/reclaims/{id}/confirm", ("officer",), _no_body),
    "reclaim-reject": Op(
        "quota", "/quota/reclaims/{id}/reject", ("officer",), lambda r, _: {"reason": r}, True
    ),
    "check-clear": Op("eia", "/eia/review-queue/{id}/clear", ("officer", "admin"), _no_body),
    "check-revoke": Op(
        "eia",
        "/eia/registrations/{id}/revoke",
        ("officer", "admin"),
        lambda r, _: {"reason": r},
        True,
    ),
    "permit-renew": Op("permit", "/permit/permits/{id}/renew", ("officer", "admin"), _no_body),
    "finding-rectify": Op(
        "permit",
        "/permit/audits/{id}/findings/{sub}/rectify",
        ("officer", "admin"),
        lambda r, _: {"note": r or None},
        needs_sub=True,
    ),
}


def spec_roles(spec: Op | None) -> tuple[str, ...]:
    return spec.roles if spec is not None else ("officer", "admin")


async def _filing_now(api: Services, token: str, filing_id: str) -> dict[str, Any] | None:
    """The filing as eia-svc has it now, or None when it cannot be read."""
    try:
        now = await api.get("eia", f"/eia/filings/{filing_id}", token=token)
    except ApiError:
        return None
    return now if isinstance(now, dict) else None


@router.post("/act", dependencies=[Depends(csrf.verify)])
async def act(
    request: Request,
    op: str = Form(..., max_length=40),
    id: str = Form(..., max_length=100),
    sub: str = Form("", max_length=100),
    action: str = Form("", max_length=40),
    reason: str = Form("", max_length=2000),
    idem: str = Form(..., min_length=8, max_length=100),
    row: str = Form("", max_length=20),
    user: User = Depends(signed_in("officer", "admin")),
    api: Services = Depends(services),
) -> Response:
    spec = OPS.get(op)
    problem: str | None = None
    known = (
        spec is not None
        and queues.valid_id(id)
        and (not spec.needs_sub or queues.valid_id(sub))
        and (
            op != "filing" or action in queues.OFFICER_ACTIONS or action in queues.ACCEPT_DECISIONS
        )
    )
    if spec is None or not known:
        problem = msg("this action is not known", "无法识别的操作")
    elif user.role not in spec.roles:
        problem = msg("your role may not do this", "您的角色无权执行此操作")
    elif (spec.needs_reason or (op == "filing" and action == "reject")) and not reason.strip():
        problem = msg("give a reason", "请填写原因")
    # The status of a refusal: htmx shows it beside the form, which stays so
    # the user can correct it and send again.
    status = 200 if problem is None else 403 if user.role not in spec_roles(spec) else 422
    result: Any = None
    called = False
    if problem is None and spec is not None:
        path = spec.path.format(id=id, sub=sub, action=queues.api_action(action))
        called = True
        try:
            result = await api.post(
                spec.service,
                path,
                token=user.token,
                json=spec.body(reason.strip(), action),
                idempotency_key=idempotency_key(user.sub, idem),
            )
        except ApiError as exc:
            status = exc.status if 400 <= exc.status < 500 else 503 if exc.status == 503 else 502
            if op == "filing" and queues.stale(exc.problem, queues.api_action(action)):
                # Another officer (or the applicant) moved the filing on
                # since the page was drawn: said plainly, with the filing as
                # it is now, never the API's codes or actions the console
                # does not offer.
                now = await _filing_now(api, user.token, id)
                state = str((now or {}).get("status") or exc.problem.get("state") or "")
                # Redrawn: the filing's row (htmx), or the whole page the
                # browser is sent back to.
                redrawn = now is not None and (row == "filing" or not is_htmx(request))
                problem = queues.stale_said(state, redrawn=redrawn)
                result = now
            else:
                # A refused field is said once, by the form's words (the
                # detail repeats it with the API's field name).
                problem = session_ended() if exc.status == 401 else exc.said()
    done = msg("Done", "已办理") if problem is None else None
    said = queues.outcome(op, action, result) if problem is None else None
    # The tabs' counts, read again once the service has answered (done, or
    # refused: another officer may have acted first), go with the answer to
    # replace the page's (htmx out-of-band): 收回待确认 (5) after a reclaim
    # was rejected read (5) until the page was reloaded. Not after a service
    # failure: the queues would be read from the service that just failed.
    tabs: dict[str, Any] = {}
    if is_htmx(request) and called and status < 500:
        tabs = {"tabs_oob": True, "counts": (await read_queues(api, user.token)).counts()}
    if is_htmx(request) and op == "filing" and row == "filing" and isinstance(result, dict):
        # The filing's row drawn again from the filing as it now is: its
        # status, statutory deadline and countdown, and its next actions.
        text = problem or (f"{done} — {said}" if said else done or "")
        response = render(
            request,
            "workbench/_filing_row.html",
            status_code=status,
            f=result,
            queues=queues,
            may_act=True,
            new_key=lambda: uuid.uuid4().hex,
            note={"ok": problem is None, "text": text},
            **tabs,
        )
        response.headers["HX-Retarget"] = f'tr[data-filing="{id}"]'
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    if is_htmx(request):
        return render(
            request,
            "workbench/_result.html",
            status_code=status,
            ok=problem is None,
            text=problem or done,
            result=result,
            op=op,
            action=action,
            outcome=said,
            **tabs,
        )
    from console.web import flash

    if problem:
        flash(request, problem, "error")
    else:
        flash(request, f"{done} — {said}" if said else done or "", "ok")
    return RedirectResponse("/console/workbench/", status_code=303)
