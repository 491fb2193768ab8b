"""A request's line and headers are bounded (svc_common.http_head), under a
real uvicorn on a loopback port, raw bytes on a socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from svc_common.http_head import MAX_HEAD_BYTES, uvicorn_options


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    """Answers with how many body bytes it read."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(0.3)
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.dumps({"body_bytes": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=["httptools", "auto", "h11"])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[tuple[int, str]]:
    config = uvicorn.Config(
        _echo,
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="off",
        **uvicorn_options(request.param),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # uvicorn says it has started by a flag only
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1], request.param
    server.should_exit = True
    await task


async def _exchange(port: int, *requests: bytes, pieces: bool = False) -> bytes:
    """Sends the requests on one connection (each in pieces of 8 KiB a few
    milliseconds apart, if said); what came back until it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for r in requests:
            for at in range(0, len(r), 8192 if pieces else len(r)):
                writer.write(r[at : at + 8192] if pieces else r)
                await writer.drain()
                if pieces:
                    await asyncio.sleep(0.002)
        return await asyncio.wait_for(reader.read(-1), 10)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


def _get(headers: bytes = b"", path: bytes = b"/", close: bool = True) -> bytes:
    end = b"connection: close\r\n" if close else b""
    return b"GET " + path + b" HTTP/1.1\r\nhost: x\r\n" + headers + end + b"\r\n"


@pytest.mark.parametrize("pieces", [False, True])
async def test_a_head_past_the_bound_is_refused(port: tuple[int, str], pieces: bool) -> None:
    p, kind = port
    # Past the bound by 16 KiB: h11 checks its bound between reads.
    big = b"x-junk: " + b"a" * (MAX_HEAD_BYTES + 16384) + b"\r\n"
    answer = await _exchange(p, _get(big), pieces=pieces)
    if kind == "h11":
        if pieces:
            # h11's own bound on a head still coming: uvicorn answers 400 and
            # closes at once, so a client still sending may get a reset.
            assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:80]
        return
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:80]
    assert b"content-type: application/problem+json" in head
    problem = json.loads(body)
    assert problem["status"] == 431 and str(MAX_HEAD_BYTES) in problem["detail"]
    # A request line past it too (a long query string).
    answer = await _exchange(p, _get(path=b"/?q=" + b"b" * (MAX_HEAD_BYTES + 1)), pieces=pieces)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
    # Many headers, each small.
    many = b"".join(b"x-h%d: %s\r\n" % (i, b"c" * 100) for i in range(MAX_HEAD_BYTES // 100))
    answer = await _exchange(p, _get(many), pieces=pieces)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]


async def test_the_431_is_a_problem_like_every_other(port: tuple[int, str]) -> None:
    """The 431 had an English title only and neither `instance` nor
    `request_id`: its title is in both languages, Chinese first, as its
    detail; it names the request's path and an id (the caller's safe
    X-Request-ID, or a new one), echoed in X-Request-ID as every answer's."""
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 answers its own bound itself")
    big = b"x-junk: " + b"a" * (MAX_HEAD_BYTES + 16384) + b"\r\n"
    for given, path in ((b"", b"/quota/pools?x=1"), (b"x-request-id: rq-431\r\n", b"/a/b")):
        answer = await _exchange(p, _get(given + big, path=path))
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431"), answer[:80]
        problem = json.loads(body)
        assert problem["title"] == "请求头过大 / Request header fields too large"
        assert problem["detail"].startswith("请求行与请求头合计过大")
        assert problem["instance"] == path.split(b"?")[0].decode()
        rid = problem["request_id"]
        assert rid == "rq-431" if given else len(rid) == 36, rid
        assert f"x-request-id: {rid}".encode() in head
    # A request line past the bound: no path to repeat, an id all the same.
    answer = await _exchange(p, _get(path=b"/?q=" + b"b" * (MAX_HEAD_BYTES + 1)))
    problem = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert problem["status"] == 431 and problem["request_id"]
    # An unreadable request: its 400 the same way.
    answer = await _exchange(p, b"GET /a b HTTP/1.1\r\nhost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:80]
    problem = json.loads(body)
    assert problem["title"].startswith("请求有误") and problem["request_id"]


async def test_heads_within_the_bound_and_large_bodies_pass(port: tuple[int, str]) -> None:
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 bounds each head itself")
    # Two requests on one connection, each head three quarters of the bound:
    # the count starts again with each request.
    near = b"x-near: " + b"n" * (MAX_HEAD_BYTES * 3 // 4) + b"\r\n"
    answer = await _exchange(p, _get(near, close=False), _get(near))
    assert answer.count(b"HTTP/1.1 200") == 2, answer[:200]
    # A body four times the bound, sent in the same write as its head.
    body = b"z" * (4 * MAX_HEAD_BYTES)
    post = (
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )
    answer = await _exchange(p, post)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"body_bytes": len(body)}


async def test_a_head_that_never_ends_is_refused_as_it_comes(port: tuple[int, str]) -> None:
    """A header still coming past the bound is answered before it ends (the
    parser would otherwise gather it for as long as the client sends)."""
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 bounds each head itself")
    endless = b"GET / HTTP/1.1\r\nhost: x\r\nx-junk: " + b"a" * (MAX_HEAD_BYTES + 16384)
    answer = await _exchange(p, endless, pieces=True)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]


