"""The console's FastAPI app, mounted at /console.

Standalone (`python -m console`) it calls the services at their URLs; in the
embedded default `bureau run` gives it an in-process transport to the
embedded app (see bureau.embedded)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from svc_common import security_headers
from svc_common.auth import role_name
from svc_common.errors import UnexpectedErrors
from svc_common.graceful import is_draining
from svc_common.head_requests import HeadAsGet
from svc_common.i18n import msg
from svc_common.observability import RequestContextMiddleware, configure_logging
from svc_common.routes import allow_header, allowed_methods
from svc_common.tracing import FASTAPI_TELEMETRY

from console.api import ApiError, Services, field_label
from console.auth import oidc
from console.auth.router import router as auth_router
from console.auth.session import SessionCookies
from console.auth.store import make_store
from console.auth.users import from_session, sign_out
from console.errors import CsrfRejected, LoginRequired, RoleRefused, SessionStoreDown
from console.pages.alerts.router import router as alerts_router
from console.pages.complaints.router import router as complaints_router
from console.pages.demands.router import router as demands_router
from console.pages.enterprise.router import router as enterprise_router
from console.pages.execution_reports.router import router as execution_reports_router
from console.pages.grading.router import router as grading_router
from console.pages.home import router as home_router
from console.pages.inspections.router import cases_router
from console.pages.inspections.router import router as inspections_router
from console.pages.investment.router import router as investment_router
from console.pages.public.router import router as public_router
from console.pages.reports.router import router as reports_router
from console.pages.workbench.router import router as workbench_router
from console.pollutants import PollutantList
from console.settings import Settings
from console.web import (
    HERE,
    SECURITY_HEADERS,
    LanguageMiddleware,
    NoStore,
    RelativeRedirects,
    answer_unexpected,
    is_htmx,
    problem_page,
    render,
    render_with_failure,
    session_ended,
)

PREFIX = "/console"


def create(
    settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or Settings()
    # The services' one log format (a no-op where they configured it first,
    # as in the embedded default).
    configure_logging(settings.log_level, json_logs=settings.log_json)
    sessions = make_store(settings.session_store_url)
    services = Services(
        settings.service_urls, transport=transport, timeout=settings.api_timeout_seconds
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.aclose()
            await sessions.aclose()

    app = FastAPI(
        title="console: the bureau's web console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.pollutants = PollutantList(
        dt.timedelta(seconds=settings.pollutants_fresh_seconds),
        dt.timedelta(seconds=settings.pollutants_stale_seconds),
    )
    app.state.sessions = sessions
    app.state.oauth = oidc.make_oauth(settings)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (
        home_router,
        auth_router,
        investment_router,
        workbench_router,
        enterprise_router,
        alerts_router,
        complaints_router,
        inspections_router,
        cases_router,
        demands_router,
        execution_reports_router,
        reports_router,
        grading_router,
        public_router,
    ):
        app.include_router(router)
    _install_handlers(app)
    # Innermost: an exception no handler answers is the console's 500 page,
    # in the user's language, with the request's id (web.answer_unexpected).
    app.add_middleware(UnexpectedErrors, answer=answer_unexpected)
    app.add_middleware(
        SessionCookies,
        secret=settings.session_secret,
        max_age=settings.session_max_age_seconds,
        store=sessions,
    )
    app.add_middleware(LanguageMiddleware)
    app.add_middleware(HeadAsGet)
    app.add_middleware(NoStore)
    app.add_middleware(RelativeRedirects)
    # As a service's: the request's ids, its count and one log line (the
    # route's template, never the query string, which may carry a name or a
    # phone number); it replaces uvicorn's access line (`python -m console`).
    app.add_middleware(RequestContextMiddleware, service="console", prefix=PREFIX)
    # Outside Starlette's ServerErrorMiddleware too: its 500 page carries them.
    security_headers.outermost(app, SECURITY_HEADERS)
    return app


def login_url(next_url: str) -> str:
    """The sign-in page, coming back to `next_url` after: its whole address,
    every parameter of its question kept (unencoded, `&p_NOx=1` would be read
    as the sign-in page's own parameter and lost)."""
    return "/console/login?" + urlencode({"next": next_url})


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        texts = {
            404: msg("There is no such page in the console.", "控制台中没有这个页面。"),
            405: msg(
                "This address does not take that kind of request.", "此地址不接受这种请求方式。"
            ),
        }
        status = exc.status_code if 400 <= exc.status_code < 600 else 500
        detail = texts.get(status, msg("The request could not be served.", "无法处理此请求。"))
        headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
        if status == 405 and (methods := allowed_methods(request.app, request.url.path)):
            # Every method the address answers, HEAD with GET (HeadAsGet), as
            # the services' Allow says; the router's named GET alone.
            headers = {"Allow": allow_header(methods)}
        return problem_page(request, status, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # Which fields, never their values: the address or form may be huge.
        fields = sorted(
            {str(e["loc"][-1]) for e in exc.errors() if e.get("loc") and len(e["loc"]) > 1}
        )[:10]
        # By the words the page uses (污染物, 月数): a field people never see
        # (a form's hidden ones) is not named at all.
        names = list(dict.fromkeys(n for f in fields if (n := field_label(f))))
        detail = msg(
            "Some values are missing or not accepted"
            + (f" ({', '.join(names)})" if names else "")
            + ". Correct them and send again.",
            "部分内容缺失或不符合要求"
            + (f"（{'、'.join(names)}）" if names else "")
            + "，请修改后重新提交。",
        )
        return problem_page(request, 422, detail)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if is_htmx(request):
            return problem_page(request, 401, session_ended())
        return RedirectResponse(login_url(exc.next_url), status_code=303)

    @app.exception_handler(SessionStoreDown)
    async def _store_down(request: Request, exc: SessionStoreDown) -> Response:
        return problem_page(
            request,
            503,
            msg(
                "Signing in and out is not possible just now; please try again shortly.",
                "登录服务暂时不可用，请稍后再试。",
            ),
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RoleRefused)
    async def _role(request: Request, exc: RoleRefused) -> Response:
        return render(
            request,
            "error.html",
            status_code=403,
            heading=msg("Not for your role", "您的角色无权访问此页"),
            detail=msg(
                "This page is for: " + ", ".join(role_name(r) for r in exc.roles),
                "此页面仅供：" + "、".join(role_name(r) for r in exc.roles),
            ),
        )

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        if is_htmx(request):
            # Signed out in another tab: the form's token belongs to a session
            # that is gone.
            ended = from_session(request) is None
            return problem_page(
                request,
                403,
                session_ended()
                if ended
                else msg("The form expired: reload the page.", "表单已失效，请刷新页面后重试。"),
            )
        return render(
            request,
            "error.html",
            status_code=403,
            heading=msg("Form expired", "表单已失效"),
            detail=msg(
                "The form was not sent from this console's page (or the session ended). "
                "Reload the page and try again.",
                "表单不是从本控制台页面提交的（或会话已结束）。请刷新页面后重试。",
            ),
        )

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:
            # The token expired or was refused: sign in again.
            await sign_out(request)
            if is_htmx(request):
                return problem_page(request, 401, session_ended())
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(login_url(here), status_code=303)
        if is_htmx(request):
            # A part of a page (the fit form's answer, the trend): the
            # message where that part goes, not a whole page inside it.
            return problem_page(request, exc.page_status, exc.said(), headers=exc.page_headers)
        return render_with_failure(
            request,
            "error.html",
            exc,
            heading=str(exc.problem.get("title") or msg("Error", "错误")),
            detail=exc.said(),
        )

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/console/", status_code=307)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return FileResponse(
            HERE / "static" / "favicon.ico",
            media_type="image/x-icon",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "console"}

    @app.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        """503 once the process is stopping (SIGTERM), while it still answers
        what it is sent: a balancer sends it nothing new (as a service's)."""
        stopping = is_draining(request.app)
        body = {"status": "not ready" if stopping else "ready", "service": "console"}
        return JSONResponse(body | {"stopping": stopping}, status_code=503 if stopping else 200)
