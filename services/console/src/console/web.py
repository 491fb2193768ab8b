"""Rendering: the Jinja2 environment, the language of a request, formats
people read (Beijing dates, tonnes), and the common page context."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import structlog
from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from svc_common import calendar, context, districts, i18n
from svc_common.auth import SYSTEM_SUB, role_name, same_person
from svc_common.calendar import CHINA_STANDARD_TIME
from svc_common.districts import DISTRICTS
from svc_common.i18n import msg, title
from svc_common.security_headers import BASE_HEADERS
from svc_common.types import utcnow

from console.api import ApiError
from console.auth import csrf
from console.auth.users import DEV_USERS, User, from_session

HERE = Path(__file__).parent
#: Beijing time, the one clock people read (svc_common.calendar).
BEIJING = CHINA_STANDARD_TIME
LANG_COOKIE = "envbureau_lang"

templates = Jinja2Templates(directory=HERE / "templates")


def parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        t = value
    elif isinstance(value, str) and value:
        try:
            t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def in_beijing(t: dt.datetime) -> dt.datetime:
    """`t` in Beijing time; an instant within eight hours of the calendar's
    end (9999-12-31, a "never expires" some systems write) has no Beijing
    time, and stays in UTC rather than failing the page."""
    try:
        return t.astimezone(BEIJING)
    except OverflowError:
        return t.astimezone(dt.UTC)


def beijing(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant as people in the bureau read it: Beijing time."""
    t = parse_time(value)
    return in_beijing(t).strftime(fmt) if t else (str(value) if value else "")


_INSTANT_IN_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def beijing_in_text(value: Any) -> str:
    """Text with instants written in it (a register entry's references:
    `effective_from=2026-12-02T17:55:14.664173+00:00`), each shown in
    Beijing time to the second."""
    return _INSTANT_IN_TEXT.sub(lambda m: beijing(m.group(), "%Y-%m-%d %H:%M:%S"), str(value))


def beijing_date(value: Any) -> str:
    if isinstance(value, str) and len(value) == 10:
        return value  # already a calendar date
    return beijing(value, "%Y-%m-%d")


def today_beijing() -> dt.date:
    return utcnow().astimezone(BEIJING).date()


def days_until(value: Any) -> int | None:
    """Whole Beijing calendar days from today to a deadline (negative: past)."""
    if isinstance(value, str) and len(value) == 10:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return None
    else:
        t = parse_time(value)
        if t is None:
            return None
        day = in_beijing(t).date()
    return (day - today_beijing()).days


def deadline_day(value: Any) -> str:
    """The Beijing date, as `YYYY-MM-DD`, of a deadline a service writes as
    the first instant after its day (svc_common.calendar.end_of_day: 00:00
    in Beijing the day after, as supervision-svc's complaint clocks are):
    the day it is met on, not the day after. "" for what is no instant."""
    t = parse_time(value)
    return "" if t is None else calendar.deadline_day(t).isoformat()


def dec(value: Any) -> Decimal:
    """A service's amount as a Decimal; 0 for what is not a finite number
    ("Infinity" would fail the page where it is rounded)."""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return d if d.is_finite() else Decimal(0)


def tonnes(value: Any) -> str:
    """A tonnage as the API gives it (≤ 3 decimals), grouped by thousands."""
    d = dec(value).quantize(Decimal("0.001"))
    return f"{d:,.3f}"


def district_name(code: str) -> str:
    """A district by its name in the page's language (Chinese or English)."""
    return districts.district_name(code)


def countdown(value: Any) -> str:
    n = days_until(value)
    if n is None:
        return ""
    if n < 0:
        return i18n.msg(f"{-n} days overdue", f"已超期 {-n} 天")
    if n == 0:
        return i18n.msg("due today", "今日到期")
    return i18n.msg(f"{n} days left", f"剩余 {n} 天")


def lang_href(request: Request, lang: str) -> str:
    """This page in another language, its question kept (a verification's
    number and code, say) and `lang` set. Only short values are kept: a page
    never repeats a long input back (an error page for one, say)."""
    kept = [
        (k, v)
        for k, v in request.query_params.multi_items()[:20]
        if k != "lang" and len(k) <= 32 and len(v) <= 64
    ]
    return "?" + urlencode([*kept, ("lang", lang)])