async def test_the_bound_counts_the_whole_head(port: tuple[int, str]) -> None:
    """The request line, every header line and the blank line: a head of
    exactly the bound passes, one byte more is refused."""
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 bounds each head itself")
    bare = _get(b"x-pad: \r\n", close=True)
    fill = MAX_HEAD_BYTES - len(bare)
    exact = _get(b"x-pad: " + b"p" * fill + b"\r\n", close=True)
    assert len(exact) == MAX_HEAD_BYTES
    assert (await _exchange(p, exact)).startswith(b"HTTP/1.1 200")
    over = _get(b"x-pad: " + b"p" * (fill + 1) + b"\r\n", close=True)
    assert (await _exchange(p, over)).startswith(b"HTTP/1.1 431")


async def test_a_431_comes_after_the_answers_owed_before_it(port: tuple[int, str]) -> None:
    """A request still running when the next one's head passes the bound
    gets its own answer first; the 431 follows, for the request it refuses."""
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 bounds each head itself")
    slow = b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n"
    big = b"x-junk: " + b"a" * (MAX_HEAD_BYTES + 16384) + b"\r\n"
    answer = await _exchange(p, slow, _get(big), pieces=True)
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"HTTP/1.1 431" in rest, answer[:400]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /a b HTTP/1.1\r\nhost: x\r\n\r\n",  # a space in the target
        "GET /区 HTTP/1.1\r\nhost: x\r\n\r\n".encode(),  # UTF-8 in the target
        b"GET / HTTP/1.1\r\nhost x\r\n\r\n",  # a header line with no colon
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: ten\r\n\r\n",
    ],
    ids=["space", "utf8-target", "no-colon", "length-not-a-number"],
)
async def test_an_unreadable_request_gets_a_problem_400(
    port: tuple[int, str], request_bytes: bytes
) -> None:
    """What httptools cannot read is answered as any other refusal: a
    problem+json in both languages, not uvicorn's text/plain line."""
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 answers its own 400")
    answer = await _exchange(p, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"content-type: application/problem+json" in head
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["type"].endswith(":unreadable-request")
    assert "HTTP/1.1" in problem["detail"] and "请求" in problem["detail"]


async def test_an_unreadable_request_is_answered_after_the_one_running(
    port: tuple[int, str],
) -> None:
    """uvicorn sent its 400 at once, where the client reads the answer to
    the request still running; it comes after that answer now."""
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 answers its own 400")
    slow = b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n"
    answer = await _exchange(p, slow + b"GET /a b HTTP/1.1\r\nhost: x\r\n\r\n")
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"HTTP/1.1 400" in rest and b"unreadable-request" in rest, answer[:400]


async def _refusal_after(port: int, first: bytes, then: bytes) -> tuple[bytes, bytes]:
    """Sends `first` (if any) on a connection and reads its answer, then
    sends `then` (in pieces); the answer to `first`, and what came after."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        answered = b""
        if first:
            writer.write(first)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(head.lower().partition(b"content-length: ")[2].split(b"\r\n")[0])
            answered = head + await asyncio.wait_for(reader.readexactly(length), 10)
        for at in range(0, len(then), 8192):
            writer.write(then[at : at + 8192])
            await writer.drain()
            await asyncio.sleep(0.002)
        return answered, await asyncio.wait_for(reader.read(-1), 10)
    except ConnectionResetError:
        return answered, b""
    finally:
        writer.close()


async def test_blank_lines_past_the_bound_before_any_request_get_the_431(
    port: tuple[int, str],
) -> None:
    """Bare line ends before a request line count towards the bound; past
    it, before any request began on the connection, the refusal crashed
    (no request path read yet: "Fatal error on transport") and the client
    got nothing. It gets the 431, with no path to repeat."""
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 bounds each head itself")
    _, answer = await _refusal_after(p, b"", b"\r\n" * (MAX_HEAD_BYTES // 2 + 4096))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:80]
    problem = json.loads(body)
    assert problem["status"] == 431 and "instance" not in problem
    assert len(problem["request_id"]) == 36


async def test_a_refusal_between_requests_is_not_the_last_requests(
    port: tuple[int, str],
) -> None:
    """On a kept-alive connection, blank lines past the bound after one
    request's answer were refused with that request's path and X-Request-ID,
    as if it were the one refused: the refusal names neither."""
    p, kind = port
    if kind == "h11":
        pytest.skip("h11 bounds each head itself")
    first = _get(b"x-request-id: rq-first\r\n", path=b"/first", close=False)
    answered, answer = await _refusal_after(p, first, b"\r\n" * (MAX_HEAD_BYTES // 2 + 4096))
    assert answered.startswith(b"HTTP/1.1 200"), answered[:80]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:80]
    problem = json.loads(body)
    assert "instance" not in problem, problem
    assert problem["request_id"] != "rq-first" and b"rq-first" not in head
