"""HEAD is answered for every GET route, as the GET would be without its
body (RFC 9110 §9.3.2), so the `Allow` header that names it tells the truth;
a path with no GET refuses HEAD, and its `Allow` does not name it."""

from __future__ import annotations

from prometheus_client import REGISTRY
from svc_common import testing

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])
#: Headers that differ from one request to the next.
PER_REQUEST = {"x-request-id", "x-correlation-id", "traceparent", "date"}


def _steady(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in PER_REQUEST}


async def test_head_of_a_get_route_answers_as_the_get_without_a_body(svc: Service) -> None:
    await svc.enterprise(8001)
    for path in ("/permit/permits", "/permit/enterprises?limit=1", "/permit/health"):
        get = await svc.http.get(path, headers=OFFICER)
        head = await svc.http.head(path, headers=OFFICER)
        assert head.status_code == get.status_code == 200, (path, head.text)
        assert head.content == b"" and get.content != b""
        assert _steady(dict(head.headers)) == _steady(dict(get.headers)), path
        assert head.headers["content-length"] == str(len(get.content))
    # A refusal too: what GET would answer, without the problem's body.
    get = await svc.http.get("/permit/permits")
    head = await svc.http.head("/permit/permits")
    assert head.status_code == get.status_code == 401 and head.content == b""
    assert head.headers["www-authenticate"] == get.headers["www-authenticate"]


async def test_allow_names_head_only_where_it_is_answered(svc: Service) -> None:
    refused = await svc.http.delete("/permit/permits", headers=OFFICER)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, POST"
    assert (await svc.http.head("/permit/permits", headers=OFFICER)).status_code == 200
    # A path served by POST alone: HEAD is refused, and Allow says POST only.
    head = await svc.http.head("/permit/permits:import", headers=OFFICER)
    assert head.status_code == 405 and head.content == b""
    assert head.headers["allow"] == "POST"
    unknown = await svc.http.head("/permit/no-such-thing", headers=OFFICER)
    assert unknown.status_code == 404


async def test_a_head_request_is_logged_and_counted_as_head(svc: Service) -> None:
    labels = {"service": "permit-svc", "method": "HEAD", "route": "/permit/permits"}
    before = REGISTRY.get_sample_value("http_requests_total", {**labels, "status": "200"}) or 0
    assert (await svc.http.head("/permit/permits", headers=OFFICER)).status_code == 200
    after = REGISTRY.get_sample_value("http_requests_total", {**labels, "status": "200"})
    assert after == before + 1