def people(request: Request, user: User | None) -> dict[str, str]:
    """The names the console knows people by, login id → name: the
    development users' (only when they can sign in) and the signed-in
    user's own. With OpenID Connect there is no directory to ask: anyone
    else shows by login id."""
    known = {u.sub: u.name for u in DEV_USERS} if request.app.state.settings.dev_login else {}
    if user is not None:
        known[user.sub] = user.name
    return known


@pass_context
def person(context: Mapping[str, Any], sub: Any) -> Markup | str:
    """A person a service names by login id (who proposed a case, set a
    grade, drew a plan; an inspector) by the name the console knows them by
    (`people`, in the page's context), the login id in its title; one it
    does not know as it is; the services' own actions 系统; nothing for
    none."""
    if sub in (None, ""):
        return ""
    if sub == SYSTEM_SUB:
        return msg("system", "系统")
    name = (context.get("people") or {}).get(str(sub))
    if not name or name == str(sub):
        return str(sub)
    return Markup('<span class="person" title="{}">{}</span>').format(str(sub), name)


templates.env.globals.update(
    msg=i18n.msg,
    DISTRICTS=DISTRICTS,
    district_name=district_name,
    role_name=role_name,
    lang_href=lang_href,
    # Four eyes' reading of two subs (a candidate "entered by you").
    same_person=same_person,
)
templates.env.filters.update(
    beijing=beijing,
    beijing_date=beijing_date,
    deadline_day=deadline_day,
    beijing_in_text=beijing_in_text,
    tonnes=tonnes,
    person=person,
    countdown=countdown,
    days_until=days_until,
    tojson_attr=lambda v: json.dumps(v, ensure_ascii=False),
)


#: A record's id as supervision-svc makes them (a UUID).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    """Whether an id in an address is a UUID: anything else is no alert's or
    complaint's, said without asking the service."""
    return bool(_UUID.fullmatch(value))


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def flash(request: Request, text: str, kind: str = "ok") -> None:
    items = list(request.session.get("flash", []))[-4:]
    items.append({"text": text, "kind": kind})
    request.session["flash"] = items


#: Where a form refused without htmx keeps what was typed, and why it was
#: refused, until its page is drawn again (the session's, as its flashes):
#: `page`, `form` (which form of the page), `typed` (its fields as typed),
#: `problem` and `field` (the field the refusal names, None for the form),
#: and a `link` (`href`, `text`) to what the refusal names, if any.
DRAFT = "draft"
#: The most a draft keeps of what was typed, as JSON (the session is the
#: signed cookie, which a browser drops past 4 KB — signing the user out —
#: with the CSRF token and the flashes in it too): a field that would take
#: it past this is not kept, its refusal still said.
DRAFT_BUDGET = 1200


def _within_budget(typed: Mapping[str, str]) -> dict[str, str]:
    """What was typed, each field kept whole while the draft stays within
    `DRAFT_BUDGET` (a field too long to keep is left out)."""
    kept: dict[str, str] = {}
    used = 0
    for name, value in typed.items():
        size = len(json.dumps({name: value}))
        if used + size <= DRAFT_BUDGET:
            kept[name] = value
            used += size
    return kept


def field_named(field: str | None, fields: Iterable[str]) -> str | None:
    """The form's field a refusal names (a service's `allowed_measure.percent`
    is the form's `percent`, a `measure` its `kind`), or None when it
    names none of `fields` (the refusal is the form's)."""
    fields = list(fields)
    for name in (field, (field or "").rsplit(".", 1)[-1]):
        if name in fields:
            return name
    return "kind" if field in ("allowed_measure", "measure") and "kind" in fields else None


def drafted(request: Request, form: str) -> dict[str, Any] | None:
    """What was typed in `form` of this page when it was last refused
    without htmx (its `typed`, `problem`, `field`), else None; `render`
    forgets it once the page is drawn."""
    draft = request.session.get(DRAFT)
    if (
        isinstance(draft, dict)
        and draft.get("page") == request.url.path
        and draft.get("form") == form
        and isinstance(draft.get("typed"), dict)
    ):
        return draft
    return None


