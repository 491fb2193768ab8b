"""The administrator's HTTP client of the services' APIs: one base URL (the
embedded default or a gateway) or one per service, a bearer token per role."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from svc_common.settings import DEV_JWT_SECRET
from svc_common.tokens import mint_token

from bureau.services import SERVICES

#: What a 5xx adds: the service is there but cannot answer now.
UNAVAILABLE = "服务暂不可用，请稍后重试 (service unavailable: retry later)"


#: What a 401 or 403 adds: the caller's token, not the request, is wrong.
NOT_ALLOWED = (
    "令牌无效或无权执行此操作，请检查 --token 及其角色、辖区 "
    "(the token is not accepted or does not allow this: check --token, its role and districts)"
)


class ApiFailed(Exception):
    """The service answered with a refusal or an error. A command that does
    not handle it ends with the service's reason and exit code 1
    (`bureau.cli._Bureau`), never a traceback; a 5xx (the service or its
    database is down, a gateway without it) with exit code 3, as a service
    that cannot be reached, saying to retry; a 401 or 403 (a token expired,
    of another role or other districts) with exit code 2, a usage error as
    a garbled token is: exit code 1 also means "stuck" (`sagas stuck`) or
    "does not fit" (`quota check`), which a script must not read into it."""

    exit_code = 1

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.status, self.body = status, body
        if isinstance(body, dict):
            detail = str(body.get("detail") or body.get("title") or body)[:1000]
        else:
            detail = said_of(body)
        self.detail = detail
        message = f"{method} {path} → {status}: {detail}"
        if status >= 500:
            self.exit_code = Unreachable.exit_code
            message += f" — {UNAVAILABLE}"
        elif status in (401, 403):
            self.exit_code = 2
            message += f" — {NOT_ALLOWED}"
        super().__init__(message)


#: What to check when a service was not reached at --api.
API_HINT = "无法连接服务，请确认系统在运行、--api / BUREAU_API 地址正确"


class Unreachable(Exception):
    """No answer at all (nothing listening, DNS, timeout): exit code 3, a
    service that could not answer, with where it was looked for."""

    exit_code = 3

    def __init__(
        self,
        method: str,
        url: str,
        exc: Exception | str,
        hint: str = API_HINT,
    ) -> None:
        """`hint`: what to check, for an address the user gave some other way
        than --api (a register's URL to verify)."""
        super().__init__(
            f"cannot reach {shown(url)} ({method}): {exc or type(exc).__name__} — {hint}"
        )


def shown(url: str) -> str:
    """`url` as said to the user: without a user name and password in it
    (`--api http://user:secret@host` is not repeated in a message)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    return str(parsed.copy_with(userinfo=b"")) if parsed.userinfo else url


def said_of(text: object) -> str:
    """A text answer (not JSON) as a message says it, on one line: an HTML
    page (a gateway's 501 or 502) by its title, never its markup; other
    text by its first 200 characters."""
    text = str(text)
    if re.match(r"\s*<(!doctype|html|head|body|\?xml)", text, re.IGNORECASE):
        title = re.search(r"<title[^>]*>(.*?)</title", text, re.IGNORECASE | re.DOTALL)
        name = " ".join(re.sub(r"<[^>]*>", "", title.group(1)).split())[:100] if title else ""
        return f"an HTML page{f' ({name})' if name else ''}, not the service's answer"
    return " ".join(text.split())[:200]


def kind_of(r: httpx.Response) -> str:
    return r.headers.get("content-type", "?").split(";")[0]


def not_the_service(method: str, url: str, r: httpx.Response, hint: str = API_HINT) -> Unreachable:
    """An HTML page where the service's JSON was expected (a proxy's sign-in
    or error page, a wrong --api): the service was not reached."""
    said = f"{r.status_code} {kind_of(r)} is not the service's answer"
    return Unreachable(method, url, said, hint)


def not_the_services_json(
    method: str, url: str, r: httpx.Response, why: str, hint: str = API_HINT
) -> Unreachable:
    """JSON the service does not answer (a proxy's, another program's at
    --api, a list that never ends): the service was not reached, exit code
    3 as for a page, with what was wrong in it."""
    said = f"answered {r.status_code} {kind_of(r)}, not the service's JSON ({why})"
    return Unreachable(method, url, said, hint)


T = TypeVar("T")


class Answer(BaseModel):
    """What a command reads of a service's answer, checked before it is
    read (`expect`): each field it reads there with its JSON type (strictly:
    a number is not read as a string nor the reverse); the fields it does
    not read are left out."""

    model_config = ConfigDict(strict=True, frozen=True)


#: Tonnes or a ratio as the services write them: an exact decimal string.
Amount = Annotated[str, StringConstraints(pattern=r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$")]


class Page(Answer, Generic[T]):
    """A page of a paginated list: its items, and the cursor of the next."""

    items: list[T]
    next_cursor: str | None = None


class RowError(Answer):
    field: str = ""
    message: str = ""


class BulkRow(Answer):
    row: int
    id: str | None = None
    errors: list[RowError] = Field(default_factory=list)


class BulkTotals(Answer):
    created: int = 0
    updated: int = 0
    replayed: int = 0
    error: int = 0
    conflict: int = 0


class BulkReport(Answer):
    """The answer of every bulk upload (svc_common.bulk.BulkReport)."""

    totals: BulkTotals
    results: list[BulkRow]


#: The shapes of answers that more than one command reads.
#: A page whose items are written as they are (an export).
PAGE = TypeAdapter(Page[dict[str, Any]])
BULK_REPORT = TypeAdapter(BulkReport)
#: An answer the command does not read (a credit's, a PUT's): any JSON.
UNREAD: TypeAdapter[Any] = TypeAdapter(Any)


def expect(shape: TypeAdapter[T], body: Any, method: str, url: str, r: httpx.Response) -> T:
    """`body`, answered to `method` `url`, read as `shape`; Unreachable
    (exit code 3, one line naming the first field that differs) when it is
    not of that shape: a command never reads a field the answer lacks (a
    KeyError or AttributeError traceback)."""
    try:
        return shape.validate_python(body, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the answer"
        why = " ".join(f"{where}: {first['msg']}".split())[:200]
        raise not_the_services_json(method, url, r, why) from None


def read_answer(
    method: str,
    url: str,
    path: str,
    r: httpx.Response,
    ok: Collection[int] = (200, 201),
    hint: str = API_HINT,
) -> Any:
    """What the service answered to `method` `path` (at `url`): its JSON, or
    the text of a status in `ok` that is not JSON (an export's CSV).
    Raises ApiFailed for any other status, and Unreachable for a page (a
    proxy's sign-in, another site's 404) at a status below 500: the service
    answers JSON, so it was not reached (a 5xx page is a gateway's, which
    ApiFailed tells to retry, with the same exit code), and for an answer
    that says it is JSON and is not. `hint`: what to check then, for an
    address given some other way than --api (a register's URL)."""
    body: Any
    try:
        body = r.json()
    except ValueError:
        if is_html(r) and r.status_code < 500:
            raise not_the_service(method, url, r, hint) from None
        if "json" in kind_of(r).lower() and r.status_code in ok:
            # Said to be JSON, and not: not the service, not a text to read.
            raise not_the_services_json(method, url, r, "not JSON", hint) from None
        body = r.text
    if r.status_code not in ok:
        raise ApiFailed(method, path, r.status_code, body)
    return body


def is_html(r: httpx.Response) -> bool:
    return "html" in r.headers.get("content-type", "").lower()


def check_token(token: str | None) -> str | None:
    """`--token` / BUREAU_TOKEN as a bearer token can be sent: printable
    ASCII without spaces (a JWT's alphabet). A token pasted with a line
    break or other text was an httpx error read as "cannot reach" (exit 3)
    or a UnicodeEncodeError traceback. A line break around it (a token
    read from a file) is left out."""
    import typer

    token = token.strip() if token else token
    if token and not (token.isascii() and token.isprintable() and " " not in token):
        raise typer.BadParameter(
            "令牌格式无效：只能是不含空格、换行的 ASCII 字符 "
            "(not a bearer token: printable ASCII without spaces or line breaks)"
        )
    return token


@dataclass(frozen=True)
class Exchange(Generic[T]):
    """One call's answer: `value` read as its shape, `body` as answered
    (JSON, or the text of a CSV), and the response itself."""

    value: T
    body: Any
    response: httpx.Response

    @property
    def replayed(self) -> bool:
        """Answered from an earlier request with the same Idempotency-Key."""
        return self.response.headers.get("idempotent-replayed") == "true"


@dataclass
class Api:
    """Calls `/permit/...`, `/quota/...`, `/eia/...` at their base URLs."""

    base_url: str = "http://127.0.0.1:8000"
    token: str | None = None
    secret: str = field(default_factory=lambda: os.environ.get("JWT_SECRET", DEV_JWT_SECRET))
    urls: dict[str, str] = field(default_factory=dict)
    timeout: float = 120.0
    transport: httpx.BaseTransport | None = None
    _client: httpx.Client | None = None

    @classmethod
    def from_env(cls, base_url: str | None = None, token: str | None = None) -> Api:
        urls = {
            s: os.environ[f"{s.upper()}_URL"]
            for s in SERVICES
            if os.environ.get(f"{s.upper()}_URL")
        }
        return cls(
            base_url or os.environ.get("BUREAU_API", "http://127.0.0.1:8000"), token, urls=urls
        )

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, transport=self.transport)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def url(self, path: str) -> str:
        service = path.strip("/").split("/", 1)[0]
        return self.urls.get(service, self.base_url).rstrip("/") + path

    def bearer(self, role: str, districts: tuple[str, ...] = (), sub: str | None = None) -> str:
        """The given token, or a development token of `role` signed with JWT_SECRET."""
        if self.token:
            return self.token
        return mint_token(
            self.secret,
            sub=sub or f"{role}.cli",
            role=role,
            districts=districts,
            ttl=dt.timedelta(hours=2),
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        shape: TypeAdapter[T],
        role: str = "admin",
        districts: tuple[str, ...] = (),
        sub: str | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        key: str | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> T:
        """The service's answer read as `shape` (`expect`): what the caller
        reads of it, checked, or Unreachable when it is not the service's."""
        return self.exchange(
            method,
            path,
            shape=shape,
            role=role,
            districts=districts,
            sub=sub,
            json=json,
            content=content,
            content_type=content_type,
            params=params,
            key=key,
            ok=ok,
        ).value

    def exchange(
        self,
        method: str,
        path: str,
        *,
        shape: TypeAdapter[T],
        role: str = "admin",
        districts: tuple[str, ...] = (),
        sub: str | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        key: str | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> Exchange[T]:
        """As `call`, with the answer as it came too: its JSON as the
        service wrote it (`--json` prints that) and the response (its
        bytes, for a file saved as the service wrote it; its headers)."""
        headers = {
            "Authorization": f"Bearer {self.bearer(role, districts, sub)}",
            "Accept-Language": os.environ.get("BUREAU_LANG", "zh-CN"),
        }
        if key:
            headers["Idempotency-Key"] = key
        if content_type:
            headers["Content-Type"] = content_type
        url = self.url(path)
        try:
            r = self.client.request(
                method, url, json=json, content=content, params=params, headers=headers
            )
        except httpx.TransportError as exc:
            raise Unreachable(method, url, exc) from exc
        body = read_answer(method, url, path, r, ok)
        return Exchange(expect(shape, body, method, url, r), body, r)

    def pages(
        self,
        path: str,
        *,
        shape: TypeAdapter[Page[T]],
        role: str = "admin",
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[T]:
        """Every item of a paginated list, each page read as `shape`. A
        cursor answered twice would read the same pages for ever:
        Unreachable (exit code 3)."""
        for answer in self.page_answers(path, shape=shape, role=role, params=params):
            yield from answer.value.items

    def page_answers(
        self,
        path: str,
        *,
        shape: TypeAdapter[Page[T]],
        role: str = "admin",
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[Exchange[Page[T]]]:
        """Every page of a paginated list as `pages` reads it, each with
        its JSON as answered (for `--json`)."""
        query = {"limit": 500, **(params or {})}
        seen: set[str] = set()
        while True:
            answer = self.exchange("GET", path, shape=shape, role=role, params=query)
            yield answer
            page = answer.value
            if not page.next_cursor:
                return
            if page.next_cursor in seen:
                raise Unreachable(
                    "GET",
                    self.url(path),
                    "answered a next_cursor it had answered before, not the service's JSON "
                    "(the list would never end)",
                )
            seen.add(page.next_cursor)
            query["cursor"] = page.next_cursor
