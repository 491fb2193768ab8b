"""RFC 9457 problem details (application/problem+json) for every error.

Domain code raises `Problem` subclasses; request validation errors become a
422 listing each field and why. Anything unexpected is logged and answered
with a problem too, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel, ValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from svc_common import context, i18n
from svc_common.failures import TransientFailure, is_transient, is_unique_violation

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:envbureau:problem:"


class FieldError(BaseModel):
    field: str
    message: str
    type: str | None = None


#: Members of a problem that extensions may not replace.
RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "errors"})


class Problem(Exception):
    status = 400
    code = "bad-request"
    title = "Bad request"
    #: The Chinese title; where None, the status's standard title is used.
    title_zh: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.code,
            "title": i18n.msg(self.title, self.title_zh)
            if self.title_zh
            else i18n.title(self.status, self.title),
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [e.model_dump(exclude_none=True) for e in self.errors]
        # Extensions never replace the members RFC 9457 defines (a `status`
        # extension would turn the integer status into a word).
        body.update({k: v for k, v in self.extra.items() if k not in RESERVED_MEMBERS})
        return body


class NotFound(Problem):
    status, code, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


class ConcurrentWrite(Conflict):
    code, title, title_zh = "concurrent-write", "Concurrent write", "并发写入冲突"


class Unprocessable(Problem):
    status, code, title = 422, "validation-error", "Unprocessable request"


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Forbidden"


class Unauthorized(Problem):
    """401 with the RFC 6750 challenge in WWW-Authenticate."""

    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(
        self, detail: str, *, www_authenticate: str = 'Bearer realm="envbureau"', **extra: Any
    ) -> None:
        super().__init__(detail, **extra)
        self.www_authenticate = www_authenticate


class UnsupportedMediaType(Problem):
    """A body refused for how it was sent, naming in `errors` the header that
    says so (`header`: Content-Type, Content-Encoding or Transfer-Encoding), as every refused
    input is named."""

    status, code, title = 415, "unsupported-media-type", "Unsupported media type"

    def __init__(self, detail: str, *, header: str = "Content-Type", **extra: Any) -> None:
        named = FieldError(field=header, message=detail, type="unsupported_media_type")
        super().__init__(detail, errors=extra.pop("errors", None) or [named], **extra)


class PayloadTooLarge(Problem):
    """A body larger than allowed (bytes, rows or unzipped): `errors` names it."""

    status, code, title = 413, "payload-too-large", "Payload too large"

    def __init__(self, detail: str, **extra: Any) -> None:
        named = FieldError(field="body", message=detail, type="too_large")
        super().__init__(detail, errors=extra.pop("errors", None) or [named], **extra)


class Unavailable(Problem):
    status, code, title = 503, "unavailable", "Service unavailable"


#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_SECONDS = 2


def named_zh(code: str, labels_zh: Mapping[str, str] | None) -> str:
    """A state or action in a Chinese message: its Chinese name followed by
    its code, "已办结（closed）"; the code alone where it has no name."""
    label = (labels_zh or {}).get(code)
    return f"{label}（{code}）" if label else code


class IllegalTransition(Conflict):
    code, title, title_zh = "illegal-transition", "Illegal state transition", "当前状态不允许此操作"

    def __init__(
        self,
        entity: str,
        state: str,
        action: str,
        allowed: list[str],
        labels_zh: Mapping[str, str] | None = None,
        *,
        actions_zh: Mapping[str, str] | None = None,
    ) -> None:
        """`labels_zh` names states and actions in Chinese for the Chinese
        message, each followed by its code (the API's word): "投诉当前为
        已办结（closed），不能执行 受理（accept）". `actions_zh` names the
        actions whose code is also a state's (a demand's `done`, 办结, is
        the step; 已办结 the state), looked up first for the action and the
        allowed ones.

        The English names the action by its code, quoted, rather than using
        it as a verb: the codes are the API's words (`done`, `quota-retry`,
        `evaluation-done`), not all of them verbs, and `state` may be a
        phrase ("reviewed with quota secured")."""
        listed = ", ".join(allowed) if allowed else i18n.msg("none", "无")

        def zh(code: str) -> str:
            return named_zh(code, labels_zh)

        def zh_action(code: str) -> str:
            return named_zh(code, actions_zh) if actions_zh and code in actions_zh else zh(code)

        labelled = labels_zh or actions_zh
        listed_zh = "、".join(map(zh_action, allowed)) if labelled and allowed else listed
        super().__init__(
            i18n.msg(
                f"the action '{action}' is not allowed while the {entity} is {state}; "
                f"allowed now: {listed}",
                f"{entity}当前为 {zh(state)}，不能执行 {zh_action(action)}；"
                f"现在可执行：{listed_zh}",
            ),
            state=state,
            action=action,
            allowed=allowed,
        )


def field_error(field: str, message: str, type_: str | None = None) -> Unprocessable:
    return Unprocessable(
        f"{field}: {message}", errors=[FieldError(field=field, message=message, type=type_)]
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    """A field's name as the client wrote it: `district`, `pollutants.0.amount_t`;
    headers keep their place (`header.idempotency-key`)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    return ".".join(parts) or "body"


