"""A request's line and headers are bounded (请求头大小上限).

uvicorn's httptools protocol reads a request's head (its request line and
headers) for as long as the client sends it, and gathers it by appending:
a 150 MB header kept one process's event loop busy for a minute, with every
other caller waiting behind it. h11 has a bound (`h11_max_incomplete_event_size`),
httptools none. `http_protocol(...)` gives uvicorn the protocol to serve
with: httptools (or "auto") with a bound on what a head may take, answered
431 with a problem+json and the connection closed, and h11 with the same
bound as its own. A request httptools cannot read at all (a malformed
request line or header) gets a problem+json 400 in its turn, in place of
uvicorn's text/plain one sent at once.

What counts is a request's line and headers, from its first byte to the
end of its headers; a body, however large, is not counted (the body limits
are svc_common.guard's). h11's bound applies to a head still coming in
pieces; one that came in a single read is at most that read (256 KiB).
"""

from __future__ import annotations

import json
import re
from typing import Any

import structlog

from svc_common import context
from svc_common.errors import PROBLEM_JSON, TYPE_BASE

log = structlog.get_logger("svc_common.request")

#: The default bound on a request's line and headers together: four times
#: a reverse proxy's usual 8 KiB header buffer, ample for a bearer token
#: (at most 8,192 characters, svc_common.auth) and the console's cookie.
MAX_HEAD_BYTES = 64 * 1024
#: How long a refused connection's further bytes are read and dropped
#: before it closes (see `_refuse`).
LINGER_SECONDS = 2.0


def _problem_answer(
    status: int,
    reason: str,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    request_id: str | None = None,
) -> bytes:
    """A whole HTTP/1.1 answer with a problem+json body, closing the
    connection: the members every problem has (svc_common.errors), its
    `instance` (the request's path, when the parser read it) and its
    `request_id` (echoed in X-Request-ID, as the middleware does). Its title
    and detail are in both languages, Chinese first: a request refused
    unread has no Accept-Language read."""
    problem: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        problem["instance"] = instance
    if request_id:
        problem["request_id"] = request_id
    body = json.dumps(problem, ensure_ascii=False, separators=(",", ":")).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\n".encode()
        + b"content-type: "
        + PROBLEM_JSON.encode()
        + b"\r\n"
        b"content-language: zh-CN, en\r\n"
        + (b"x-request-id: " + request_id.encode() + b"\r\n" if request_id else b"")
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


def _refusal(limit: int, *, instance: str | None = None, request_id: str | None = None) -> bytes:
    return _problem_answer(
        431,
        "Request Header Fields Too Large",
        "request-head-too-large",
        "请求头过大 / Request header fields too large",
        f"请求行与请求头合计过大（上限 {limit} 字节），请精简后重试 / "
        f"the request line and headers together are too large (at most {limit} bytes)",
        instance=instance,
        request_id=request_id,
    )


def _unreadable(*, instance: str | None = None, request_id: str | None = None) -> bytes:
    """What a request the parser could not read gets in place of uvicorn's
    text/plain "Invalid HTTP request received.": a malformed request line
    (a space or a byte past ASCII in its target, say), a header line that
    is not "name: value", a body length that is not a number."""
    return _problem_answer(
        400,
        "Bad Request",
        "unreadable-request",
        "请求有误 / Bad request",
        "请求不符合 HTTP/1.1 格式（请求行或请求头有误，"
        "例如路径中含空格或非 ASCII 字节未经百分号编码），无法读取 / "
        "the request is not well-formed HTTP/1.1 (a malformed request line or header, "
        "such as a space or a byte past ASCII in the path not percent-encoded) "
        "and could not be read",
        instance=instance,
        request_id=request_id,
    )


#: The most of a refused request's path its problem repeats as `instance`.
MAX_INSTANCE = 1024
#: A path an answer may repeat: printable ASCII, as a well-formed target is.
_PATH = re.compile(rb"[!-~]{1,%d}" % MAX_INSTANCE)


def instance_of(url: bytes | None) -> str | None:
    """A refused request's path (its query left out, as for every problem),
    when the parser has read it whole and it is one an answer may repeat:
    printable ASCII, at most MAX_INSTANCE bytes; else None (the request line
    itself too long, or unreadable)."""
    if not url:
        return None
    path = url.split(b"?", 1)[0]
    return path.decode("ascii") if _PATH.fullmatch(path) else None


