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
from fastapi.responses import Response
from svc_common.i18n import msg

from console.actions import act_field, act_form
from console.api import ApiError, Services, idempotency_key
from console.auth import csrf
from console.auth.users import User
from console.companies import company_names
from console.deps import services, signed_in
from console.pages.workbench import queues
from console.web import back_to, days_until, is_htmx, render, session_ended

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


#: The permits the workbench lists: those expiring within this many days.
EXPIRING_DAYS = 60

#: The queues' tabs, in order, and what each is drawn from.
TABS = (
    "filings",
    "overdue",
    "blocked",
    "parked",
    "applications",
    "reclaims",
    "checks",
    "expiring",
    "findings",
)
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
    #: Approved filings permit-svc could not draft (industry unclassified).
    parked: list[dict[str, Any]]
    #: Permit applications awaiting a decision (核发 or 不予许可).
    applications: list[dict[str, Any]]
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
    # Approved filings permit-svc parked (their industry not in the
    # classification table), the longest waiting first: of the user's
    # districts, as permit-svc answers for the token.
    parked = await reads(
        "parked",
        api.all_pages(
            "permit",
            "/permit/parked-filings",
            token=t,
            params={"state": "waiting"},
            max_items=500,
        ),
    )
    # Permit applications awaiting a decision, the longest waiting first: of
    # the user's districts, as permit-svc answers for the token.
    applications = await reads(
        "applications",
        api.all_pages(
            "permit",
            "/permit/permits",
            token=t,
            params={"status": "applied"},
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
            "permit",
            "/permit/permits",
            token=t,
            params={"expiring_within_days": EXPIRING_DAYS},
            max_items=500,
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
        parked=parked,
        applications=queues.by_waiting(applications),
        reclaims=reclaims,
        checks=checks,
        expiring=expiring,
        findings=queues.open_findings(audits),
        errors=sorted(set(reads.errors)),
        unseen=unseen,
    )


@router.get("/")
async def workbench(
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
) -> Response:
    t = user.token
    q = await read_queues(api, t)
    filings, checks, expiring, findings = q.filings, q.checks, q.expiring, q.findings
    known = [*filings, *checks, *expiring, *q.parked, *q.applications]
    # An audit names its enterprise by USCC only.
    companies = await company_names(api, t, (f.uscc for f in findings), known)
    return render(
        request,
        "workbench/index.html",
        queues=queues,
        filings=filings,
        overdue=q.overdue,
        blocked=q.blocked,
        parked=q.parked,
        applications=q.applications,
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
        # Re-driving a parked filing is an administrator's (permit-svc's).
        may_redrive=user.role in OPS["parked-redrive"].roles,
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
    #: The queue whose row the action's form is in (`ROWS`): a stale
    #: refusal redraws or removes that row.
    queue: str | None = None
    #: The service's name of the action (its illegal transition names it);
    #: a filing's is the form's own.
    verb: str = ""


def _no_body(_: str, __: str) -> None:
    return None


#: The filing actions that take a reason (a decision's note; reject's is
#: required): the others take no body at all.
FILING_REASONS = ("approve", "reject", "withdraw")


def _filing_body(reason: str, action: str) -> dict[str, Any] | None:
    if action in queues.ACCEPT_DECISIONS:  # the officer's decision on a major claim
        return {"green_channel": queues.ACCEPT_DECISIONS[action]}
    return {"reason": reason} if reason and action in FILING_REASONS else None


def _sends_reason(op: str, action: str) -> bool:
    """Whether the action's body carries the form's reason (the others
    ignore it)."""
    return op in queues.REASON_MAX and (op != "filing" or action in FILING_REASONS)


OPS: dict[str, Op] = {
    "filing": Op(
        "eia", "/eia/filings/{id}/{action}", ("officer", "admin"), _filing_body, queue="filing"
    ),
    "reclaim-confirm": Op(
        "quota",
        "/quota/reclaims/{id}/confirm",
        ("officer",),
        _no_body,
        queue="reclaim",
        verb="confirm",
    ),
    "reclaim-reject": Op(
        "quota",
        "/quota/reclaims/{id}/reject",
        ("officer",),
        lambda r, _: {"reason": r},
        True,
        queue="reclaim",
        verb="reject",
    ),
    "check-clear": Op(
        "eia",
        "/eia/review-queue/{id}/clear",
        ("officer", "admin"),
        _no_body,
        queue="check",
        verb="clear",
    ),
    "check-revoke": Op(
        "eia",
        "/eia/registrations/{id}/revoke",
        ("officer", "admin"),
        lambda r, _: {"reason": r},
        True,
        queue="check",
        verb="revoke",
    ),
    "permit-renew": Op(
        "permit",
        "/permit/permits/{id}/renew",
        ("officer", "admin"),
        _no_body,
        queue="permit",
        verb="renew",
    ),
    # A permit application decided: 核发 (a change application's: 核准变更,
    # merged into the permit it changes) or 不予许可. issue's 409 (the VOCs
    # increase not backed by allocated quota, the enterprise holding a
    # permit already, the permit to change no longer in force) is said
    # beside the row in permit-svc's words.
    "permit-issue": Op(
        "permit",
        "/permit/permits/{id}/issue",
        ("officer", "admin"),
        _no_body,
        queue="application",
        verb="issue",
    ),
    "permit-reject": Op(
        "permit",
        "/permit/permits/{id}/reject",
        ("officer", "admin"),
        lambda r, _: {"reason": r},
        True,
        queue="application",
        verb="reject",
    ),
    # A 409 (still unclassified, or drafted already) is said as any refusal.
    "parked-redrive": Op(
        "permit",
        "/permit/parked-filings/{id}/redrive",
        ("admin",),
        _no_body,
        verb="redrive",
    ),
    "finding-rectify": Op(
        "permit",
        "/permit/audits/{id}/findings/{sub}/rectify",
        ("officer", "admin"),
        lambda r, _: {"note": r or None},
        needs_sub=True,
        queue="finding",
        verb="rectify",
    ),
}


def spec_roles(spec: Op | None) -> tuple[str, ...]:
    return spec.roles if spec is not None else ("officer", "admin")


@dataclass
class Now:
    """Where an object a stale action concerned stands now: in words (never
    its code), the object as its service answers now when it was read, and
    whether it still belongs in its queue (its row redrawn) or not (its row
    removed)."""

    said: str
    item: dict[str, Any] | None = None
    listed: bool = False

    @property
    def known(self) -> bool:
        """Whether where it stands is known (it was read, or the refusal
        said): else the page is to be reloaded, its row left as it is."""
        return bool(self.said) or self.item is not None


async def _read(api: Services, token: str, service: str, path: str) -> dict[str, Any] | None:
    """An object as its service has it now, or None when it cannot be read."""
    try:
        now = await api.get(service, path, token=token)
    except ApiError:
        return None
    return now if isinstance(now, dict) else None


async def _filing_now(api: Services, token: str, id: str, problem: dict[str, Any]) -> Now:
    now = await _read(api, token, "eia", f"/eia/filings/{id}")
    state = str((now or {}).get("status") or problem.get("state") or "")
    # Drawn again whatever its state (a decided filing's row says 已办结).
    return Now(queues.status_label(state) if state else "", now, listed=True)


async def _reclaim_now(api: Services, token: str, id: str, problem: dict[str, Any]) -> Now:
    # quota-svc reads no single candidate: its refusal names the state.
    state = str(problem.get("state") or "")
    return Now(queues.result_label("reclaim", state) if state else "", None, state == "pending")


async def _check_now(api: Services, token: str, id: str, problem: dict[str, Any]) -> Now:
    # The filing as eia-svc has it now: its check's state (a revoked filing
    # that was sampled says so there too), else the state the refusal named.
    now = await _read(api, token, "eia", f"/eia/registrations/{id}")
    state = str((now or {}).get("review_status") or problem.get("state") or "")
    listed = now is not None and state == "pending" and now.get("status") == "filed"
    # The queue's rows are not drawn alone: a row that left it is removed.
    return Now(queues.check_label(state) if state else "", None, listed)


async def _finding_now(api: Services, token: str, id: str, problem: dict[str, Any]) -> Now:
    # permit-svc reads no single audit: its refusal names the finding's state.
    state = str(problem.get("state") or "")
    return Now(queues.status_label(state) if state else "", None, state == "open")


async def _permit_now(api: Services, token: str, id: str, problem: dict[str, Any]) -> Now:
    now = await _read(api, token, "permit", f"/permit/permits/{id}")
    state = str((now or {}).get("status") or problem.get("state") or "")
    valid_to = str((now or {}).get("valid_to") or problem.get("valid_to") or "")
    left = days_until(valid_to) if valid_to else None
    # Still in the reminder list: in force (permit-svc's `IN_FORCE`) and
    # ending within its days.
    listed = (
        now is not None
        and state in queues.PERMITS_IN_FORCE
        and left is not None
        and left <= EXPIRING_DAYS
    )
    if state in ("", "issued") and valid_to and (left is None or left > EXPIRING_DAYS):
        # Renewed by someone else: its status stays issued, its term moved on.
        return Now(msg(f"renewed, valid to {valid_to}", f"已延续，有效期至 {valid_to}"), now, False)
    said = queues.status_label(state) if state else ""
    if said and valid_to:
        said += msg(f", valid to {valid_to}", f"，有效期至 {valid_to}")
    return Now(said, now, listed)


async def _application_now(api: Services, token: str, id: str, problem: dict[str, Any]) -> Now:
    now = await _read(api, token, "permit", f"/permit/permits/{id}")
    state = str((now or {}).get("status") or problem.get("state") or "")
    said = queues.application_said(now or {"status": state}) if state else ""
    # Decided by someone else: it left the queue, its row says how.
    return Now(said, now, listed=now is not None and state == "applied")


@dataclass(frozen=True)
class Row:
    """A queue whose rows a stale action redraws (from its object now) or
    removes (when it no longer belongs in the queue): one mechanism for every
    queue's actions, the filing's first."""

    #: The row's `data-<queue>` attribute names it; the form's `row` field.
    queue: str
    #: Where the object stands now (`Now`).
    now: Callable[[Services, str, str, dict[str, Any]], Awaitable[Now]]
    #: The row drawn again, or None: the row is removed once stale.
    template: str | None
    #: The row's columns (a removed row's note spans them).
    columns: int
    #: The template's name for the object drawn.
    item: str = "item"

    def key(self, id: str, sub: str) -> str:
        return f"{id}/{sub}" if sub else id

    def selector(self, id: str, sub: str) -> str:
        return f'tr[data-{self.queue}="{self.key(id, sub)}"]'


ROWS = {
    "filing": Row("filing", _filing_now, "workbench/_filing_row.html", 7, item="f"),
    "reclaim": Row("reclaim", _reclaim_now, None, 6),
    "check": Row("check", _check_now, None, 4),
    "permit": Row("permit", _permit_now, "workbench/_permit_row.html", 5, item="p"),
    "application": Row(
        "application", _application_now, "workbench/_application_row.html", 7, item="a"
    ),
    "finding": Row("finding", _finding_now, None, 5),
}


def _row_response(
    request: Request,
    kind: Row,
    id: str,
    sub: str,
    item: dict[str, Any] | None,
    status: int,
    note: dict[str, Any],
    tabs: dict[str, Any],
) -> Response:
    """The row of an action's object drawn again from `item` (the object as
    it now is), or, without one, replaced by the action's note (the object
    left the queue): swapped for the row the form was in."""
    context: dict[str, Any] = {"note": note, "queues": queues, "may_act": True, **tabs}
    if item is not None and kind.template is not None:
        context |= {kind.item: item, "new_key": lambda: uuid.uuid4().hex}
        response = render(request, kind.template, status_code=status, **context)
    else:
        response = render(
            request,
            "workbench/_gone_row.html",
            status_code=status,
            queue=kind.queue,
            key=kind.key(id, sub),
            columns=kind.columns,
            **context,
        )
    response.headers["HX-Retarget"] = kind.selector(id, sub)
    response.headers["HX-Reswap"] = "outerHTML"
    return response


@router.post("/act", dependencies=[Depends(csrf.verify)])
async def act(
    request: Request,
    op: str = Form(..., max_length=40),
    id: str = Form(..., max_length=100),
    sub: str = Form("", max_length=100),
    action: str = Form("", max_length=40),
    # Past this the form is refused unread; below it, the reason's own
    # maximum (`queues.REASON_MAX`) is said on the form.
    reason: str = Form("", max_length=10_000),
    idem: str = Form(..., min_length=8, max_length=100),
    row: str = Form("", max_length=20),
    user: User = Depends(signed_in("officer", "admin")),
    api: Services = Depends(services),
) -> Response:
    spec = OPS.get(op)
    problem: str | None = None
    field: str | None = None
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
    elif _sends_reason(op, action) and (
        wrong := queues.reason_problem(
            op, reason, required=spec.needs_reason or (op == "filing" and action == "reject")
        )
    ):
        problem, field = wrong, "reason"
    # The status of a refusal: htmx shows it beside the form, which stays so
    # the user can correct it and send again.
    status = 200 if problem is None else 403 if user.role not in spec_roles(spec) else 422
    result: Any = None
    called = False
    #: The row to swap for the form's: its queue and the object to draw it
    #: from (None: the object left the queue, the row goes).
    stale_row: tuple[Row, dict[str, Any] | None] | None = None
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
            verb = queues.api_action(action) if op == "filing" else spec.verb
            kind = ROWS.get(spec.queue or "")
            if kind is not None and queues.stale(exc.problem, verb, op):
                # Someone else (another officer, the applicant) moved the
                # object on since the page was drawn: said plainly, with where
                # it stands now, never the API's codes or actions the console
                # does not offer; its row drawn again from it as it now is,
                # or removed once it left the queue (or the whole page the
                # browser is sent back to).
                now = await kind.now(api, user.token, id, exc.problem)
                in_row = is_htmx(request) and row == kind.queue
                redrawn = not is_htmx(request) or (
                    in_row and now.known and (now.item is not None or not now.listed)
                )
                problem = queues.stale_said(now.said, redrawn=redrawn, queue=kind.queue)
                if in_row and redrawn:
                    stale_row = (kind, now.item if now.listed else None)
                result = now.item
            else:
                # A refused field is said once, by the form's words (the
                # detail repeats it with the API's field name).
                problem = session_ended() if exc.status == 401 else exc.said()
                field = exc.field
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
    if (
        stale_row is None
        and is_htmx(request)
        and op == "filing"
        and row == "filing"
        and isinstance(result, dict)
    ):
        # Done: the filing's row drawn again from the filing as it now is:
        # its status, statutory deadline and countdown, and its next actions.
        stale_row = (ROWS["filing"], result)
    if stale_row is not None:
        text = problem or (f"{done} — {said}" if said else done or "")
        kind, item = stale_row
        note = {"ok": problem is None, "text": text}
        return _row_response(request, kind, id, sub, item, status, note, tabs)
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
    return back_to(
        request,
        "/console/workbench/",
        problem,
        said,
        form=act_form(op, id, sub, action),
        typed={"reason": reason},
        field=act_field(field),
    )
