"""The session cookie: signed (itsdangerous, by Starlette's SessionMiddleware),
HttpOnly, SameSite=Lax, and Secure whenever the request came over HTTPS
(directly or, behind a proxy, as uvicorn's proxy headers say)."""

from __future__ import annotations

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "envbureau_console"


class SessionCookies:
    """Starlette's SessionMiddleware twice: with and without the Secure flag,
    chosen per request by its scheme."""

    def __init__(self, app: ASGIApp, *, secret: str, max_age: int, path: str = "/") -> None:
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
