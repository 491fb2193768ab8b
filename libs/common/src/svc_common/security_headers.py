"""Security headers on every answer, for the services and the console alike:
no framing by another site (clickjacking), no type sniffing, no address
leaking to other sites. The embedded default serves the services' HTML (the
receipt, the API docs) from the console's own origin, so they need the same
protection as the console's pages.

A service's pages (Swagger UI and ReDoc start with an inline script, the
receipt prints with one) get only `frame-ancestors` as their policy; the
console, which has no inline script, passes its stricter policy instead.

An answer to a request that carried `Authorization` is someone's own
(a ledger, a workbench's records, a complaint's complainant): it is
`Cache-Control: no-store` unless the route says otherwise, so no browser or
proxy keeps it on disk or shows it again to whoever uses the machine next,
as the console's pages are (`console.web.NoStore`).

`outermost` puts them outside the whole stack, Starlette's own
ServerErrorMiddleware included: that one answers an unexpected exception
(the 500, and the 503 of a lost connection no other handler names) from
outside every middleware added with `add_middleware`, so headers added
there never reached those answers."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What every answer carries unless it set the header itself.
BASE_HEADERS: dict[str, str] = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


#: What an answer to a request with a bearer token carries unless it set it.
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds `headers` (BASE_HEADERS by default) to each HTTP answer that does
    not carry them already, and `Cache-Control: no-store` to each answer to
    a request that carried `Authorization`."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.headers = [
            (k.lower().encode(), v.encode()) for k, v in (headers or BASE_HEADERS).items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        private = any(k.lower() == b"authorization" for k, _ in scope.get("headers", ()))

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {bytes(k).lower() for k, _ in headers}
                headers.extend((k, v) for k, v in self.headers if k not in present)
                if private and NO_STORE[0] not in present:
                    headers.append(NO_STORE)
            await send(message)

        await self.app(scope, receive, add)


def outermost(app: Starlette, headers: Mapping[str, str] | None = None) -> None:
    """Wrap `app`'s whole middleware stack, as Starlette builds it at the
    first request, in SecurityHeaders: every answer carries them, the 500
    and 503 that ServerErrorMiddleware sends included. The same one layer
    per request as before, only further out.

    Called after anything else that wraps the built stack (the tracing
    instrumentation expects to find ServerErrorMiddleware at its top)."""
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build(), headers)

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