class FieldValueError(ValueError):
    """A refusal by a rule across fields (a model validator) that one field
    is to blame for: `valid_to` before `valid_from` names `valid_to`, not the
    whole body. Raised like ValueError; pydantic keeps it in the error's
    context, where `validation_errors` reads the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _field_of(error: dict[str, Any]) -> str:
    loc = list(error.get("loc", ()))
    raised = (error.get("ctx") or {}).get("error")
    if isinstance(raised, FieldValueError):
        loc.append(raised.field)
    return _loc(loc)


def _malformed_json(error: dict[str, Any]) -> FieldError | None:
    """A body the JSON decoder could not read: FastAPI places the decoder's
    offset where a field's name goes (`("body", 21)`). The field is the
    body; the offset, and the decoder's reason, go in the message."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") != "json_invalid" or len(loc) != 2 or loc[0] != "body":
        return None
    if not isinstance(loc[1], int):
        return None
    pos, reason = loc[1], str((error.get("ctx") or {}).get("error", "")).strip()
    return FieldError(
        field="body",
        message=i18n.msg(
            f"is not valid JSON (after {pos} characters{': ' + reason if reason else ''})",
            f"不是有效的 JSON（第 {pos} 个字符之后有误）",
        ),
        type="json_invalid",
    )


def validation_errors(errors: list[dict[str, Any]] | Any) -> list[FieldError]:
    """Pydantic's errors as field errors, in the request's language."""
    return [
        _malformed_json(e)
        or FieldError(
            field=_field_of(e),
            message=i18n.pydantic_message(e.get("type"), e.get("ctx"), str(e.get("msg", ""))),
            type=e.get("type"),
        )
        for e in errors
    ]


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    """The answer to a problem: its members, `instance` (the request's path)
    and the `request_id` of the request being answered (svc_common.context)."""
    ctx = context.current()
    body = problem.body(instance=str(request.url.path) if request else None)
    if ctx.request_id:
        body.setdefault("request_id", ctx.request_id)
    resp = JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON)
    if isinstance(problem, Unauthorized):
        resp.headers["WWW-Authenticate"] = problem.www_authenticate
    if isinstance(problem, Unavailable):
        resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return resp


def scope_problem(problem: Problem, scope: Scope) -> JSONResponse:
    """`problem_response` for a middleware answering before any route (the
    input guard, the Idempotency-Key checks): the request is its ASGI scope
    without the query, so `instance` is the path alone, and a query refused
    for not being UTF-8 need not be read into a URL."""
    return problem_response(problem, Request({**scope, "query_string": b""}))


