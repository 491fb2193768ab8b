"""The console's only way to the data: the services' REST APIs, called with
the signed-in user's bearer token and the page's language.

One `httpx.AsyncClient` per service with its base URL; in the embedded
default they all share an in-process ASGI transport to the embedded app, so
nothing goes over a socket. Errors come back as `ApiError` carrying the
service's problem+json (already in the user's language)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import structlog
from svc_common import i18n
from svc_common.i18n import msg
from svc_common.idempotency import MAX_KEY_LENGTH, key_problem

SERVICES = ("permit", "quota", "eia", "supervision")
T = TypeVar("T")
log = structlog.get_logger(__name__)


#: Seconds a page asks to wait before trying again a service it could not
#: reach (a replica restarting, say).
RETRY_UNREACHABLE = "5"


def unavailable_said() -> str:
    """What a page says of a service that failed, could not be reached or
    answered with something other than its problem+json (a proxy's HTML
    error page, a bare `Internal Server Error`): to try again, never the
    service's name, an exception's class or the body it sent (those are
    logged for the operators)."""
    return msg(
        "The service is unavailable just now; please try again shortly.",
        "服务暂不可用，请稍后重试。",
    )


def not_done_said() -> str:
    """A refusal (4xx) that came without the service's problem+json (a
    proxy's page): the request was not done, without its markup."""
    return msg(
        "The request could not be completed; please try again shortly.",
        "请求未能完成，请稍后重试。",
    )


class ApiError(Exception):
    """A service answered with an error (or could not be reached)."""

    def __init__(
        self, status: int, problem: Mapping[str, Any], retry_after: str | None = None
    ) -> None:
        self.status = status
        self.problem = dict(problem)
        #: The service's own Retry-After, or how soon to try one that could
        #: not be reached.
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def page_status(self) -> int:
        """The page's status for this error: the service refusing what the
        user asked (a 4xx: a bad value in the address, a state that refuses
        it) is the same 4xx; a service that failed is 502, one that said it
        is unavailable or could not be reached 503, so the browser, a
        monitor or a cache may try again."""
        if 400 <= self.status < 500:
            return self.status
        return 503 if self.status == 503 else 502

    @property
    def page_headers(self) -> dict[str, str]:
        """The page's headers for this error: Retry-After on a 503."""
        if self.page_status == 503:
            return {"Retry-After": self.retry_after or RETRY_UNREACHABLE}
        return {}

    @property
    def message(self) -> str:
        detail = self.problem.get("detail") or self.problem.get("title") or ""
        if not str(detail).strip():
            # A problem that says nothing: the plain sentence, never "".
            return not_done_said() if 400 <= self.status < 500 else unavailable_said()
        return str(detail)

    @property
    def field_errors(self) -> list[dict[str, str]]:
        errors = self.problem.get("errors")
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []

    @property
    def field(self) -> str | None:
        """The first field the refusal names (the service's `errors`), where
        a form says it; None for one that names none."""
        named = next(iter(self.field_errors), {}).get("field")
        return str(named) if named else None

    def said(self) -> str:
        """What to tell the user: each refused field once, by the words the
        page uses (污染物：…), not the detail repeating the API's field names
        (pollutant: …); the detail when no field is named. A form's key used
        for another request (the form sent again after it was changed) is
        said as what to do, not by the header's name."""
        if str(self.problem.get("type") or "").endswith(":idempotency-key-reused"):
            return msg(
                "This form was already sent with other content: reload the page and act again.",
                "此表单已提交过其他内容，请刷新页面后重新办理。",
            )
        if not self.field_errors:
            return self.message
        return msg("; ", "；").join(field_said(e) for e in self.field_errors)


class PageParts:
    """The parts of a page read from the services, one after another: a
    part whose read fails is noted, its note shown where it would be and
    the page's status saying so (`render_with_failure`); a 401 ends the
    page (the session ended: sign in again). A page asks nothing more of
    the services once one part failed (`if not parts.failed`)."""

    def __init__(self) -> None:
        self.failed: dict[str, ApiError] = {}

    @contextmanager
    def reading(self, name: str) -> Iterator[None]:
        try:
            yield
        except ApiError as exc:
            if exc.status == 401:
                raise
            self.failed[name] = exc

    @property
    def first(self) -> ApiError | None:
        """The first failure, which sets the page's status."""
        return next(iter(self.failed.values()), None)

    def said(self, name: str) -> str | None:
        """The note of part `name`, when its read failed."""
        return self.failed[name].said() if name in self.failed else None


