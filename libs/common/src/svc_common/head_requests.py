"""HEAD answered as GET without its body (RFC 9110 §9.3.2).

General-purpose servers support GET and HEAD; FastAPI's routes declare the
methods they are given, so a GET route alone would answer HEAD with a 405
whose `Allow` (svc_common.routes) names HEAD all the same. This step, one
for every service and the console, hands a HEAD request on as the GET of
the same path and sends what the GET answers, status and headers as they
are (`Content-Length` the GET's body's), without the body: a link checker,
an uptime probe or a chat app's link preview gets what GET would say. A
path with no GET still gets the router's 405, and its `Allow` names no
HEAD. Whatever is outside this step (the request's log line, its count and
latency) still sees the HEAD it was sent, with the GET route's path."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What routing writes into the request's scope and the steps outside read
#: (the route's path for the log line and the metrics).
_ROUTED_KEYS = ("route", "endpoint", "path_params")


class HeadAsGet:
    """Pure ASGI: HEAD → the GET's answer without its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] != "http.response.body":
                await send(message)
                return
            if ended:
                return
            if message.get("more_body", False):
                return  # a streamed body's parts: none is sent
            ended = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        try:
            await self.app(as_get, receive, headers_only)
        finally:
            for key in _ROUTED_KEYS:
                if key in as_get:
                    scope[key] = as_get[key]