def not_json_body(content_type: str | None, errors: Sequence[Any]) -> bool:
    """Whether a JSON body was refused as a whole because it came as another
    media type, or with none: FastAPI then hands the route's model the raw
    bytes and says the body is of the wrong type, a 422 that hides the cause.
    A missing body stays a 422 (`body` is required), and a form's fields are
    errors of their own (`body.<field>`), so neither is caught here."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return False
    return any(tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing" for e in errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not_json_body(request.headers.get("content-type"), exc.errors()):
            return problem_response(
                UnsupportedMediaType(
                    i18n.msg(
                        "this operation takes a JSON body (Content-Type: application/json)",
                        "此操作只接受 JSON 请求体（Content-Type: application/json）",
                    )
                ),
                request,
            )
        errs = validation_errors(exc.errors())
        detail = "; ".join(f"{e.field}: {e.message}" for e in errs[:5])
        return problem_response(Unprocessable(detail, errors=errs), request)

    @app.exception_handler(ValidationError)
    async def _invalid_model(request: Request, exc: ValidationError) -> JSONResponse:
        errs = validation_errors(exc.errors())
        detail = "; ".join(f"{e.field}: {e.message}" for e in errs[:5])
        return problem_response(Unprocessable(detail, errors=errs), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        p = Problem(str(exc.detail))
        p.status, p.code, p.title = exc.status_code, f"http-{exc.status_code}", str(exc.detail)
        if exc.status_code == 404:
            p.detail = i18n.msg("no such resource", "没有这个资源")
        elif exc.status_code == 405:
            p.detail = i18n.msg("this method is not allowed here", "此路径不支持该请求方法")
        resp = problem_response(p, request)
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        if exc.status_code == 405:
            from svc_common.routes import allow_header, allowed_methods

            methods = allowed_methods(request.app, request.url.path)
            if methods:
                resp.headers["Allow"] = allow_header(methods)
        return resp

    async def _infrastructure(request: Request, exc: Exception) -> JSONResponse:
        if is_unique_violation(exc):
            return _concurrent_write(request, exc)
        if not is_transient(exc):
            return unexpected(request, exc)
        return _unavailable(request, exc)

    def _concurrent_write(request: Request, exc: Exception) -> JSONResponse:
        # A route checks before it writes; a concurrent request that wrote the
        # same key between the check and the write is refused by the unique
        # index instead. Either way it is a conflict, not a fault of ours.
        log.warning("request refused by a unique index", path=request.url.path, error=repr(exc))
        return problem_response(
            ConcurrentWrite(
                i18n.msg(
                    "a concurrent request wrote the same record first; read it again",
                    "另一个请求已先写入同一记录，请重新查询后再操作",
                )
            ),
            request,
        )

    # Infrastructure failures (database down or restarting, connection reset,
    # serialization failure…) are a 503 with Retry-After, never a 500.
    # asyncpg's own errors reach here from the statements run on the driver
    # (svc_common.db.DriverStatement). SQLAlchemy's own errors (a session
    # left unusable by a lost connection) are looked at here too: one caused
    # by a transient failure is a 503, any other a 500.
    for cls in (
        sa_exc.SQLAlchemyError,
        TransientFailure,
        OSError,
        TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ):
        app.add_exception_handler(cls, _infrastructure)

    # The last resort of Starlette's ServerErrorMiddleware, outside every
    # middleware: only an exception raised outside `UnexpectedErrors` (in the
    # request-context middleware itself) still reaches it.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected(request, exc)


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("request failed: dependency unavailable", path=request.url.path, error=repr(exc))
    p = Unavailable(
        i18n.msg(
            "a service this request needs is unavailable; retry shortly",
            "本次请求所需的服务暂不可用，请稍后重试",
        )
    )
    return problem_response(p, request)  # with Retry-After


def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """The answer to an exception no handler names: a 500 problem, logged
    ("unhandled error") with its traceback; a 503 where a lost connection
    caused it. Called where the exception is being handled (the traceback
    is the one being handled)."""
    if is_transient(exc):
        # An error no handler names, raised while a lost connection was
        # being handled: the cause is still the database.
        return _unavailable(request, exc)
    log.exception("unhandled error", path=request.url.path)
    # On the request's span, as the tracing middleware outside would have
    # recorded it had the exception reached it.
    span = trace.get_current_span()
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    p = Problem(
        i18n.msg("an unexpected error occurred; it has been logged", "发生意外错误，已记录")
    )
    p.status, p.code, p.title = 500, "internal", "Internal error"
    return problem_response(p, request)


class UnexpectedErrors:
    """Answers an exception no handler names inside the request's context:
    Starlette would answer it from its ServerErrorMiddleware, outside every
    middleware, so the 500 (or 503) and its "unhandled error" line, the one
    with the traceback, carried neither the request id (X-Request-ID,
    `request_id`) nor the request's language. A service adds it just inside
    RequestContextMiddleware, which then counts and logs the request with its
    status; the console innermost, with its own page as `answer`. An answer
    already begun is left as it is: the exception passes on."""

    def __init__(
        self, app: ASGIApp, answer: Callable[[Request, Exception], Response] | None = None
    ) -> None:
        self.app = app
        #: Logs the exception with its traceback and answers it (`unexpected`
        #: by default: a problem).
        self.answer = answer or unexpected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            await self.answer(Request(scope, receive), exc)(scope, receive, send)