def back_to(
    request: Request,
    page: str,
    problem: str | None,
    said: str | None,
    *,
    form: str | None = None,
    typed: Mapping[str, str] | None = None,
    field: str | None = None,
    link: Mapping[str, str] | None = None,
) -> Response:
    """An action's form sent without htmx (post/redirect/get): its outcome
    (the refusal, or 已办理 — what became of its object) flashed, and the
    browser sent back to `page` (303), so a reload sends nothing again.
    Every page's actions end so: the workbench's, a complaint's. A refused
    `form` keeps what was `typed` for the page drawn again (`DRAFT`), the
    refusal said beside its `field` (or the form, for none), with the
    `link` (`href`, `text`) to what it names if any; a field too long to
    keep in the session cookie (`DRAFT_BUDGET`) comes back empty."""
    if problem:
        flash(request, problem, "error")
        if form is not None:
            fields = dict(typed or {})
            request.session[DRAFT] = {
                "page": page.split("?", 1)[0],
                "form": form,
                "typed": _within_budget(fields),
                "problem": problem,
                "field": field_named(field, fields),
            }
            if link:
                request.session[DRAFT]["link"] = {"href": link["href"], "text": link["text"]}
    else:
        done = msg("Done", "已办理")
        flash(request, f"{done} — {said}" if said else done, "ok")
    return RedirectResponse(page, status_code=303)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """A page or fragment with what every template needs."""
    user = from_session(request)
    flashes = request.session.pop("flash", []) if not is_htmx(request) else []
    # A refused form's draft is for one drawing of its page.
    draft = request.session.pop(DRAFT, None) if not is_htmx(request) else None
    base = {
        "user": user,
        "people": people(request, user),
        "lang": i18n.lang(),
        "csrf": csrf.token(request),
        "flashes": flashes,
        "draft": draft
        if isinstance(draft, dict) and draft.get("page") == request.url.path
        else None,
        "path": request.url.path,
        "query": str(request.url.query),
        "now_beijing": utcnow().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
        "dev_login": request.app.state.settings.dev_login,
    }
    return templates.TemplateResponse(request, name, base | context, status_code=status_code)


def render_with_failure(
    request: Request, name: str, failed: ApiError | None, **context: Any
) -> Response:
    """A page that shows what it could read and says by its status what it
    could not: `failed`, a read of a service that failed, gives the status
    (the service's 4xx for a refusal, 502 for a bad answer, 503 for a
    service out) and the headers (Retry-After on a 503), so a monitor, a
    cache or a crawler does not take the page for a whole one; 200 when
    nothing failed."""
    response = render(request, name, status_code=failed.page_status if failed else 200, **context)
    if failed is not None:
        response.headers.update(failed.page_headers)
    return response


def problem_page(
    request: Request,
    status: int,
    detail: str,
    heading: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The console's own error page (a fragment for htmx, shown where the
    action was), in the user's language. Never carries what was sent."""
    if is_htmx(request):
        response = render(request, "_problem.html", status_code=status, text=detail)
    else:
        response = render(
            request,
            "error.html",
            status_code=status,
            heading=heading or title(status),
            detail=detail,
        )
    response.headers.update(headers or {})
    return response


def session_ended() -> str:
    return msg("Your session has ended: sign in again.", "登录已失效，请重新登录")


log = structlog.get_logger(__name__)


def unexpected_page(request: Request) -> Response:
    """The page of an exception no handler answers (a fault of the console's
    own): 500, in the user's language, with the request's id (the one its
    log lines carry: X-Request-ID) for staff to quote, never what failed (a
    fragment for htmx, said where the action was)."""
    request_id = context.current().request_id or ""
    detail = msg(
        "The console failed to serve this request; the fault has been logged. Please try "
        "again; if it happens again, give the administrators the request number.",
        "控制台处理此请求时出错，错误已记录。请重试；如再次出现，请向管理员提供请求编号。",
    )
    if is_htmx(request):
        number = msg(f" Request number: {request_id}", f"请求编号：{request_id}")
        return render(request, "_problem.html", status_code=500, text=detail + number)
    return render(
        request,
        "error.html",
        status_code=500,
        heading=msg("Something went wrong", "出错了"),
        detail=detail,
        request_id=request_id,
    )


