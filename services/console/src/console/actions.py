"""An action's form on a record's page (办理), sent to the service and
answered: the steps every such form shares, whatever its record (a
complaint, an enforcement case, an item of the demands list).

The form is checked first by its page (`refused` when it fails: nothing
sent); `send` posts it with the user's token and the form's
Idempotency-Key and says a refusal in the reader's words (a record someone
else moved on since the page was drawn said as such, never the API's codes);
`answer` ends the request: post/redirect/get without htmx, else the record
redrawn from the service's answer or the refusal said beside its form.
`Act` is one such action as its page offers it: its button, the body it
sends and its text, checked as the service checks it (`Act.text_problem`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from svc_common.i18n import msg

from console.api import ApiError, Services, idempotency_key
from console.auth.users import User
from console.pages.workbench import queues
from console.web import back_to, is_htmx, render, session_ended

#: A record's state in the reader's words ("" when unknown).
StateLabel = Callable[[str], str]
#: The record's part of its page drawn again from the service's answer,
#: with the note saying what became of it.
Redraw = Callable[[dict[str, Any], dict[str, Any]], Awaitable[Response]]


@dataclass(frozen=True)
class Act:
    """One of a record's actions the console offers (a complaint's, a
    case's, an item of the demands list's): its button, and the body sent
    from the form's text and choice, only the fields the action takes (the
    service refuses any other)."""

    label: tuple[str, str]
    body: Callable[[str, str], dict[str, Any] | None]
    #: The form's text: what it is called and asked for when blank, its
    #: maximum (the service field's, which the tests hold to its schema),
    #: whether it may be left blank, and whether it is long (a textarea).
    text: tuple[tuple[str, str], tuple[str, str]] | None = None
    most: int = 0
    optional: bool = False
    long: bool = False
    danger: bool = False

    def text_problem(self, text: str) -> str | None:
        """Why the service would refuse the form's text, said on the form
        before anything is sent (`queues.text_problem`: blank where it is
        required, unseen characters, too long); None when it takes it, or
        when the action takes no text."""
        if self.text is None:
            return None
        return queues.text_problem(
            text, required=not self.optional, most=self.most, words=self.text
        )


@dataclass(frozen=True)
class Outcome:
    """What became of an action's form: the service's answer, or the
    refusal said with the page's status."""

    result: Any = None
    problem: str | None = None
    status: int = 200
    #: The field the refusal names (the service's first, or the page's),
    #: where a form sent without htmx says it when drawn again.
    field: str | None = None


def refused(problem: str, field: str | None = None) -> Outcome:
    """The form refused by its page, as the service would refuse it."""
    return Outcome(problem=problem, status=422, field=field)


#: The fields of an action's form (`workbench/_form.html`): its text and its
#: choice. A service names the field of its own body (承办人 is `officer`,
#: 办结结果 `outcome`): those of a choice are the form's choice, any other
#: the form's text.
CHOICE_FIELDS = ("outcome", "progress_percent")


def act_form(op: str, record: str, sub: str = "", action: str = "") -> str:
    """The name of an action's form on its page (as `workbench/_form.html`
    names it): its op, its record's id, its sub and action if any."""
    return "-".join(p for p in (op, record, sub, action) if p)


def act_field(field: str | None) -> str | None:
    """The field of an action's form a service's refusal names, if any."""
    if field in (None, "", "body"):
        return None
    return "choice" if field == "choice" or field in CHOICE_FIELDS else "reason"


async def send(
    request: Request,
    api: Services,
    user: User,
    *,
    service: str,
    path: str,
    body: Mapping[str, Any] | None,
    idem: str,
    op: str = "",
    queue: str = "",
    state_label: StateLabel | None = None,
    method: str = "POST",
) -> Outcome:
    """The action posted (`body`, None for an action that takes none) with
    the user's token and the form's key (the same form sent twice is one
    action). A refusal because the record moved on since the page was drawn
    (`op` refused as an illegal transition, for a record with states:
    `state_label`) is said plainly with where it stands now; a session
    ended is said as such; any other refusal in the service's words. A
    change to a record (an item's progress, a grade) is `method` PATCH, PUT
    or DELETE, sent the same way."""
    try:
        result = await api.write(
            method,
            service,
            path,
            token=user.token,
            json=body,
            idempotency_key=idempotency_key(user.sub, idem),
        )
    except ApiError as exc:
        if state_label is not None and queues.stale(exc.problem, op):
            state = str(exc.problem.get("state") or "")
            problem = queues.stale_said(
                state_label(state) if state else "",
                redrawn=not is_htmx(request),
                queue=queue,
            )
        else:
            problem = session_ended() if exc.status == 401 else exc.said()
        return Outcome(problem=problem, status=exc.page_status, field=exc.field)
    return Outcome(result=result)


async def answer(
    request: Request,
    page: str,
    outcome: Outcome,
    state_label: StateLabel,
    redraw: Redraw | None,
    said: Callable[[dict[str, Any]], str | None] | None = None,
    *,
    form: str | None = None,
    typed: Mapping[str, str] | None = None,
    field: Callable[[str | None], str | None] = lambda f: f,
) -> Response:
    """The request's end. Without htmx: back to `page` (post/redirect/get)
    with the outcome flashed. With htmx: the record redrawn from the
    service's answer, or the refusal said beside the form, which keeps what
    was typed. What became of the record is said by its state, or by
    `said` from the answer (an item's progress: 进展 60%; {} for an answer
    with no record, a 204). A page whose forms change more than the record
    they are on (an enterprise's grading) has no `redraw`: with htmx a
    change sends the browser to `page` drawn again, the outcome flashed.
    A refused `form` sent without htmx is drawn again as it was `typed`,
    the refusal beside the field it names (`field`: the form's name for
    the field the refusal names)."""
    result = outcome.result
    told = said(result if isinstance(result, dict) else {}) if said is not None else None
    said_now = told or (
        state_label(str(result["status"]))
        if isinstance(result, dict) and result.get("status")
        else None
    )
    if not is_htmx(request):
        return back_to(
            request,
            page,
            outcome.problem,
            said_now,
            form=form,
            typed=typed,
            field=field(outcome.field),
        )
    done = msg("Done", "已办理")
    if outcome.problem is None and redraw is None:
        back_to(request, page, None, said_now)  # flashed for the page drawn again
        return Response(status_code=200, headers={"HX-Redirect": page})
    if outcome.problem is None and redraw is not None and isinstance(result, dict):
        return await redraw(
            result, {"ok": True, "text": f"{done} — {said_now}" if said_now else done}
        )
    return render(
        request,
        "workbench/_result.html",
        status_code=outcome.status,
        ok=outcome.problem is None,
        text=outcome.problem or done,
        outcome=said_now,
    )