def request_id_of(headers: list[tuple[bytes, bytes]] | None) -> str:
    """The refused request's id, as the middleware gives one (it never sees
    this request): a safe X-Request-ID it sent before the bound was
    passed, or a new one."""
    for name, value in headers or ():
        if name.lower() == b"x-request-id":
            given = context.safe_id(value)
            if given:
                return given
    return context.new_id()


class _HeadTooLarge(Exception):
    """Raised in httptools' callbacks to stop reading a head past the bound."""


def _bounded_httptools(limit: int) -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """httptools, with a request's head bounded to `limit` bytes: its
        parts are counted as the parser hands them over (a head that came
        in one read), and the bytes read while a head has not ended (a head
        still coming, which httptools would keep gathering)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head, self._head_read, self._head_parts = True, 0, 0
            self._too_large = self._refused = self._refuse_after = False
            # Whether the parser has begun a request since the last one
            # ended: only then are self.url and self.headers the refused
            # request's (uvicorn sets them when a request begins, and they
            # hold the last request's until the next one does).
            self._in_message = False
            self._refusal = b""

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # read and dropped until the connection closes
            if self._in_head:
                self._head_read += len(data)
            super().data_received(data)
            if self._in_head and self._head_read > limit and not self.transport.is_closing():
                self._refuse()

        def _refuse(self, too_large: bool = True) -> None:
            """Answer the 431 (or, `too_large` false, the 400 for a request
            that could not be read) and close, after the
            answers owed to the requests before this one on the connection
            (a request still running, or read and waiting in uvicorn's
            pipeline): HTTP/1.1 answers in order, so a refusal sent at once
            would read as the answer to the request running. Closed at
            once, a client still sending would get a reset in place of the
            answer; so, as a reverse proxy does, what it goes on sending is
            dropped for a moment (LINGER_SECONDS) before the connection
            closes."""
            if self._refused:
                return
            # Like every answer: the request's id (logged with it), its path;
            # neither when no request has begun (bare line ends past the
            # bound, before the first request or after the last one's end).
            begun = self._in_message
            request_id = request_id_of(self.headers if begun else None)
            instance = instance_of(self.url if begun else None)
            self._refused = True
            if too_large:
                self._refusal = _refusal(limit, instance=instance, request_id=request_id)
                self.logger.warning("request head over %d bytes refused (431)", limit)
                log.warning(
                    "request",
                    status=431,
                    why=f"request head over {limit} bytes",
                    instance=instance,
                    request_id=request_id,
                )
            else:
                self._refusal = _unreadable(instance=instance, request_id=request_id)
                log.info("request", status=400, why="unreadable", request_id=request_id)
            if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
                self._refuse_after = True  # sent by on_response_complete
                return
            self._send_refusal()

        def _send_refusal(self) -> None:
            self.transport.write(self._refusal)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)

        def on_response_complete(self) -> None:
            if self._refuse_after and not self.pipeline and not self.transport.is_closing():
                self._refuse_after = False
                self.server_state.total_requests += 1
                self._send_refusal()
                return
            super().on_response_complete()

        def _count(self, n: int) -> None:
            self._head_parts += n
            if self._head_parts > limit:
                self._too_large = True
                raise _HeadTooLarge

        def send_400_response(self, msg: str) -> None:
            # uvicorn answers any error the parser raised, ours too, with a
            # text/plain 400 at once (before the answers owed); here each
            # goes as a problem+json, in its turn.
            self._refuse(self._too_large)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_parts, self._in_message = 0, True

        def on_url(self, url: bytes) -> None:
            # The request line's first part also counts its method, the
            # spaces and version around the target, its line end and the
            # blank line that ends the head.
            first = 0 if self.url else len(self.parser.get_method()) + len(" HTTP/1.1\r\n\r\n") + 1
            self._count(first + len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_read, self._in_message = True, 0, False

    return BoundedHttpToolsProtocol


def http_protocol(kind: str, limit: int = MAX_HEAD_BYTES) -> Any:
    """What uvicorn's `http=` takes for `kind` ("auto", "httptools" or
    "h11"), bounding a request's head to `limit` bytes. With "auto",
    httptools when it is installed (as uvicorn's own choice)."""
    if kind == "h11":
        return "h11"  # bounded by h11_max_incomplete_event_size (uvicorn_options)
    try:
        return _bounded_httptools(limit)
    except ImportError:  # no httptools: uvicorn's auto falls back to h11
        if kind == "httptools":
            raise
        return "h11"


def uvicorn_options(kind: str, limit: int = MAX_HEAD_BYTES) -> dict[str, Any]:
    """uvicorn.run's options that bound a request's head, for either parser."""
    return {"http": http_protocol(kind, limit), "h11_max_incomplete_event_size": limit}