def answer_unexpected(request: Request, exc: Exception) -> Response:
    """An exception no handler of the console answers (the `answer` of
    svc_common's UnexpectedErrors, innermost: the page in the user's
    language, for the user signed in): logged with its traceback and the
    request's ids (`unhandled error`, as the services log theirs), and
    answered with the console's own 500 page instead of Starlette's
    plain-text "Internal Server Error". A service out is not this: the
    console's API calls raise `ApiError`, its 503 page."""
    log.exception("unhandled error", path=request.url.path)
    return unexpected_page(request)


class LanguageMiddleware:
    """The page language: `?lang=` (remembered in a cookie), else the cookie,
    else Accept-Language; zh-CN by default. API calls made for the page ask
    the services for the same language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        asked = (query.get("lang") or [""])[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cookie = cookie_parser(headers.get("cookie", "")).get(LANG_COOKIE, "")
        chosen: i18n.Lang
        if asked in ("zh", "en"):
            chosen = "zh" if asked == "zh" else "en"
        elif cookie in ("zh", "en"):
            chosen = "zh" if cookie == "zh" else "en"
        else:
            chosen = i18n.negotiate(headers.get("accept-language"))

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                # The page's language, not only Accept-Language's (which the
                # request middleware outside would otherwise say).
                if not any(k.lower() == b"content-language" for k, _ in headers):
                    headers.append((b"content-language", i18n.CONTENT_LANGUAGE[chosen]))
                if asked in ("zh", "en"):
                    value = f"{LANG_COOKIE}={chosen}; Path=/; Max-Age=31536000; SameSite=Lax"
                    headers.append((b"set-cookie", value.encode()))
            await send(message)

        with i18n.use(chosen):
            await self.app(scope, receive, send_with_cookie)


SECURITY_HEADERS = {
    **BASE_HEADERS,
    # Every script and style is served by the console itself; no inline script.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}


class NoStore:
    """Every page and answer of the console is `Cache-Control: no-store`
    unless it says otherwise (the static files and the icon, which hold
    nothing of anyone's). A browser keeps a page it may store in its
    back-forward cache and shows it again on Back without asking: after
    退出, on a shared computer, the next person saw the enterprise record or
    the workbench of the one who signed out (and a workbench form drawn
    again from the cache carried a used Idempotency-Key)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/console/static/"):
            await self.app(scope, receive, send)
            return

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(bytes(k).lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, add)


class RelativeRedirects:
    """A redirect to the console's own address says only its path and
    query. Starlette's trailing-slash redirect (`/console/workbench` →
    `/console/workbench/`) wrote the whole address from the request's
    `Host` header, so `Host: evil.example` was answered `Location:
    http://evil.example/console/workbench/`: an address of another site
    taken from what the client sent (Host header injection, a poisoned
    cache's redirect). A Location on the host the request named is cut to
    its path; one elsewhere (the identity provider's sign-in) is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((bytes(v) for k, v in scope["headers"] if k.lower() == b"host"), None)

        async def relative(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [
                    (k, _own_path(bytes(v), host) if bytes(k).lower() == b"location" else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, relative)


def _own_path(location: bytes, host: bytes | None) -> bytes:
    """`location` without its scheme and host when that host is `host`."""
    scheme, sep, rest = location.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https") or host is None:
        return location
    netloc, slash, path = rest.partition(b"/")
    if netloc.lower() != host.lower():
        return location
    return slash + path or b"/"


def worded(table: Mapping[str, tuple[str, str]], code: Any) -> str:
    """A code by its words in the reader's language (the code itself if a
    service adds one the console does not know, rather than words it does
    not mean)."""
    words = table.get(str(code or ""))
    return msg(*words) if words else str(code or "")
