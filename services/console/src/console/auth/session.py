"""The session cookie: signed (itsdangerous, by Starlette's SessionMiddleware),
HttpOnly, SameSite=Lax, and Secure whenever the request came over HTTPS
(directly or, behind a proxy, as uvicorn's proxy headers say). It carries a
random session id, the CSRF token and flash messages; the signed-in user and
the bearer token are in the server-side store (`console.auth.store`), loaded
here for each request."""

from __future__ import annotations

import structlog
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from console.auth.store import SessionStore
from console.auth.users import SCOPE_KEY
from console.errors import SessionStoreDown

COOKIE = "envbureau_console"
_NO_USER_NEEDED = ("/console/static/", "/favicon.ico")
log = structlog.get_logger(__name__)


class _LoadUser:
    """Inside the cookie middleware: the user of the cookie's session id."""

    def __init__(self, app: ASGIApp, store: SessionStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sid = scope.get("session", {}).get("sid")
        user = None
        # Static files and the icon need nobody: no look-up for them.
        if isinstance(sid, str) and not scope.get("path", "").startswith(_NO_USER_NEEDED):
            try:
                user = await self.store.get(sid)
            except SessionStoreDown:
                # Read as signed out: the public pages still answer, and a
                # page that needs a user sends to sign-in, which says 503.
                log.warning("console session store unavailable")
        scope[SCOPE_KEY] = user
        await self.app(scope, receive, send)


class SessionCookies:
    """Starlette's SessionMiddleware twice: with and without the Secure flag,
    chosen per request by its scheme."""

    def __init__(
        self, app: ASGIApp, *, secret: str, max_age: int, store: SessionStore, path: str = "/"
    ) -> None:
        app = _LoadUser(app, store)
        common = {
            "secret_key": secret,
            "session_cookie": COOKIE,
            "max_age": max_age,
            "same_site": "lax",
            "path": path,
        }
        self.plain = SessionMiddleware(app, https_only=False, **common)  # type: ignore[arg-type]
        self.secure = SessionMiddleware(app, https_only=True, **common)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = scope.get("scheme") in ("https", "wss")
        await (self.secure if secure else self.plain)(scope, receive, send)