#: The fields a page sends as its forms and addresses name them; a body
#: refused as a whole (field "body") or a field not listed shows its message
#: alone.
FIELD_WORDS = {
    "reason": ("reason", "原因"),
    "note": ("note", "说明"),
    "officer": ("officer", "承办人"),
    "reply": ("reply", "答复内容"),
    "outcome": ("outcome", "办结结果"),
    "pollutant": ("pollutant", "污染物"),
    "district": ("district", "区"),
    "uscc": ("USCC", "统一社会信用代码"),
    "months": ("months", "月数"),
    "code": ("check code", "校验码"),
    "no": ("filing number", "备案号"),
    "cursor": ("page link", "翻页链接"),
    "period": ("period", "抽查期间"),
    "count": ("enterprises to draw", "抽取家数"),
    "share_percent": ("share to draw", "抽取比例"),
    "inspector_pool": ("inspectors", "执法人员库"),
    "from": ("first day", "起始日期"),
    "to": ("last day", "截止日期"),
    "grade": ("grade", "绩效等级"),
    "benchmark": ("benchmark", "标杆"),
    "industry": ("industry", "行业"),
    "valid_from": ("valid from", "有效期起"),
    "valid_to": ("valid to", "有效期止"),
    "basis": ("basis", "评级依据"),
    "allowed_measure": ("measure allowed", "可采取的措施"),
    "allowed_measure.kind": ("measure allowed", "可采取的措施"),
    "allowed_measure.percent": ("reduction (%)", "限产比例"),
    "allowed_measure.processes": ("processes stopped", "停产工序"),
    "level": ("alert level", "预警级别"),
    "measure": ("measure", "减排措施"),
    "measure.kind": ("measure", "减排措施"),
    "measure.percent": ("reduction (%)", "限产比例"),
    "measure.processes": ("processes stopped", "停产工序"),
    # The ids in the addresses the workbench's actions post to: a refused
    # one (over the 64 characters the services take) is named, not said as
    # a bare "最多 64 个字符".
    "filing_id": ("filing id", "文件编号"),
    "reclaim_id": ("reclaim candidate id", "收回候选编号"),
    "rid": ("registration form filing id", "登记表备案编号"),
    "permit_id": ("permit id", "许可证编号"),
    "audit_id": ("audit id", "审核编号"),
    "finding_id": ("audit finding id", "审核问题编号"),
}


def field_label(name: str) -> str | None:
    """A field of the console's forms and addresses as its page names it
    (污染物, 月数, 校验码), or None for one people never see (a form's hidden
    fields): a message then names no field."""
    words = FIELD_WORDS.get(name)
    return msg(*words) if words else None


def field_said(e: Mapping[str, Any]) -> str:
    words = FIELD_WORDS.get(str(e.get("field")))
    text = str(e.get("message") or "")
    return f"{msg(*words)}{msg(': ', '：')}{text}" if words else text


def language_header() -> str:
    return "zh-CN" if i18n.lang() == "zh" else "en"


#: What the part of a key naming the user keeps as it is: printable ASCII
#: but the space and `%`, the escape itself.
_AS_IS_IN_KEY = "".join(c for c in map(chr, range(0x21, 0x7F)) if c != "%")


def idempotency_key(sub: str, idem: str) -> str:
    """The Idempotency-Key of a form's action, `console:<user>:<idem>`. A
    header is ASCII and a `sub` any text (a name the identity provider
    gives): the user is written escaped as in a URL (UTF-8, `%` itself
    too), so a login id of printable ASCII is written as it is, and no two
    users' keys are one. A key that would be longer than the services take
    names the user by a digest of the `sub` instead. `idem` is the form's
    own, sent as it is: the services' rule for a key refuses it if need be
    (`Services.request`)."""
    who = quote(sub, safe=_AS_IS_IN_KEY, errors="surrogatepass")
    key = f"console:{who}:{idem}"
    if len(key) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(sub.encode("utf-8", "surrogatepass")).hexdigest()
        key = f"console:~{digest}:{idem}"
    return key


