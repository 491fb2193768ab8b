"""The embedded default: the four services in one process, each with its own
SQLite file, events passed in-process (still through outbox and inbox), and
the web console at /console.

Requests are dispatched by path prefix (/permit, /quota, /eia, /supervision,
/console) to each app, so the paths are the same as behind a gateway. The
console calls the services' REST APIs through an in-process ASGI transport to
this same app."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
from console.app import create as create_console
from console.settings import Settings as ConsoleSettings
from eia_svc.app import create as create_eia
from eia_svc.settings import Settings as EiaSettings
from fastapi import FastAPI
from permit_svc.app import create as create_permit
from permit_svc.settings import Settings as PermitSettings
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from quota_svc.app import create as create_quota
from quota_svc.settings import Settings as QuotaSettings
from starlette.datastructures import State
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from supervision_svc.app import create as create_supervision
from supervision_svc.settings import Settings as SupervisionSettings
from svc_common import clock, i18n
from svc_common.calendar import local_date
from svc_common.graceful import is_draining
from svc_common.security_headers import SecurityHeaders
from svc_common.settings import ServiceSettings
from svc_common.transports.local import LocalTransport

#: permit-svc's setting of the first day of the periods the missed-report
#: list (逾期未报) follows (`Settings.execution_reports_owed_from`).
OWED_FROM_VAR = "EXECUTION_REPORTS_OWED_FROM"


def demonstration_owed_from(environ: MutableMapping[str, str]) -> dt.date | None:
    """Set `EXECUTION_REPORTS_OWED_FROM` in `environ` for the demonstration
    (`bureau run`), unless the user set it (in any case, as the settings
    read it): 1 January of the year before today, today read from the one
    clock as it will start (`CLOCK=manual` with `CLOCK_START`: that day).
    The demonstration's permits are valid from up to five years back, and
    an unbounded list went back to their first years; the year before is
    always whole and overdue, so the list is never empty in January. The
    day set, or None when the user's stands."""
    if any(name.upper() == OWED_FROM_VAR for name in environ):
        return None
    settings = ServiceSettings()
    start = settings.clock_start if settings.clock == "manual" else None
    today = local_date(start or clock.now())
    day = dt.date(today.year - 1, 1, 1)
    environ[OWED_FROM_VAR] = day.isoformat()
    return day


class Embedded:
    """An ASGI app routing each prefix to its service, running their lifespans."""

    def __init__(
        self,
        data_dir: Path,
        *,
        public_url: str = "http://127.0.0.1:8000",
        console: ConsoleSettings | None = None,
        **common: Any,
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.transport = LocalTransport()

        def url(name: str) -> str:
            return f"sqlite+aiosqlite:///{(data_dir / f'{name}.db').resolve()}"

        self.apps: dict[str, FastAPI] = {
            "/permit": create_permit(
                PermitSettings(database_url=url("permit"), **common), transport=self.transport
            ),
            "/quota": create_quota(
                QuotaSettings(database_url=url("quota"), **common), transport=self.transport
            ),
            "/eia": create_eia(
                EiaSettings(database_url=url("eia"), public_url=public_url, **common),
                transport=self.transport,
            ),
            "/supervision": create_supervision(
                SupervisionSettings(database_url=url("supervision"), **common),
                transport=self.transport,
            ),
        }
        # The console: development sign-in on (its tokens signed with the
        # services' secret), its API calls in-process to this app.
        console_settings = console or ConsoleSettings(
            dev_login=True,
            jwt_secret=common.get("jwt_secret") or EiaSettings().jwt_secret,
            public_url=public_url,
            log_json=bool(common.get("log_json", True)),
        )
        self.console = create_console(
            console_settings,
            transport=httpx.ASGITransport(app=self),
        )
        self._own = SecurityHeaders(self._own_answers)
        # Where a graceful stop (svc_common.graceful) marks the process as
        # stopping, as it marks a service's app.
        self.state = State()

    @property
    def served_apps(self) -> list[Any]:
        """The apps this one dispatches to: a graceful stop marks each of
        them stopping too (`svc_common.graceful.mark_draining`)."""
        return [*self.apps.values(), self.console]

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # Publishing waits until every service has subscribed: no event is
        # delivered before its consumers exist.
        self.transport.hold()
        async with contextlib.AsyncExitStack() as stack:
            for app in self.apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
            await stack.enter_async_context(self.console.router.lifespan_context(self.console))
            self.transport.release()
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        for prefix, app in self.apps.items():
            if path == prefix or path.startswith(prefix + "/"):
                await app(scope, receive, send)
                return
        if path in ("/console", "/favicon.ico") or path.startswith("/console/"):
            await self.console(scope, receive, send)
            return
        await self._own(scope, receive, send)

    async def _own_answers(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The paths no single service owns (wrapped in the security headers
        each service's and the console's answers carry, in `__init__`)."""
        path: str = scope.get("path", "")
        target: ASGIApp
        if path == "/admin/clock":
            # The clock is the process's: any service reads or moves it, and
            # moving it runs every service's sweepers.
            await self.apps["/quota"]({**scope, "path": "/quota/admin/clock"}, receive, send)
            return
        if path == "/":
            target = RedirectResponse("/console/", status_code=307)
        elif path == "/metrics":
            # The process's figures, every service's (each labelled with its
            # name); /<prefix>/metrics shows one service's. Scrape one or the other.
            target = Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
        elif path in ("/health", "/ready"):
            # Any service answers the process-wide probes; /ready asks all.
            target = self._ready if path == "/ready" else self.apps["/quota"]
        else:
            # No service's middleware ran: the caller's language is read here.
            accept = dict(scope.get("headers") or []).get(b"accept-language", b"")
            with i18n.use(i18n.negotiate(accept.decode("latin-1") or None)):
                target = JSONResponse(
                    {
                        "type": "urn:envbureau:problem:not-found",
                        "title": i18n.title(404),
                        "status": 404,
                        "detail": i18n.msg("no service answers this path", "没有服务提供此路径"),
                        "console": "/console/",
                        "services": {p: f"{p}/docs" for p in self.apps},
                    },
                    status_code=404,
                    media_type="application/problem+json",
                )
        await target(scope, receive, send)

    async def _ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        # As a service's /ready: 503 with `stopping: true` once SIGTERM was
        # sent, while every request is still answered for the delay.
        stopping = is_draining(self)
        results: dict[str, Any] = {}
        for prefix, app in self.apps.items():
            rt = app.state.runtime
            results[prefix.strip("/")] = await rt.db.ping()
        ok = all(results.values()) and not stopping
        await JSONResponse(
            results | {"status": "ready" if ok else "not ready", "stopping": stopping},
            status_code=200 if ok else 503,
        )(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        started = False
        try:
            async with self.lifespan():
                started = True
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
                assert message["type"] == "lifespan.shutdown"
        except BaseException as exc:
            kind = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{kind}.failed", "message": repr(exc)})
            raise
        await send({"type": "lifespan.shutdown.complete"})