#: A bearer token as RFC 6750 spells it (b64token): a header can carry it.
_BEARER = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class Services:
    """Clients of permit-svc, quota-svc, eia-svc and supervision-svc."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.urls = dict(urls)
        self.transport = transport
        self.timeout = timeout
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client(self, service: str) -> httpx.AsyncClient:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service}")
        c = self._clients.get(service)
        if c is None or c.is_closed:
            c = httpx.AsyncClient(
                base_url=self.urls.get(service, "http://embedded"),
                transport=self.transport,
                timeout=self.timeout,
            )
            self._clients[service] = c
        return c

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()
        self._clients.clear()

    async def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        token: str | None,
        params: Any = None,
        json: Any = None,
        idempotency_key: str | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        headers = {"Accept-Language": language_header()}
        # What the user's session or form gives is checked before it becomes
        # a header: a header holds ASCII only, and httpx raises otherwise.
        if token:
            if not _BEARER.fullmatch(token):
                raise ApiError(
                    401,
                    {"detail": msg("the session's token is not valid", "会话的令牌无效")},
                )
            headers["Authorization"] = f"Bearer {token}"
        if idempotency_key:
            # The services' own rule (a space, a character past ASCII: 400),
            # answered here for a key that could not even be sent.
            raw = idempotency_key.encode("utf-8", "surrogatepass")
            if (problem := key_problem(raw)) is not None:
                raise ApiError(problem.status, problem.body())
            headers["Idempotency-Key"] = idempotency_key
        if accept:
            headers["Accept"] = accept
        try:
            return await self.client(service).request(
                method, path, params=params, json=json, headers=headers
            )
        except httpx.HTTPError as exc:
            # Which service and what went wrong are the operators' (the log),
            # not the user's: the page says to try again.
            log.warning(
                "service could not be reached",
                service=service,
                method=method,
                path=path,
                error=type(exc).__name__,
                message=str(exc)[:500],
            )
            raise ApiError(
                503,
                {"title": unavailable_title(), "detail": unavailable_said()},
                retry_after=RETRY_UNREACHABLE,
            ) from exc

    async def get(self, service: str, path: str, *, token: str | None, params: Any = None) -> Any:
        r = await self.request("GET", service, path, token=token, params=params)
        return _json_or_raise(r)

    async def post(
        self,
        service: str,
        path: str,
        *,
        token: str | None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """A POST; a state change passes the Idempotency-Key of its form (a
        what-if, which writes nothing, passes none)."""
        return await self.write(
            "POST", service, path, token=token, json=json, idempotency_key=idempotency_key
        )

    async def write(
        self,
        method: str,
        service: str,
        path: str,
        *,
        token: str | None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """A state change by `method` (POST, PUT, DELETE) with its form's
        Idempotency-Key; the answer's JSON, None for a 204."""
        r = await self.request(
            method,
            service,
            path,
            token=token,
            json=json,
            idempotency_key=idempotency_key,
        )
        return _json_or_raise(r)

    async def patch(
        self,
        service: str,
        path: str,
        *,
        token: str | None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """A PATCH (a change to a record, an item's progress), with the
        Idempotency-Key of its form, as a POST."""
        r = await self.request(
            "PATCH", service, path, token=token, json=json, idempotency_key=idempotency_key
        )
        return _json_or_raise(r)

    async def all_pages(
        self,
        service: str,
        path: str,
        *,
        token: str | None,
        params: Mapping[str, Any] | None = None,
        max_items: int = 10_000,
    ) -> list[Any]:
        """Every item of a paginated list (`items`, `next_cursor`), bounded;
        an answer that is no such page is a bad answer (502)."""
        items: list[Any] = []
        query = dict(params or {})
        query.setdefault("limit", 500)
        while True:
            page = page_of(await self.get(service, path, token=token, params=query))
            items.extend(page["items"])
            nxt = page.get("next_cursor")
            if not nxt or len(items) >= max_items:
                return items[:max_items]
            query["cursor"] = nxt


def unavailable_title() -> str:
    return msg("Service unavailable", "服务暂不可用")


def raise_for_problem(r: httpx.Response) -> None:
    """An answer of 400 or more as an ApiError (its problem's detail). An
    answer that is no problem object (a proxy's HTML error page, a plain
    `Internal Server Error`) is logged as it came and said plainly: its
    body is never shown."""
    if r.status_code >= 400:
        try:
            problem = r.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            log.warning(
                "service answered an error without a problem",
                status=r.status_code,
                url=str(r.request.url) if _has_request(r) else None,
                content_type=r.headers.get("content-type"),
                body=r.text[:500],
            )
            if 400 <= r.status_code < 500:
                problem = {"title": msg("Not completed", "请求未能完成"), "detail": not_done_said()}
            else:
                problem = {"title": unavailable_title(), "detail": unavailable_said()}
        raise ApiError(r.status_code, problem, r.headers.get("retry-after"))


def _has_request(r: httpx.Response) -> bool:
    try:
        r.request  # noqa: B018 (raises when the response was made without one)
    except RuntimeError:
        return False
    return True


def _json_or_raise(r: httpx.Response) -> Any:
    raise_for_problem(r)
    if r.status_code == 204 or not r.content:
        return None
    return r.json()


async def gather_limited(calls: Iterable[Awaitable[T]], limit: int = 8) -> list[T]:
    """Await many calls with at most `limit` in flight (a page's fan-out to
    the APIs must not flood a service)."""
    sem = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with sem:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


def page_of(answer: Any) -> Mapping[str, Any]:
    """A service's page of a list (its `items`, its `next_cursor`) as read;
    an answer that is not one is a bad answer (502), never an empty list."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("items"), list):
        raise ApiError(502, {})
    return answer
