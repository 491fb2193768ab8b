"""The console app alone, in-process, with the services answered by a stub:
error pages, htmx refusals, sessions, and the pages' own computations where a
page is the only place they show. Fast: no server, no database."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from html import unescape
from typing import Any

import httpx
import pytest
from console.app import create
from console.settings import Settings
from console.web import today_beijing
from sqlalchemy.ext.asyncio import create_async_engine

Handler = Callable[[httpx.Request], httpx.Response]


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


class Stub:
    """The services: a route → answer table; anything else is a 404 problem."""

    def __init__(self) -> None:
        # quota-svc's public pollutant list, which the 招商 page needs.
        self.routes: dict[tuple[str, str], Any] = {("GET", "/quota/pollutants"): QUOTA_POLLUTANTS}
        self.calls: list[httpx.Request] = []

    def on(self, method: str, path: str, answer: Any) -> None:
        self.routes[(method, path)] = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"title": "未找到", "detail": "no such route"})
        if callable(answer):
            result: httpx.Response = answer(request)
            return result
        return httpx.Response(200, json=answer)


@pytest.fixture
def stub() -> Stub:
    return Stub()


@pytest.fixture
async def client(stub: Stub) -> AsyncIterator[httpx.AsyncClient]:
    app = create(Settings(dev_login=True), transport=httpx.MockTransport(stub))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test"
    ) as c:
        yield c


async def sign_in(c: httpx.AsyncClient, user: str) -> str:
    page = await c.get("/console/login")
    r = await c.post("/console/login/dev", data={"user": user, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    home = await c.get("/console/")
    return csrf_of(home.text)


def assert_console_page(r: httpx.Response, status: int, *texts: str) -> None:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN"' in r.text
    for t in texts:
        assert t in r.text
    assert '"detail"' not in r.text


async def test_errors_are_the_consoles_own_pages_in_chinese(client: httpx.AsyncClient) -> None:
    c = client
    assert_console_page(await c.get("/console/nope"), 404, "未找到")
    r = await c.get("/console/workbench/act")
    assert_console_page(r, 405, "不支持该请求方法")
    assert "POST" in r.headers["allow"]
    # An address that answers GET answers HEAD too, and its Allow says so.
    r = await c.put("/console/public/verify")
    assert_console_page(r, 405, "不支持该请求方法")
    assert r.headers["allow"] == "GET, HEAD"
    assert (await c.head("/console/public/verify")).status_code == 200
    await sign_in(c, "investment")
    weird = "<x>" + "é" * 30
    r = await c.get("/console/investment/", params={"pollutant": weird})
    assert_console_page(r, 422, "请求内容无效")
    assert "é" * 30 not in r.text
    assert_console_page(
        await c.get("/console/investment/trend", params={"months": "99"}), 422, "请求内容无效"
    )
    long_no = "DJB-" + "9" * 70
    r = await c.get("/console/public/verify", params={"no": long_no})
    # Longer than its field: the form, with why beside the field (it was
    # the generic page of a 422), the field holding what it can.
    assert_console_page(r, 200, 'id="no-err"', "备案号的格式如")
    assert "9" * 70 not in r.text and "9" * 56 in r.text
    r = await c.get(
        "/console/public/verify", params={"no": "DJB-120119-2026-000006", "code": "A" * 41}
    )
    assert_console_page(r, 200, 'id="code-err"', "校验码有 41 个字符")
    assert f'name="code" value="{"A" * 40}"' in r.text
    en = await c.get("/console/nope", params={"lang": "en"})
    assert en.status_code == 404 and "Not found" in en.text and '<html lang="en"' in en.text


async def test_a_bad_workbench_form_gets_a_page_without_its_input(
    client: httpx.AsyncClient,
) -> None:
    c = client
    token = await sign_in(c, "officer-jizhou")
    huge = "x" * 100_000
    for data in (
        {"csrf_token": token, "op": "filing", "action": "accept", "idem": "k" * 20},
        {"csrf_token": token, "op": "filing", "id": huge, "action": "accept", "idem": "k" * 20},
        {"csrf_token": token, "op": "filing", "id": "a1", "idem": huge},
        {"csrf_token": token, "op": "check-revoke", "id": "a1", "idem": "k" * 20, "reason": huge},
    ):
        r = await c.post("/console/workbench/act", data=data)
        assert_console_page(r, 422, "请求内容无效")
        assert "xxxxxxxxxx" not in r.text
        htmx = await c.post("/console/workbench/act", data=data, headers={"HX-Request": "true"})
        assert htmx.status_code == 422 and "<html" not in htmx.text
        assert 'class="result error"' in htmx.text and "xxxxxxxxxx" not in htmx.text


async def test_htmx_actions_show_refusals_with_their_status(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    c = client
    token = await sign_in(c, "officer-jizhou")
    stub.on(
        "POST",
        "/eia/registrations/r1/revoke",
        lambda _: httpx.Response(
            422, json={"title": "请求内容无效", "detail": "原因最多 500 个字符"}
        ),
    )
    form = {"csrf_token": token, "op": "check-revoke", "id": "r1", "idem": "k" * 20}
    hx = {"HX-Request": "true"}
    # Refused by the console itself (no reason) and by the service: 422, the
    # message for the form's side (the form itself stays on the page).
    r = await c.post("/console/workbench/act", data=form, headers=hx)
    assert r.status_code == 422 and "请填写原因" in r.text
    r = await c.post("/console/workbench/act", data={**form, "reason": "y" * 600}, headers=hx)
    assert r.status_code == 422 and "原因最多 500 个字符" in r.text
    # Signed out in another tab: the same form says so, in Chinese.
    await c.post("/console/logout", data={"csrf_token": token})
    r = await c.post("/console/workbench/act", data={**form, "reason": "z"}, headers=hx)
    assert r.status_code == 403 and "登录已失效，请重新登录" in r.text and "<html" not in r.text


async def test_a_refused_id_is_said_with_its_field(client: httpx.AsyncClient, stub: Stub) -> None:
    """An id the service refuses (over its 64 characters) came back to the
    workbench as "最多 64 个字符", naming no field: it is said by the
    field's name, as the other forms' refusals are."""
    long_id = "p" * 65
    stub.on(
        "POST",
        f"/permit/permits/{long_id}/issue",
        lambda _: httpx.Response(
            422,
            json={
                "title": "请求内容无效",
                "detail": "permit_id: 最多 64 个字符",
                "errors": [{"field": "permit_id", "message": "最多 64 个字符"}],
            },
        ),
    )
    token = await sign_in(client, "officer-jizhou")
    form = {"csrf_token": token, "op": "permit-issue", "id": long_id, "idem": "k" * 20}
    r = await client.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "许可证编号：最多 64 个字符" in r.text, r.text
    assert "permit_id" not in r.text


def test_a_forms_described_by_is_escaped() -> None:
    """The reason's `aria-describedby` was built from the row's id and
    marked safe: an id with a quote or a tag in it wrote itself into the
    page as markup. It is escaped as every other attribute is."""
    from types import SimpleNamespace

    from console.pages.workbench import queues
    from console.web import templates

    id = 'a"><script>x</script>'
    fid = f"check-revoke-{id}"
    draft = SimpleNamespace(form=fid, field="reason", typed={"reason": ""}, problem="请填写原因")
    html = templates.env.get_template("workbench/_form.html").render(
        op="check-revoke",
        id=id,
        reason=True,
        label="撤销",
        draft=draft,
        csrf="t",
        new_key=lambda: "k",
        queues=queues,
    )
    assert "<script>" not in html, html
    assert 'aria-describedby="r-check-revoke-a&#34;&gt;&lt;script&gt;' in html, html


def _most(model: Any, field: str) -> int:
    """The `VisibleText` maximum of a service schema's field."""
    from svc_common.types import VisibleText

    found = [m.max_length for m in model.model_fields[field].metadata if isinstance(m, VisibleText)]
    if not found:  # `Annotated[str, VisibleText(n)] | None`
        (inner,) = [a for a in model.model_fields[field].annotation.__args__ if a is not type(None)]
        found = [m.max_length for m in inner.__metadata__ if isinstance(m, VisibleText)]
    return int(found[0])


async def test_a_reason_the_service_would_refuse_is_said_on_the_form(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A reason of zero-width spaces, or one longer than its service field
    (quota-svc's rejection takes 1000 characters) passed the form (any
    non-blank text up to 2000) and came back as the service's 422 naming
    its field: the form now checks it as the services do, with each
    field's own maximum, and says why in Chinese; nothing is sent."""
    from console.pages.workbench.queues import REASON_MAX
    from eia_svc.filings.schemas import FilingApproveIn, FilingRejectIn, FilingWithdrawIn
    from eia_svc.registrations.schemas import RevokeIn
    from permit_svc.audits.schemas import Rectification
    from permit_svc.permits.schemas import Reason
    from quota_svc.reclaims.schemas import RejectIn

    assert {
        "filing": _most(FilingRejectIn, "reason"),
        "check-revoke": _most(RevokeIn, "reason"),
        "reclaim-reject": _most(RejectIn, "reason"),
        "finding-rectify": _most(Rectification, "note"),
        "permit-reject": _most(Reason, "reason"),
    } == REASON_MAX
    assert {_most(FilingApproveIn, "reason"), _most(FilingWithdrawIn, "reason")} == {
        REASON_MAX["filing"]
    }

    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={"id": "q1", "status": "rejected"})

    stub.on("POST", "/quota/reclaims/q1/reject", answer)
    stub.on("POST", "/eia/registrations/r1/revoke", answer)
    token = await sign_in(client, "officer-jizhou")
    hx = {"HX-Request": "true"}
    form = {"csrf_token": token, "idem": "k" * 20, "op": "reclaim-reject", "id": "q1"}
    r = await client.post("/console/workbench/act", data={**form, "reason": "\u200b"}, headers=hx)
    assert r.status_code == 422 and "原因：首尾须为可见字符" in r.text, r.text
    r = await client.post("/console/workbench/act", data={**form, "reason": "y" * 1001}, headers=hx)
    assert r.status_code == 422 and "原因共 1001 个字符，最多 1000 个" in r.text, r.text
    assert sent == []
    # Within the field's maximum (spaces around it not counted), it is sent.
    reason = " " + "y" * 1000 + " "
    r = await client.post("/console/workbench/act", data={**form, "reason": reason}, headers=hx)
    assert r.status_code == 200 and sent == ["/quota/reclaims/q1/reject"]
    revoke = {**form, "op": "check-revoke", "id": "r1", "reason": "y" * 1500}
    r = await client.post("/console/workbench/act", data=revoke, headers=hx)
    assert r.status_code == 200 and sent[-1] == "/eia/registrations/r1/revoke"


async def test_a_form_key_past_ascii_is_refused_as_a_spaced_one_is(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A form's Idempotency-Key (`idem`) with a character past ASCII was a
    500 text/plain (httpx cannot write such a header); a space in it was a
    400 from the service. Both are now the services' own 400, beside the
    form (htmx) or on the workbench's page, and nothing is sent."""
    stub.on("POST", "/permit/permits/p1/renew", {"id": "p1", "status": "issued"})
    stub.on("GET", "/eia/filings", {"items": [], "next_cursor": None})
    token = await sign_in(client, "officer-jizhou")
    said = "Idempotency-Key 只能由可打印 ASCII 字符组成，且不含空格"
    for idem in (
        "ééééé" * 2,
        "k" * 10 + "键",
        "k" * 10 + "\u00a0",
        "a key with space",
    ):
        form = {"csrf_token": token, "op": "permit-renew", "id": "p1", "idem": idem}
        r = await client.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
        assert r.status_code == 400, (idem, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        assert 'class="result error"' in r.text and said in r.text and "<html" not in r.text
        page = await client.post("/console/workbench/act", data=form)
        assert page.status_code == 303 and page.headers["location"] == "/console/workbench/"
        assert said in (await client.get("/console/workbench/")).text
    assert not [c for c in stub.calls if c.method == "POST"]


async def test_a_user_whose_sub_is_past_ascii_can_act(
    client: httpx.AsyncClient, stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `sub` from the identity provider may be any text; the key's part
    naming the user was written as it is, so a user named 李华 had a 500 on
    every action. It is escaped as in a URL; a login id of printable ASCII
    keeps the key it had."""
    from console.auth import router
    from console.auth.users import DevUser

    stub.on("POST", "/permit/permits/p1/renew", {"id": "p1", "status": "issued"})
    idem = "k" * 20
    form = {"op": "permit-renew", "id": "p1", "idem": idem}
    for sub, key in [
        ("li.hua", f"console:li.hua:{idem}"),
        ("李华", f"console:%E6%9D%8E%E5%8D%8E:{idem}"),
        ("wu.lei%", f"console:wu.lei%25:{idem}"),
    ]:
        chosen = DevUser("someone", sub, "某人", "officer", ("120119",))
        monkeypatch.setattr(router, "dev_user", lambda _, u=chosen: u)
        token = await sign_in(client, "someone")
        r = await client.post(
            "/console/workbench/act",
            data={**form, "csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 200 and "已延续" in r.text, (sub, r.text[:300])
        (call,) = [c for c in stub.calls if c.method == "POST"]
        stub.calls.clear()
        assert call.headers["idempotency-key"] == key


async def test_a_csrf_token_past_ascii_is_refused_as_a_wrong_one_is(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """`X-CSRF-Token: é` or a form's `csrf_token=中` was a 500 text/plain
    (hmac.compare_digest takes no str past ASCII), signed in or not: it is
    the console's 403 page, as any token but the session's is, and nothing
    is sent to a service."""
    await client.get("/console/login")
    for form, headers in (
        ({"user": "admin", "csrf_token": "中" * 43}, {}),
        ({"user": "admin"}, {"X-CSRF-Token": "é".encode()}),
    ):
        r = await client.post("/console/login/dev", data=form, headers=headers)
        assert_console_page(r, 403, "表单已失效")
    assert (await client.get("/console/workbench/")).status_code == 303  # nobody signed in
    token = await sign_in(client, "officer-jizhou")
    form = {"op": "permit-renew", "id": "p1", "idem": "k" * 20}
    for given in ("中", token[:-1] + "é", "\u00e9" * 43):
        r = await client.post("/console/workbench/act", data={**form, "csrf_token": given})
        assert_console_page(r, 403, "表单已失效")
        r = await client.post(
            "/console/workbench/act",
            data=form,
            headers={"X-CSRF-Token": given.encode()},
        )
        assert_console_page(r, 403, "表单已失效")
    r = await client.post("/console/logout", headers={"X-CSRF-Token": "é".encode()})
    assert_console_page(r, 403, "表单已失效")
    assert not [c for c in stub.calls if c.method == "POST"]


async def test_a_slash_redirect_names_no_host_the_client_sent(client: httpx.AsyncClient) -> None:
    """`/console/workbench` (no trailing slash) with `Host: evil.example`
    was redirected to `http://evil.example/console/workbench/`: Starlette
    writes the whole address from the Host header. The Location is now the
    path and query alone, whatever the Host; a Location on another host
    (the identity provider's sign-in) is left as it is."""
    from console.web import _own_path

    for host in ("evil.example", "console.test", "127.0.0.1:8000"):
        for path, there in (
            ("/console/workbench", "/console/workbench/"),
            ("/console", "/console/"),
            ("/console/public/verify/?no=DJB-1", "/console/public/verify?no=DJB-1"),
        ):
            r = await client.get(path, headers={"Host": host})
            assert r.status_code == 307, (host, path, r.status_code)
            assert r.headers["location"] == there, (host, path, r.headers["location"])
    assert _own_path(b"https://idp.example/auth?x=1", b"console.test") == (
        b"https://idp.example/auth?x=1"
    )
    assert _own_path(b"http://Console.test", b"console.test") == b"/"
    assert _own_path(b"/console/", b"console.test") == b"/console/"


def test_a_form_key_names_any_user_in_ascii_and_each_user_apart() -> None:
    from console.api import idempotency_key
    from svc_common.idempotency import key_problem

    subs = ["li.hua", "李华", "%", "%25", "wu lei", "wu%20lei", "\ud800", "é" * 200, "x" * 200]
    keys = [idempotency_key(sub, "k" * 100) for sub in subs]
    assert len(set(keys)) == len(subs)
    for key in keys:
        assert key_problem(key.encode()) is None, key
    assert idempotency_key("li.hua", "abc") == "console:li.hua:abc"
    assert idempotency_key("é" * 200, "abc") == idempotency_key("é" * 200, "abc")


async def test_a_session_token_no_header_can_carry_is_an_ended_session() -> None:
    from console.api import ApiError, Services

    api = Services({}, transport=httpx.MockTransport(lambda _: httpx.Response(200, json={})))
    try:
        with pytest.raises(ApiError) as refused:
            await api.get("permit", "/permit/permits", token="eyJ.é.x")
        assert refused.value.status == 401
    finally:
        await api.aclose()


def test_the_script_swaps_refusals_beside_the_form() -> None:
    from console.web import HERE

    js = (HERE / "static" / "console.js").read_text()
    assert "htmx:beforeSwap" in js and 'closest("form.act")' in js
    form = (HERE / "templates" / "workbench" / "_form.html").read_text()
    assert 'class="outcome"' in form


def _cookie_payload(c: httpx.AsyncClient) -> str:
    import base64

    value = c.cookies["envbureau_console"]
    data = value.split(".")[0]
    return base64.b64decode(data + "=" * (-len(data) % 4)).decode()


async def _replay_after_sign_out(a: httpx.AsyncClient, b: httpx.AsyncClient) -> None:
    """Sign in on `a`, sign out on `b` with the same cookie; `a` replays it."""
    token = await sign_in(a, "officer-jizhou")
    old = a.cookies["envbureau_console"]
    payload = _cookie_payload(a)
    assert "sid" in payload and "eyJ" not in payload and "token" not in payload
    b.cookies.set("envbureau_console", old)
    assert (await b.get("/console/workbench/", follow_redirects=False)).status_code != 303
    await b.post("/console/logout", data={"csrf_token": token})
    a.cookies.set("envbureau_console", old)
    r = await a.get("/console/workbench/")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    act = await a.post(
        "/console/workbench/act",
        data={"csrf_token": token, "op": "permit-renew", "id": "p1", "idem": "k" * 20},
    )
    assert act.status_code == 303 and act.headers["location"].startswith("/console/login")


async def test_sign_out_ends_the_session_and_the_cookie_carries_no_token(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    stub.on("GET", "/eia/filings", {"items": [], "next_cursor": None})
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://console.test"
    ) as other:
        await _replay_after_sign_out(client, other)
    assert not [r for r in stub.calls if r.method == "POST"]


async def test_replicas_share_sessions_in_a_sql_store(tmp_path: Any, stub: Stub) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    settings = Settings(dev_login=True, session_secret="s" * 32, session_store_url=url)
    one = create(settings, transport=httpx.MockTransport(stub))
    two = create(settings, transport=httpx.MockTransport(stub))
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=one), base_url="http://c") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=two), base_url="http://c") as b,
        ):
            await _replay_after_sign_out(a, b)
    finally:
        await one.state.sessions.aclose()
        await two.state.sessions.aclose()


async def test_a_session_store_that_fails_leaves_the_public_pages_working(
    tmp_path: Any, stub: Stub
) -> None:
    """The table dropped under a running console is made again (signed-in
    users sign in again); a store that cannot be reached at all reads as
    signed out: public pages and static files answer, signing in is a 503
    page, never a 500."""
    from sqlalchemy import text

    url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    settings = Settings(dev_login=True, session_secret="s" * 32, session_store_url=url)
    app = create(settings, transport=httpx.MockTransport(stub))
    store = app.state.sessions
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://c"
        ) as c:
            await sign_in(c, "officer-jizhou")
            async with store.engine.begin() as conn:
                await conn.execute(text("DROP TABLE console_sessions"))
            r = await c.get("/console/workbench/")
            assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
            await sign_in(c, "officer-jizhou")  # the table is back
            assert (await c.get("/console/workbench/")).status_code == 200

            await store.engine.dispose()
            store.engine = create_async_engine(  # a store nobody can reach
                f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'sessions.db'}"
            )
            for path in ("/console/", "/console/login", "/console/static/console.css"):
                assert (await c.get(path)).status_code == 200, path
            assert (await c.get("/favicon.ico")).status_code in (200, 404)
            page = await c.get("/console/login")
            r = await c.post(
                "/console/login/dev",
                data={"user": "officer-jizhou", "csrf_token": csrf_of(page.text)},
            )
            assert_console_page(r, 503, "登录服务暂时不可用")
            assert r.headers["retry-after"] == "5"
    finally:
        await store.aclose()


async def test_replicas_preparing_the_store_at_once_do_not_fail(db_url: str) -> None:
    """Four replicas' first look-ups at once on a fresh database: one creates
    the table, the others find it made (on PostgreSQL a second CREATE fails)."""
    from console.auth.store import SqlStore

    stores = [SqlStore(db_url) for _ in range(4)]
    try:
        found = await asyncio.gather(*(s.get("nobody") for s in stores for _ in range(3)))
        assert found == [None] * 12
    finally:
        for s in stores:
            await s.aclose()


def _filing(**fields: Any) -> dict[str, Any]:
    """A filing as eia-svc lists it (the fields the console reads)."""
    return {
        "id": "f1",
        "project_name": "涂装线",
        "category": "report",
        "channel": "normal",
        "status": "accepted",
        "quota_status": "secured",
        "vocs_increment_t": "1.500",
        "created_at": "2026-11-02T02:00:00+00:00",
        **fields,
    }


async def test_the_enterprise_page_shows_the_ledgers_reservation(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    uscc = "91120225MA05XXXX1A"
    page = {"next_cursor": None}
    for path in ("/permit/permits", "/permit/registrations"):
        stub.on("GET", path, {**page, "items": []})
    audit = {"id": "a1", "audited_at": "2026-11-03T02:00:00+00:00", "findings": []}
    stub.on(
        "GET",
        "/permit/audits",
        {
            **page,
            "items": [{**audit, "result": "pass"}, {**audit, "id": "a2", "result": "findings"}],
        },
    )
    stub.on("GET", "/eia/registrations", {**page, "items": []})
    stub.on(
        "GET",
        "/eia/filings",
        {
            **page,
            "items": [_filing(reservation_id="res-1")],
        },
    )
    held = {"id": "res-1", "status": "held", "required_t": "3.000", "allocated_t": "0"}

    def reservations(request: httpx.Request) -> httpx.Response:
        # One list of the enterprise's held reservations, not one read each.
        assert (request.url.params["uscc"], request.url.params["status"]) == (uscc, "held")
        return httpx.Response(200, json={**page, "items": [held]})

    stub.on("GET", "/quota/reservations", reservations)
    await sign_in(client, "auditor")
    r = await client.get(f"/console/enterprise/{uscc}")
    assert r.status_code == 200, r.text[:300]
    shown = re.search(r"审批中预留</dt><dd>([^ <]+)", r.text)
    assert shown and shown.group(1) == "3.000"
    # Audit results in words, not the service's codes.
    assert "2026-11-03 — 通过" in r.text and "— 发现问题" in r.text and "— pass" not in r.text


async def test_fit_asks_once_per_district_and_refuses_more_than_the_city_has(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    def check(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                **body,
                "offset_ratio": "2",
                "required_t": "10.000",
                "available_t": "50.000",
                "fits": True,
                "shortfall_t": "0",
                "remaining_t": "40.000",
            },
        )

    stub.on("POST", "/quota/checks", check)
    await sign_in(client, "investment")
    hx = {"HX-Request": "true"}
    params = [("p_VOCs", "5"), ("p_NOx", "1")] + [("district", "120119")] * 16
    r = await client.get("/console/investment/fit", params=params, headers=hx)
    assert r.status_code == 200
    assert r.text.count('data-district="120119"') == 1
    assert len([c for c in stub.calls if c.url.path == "/quota/checks"]) == 2
    assert "1 个区可以容纳该项目" in r.text
    english = await client.get(
        "/console/investment/fit", params=params, headers={**hx, "Accept-Language": "en"}
    )
    assert "One district can take this project." in english.text, english.text[:400]
    params += [("district", "120119")] * 1500
    r = await client.get("/console/investment/fit", params=params)
    assert_console_page(r, 422, "最多选择 16 个区")
    # A code that is no district is said, never dropped for "every district".
    before = len(stub.calls)
    odd = [("p_VOCs", "5"), ("district", "120199"), ("district", "<b>x</b>")]
    r = await client.get("/console/investment/fit", params=odd, headers=hx)
    assert r.status_code == 200
    assert "不是本市的区划代码：120199、&lt;b&gt;x&lt;/b&gt;" in r.text
    # Nothing checked (quota-svc's pollutant list is read, as for any fit).
    assert not [c for c in stub.calls[before:] if c.url.path != "/quota/pollutants"]


async def test_the_receipt_through_the_console_prints_with_the_consoles_script(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    no = "DJB-120119-2026-000123"
    from eia_svc.registrations.receipt import PRINT_SCRIPT

    html = (
        "<html><head><title>t</title></head><body><button data-print>打印</button>"
        f"{PRINT_SCRIPT}</body></html>"
    )
    stub.on(
        "GET",
        f"/eia/public/receipts/{no}/receipt",
        lambda _: httpx.Response(200, text=html, headers={"content-type": "text/html"}),
    )
    r = await client.get(f"/console/public/receipt/{no}", params={"code": "ABC"})
    assert '<script src="/console/static/console.js" defer></script></head>' in r.text
    assert "data-receipt-print" not in r.text and "<script>" not in r.text


async def test_a_receipt_that_is_not_there_is_a_page_in_chinese(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A wrong check code or a malformed number in a receipt link: the
    console's own page, never eia-svc's problem JSON or an empty body."""
    no = "DJB-120119-2026-000123"
    stub.on(
        "GET",
        f"/eia/public/receipts/{no}/receipt",
        lambda _: httpx.Response(
            404,
            json={"title": "未找到", "detail": "没有与该备案号和校验码相符的备案回执"},
            headers={"content-type": "application/problem+json"},
        ),
    )
    r = await client.get(f"/console/public/receipt/{no}", params={"code": "WRONG"})
    assert_console_page(r, 404, "没有与该备案号和校验码相符的备案回执")
    r = await client.get("/console/public/receipt/" + "a" * 300, params={"code": "<b>x"})
    assert_console_page(r, 404, "没有与该备案号和校验码相符的备案回执")
    assert "<b>x" not in r.text and "a" * 300 not in r.text


@pytest.mark.parametrize(
    ("user", "shown", "hidden"),
    [
        ("investment", ["/console/investment/", "/console/enterprise/"], ["/console/workbench/"]),
        ("officer-jizhou", ["/console/workbench/", "/console/investment/"], []),
    ],
)
async def test_home_cards_are_those_the_role_may_open(
    client: httpx.AsyncClient, user: str, shown: list[str], hidden: list[str]
) -> None:
    await sign_in(client, user)
    cards = (await client.get("/console/")).text.split('<div class="cards">')[1]
    for href in shown:
        assert f'<h2><a href="{href}">' in cards
    for href in hidden:
        assert f'<h2><a href="{href}">' not in cards


async def test_action_results_use_the_actions_own_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    stub.on("POST", "/quota/reclaims/q1/reject", {"id": "q1", "status": "rejected"})
    stub.on("POST", "/permit/permits/p1/renew", {"id": "p1", "status": "issued"})
    token = await sign_in(client, "officer-jizhou")
    hx = {"HX-Request": "true"}
    base = {"csrf_token": token, "idem": "k" * 20}
    r = await client.post(
        "/console/workbench/act",
        data={**base, "op": "reclaim-reject", "id": "q1", "reason": "重复"},
        headers=hx,
    )
    assert "已驳回" in r.text and "不予批准" not in r.text
    r = await client.post(
        "/console/workbench/act", data={**base, "op": "permit-renew", "id": "p1"}, headers=hx
    )
    assert "已延续" in r.text and "已核发" not in r.text


async def test_roles_are_named_in_chinese(client: httpx.AsyncClient) -> None:
    await sign_in(client, "investment")
    assert "王芳（招商人员）" in (await client.get("/console/")).text
    r = await client.get("/console/workbench/")
    assert r.status_code == 403 and "此页面仅供：审批人员、管理员、审计人员" in r.text
    assert "officer" not in r.text.split("<main")[1]


async def test_the_favicon_is_served_locally(client: httpx.AsyncClient) -> None:
    r = await client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content.startswith(b"\x00\x00\x01\x00")
    page = await client.get("/console/")
    assert '<link rel="icon" href="/console/static/favicon.ico">' in page.text
    assert (await client.get("/console/static/favicon.ico")).status_code == 200


async def test_the_xlsx_export_has_exact_tonnes_and_the_beijing_date(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    import datetime as dt
    import io

    from openpyxl import load_workbook
    from svc_common import clock

    pool = {
        "district": "120116",
        "kind": "district",
        "pollutant": "VOCs",
        "credited_t": "1770",
        "reserved_t": "0",
        "allocated_t": "0",
        "available_t": "5.9",
        "reclaimed_t": "0",
        "max_project_increment_t": "1180",
        "offset_ratio": "1.50",
        "park_id": None,
    }
    stub.on("GET", "/quota/availability", [pool])
    await sign_in(client, "investment")
    # 2026-12-02 17:30 UTC is already 12-03 in Beijing.
    with clock.using(clock.ManualClock(dt.datetime(2026, 12, 2, 17, 30, tzinfo=dt.UTC))):
        r = await client.get("/console/investment/export.xlsx", params={"pollutant": "VOCs"})
    assert "20261203" in r.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    assert sheet.title.endswith("20261203")
    header = [c.value for c in sheet[1]]
    cells = {h: c for h, c in zip(header, sheet[2], strict=True)}
    amounts = [c for c in cells.values() if c.number_format == "#,##0.000"]
    assert len(amounts) >= 6 and 5.9 in [c.value for c in amounts]
    # The offset ratio with two decimals, as the page writes it (1.50, not 1.5).
    ratio = cells["倍量替代比例"]
    assert ratio.value == 1.5 and ratio.number_format == "0.00"


async def test_park_sub_pools_are_named_as_the_park_register_names_them(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    figures = {f: "30" for f in ("credited_t", "available_t")}
    figures |= {f: "0" for f in ("reserved_t", "allocated_t", "reclaimed_t")}
    stub.on(
        "GET",
        "/quota/availability",
        [
            {"district": "120116", "kind": "park", "park_id": "nangang", **figures},
            {"district": "120111", "kind": "park", "park_id": "xiqing-auto", **figures},
        ],
    )
    park = {"district": "120116", "id": "nangang", "name": "南港工业区"}
    stub.on("GET", "/eia/parks", [park, {**park, "district": "120111", "id": "other"}])
    await sign_in(client, "investment")
    r = await client.get("/console/investment/")
    assert r.status_code == 200, r.text[:300]
    assert '南港工业区 <span class="code">nangang</span>' in r.text
    # A park the register does not name is shown by its id.
    assert '园区 <span class="code">xiqing-auto</span>' in r.text
    export = (await client.get("/console/investment/export.csv")).content.decode("utf-8-sig")
    assert "园区名称" in export.splitlines()[0] and ",nangang,南港工业区," in export
    # eia-svc not answering: the page still shows every pool, by its id.
    stub.on("GET", "/eia/parks", lambda _: httpx.Response(503, json={"title": "暂不可用"}))
    r = await client.get("/console/investment/")
    assert r.status_code == 200 and '园区 <span class="code">nangang</span>' in r.text


async def test_the_enterprise_page_names_the_industry(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    uscc = "91120225MA05XXXX1A"
    page = {"next_cursor": None, "items": []}
    for path in ("/permit/permits", "/permit/registrations", "/permit/audits"):
        stub.on("GET", path, page)
    for path in ("/eia/registrations", "/eia/filings", "/quota/reservations"):
        stub.on("GET", path, page)
    company = {
        "uscc": uscc,
        "name": "天津市某化工有限公司",
        "district": "120116",
        "industry_code": "C2614",
        "category": "key",
        "address": "",
        "operating_status": "operating",
    }
    stub.on("GET", f"/permit/enterprises/{uscc}", company)
    stub.on(
        "GET",
        "/permit/industries",
        [
            {"industry_code": "C2511", "name": "原油加工及石油制品制造", "category": "key"},
            {"industry_code": "C2614", "name": "有机化学原料制造", "category": "key"},
        ],
    )
    await sign_in(client, "auditor")
    r = await client.get(f"/console/enterprise/{uscc}")
    assert r.status_code == 200, r.text[:300]
    assert '<dd>有机化学原料制造 <span class="code">C2614</span></dd>' in r.text
    # Not in the table (or the table unreadable): the code alone.
    stub.on("GET", "/permit/industries", [])
    r = await client.get(f"/console/enterprise/{uscc}")
    assert '<dd><span class="code">C2614</span></dd>' in r.text


def test_the_csv_export_shows_a_formula_like_park_as_written() -> None:
    from console.pages.investment.export import to_csv

    text = to_csv(
        [{"rank": 1, "district": "120119", "park_id": "=HYPERLINK(1)", "available_t": "-1.000"}]
    ).decode("utf-8-sig")
    row = text.splitlines()[1].split(",")
    assert row[4] == "'=HYPERLINK(1)" and row[9] == "-1.000"
    # A pool's kind in words, as on the page.
    from svc_common import i18n

    with i18n.use("zh"):
        kinds = to_csv([{"kind": k} for k in ("district", "park", "reserve")]).decode("utf-8-sig")
    assert [line.split(",")[3] for line in kinds.splitlines()[1:]] == [
        "区级总量池",
        "园区子池",
        "政府储备",
    ]


async def test_the_workbench_offers_only_what_the_officer_may_do_in_plain_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A reclaim the officer entered, or whose permit he cancelled, offers
    neither confirm nor reject (four eyes: the service would refuse both);
    one the service entered says 系统;
    a filing whose quota is not answered yet says 总量确认中 (待确认 is a
    reclaim's word)."""
    page = {"next_cursor": None}
    reclaim = {"district": "120119", "pollutant": "VOCs", "amount_t": "0.670", "status": "pending"}
    stub.on(
        "GET",
        "/quota/reclaims",
        {
            **page,
            "items": [
                {
                    **reclaim,
                    "id": "mine",
                    "source": "manual",
                    "created_by": "li.hua",
                    "created_at": "2026-11-02T02:00:00+00:00",
                    "note": "关停",
                },
                {
                    **reclaim,
                    "id": "theirs",
                    "source": "permit_cancelled",
                    "created_by": "system",
                    "created_at": "2026-11-02T02:00:00+00:00",
                    "note": None,
                },
                {
                    **reclaim,
                    "id": "closedbyme",
                    "source": "permit_cancelled",
                    "created_by": "li.hua",
                    "created_at": "2026-11-02T02:00:00+00:00",
                    "note": None,
                },
                {
                    **reclaim,
                    "id": "cutbychen",
                    "source": "permit_changed",
                    "created_by": "chen.jing",
                    "created_at": "2026-11-02T02:00:00+00:00",
                    "note": None,
                },
            ],
        },
    )
    stub.on(
        "GET",
        "/eia/filings",
        {
            **page,
            "items": [_filing(quota_status="pending", district="120119")],
        },
    )
    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/workbench/")
    assert r.status_code == 200, r.text[:300]
    rows = dict(re.findall(r'<tr data-reclaim="(\w+)">(.*?)</tr>', r.text, re.S))
    assert "reclaim-reject" not in rows["mine"] and "reclaim-confirm" not in rows["mine"]
    assert "reclaim-reject" in rows["theirs"] and "reclaim-confirm" in rows["theirs"]
    assert "系统" in rows["theirs"] and ">system<" not in rows["theirs"]
    # A permit li.hua cancelled: its reclaim is another officer's to decide;
    # one chen.jing cut is li.hua's to decide, entered by 陈静.
    assert (
        "reclaim-confirm" not in rows["closedbyme"] and "reclaim-reject" not in rows["closedbyme"]
    )
    assert "该许可证由您注销或变更，需另一名审批人员确认" in rows["closedbyme"]
    assert "reclaim-confirm" in rows["cutbychen"] and "陈静" in rows["cutbychen"]
    assert "总量确认中" in r.text


async def test_who_entered_a_reclaim_is_named_when_the_console_knows_them(
    stub: Stub,
) -> None:
    """录入人: a development user by name (李华, not li.hua); with OpenID
    Connect only the signed-in user is known, anyone else shows by login id."""
    reclaim = {"district": "120119", "pollutant": "VOCs", "amount_t": "0.670", "status": "pending"}
    reclaim |= {"source": "manual", "created_at": "2026-11-02T02:00:00+00:00"}
    items = [
        {**reclaim, "id": "a", "created_by": "li.hua"},
        {**reclaim, "id": "b", "created_by": "chen.jing"},
        {**reclaim, "id": "c", "created_by": "someone.else"},
    ]
    stub.on("GET", "/quota/reclaims", {"next_cursor": None, "items": items})
    subs = {r["id"]: r["created_by"] for r in items}

    async def entered(dev_login: bool) -> dict[str, str]:
        app = create(Settings(dev_login=True), transport=httpx.MockTransport(stub))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console.test"
        ) as c:
            await sign_in(c, "officer-jizhou")
            app.state.settings.dev_login = dev_login  # as if signed in some other way
            page = (await c.get("/console/workbench/")).text
        person = r'(?:<span class="person" title="([^"]*)">)?([^<]*)'
        rows = re.findall(r'<tr data-reclaim="(\w)">.*?</td><td>' + person, page, re.S)
        # A name the console knows has the login id in its title.
        assert all(title in ("", sub) for key, title, _ in rows for sub in [subs[key]]), rows
        return {key: name for key, _, name in rows}

    assert await entered(True) == {"a": "李华", "b": "陈静", "c": "someone.else"}
    assert await entered(False) == {"a": "李华", "b": "chen.jing", "c": "someone.else"}


async def test_switching_language_keeps_the_pages_question(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/public/verify", params={"no": "DJB-1", "code": "AB"})
    assert 'href="?no=DJB-1&amp;code=AB&amp;lang=en"' in r.text


async def test_a_quota_retry_says_where_the_quota_stands(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    filing = {"id": "f1", "status": "accepted", "quota_status": "blocked"}
    stub.on("POST", "/eia/filings/f1/quota-retry", {**filing, "quota_shortfall_t": "1.330"})
    token = await sign_in(client, "officer-jizhou")
    r = await client.post(
        "/console/workbench/act",
        data={
            "csrf_token": token,
            "idem": "k" * 20,
            "op": "filing",
            "id": "f1",
            "action": "quota-retry",
        },
        headers={"HX-Request": "true"},
    )
    assert "总量不足（缺口 1.330 吨）" in r.text and "已受理" not in r.text


async def test_the_public_register_pages_on_and_says_its_algorithm_in_chinese(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """quota-svc answers the register a page at a time: the page links the
    next one (its cursor is not shown as a fact), and the hash algorithm is
    said in Chinese."""
    entry = {"seq": "1", "at": "2026-12-03T11:06:42Z", "district": "120119", "kind": "baseline"}
    algorithm = "sha256(prev_hash + '\\n' + canonical JSON of the content); see docs"

    def register(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        if cursor is None:
            body = {"items": [entry], "next_cursor": "MTAw", "algorithm": algorithm}
        else:
            assert cursor == "MTAw"
            body = {"items": [{**entry, "seq": "101"}], "next_cursor": None}
        return httpx.Response(200, json=body)

    stub.on("GET", "/quota/public/register", register)
    r = await client.get("/console/public/register")
    assert_console_page(r, 200, 'href="/console/public/register?cursor=MTAw"', "下一页")
    assert "next_cursor" not in r.text and "see docs" not in r.text
    assert "SHA-256（前一条哈希 + 换行符 + 本条内容的规范化 JSON）" in r.text
    r = await client.get("/console/public/register", params={"cursor": "MTAw"})
    assert_console_page(r, 200, '<td class="n">101</td>', "第一页")
    assert "下一页" not in r.text

    # A link made up or cut short: said so on the page (it was the generic
    # page of a 422), not sent on to quota-svc.
    def register_reads() -> int:
        return sum(c.url.path == "/quota/public/register" for c in stub.calls)

    calls = register_reads()
    for made_up in ('"><script>', "M" * 65):
        bad = await client.get("/console/public/register", params={"cursor": made_up})
        assert_console_page(bad, 200, "该翻页链接不完整或已失效")
        assert "<script>" not in bad.text.split("<main")[1]
    assert register_reads() == calls


async def test_every_register_entry_kind_is_said_in_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A withdrawn advance (先用后补撤回) was shown as its code
    `advance_withdrawn`: every journal entry code of quota-svc has its
    words, and the page shows them, not the code."""
    from console.pages.public.router import REGISTER_KINDS
    from quota_svc.ledger.rules import EntryCode

    assert {c.value for c in EntryCode} <= REGISTER_KINDS.keys()
    entry = {"seq": "1", "at": "2026-12-03T11:06:42Z", "district": "120119"}
    body = {"items": [{**entry, "kind": "advance_withdrawn"}], "next_cursor": None}
    stub.on("GET", "/quota/public/register", lambda _: httpx.Response(200, json=body))
    r = await client.get("/console/public/register")
    assert_console_page(r, 200, "先用后补撤回")
    assert "advance_withdrawn" not in r.text


async def test_every_trade_refusal_reason_is_said_in_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A trade refused because the buyer's permit was cancelled showed as
    `buyer_permit_cancelled`: every reason quota-svc refuses a trade for
    (`RefusalReason`, the only codes `TradeRefused` takes) has its words."""
    from console.pages.public.router import REGISTER_REF_VALUES
    from quota_svc.trading.rules import RefusalReason

    assert {r.value for r in RefusalReason} <= REGISTER_REF_VALUES["reason"].keys()
    entry = {"seq": "1", "at": "2026-12-03T11:06:42Z", "district": "120119"}
    refs = "reason=buyer_permit_cancelled;trade=t-1"
    body = {"items": [{**entry, "kind": "trade_refused", "refs": refs}], "next_cursor": None}
    stub.on("GET", "/quota/public/register", lambda _: httpx.Response(200, json=body))
    r = await client.get("/console/public/register")
    assert_console_page(r, 200, "原因：</span>买方许可证已注销，收回待确认")
    assert "buyer_permit_cancelled" not in r.text


def test_a_reclaims_source_is_said_by_one_table() -> None:
    """The register and the workbench said a reduction credit in different
    English: one table says every source quota-svc gives a reclaim."""
    from console.pages.public.router import REGISTER_REF_VALUES
    from console.pages.workbench.queues import RECLAIM_SOURCES, status_label
    from quota_svc.reclaims.rules import ReclaimSource
    from svc_common.i18n import use

    assert REGISTER_REF_VALUES["source"] is RECLAIM_SOURCES
    assert {s.value for s in ReclaimSource} <= RECLAIM_SOURCES.keys()
    with use("en"):
        assert status_label("reduction") == "verified reduction (deep treatment)"


async def test_the_registers_algorithm_in_chinese_from_quota_svc_reads_as_before(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """quota-svc says its hash algorithm in the language the console asks it
    for: its Chinese reads as the English did, in the reader's language."""
    algorithm = "sha256(prev_hash + '\\n' + 本条内容的规范化 JSON)；详见文档"
    entry = {"seq": "1", "at": "2026-12-03T11:06:42Z", "district": "120119", "kind": "baseline"}
    body = {"items": [entry], "next_cursor": None, "algorithm": algorithm}
    stub.on("GET", "/quota/public/register", lambda _: httpx.Response(200, json=body))
    r = await client.get("/console/public/register")
    assert_console_page(r, 200, "SHA-256（前一条哈希 + 换行符 + 本条内容的规范化 JSON）")
    assert "详见文档" not in r.text
    r = await client.get("/console/public/register", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    assert "a line break and the entry&#39;s canonical JSON" in r.text


async def test_the_enterprise_history_names_records_as_people_know_them(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A permit applied for has no number yet, a filing has a project name,
    an audit concerns a permit: none is shown by its record id (a UUID, or
    eia-svc's `eia:<uuid>` project reference)."""
    uscc = "91120225MA05XXXX1A"
    page = {"next_cursor": None}
    applied = "0b7c2f1e-1111-4a4a-9a9a-123456789abc"
    issued = {
        "id": "p-issued-uuid",
        "permit_no": "91120225MA05XXXX1A001P",
        "category": "key",
        "status": "issued",
        "created_at": "2026-10-01T02:00:00+00:00",
        "updated_at": "2026-10-02T02:00:00+00:00",
    }
    stub.on(
        "GET",
        "/permit/permits",
        {
            **page,
            "items": [
                issued,
                {**issued, "id": applied, "permit_no": None, "status": "applied"},
            ],
        },
    )
    stub.on("GET", "/permit/registrations", {**page, "items": []})
    audit = {
        "id": "audit-uuid",
        "permit_id": "p-issued-uuid",
        "result": "findings",
        "audited_at": "2026-11-03T02:00:00+00:00",
        "findings": [],
    }
    stub.on("GET", "/permit/audits", {**page, "items": [audit]})
    stub.on("GET", "/eia/registrations", {**page, "items": []})
    filing = _filing(id="filing-uuid", project_ref="eia:filing-uuid", project_name="涂装线扩建")
    stub.on("GET", "/eia/filings", {**page, "items": [filing]})
    stub.on("GET", "/quota/reservations", {**page, "items": []})
    await sign_in(client, "auditor")
    r = await client.get(f"/console/enterprise/{uscc}")
    assert r.status_code == 200, r.text[:300]
    main = r.text.split("<main")[1]
    for record_id in (applied, "audit-uuid", "eia:filing-uuid", "filing-uuid"):
        assert record_id not in main
    assert "（尚未编号）" in main
    assert '<th scope="col" class="n">VOCs（吨/年）</th>' in main  # the permits' unit
    assert "提交环评文件 涂装线扩建" in main
    assert '许可质量审核：发现问题 <span class="code">91120225MA05XXXX1A001P</span>' in main


async def test_a_refused_field_is_named_once_in_the_forms_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A service's validation problem lists its fields by the API's names
    ("reason", or "body" for the whole body) and repeats them in its detail:
    the workbench says each error once, with the form's word for the field."""
    token = await sign_in(client, "officer-jizhou")
    hx = {"HX-Request": "true"}

    def refuse(field: str, text: str) -> Callable[[httpx.Request], httpx.Response]:
        return lambda _: httpx.Response(
            422,
            json={
                "title": "请求内容无效",
                "detail": f"{field}: {text}",
                "errors": [{"field": field, "message": text, "type": "x"}],
            },
        )

    stub.on("POST", "/eia/registrations/r1/revoke", refuse("reason", "至少需要 1 个字符"))
    stub.on("POST", "/quota/reclaims/q1/reject", refuse("body", "不允许包含控制字符"))
    form = {"csrf_token": token, "idem": "k" * 20, "reason": "x"}
    r = await client.post(
        "/console/workbench/act", data={**form, "op": "check-revoke", "id": "r1"}, headers=hx
    )
    assert r.status_code == 422
    assert re.search(r'class="result error"[^>]*>原因：至少需要 1 个字符</p>', r.text), r.text
    r = await client.post(
        "/console/workbench/act", data={**form, "op": "reclaim-reject", "id": "q1"}, headers=hx
    )
    assert re.search(r'class="result error"[^>]*>不允许包含控制字符</p>', r.text), r.text
    assert "body" not in r.text


async def test_district_names_and_codes_do_not_wrap_in_narrow_columns(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """At 1280 px the reclaim table's 区 column is narrow: 蓟州区 stays on one
    line (not 蓟/州/区), as do the codes beside names."""
    from console.web import HERE

    css = (HERE / "static" / "console.css").read_text()
    rule = re.search(r"(?m)^([^{}]*\.place[^{}]*)\{([^}]*)\}", css)
    assert rule and ".code" in rule.group(1) and "white-space:nowrap" in rule.group(2)
    reclaim = {
        "id": "q1",
        "district": "120119",
        "pollutant": "VOCs",
        "amount_t": "0.670",
        "status": "pending",
        "source": "manual",
        "created_by": "chen.jing",
        "created_at": "2026-11-02T02:00:00+00:00",
    }
    stub.on("GET", "/quota/reclaims", {"next_cursor": None, "items": [reclaim]})
    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/workbench/")
    row = re.search(r'<tr data-reclaim="q1">(.*?)</tr>', r.text, re.S)
    assert row and '<th scope="row" class="place">蓟州区</th>' in row.group(1)
    # Nor the time it was entered (2026-11-02 10:00, not 2026-11-/02 10:00).
    assert '<span class="help when">2026-11-02 10:00</span>' in row.group(1)


async def test_the_fit_form_takes_what_its_server_takes_and_names_the_real_limit(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The amount inputs carry no browser pattern that would block " 3 " or
    ５ (which the server takes) behind the browser's generic popup; an amount
    above quota-svc's largest increment of one project is said as that."""
    sent: list[str] = []

    def check(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body["increment_t"])
        return httpx.Response(
            200,
            json={
                **body,
                "offset_ratio": "2.00",
                "required_t": "10.000",
                "available_t": "50.000",
                "fits": True,
                "shortfall_t": "0",
                "remaining_t": "40.000",
            },
        )

    stub.on("POST", "/quota/checks", check)
    stub.on("GET", "/quota/availability", [])
    await sign_in(client, "investment")
    page = (await client.get("/console/investment/")).text
    inputs = re.findall(r'<input id="p_[^"]+"[^>]*>', page)
    assert len(inputs) == 4 and not [i for i in inputs if "pattern=" in i]
    assert "单个项目不超过 100000 吨/年" in page
    hx = {"HX-Request": "true"}
    params = [("p_VOCs", " 3 "), ("p_NOx", "５"), ("district", "120119")]
    r = await client.get("/console/investment/fit", params=params, headers=hx)
    assert r.status_code == 200 and sorted(sent) == ["3.000", "5.000"]
    sent.clear()
    params = [("p_VOCs", "99999999999999999999"), ("district", "120119")]
    r = await client.get("/console/investment/fit", params=params, headers=hx)
    assert "单个项目的增量不得超过 100000 吨/年：VOCs" in r.text
    assert "请按吨/年填写" not in r.text and sent == []


async def test_audit_findings_name_the_enterprise_beside_its_code(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """An audit carries the USCC only: the findings queue shows the company's
    name beside it (one read per enterprise, not per finding, and never a
    district's whole register); the code alone when permit-svc has no name."""
    import datetime as dt

    soon = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    finding = {"id": "x", "description": "台账缺失", "rectification_deadline": soon}
    finding |= {"status": "open"}
    audits = [
        {"id": f"a{i}", "permit_id": "p", "uscc": uscc, "district": "120119", "findings": [finding]}
        for i, uscc in enumerate(["91120119MA05AAAA1A", "91120119MA05AAAA1A", "91120119MA05BBBB1B"])
    ]
    stub.on("GET", "/permit/audits", {"next_cursor": None, "items": audits})
    company = {"uscc": "91120119MA05AAAA1A", "name": "天津瑞利涂料有限公司", "district": "120119"}
    stub.on("GET", "/permit/enterprises/91120119MA05AAAA1A", company)
    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/workbench/")
    section = r.text.split('id="findings"')[1]
    assert (
        section.count('天津瑞利涂料有限公司</a> <span class="code">91120119MA05AAAA1A</span>') == 2
    )
    assert '<a class="code" href="/console/enterprise/91120119MA05BBBB1B">' in section
    asked = [c.url.path for c in stub.calls if c.url.path.startswith("/permit/enterprises")]
    assert sorted(asked) == [
        "/permit/enterprises/91120119MA05AAAA1A",
        "/permit/enterprises/91120119MA05BBBB1B",
    ]


async def test_signing_in_comes_back_to_the_whole_address(client: httpx.AsyncClient) -> None:
    """A link to a question with several parameters (a colleague's 招商 fit
    for VOCs and NOx) opened signed out comes back to all of them after
    sign-in, not to the first alone."""
    asked = "/console/investment/fit?p_VOCs=5&p_NOx=1&districts=120119"
    r = await client.get(asked)
    assert r.status_code == 303
    login = await client.get(r.headers["location"])
    assert f'name="next" value="{asked.replace("&", "&amp;")}"' in login.text
    signed = await client.post(
        "/console/login/dev",
        data={"user": "investment", "next": asked, "csrf_token": csrf_of(login.text)},
    )
    assert signed.headers["location"] == asked


async def test_the_workbench_has_no_empty_action_column_for_who_may_not_act(
    stub: Stub,
) -> None:
    """孙丽 (审计, read only) sees every queue without an empty 办理 column
    and is told the page is read only; 赵强 (管理员) acts on filings but not
    on reclaims (an officer's, four eyes), so the reclaims table has no 办理
    column for him; 李华 (审批) has both. Dates and countdowns keep one line."""
    reclaim = {"id": "q1", "district": "120119", "pollutant": "VOCs", "amount_t": "0.670"}
    reclaim |= {"status": "pending", "source": "manual", "created_by": "chen.jing"}
    stub.on("GET", "/quota/reclaims", {"next_cursor": None, "items": [reclaim]})
    filing = _filing(district="120119", due_at="2026-12-13T15:59:59+00:00")
    stub.on("GET", "/eia/filings", {"next_cursor": None, "items": [filing]})
    action = '<th scope="col">办理</th>'

    async def sections(user: str) -> dict[str, str]:
        app = create(Settings(dev_login=True), transport=httpx.MockTransport(stub))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console.test"
        ) as c:
            await sign_in(c, user)
            page = (await c.get("/console/workbench/")).text
        found = re.findall(r'<section id="(\w+)".*?</section>', page, re.S)
        bodies = re.findall(r'<section id="\w+".*?</section>', page, re.S)
        return dict(zip(found, bodies, strict=True)) | {"top": page.split("<nav")[1]}

    auditor = await sections("auditor")
    assert action not in auditor["filings"] and action not in auditor["reclaims"]
    assert 'id="read-only"' in auditor["top"]
    assert '<td class="when">2026-12-13</td>' in auditor["filings"]
    admin = await sections("admin")
    assert action in admin["filings"] and action not in admin["reclaims"]
    officer = await sections("officer-jizhou")
    assert action in officer["filings"] and action in officer["reclaims"]
    assert 'id="read-only"' not in officer["top"]


async def test_the_public_register_says_its_references_in_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """An entry's references read as words with districts by name (指标池：
    滨海新区 VOCs 政府储备), not `pool=120116:VOCs:reserve`; the amount is
    right-aligned in tonnes; VOCs and the time never break inside."""
    entry = {"seq": "35", "at": "2026-12-03T13:08:07Z", "district": "120116", "kind": "transfer"}
    entry |= {"pollutant": "VOCs", "amount_t": "-1770.000", "prev_hash": "0" * 64, "hash": "a" * 64}
    refs = "entry=api:2b7d:in;pool=120116:VOCs:reserve;to=120119;effective_from="
    entry |= {"refs": refs + "2026-12-02T17:55:14.664173+00:00"}
    stub.on("GET", "/quota/public/register", {"items": [entry], "next_cursor": None})
    r = await client.get("/console/public/register")
    assert_console_page(r, 200)
    row = re.search(r"<tbody>(.*?)</tbody>", r.text, re.S)
    assert row, r.text
    cells = row.group(1)
    assert "pool=" not in cells and "120116:VOCs" not in cells
    assert "指标池：</span>滨海新区 VOCs 政府储备" in cells
    assert "调入区：</span>蓟州区（120119）" in cells
    # The entry's number once, in its column, the journal entry's reference
    # kept for an auditor in its title; the references say what happened.
    assert '<td class="n"><span title="流水号：api:2b7d:in">35</span></td>' in cells
    assert "摘要：</span>转入</li>" in cells and "第 35 号" not in cells
    assert "生效时间：</span>2026-12-03 01:55:14" in cells
    assert '<td class="n">-1,770.000</td>' in cells
    assert (
        '<td class="place">VOCs</td>' in cells and '<td class="when">2026-12-03 21:08</td>' in cells
    )
    en = await client.get("/console/public/register", params={"lang": "en"})
    assert "pool: </span>Binhai New Area VOCs priority reserve" in en.text


async def test_a_code_typed_full_width_finds_the_enterprise(client: httpx.AsyncClient) -> None:
    """A Chinese input method in full-width mode types ９１１２…Ａ９ＣＧ: the same
    code, not a refusal of its 1st character. A path that is not a code goes
    back to the search with all of it in the field (`&` and `#` kept)."""
    await sign_in(client, "auditor")
    r = await client.get(
        "/console/enterprise/", params={"uscc": "９１１２０１１９００００００Ａ９ＣＧ "}
    )
    assert (
        r.status_code == 303 and r.headers["location"] == "/console/enterprise/91120119000000A9CG"
    )
    r = await client.get("/console/enterprise/a%26lang=en%23x")
    assert r.headers["location"] == "/console/enterprise/?uscc=a%26lang%3Den%23x"


async def test_an_address_ending_in_a_line_break_is_no_500(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A code, a filing number or a record id followed by a line break
    (`%0A`, a link copied with its end of line) passed the console's checks
    (`$` matches before a final line break) and went into a service's
    address, which cannot hold one: a bare 500 "Internal Server Error".
    The enterprise code leads to the search, which finds the enterprise; a
    receipt's number is not found; an action on such an id is not known."""
    token = await sign_in(client, "officer-jizhou")
    for path in ("91120119000000A9CG%0A", "91120119000000a9cg%0A"):
        r = await client.get("/console/enterprise/" + path)
        assert r.status_code == 303, (path, r.status_code)
        search = await client.get(r.headers["location"])
        assert search.headers["location"] == "/console/enterprise/91120119000000A9CG"
    r = await client.get(
        "/console/public/receipt/DJB-120119-2026-000006%0A", params={"code": "ABCD"}
    )
    assert_console_page(r, 404, "没有与该备案号和校验码相符的备案回执")
    for field in ("id", "sub"):
        form = {"op": "finding-rectify", "id": "a1", "sub": "f1", "idem": "k" * 20}
        r = await client.post(
            "/console/workbench/act",
            data={**form, field: form[field] + "\n", "csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert r.status_code == 422 and "无法识别的操作" in r.text, (field, r.text[:300])
    assert not [c for c in stub.calls if "\n" in c.url.path]


async def test_a_code_pasted_with_spaces_or_invisible_characters_finds_the_enterprise(
    client: httpx.AsyncClient,
) -> None:
    """The search is a look-up: a code copied from a PDF in groups (9112 0119
    …), or from a web page with a zero-width space or a soft hyphen in it, is
    the code the reader sees, not a refusal of a character nobody can see."""
    await sign_in(client, "auditor")
    for typed in (
        "9112 0119 0000 00A9 CG",
        "91120\u200b119000000A9CG",
        "\ufeff91120119000000A9CG",
        "9112\u00ad0119000000A9CG\u3000",
        "９１１２\u200d０１１９００００００Ａ９ＣＧ",
    ):
        r = await client.get("/console/enterprise/", params={"uscc": typed})
        assert r.status_code == 303, (typed, r.text[-600:])
        assert r.headers["location"] == "/console/enterprise/91120119000000A9CG"


async def test_a_code_longer_than_the_form_gets_the_search_form_with_why(
    client: httpx.AsyncClient,
) -> None:
    """A code longer than the field takes (41 characters, or a whole
    paragraph pasted into the address): the search form with how many
    characters it has beside the field, not the generic 422 page; the field
    keeps what it can hold, escaped."""
    await sign_in(client, "auditor")
    for typed, count in (("9" * 41, 41), ("<b>x</b>" + "9" * 2000, 2008)):
        r = await client.get("/console/enterprise/", params={"uscc": typed})
        assert_console_page(r, 200, 'aria-invalid="true"', f"实际为 {count} 个")
        assert "<b>x" not in r.text
        field = re.search(r'<input id="uscc" name="uscc" value="([^"]*)"', r.text)
        assert field and unescape(field.group(1)) == typed[:40]
    # By its path: the same form, the length counted on all of it.
    r = await client.get("/console/enterprise/" + "9" * 300, follow_redirects=True)
    assert_console_page(r, 200, "实际为 300 个")
    en = await client.get("/console/enterprise/", params={"uscc": "9" * 41, "lang": "en"})
    assert en.status_code == 200 and "must be 18 characters, got 41" in en.text


async def test_a_receipt_typed_full_width_is_verified(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """Anyone verifying a receipt may type with a Chinese input method in
    full-width mode (ＤＪＢ－１２０１１９－２０２６－０００００６): the same number and code."""
    no = "DJB-120119-2026-000006"
    receipt = {
        "filing_no": no,
        "status": "filed",
        "status_text": "已备案",
        "project_name": "涂装线",
    }
    stub.on("GET", f"/eia/public/receipts/{no}", receipt)
    r = await client.get(
        "/console/public/verify",
        params={
            "no": "ｄｊｂ－１２０１１９－２０２６－０００００６",
            "code": "２Ｘ３５ＺＨ７ＡＧＦ",
        },
    )
    assert_console_page(r, 200, "真实有效")
    asked = [c for c in stub.calls if c.url.path == f"/eia/public/receipts/{no}"]
    assert asked and asked[0].url.params["code"] == "2X35ZH7AGF"


async def test_a_revoked_receipt_reads_right_in_both_languages(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """撤销时间：…；原因：… in Chinese; the English page has no full-width
    punctuation (Revoked on: …; reason: …)."""
    no = "DJB-120111-2026-000001"
    receipt = {"filing_no": no, "status": "revoked", "status_text": "已撤销"}
    receipt |= {"revoked_at_local": "2026-12-03 21:13:19", "revoke_reason": "虚假备案"}
    stub.on("GET", f"/eia/public/receipts/{no}", receipt)
    zh = await client.get("/console/public/verify", params={"no": no, "code": "IJTHWK6IJT"})
    assert "撤销时间：2026-12-03 21:13:19；原因：虚假备案" in zh.text
    en = await client.get(
        "/console/public/verify", params={"no": no, "code": "IJTHWK6IJT", "lang": "en"}
    )
    assert "Revoked on: 2026-12-03 21:13:19; reason: 虚假备案" in en.text
    # The status in the page's language (eia-svc says it in Chinese alone).
    assert "<dd>Revoked</dd>" in en.text and "已撤销" not in en.text
    assert "<dd>已撤销</dd>" in zh.text


async def test_a_page_answers_head_as_get_without_a_body(client: httpx.AsyncClient) -> None:
    """A link checker or a chat app's preview asks HEAD of a verification
    link: the page's status and headers, no body, not a 405."""
    for path in ("/console/", "/console/public/verify?no=DJB-120119-2026-000006&code=X"):
        get, head = await client.get(path), await client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"].startswith("text/html")
        assert head.headers["x-frame-options"] == "DENY"
    assert (await client.head("/console/static/console.css")).status_code == 200
    assert (await client.head("/console/workbench/")).status_code == 303


async def test_a_rejection_without_a_reason_is_not_sent(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """不予批准 states its reason: a reason of spaces (the browser's `required`
    lets it through) is asked for again, and eia-svc is not called."""
    csrf = await sign_in(client, "officer-jizhou")
    form = {"op": "filing", "id": "f1", "action": "reject", "idem": "k" * 16, "csrf_token": csrf}
    r = await client.post(
        "/console/workbench/act", data={**form, "reason": "   "}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 422 and "请填写原因" in r.text
    assert not [c for c in stub.calls if c.method == "POST"]


async def test_a_submitter_s_decision_refused_by_four_eyes_is_said(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """eia-svc refuses the decision of a filing to the officer who submitted
    it (409, four eyes): the workbench says the service's words, not that
    someone else handled it."""
    csrf = await sign_in(client, "officer-jizhou")
    detail = (
        "四眼原则：环评文件 f1 由 li.hua 代为提交，"
        "提交人不得批准或不予批准，须由其他审批人员作出决定"
    )
    problem = {
        "type": "urn:envbureau:problem:conflict",
        "title": "冲突",
        "status": 409,
        "detail": detail,
        "reason": "submitter_decides",
        "submitted_by": "li.hua",
    }
    stub.on(
        "POST",
        "/eia/filings/f1/approve",
        lambda _r: httpx.Response(
            409, json=problem, headers={"content-type": "application/problem+json"}
        ),
    )
    form = {"op": "filing", "id": "f1", "action": "approve", "idem": "k" * 16}
    r = await client.post(
        "/console/workbench/act",
        data={**form, "reason": "同意", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 409, r.text
    assert "四眼原则" in r.text and "其他人办理" not in r.text


async def test_each_filing_action_is_sent_only_what_it_takes(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The workbench's filing forms posted `{"reason": null}` for every
    action; eia-svc now refuses a field an action does not take. Only
    approve and reject (and withdraw) take a reason: the others are sent
    no body, whatever the form carried."""
    csrf = await sign_in(client, "officer-jizhou")
    sent: dict[str, bytes] = {}
    for action in ("accept", "evaluation-done", "review-done", "approve", "reject", "quota-retry"):
        stub.on("POST", f"/eia/filings/f1/{action}", {"id": "f1", "status": "accepted"})
        for reason in ("", "依法审查"):
            form = {"op": "filing", "id": "f1", "action": action, "idem": "k" * 16}
            r = await client.post(
                "/console/workbench/act",
                data={**form, "reason": reason, "csrf_token": csrf},
                headers={"HX-Request": "true"},
            )
            if action == "reject" and not reason:
                assert r.status_code == 422, r.text  # asked for, not sent
                continue
            assert r.status_code == 200, (action, r.text)
            (call,) = [c for c in stub.calls if c.method == "POST"]
            stub.calls.clear()
            sent[f"{action} {reason}".strip()] = call.content
    said = {"reason": "依法审查"}
    assert {k: json.loads(v) if v else None for k, v in sent.items()} == {
        "accept": None,
        "accept 依法审查": None,
        "evaluation-done": None,
        "evaluation-done 依法审查": None,
        "review-done": None,
        "review-done 依法审查": None,
        "approve": None,
        "approve 依法审查": said,
        "reject 依法审查": said,
        "quota-retry": None,
        "quota-retry 依法审查": None,
    }


async def test_the_public_register_has_its_card_on_the_start_page(
    client: httpx.AsyncClient,
) -> None:
    """The public reach the register from the start page, as from the menu."""
    for signed in (False, True):
        if signed:
            await sign_in(client, "auditor")
        cards = (await client.get("/console/")).text.split('<div class="cards">')[1]
        assert '<h2><a href="/console/public/register">总量指标公示</a></h2>' in cards


async def test_sign_in_never_sends_outside_the_console(client: httpx.AsyncClient) -> None:
    """`next` is a console path, also once the browser resolves dot segments
    (`/console/..//evil.example/` lands on `//evil.example/` of this host)."""
    for bad in (
        "https://evil.example/",
        "//evil.example/",
        "/console/..//evil.example/",
        "/console/%2e%2e//evil.example/",
        "/console/\\evil.example",
    ):
        login = await client.get("/console/login")
        r = await client.post(
            "/console/login/dev",
            data={"user": "investment", "next": bad, "csrf_token": csrf_of(login.text)},
        )
        assert r.headers["location"] == "/console/investment/", bad


async def test_a_refused_address_names_its_field_in_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A page whose question a service refuses (a pollutant that is not
    controlled) says 污染物：…, not the API's `pollutant: …`."""
    problem = {"title": "请求内容无效", "detail": "pollutant: 'SO2' 不是总量控制污染物"}
    problem |= {"errors": [{"field": "pollutant", "message": "'SO2' 不是总量控制污染物"}]}
    stub.on("GET", "/quota/availability", lambda _: httpx.Response(422, json=problem))
    await sign_in(client, "investment")
    r = await client.get("/console/investment/", params={"pollutant": "SO2"})
    assert_console_page(r, 422, "污染物：&#39;SO2&#39; 不是总量控制污染物")
    assert "pollutant:" not in r.text


async def test_an_unexpected_failure_is_a_500_that_cannot_be_framed_either(stub: Stub) -> None:
    """The 500 of an exception nothing handles is sent by Starlette outside
    the console's middleware: it carries the console's security headers too."""
    app = create(Settings(dev_login=True), transport=httpx.MockTransport(stub))

    async def bug() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/console/bug", bug)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        r = await c.get("/console/bug")
    assert r.status_code == 500
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert "default-src 'self'" in r.headers["content-security-policy"]


async def test_an_unexpected_failure_is_the_consoles_own_page_with_the_request_id(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception no handler answers (a fault of the console's: a page's
    bug, an API call failing with anything but the console's ApiError) was
    Starlette's plain-text "Internal Server Error". It is the console's 500
    page, zh-CN first and English when chosen, with the request's id that
    its log lines carry for staff to quote, and never what failed; it is
    logged with its traceback and that id. A service out stays the 503
    page."""
    from console import web

    logged: list[tuple[str, dict[str, Any], BaseException | None, Any]] = []

    class Log:
        def exception(self, event: str, **kw: Any) -> None:
            import sys

            import structlog

            ids = structlog.contextvars.get_contextvars().get("request_id")
            logged.append((event, kw, sys.exc_info()[1], ids))

    monkeypatch.setattr(web, "log", Log(), raising=False)
    app = create(Settings(dev_login=True), transport=httpx.MockTransport(stub))

    async def bug() -> None:
        raise RuntimeError("a bug: secret 13912345678")

    app.add_api_route("/console/bug", bug)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        r = await c.get("/console/bug", headers={"X-Request-ID": "req-bug-1"})
        assert_console_page(r, 500, "出错了", "错误已记录", 'id="request-id">req-bug-1<')
        assert r.headers["x-request-id"] == "req-bug-1"
        assert r.headers["cache-control"] == "no-store"
        assert "13912345678" not in r.text and "RuntimeError" not in r.text
        assert "Traceback" not in r.text
        ((event, kw, exc, request_id),) = logged
        assert event == "unhandled error" and kw == {"path": "/console/bug"}
        assert isinstance(exc, RuntimeError) and request_id == "req-bug-1"
        r = await c.get("/console/bug", params={"lang": "en"})
        assert r.status_code == 500 and '<html lang="en"' in r.text
        assert "Something went wrong" in r.text and "request number" in r.text
        assert r.headers["x-request-id"] in r.text
        # A fragment for htmx, said where the action was, with the number.
        r = await c.get("/console/bug", headers={"HX-Request": "true", "X-Request-ID": "req-2"})
        assert r.status_code == 500 and "<html" not in r.text and "req-2" in r.text

        # An API call failing with an exception of its own (not ApiError).
        def broken(request: httpx.Request) -> httpx.Response:
            raise ValueError("not a transport's error")

        stub.on("GET", "/supervision/inspection-plans", broken)
        await sign_in(c, "officer-jizhou")
        r = await c.get("/console/inspections/plans/", headers={"X-Request-ID": "req-api-1"})
        assert r.status_code == 500 and 'id="request-id">req-api-1<' in r.text
        assert "退出" in r.text or "officer" in r.text  # the page of the user signed in
        assert isinstance(logged[-1][2], ValueError) and logged[-1][3] == "req-api-1"

        # A service out (unreachable, or saying so) is still its 503 page.
        def unreachable(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        count = len(logged)
        for answer in (unreachable, lambda _: httpx.Response(503, json={"detail": "停机"})):
            stub.on("GET", "/supervision/inspection-plans", answer)
            r = await c.get("/console/inspections/plans/")
            assert r.status_code == 503 and "Retry-After" in r.headers, r.text
            assert 'id="request-id"' not in r.text
        assert len(logged) == count


async def test_the_workbench_offers_the_redrive_of_an_approved_filing_lapsed_short(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """An approved filing whose quota lapsed short (hold expired before the
    allocation, district short) is decided, so the undecided queue never
    showed it and nothing offered 重新申请总量: it waited without end. The
    blocked list now shows it, with eia-svc's note, and offers the retry."""
    short = {
        "id": "f9",
        "project_name": "蓟州区涂装线项目",
        "district": "120119",
        "status": "approved",
        "allowed_actions": [],
        "quota_status": "lapsed_short",
        "quota_attempt": 1,
        "quota_shortfall_t": "5.000",
        "vocs_increment_t": "3.000",
        "quota_note": "已批准，但总量预留在分配前已过期，该区总量指标不足（缺口 5.000 吨）",
        "created_at": "2026-11-02T02:00:00+00:00",
    }

    def filings(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("quota_status") == "lapsed_short":
            return httpx.Response(200, json={"items": [short], "next_cursor": None})
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    stub.on("GET", "/eia/filings", filings)
    stub.on("POST", "/eia/filings/f9/quota-retry", {**short, "quota_status": "pending"})
    token = await sign_in(client, "officer-jizhou")
    r = await client.get("/console/workbench/")
    row = re.search(r'<tr data-blocked="f9">(.*?)</tr>', r.text, re.S)
    assert row, r.text[:2000]
    assert "已批准，预留过期且总量不足，尚未分配" in row.group(1)
    assert "缺口 5.000 吨" in row.group(1)
    assert 'value="quota-retry"' in row.group(1) and "重新申请总量" in row.group(1)
    r = await client.post(
        "/console/workbench/act",
        data={"csrf_token": token, "idem": "k" * 20, "op": "filing", "id": "f9"}
        | {"action": "quota-retry"},
        headers={"HX-Request": "true"},
    )
    assert "总量确认中" in r.text
    assert [c.url.path for c in stub.calls if c.method == "POST"] == ["/eia/filings/f9/quota-retry"]


def _conflict(state: str, action: str, allowed: list[str]) -> httpx.Response:
    """eia-svc's refusal of an action the filing's state no longer allows."""
    return httpx.Response(
        409,
        json={
            "type": "urn:envbureau:problem:illegal-transition",
            "title": "当前状态不允许此操作",
            "status": 409,
            "detail": f"环评文件当前为 已受理（{state}），不能执行 受理（{action}）；"
            "现在可执行：技术评估完成（evaluation-done）、撤回（withdraw）",
            "state": state,
            "action": action,
            "allowed": allowed,
        },
    )


async def test_a_stale_action_says_so_plainly_and_redraws_the_row(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """Two officers open the workbench; the second clicks 受理 on a filing the
    first accepted: a plain sentence (已由其他人办理, where it stands now by
    name), no API codes, no action the console does not offer (撤回), and
    the row drawn again from the filing as it now is."""
    accepted = _filing(
        id="f1",
        status="accepted",
        due_at="2099-01-01T16:00:00+00:00",
        due_on="2099-01-01",
        overdue=False,
        allowed_actions=["evaluation-done", "withdraw"],
    )
    stub.on("POST", "/eia/filings/f1/accept", lambda _: _conflict("accepted", "accept", []))
    stub.on("GET", "/eia/filings/f1", accepted)
    token = await sign_in(client, "officer-jizhou")
    form = {"csrf_token": token, "idem": "k" * 20, "op": "filing", "id": "f1"}
    form |= {"action": "accept", "row": "filing"}
    r = await client.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 409
    assert "该文件已由其他人办理（当前：已受理）" in r.text
    for code in ("accepted", "accept）", "evaluation-done）", "撤回", "withdraw"):
        assert code not in r.text.replace('data-op="filing-evaluation-done"', ""), code
    assert r.text.lstrip().startswith('<tr data-filing="f1"')
    assert r.headers["hx-retarget"] == 'tr[data-filing="f1"]'
    assert r.headers["hx-reswap"] == "outerHTML"
    assert "2099-01-01" in r.text and "受理后起算" not in r.text
    assert 'data-op="filing-evaluation-done"' in r.text  # what the console offers now
    # Without script: the same plain sentence above the page drawn again.
    page = await client.post("/console/workbench/act", data={**form, "idem": "j" * 20})
    assert page.status_code == 303
    stub.on("GET", "/eia/filings", {"items": [], "next_cursor": None})
    text = (await client.get("/console/workbench/")).text
    assert "该文件已由其他人办理（当前：已受理），已按最新状态显示" in text
    assert "现在可执行" not in text


async def test_after_an_action_the_row_shows_the_filing_as_it_now_is(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """受理 starts the statutory clock: the row's status and deadline are the
    accepted filing's (已受理, its last day and countdown), not 已提交待受理 |
    受理后起算 with 已办理 — 已受理 beside them."""
    accepted = _filing(
        id="f1",
        status="accepted",
        due_at="2099-01-01T16:00:00+00:00",
        due_on="2099-01-01",
        overdue=False,
        allowed_actions=["evaluation-done", "withdraw"],
    )
    stub.on("POST", "/eia/filings/f1/accept", accepted)
    token = await sign_in(client, "officer-jizhou")
    form = {"csrf_token": token, "idem": "k" * 20, "op": "filing", "id": "f1"}
    form |= {"action": "accept", "row": "filing"}
    r = await client.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text[:300]
    assert r.headers["hx-retarget"] == 'tr[data-filing="f1"]'
    cells = re.findall(r"<td[^>]*>(.*?)</td>", r.text, re.S)
    assert "已受理" in cells[2] and "已提交待受理" not in r.text
    assert cells[3] == "2099-01-01" and "剩余" in cells[4]
    assert "已办理 — 已受理" in cells[5]


async def test_a_decided_filings_row_runs_no_clock(client: httpx.AsyncClient, stub: Stub) -> None:
    """不予批准 ends the statutory clock: the redrawn row says 已办结, with no
    deadline and no countdown (it showed 剩余 30 天 for a rejected filing)."""
    rejected = _filing(
        id="f1",
        status="rejected",
        due_at="2099-01-01T16:00:00+00:00",
        due_on="2099-01-01",
        overdue=False,
        allowed_actions=[],
    )
    stub.on("POST", "/eia/filings/f1/reject", rejected)
    token = await sign_in(client, "officer-jizhou")
    form = {"csrf_token": token, "idem": "k" * 20, "op": "filing", "id": "f1"}
    form |= {"action": "reject", "reason": "不符合规划", "row": "filing"}
    r = await client.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 200, r.text[:300]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", r.text, re.S)
    assert "已办结" in cells[3] and "剩余" not in r.text and "2099" not in r.text, cells


async def test_refusals_name_fields_as_the_page_does_or_say_what_to_do(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """Not （code）, （pollutant）, （months）, （reason）, `cursor: …` or
    `Idempotency-Key`: the field by the page's word, or what to do."""
    c = client
    no = "DJB-120119-2026-000006"
    r = await c.get(f"/console/public/receipt/{no}")
    assert r.status_code == 303 and r.headers["location"] == f"/console/public/verify?no={no}"
    verify = await c.get(r.headers["location"])
    assert_console_page(verify, 200, "请填写回执上的校验码", f'value="{no}"')

    stub.on(
        "GET",
        "/quota/public/register",
        lambda _: httpx.Response(
            422,
            json={
                "title": "请求内容无效",
                "detail": "cursor: 不是本接口返回的翻页游标",
                "errors": [{"field": "cursor", "message": "不是本接口返回的翻页游标"}],
            },
        ),
    )
    r = await c.get("/console/public/register", params={"cursor": "abc"})
    assert_console_page(
        r, 200, "该翻页链接不完整或已失效", '<a href="/console/public/register">第一页'
    )
    assert "cursor" not in r.text.split("<main")[1] and "游标" not in r.text

    token = await sign_in(c, "officer-jizhou")
    hx = {"HX-Request": "true"}
    form = {"csrf_token": token, "op": "check-revoke", "id": "r1", "idem": "k" * 20}
    r = await c.post("/console/workbench/act", data={**form, "reason": "y" * 10_001}, headers=hx)
    assert r.status_code == 422 and "（原因）" in r.text and "reason" not in r.text
    stub.on(
        "POST",
        "/eia/registrations/r1/revoke",
        lambda _: httpx.Response(
            422,
            json={
                "type": "urn:envbureau:problem:idempotency-key-reused",
                "title": "请求内容无效",
                "detail": "此 Idempotency-Key 已用于另一个不同的请求",
            },
        ),
    )
    r = await c.post("/console/workbench/act", data={**form, "reason": "z"}, headers=hx)
    assert r.status_code == 422 and "此表单已提交过其他内容，请刷新页面后重新办理" in r.text
    assert "Idempotency" not in r.text

    await sign_in(c, "investment")
    r = await c.get("/console/investment/", params={"pollutant": "<script>"})
    assert_console_page(r, 422, "（污染物）")
    assert "pollutant" not in r.text.split("<main")[1]
    r = await c.get("/console/investment/trend", params={"months": "-1"})
    assert r.status_code == 422 and "（月数）" in r.text
    assert "months" not in r.text.split("<main")[1]


def _main(html: str) -> str:
    return html.split("<main", 1)[1].split("</main>", 1)[0]


async def test_english_pages_say_districts_and_states_in_english_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """?lang=en: districts by their English names (not 滨海新区), the
    workbench's tab without 限时办结, an enterprise's category and status in
    words (not key, operating), English punctuation (not （…，…） or ：), and
    the user's label in English."""
    figures = {f: "30" for f in ("credited_t", "available_t", "max_project_increment_t")}
    figures |= {f: "0" for f in ("reserved_t", "allocated_t", "reclaimed_t")}
    stub.on("GET", "/quota/availability", [{"district": "120116", "kind": "district", **figures}])
    stub.on("GET", "/eia/parks", [])
    await sign_in(client, "investment")
    r = await client.get("/console/investment/", params={"lang": "en"})
    assert r.status_code == 200, r.text[:300]
    assert '<label for="d-120116">Binhai New Area</label>' in r.text
    assert "Binhai New Area <span" in r.text and "滨海新区" not in r.text

    uscc = "91120225MA05XXXX1A"
    page = {"next_cursor": None, "items": []}
    for path in ("/permit/permits", "/permit/registrations", "/eia/filings"):
        stub.on("GET", path, page)
    stub.on("GET", "/quota/reservations", page)
    audit = {"id": "a1", "audited_at": "2026-11-03T02:00:00+00:00", "result": "findings"}
    audit |= {"permit_id": "p1", "uscc": uscc, "district": "120116"}
    audit |= {"findings": [{"description": "VOCs", "status": "open"}]}
    audit["findings"][0]["rectification_deadline"] = "2026-12-20"
    stub.on("GET", "/permit/audits", {**page, "items": [audit]})
    form = {"project_name": "P", "filing_no": "DJB-120116-2026-000001", "status": "revoked"}
    form |= {"revoke_reason": "false statement", "vocs_increment_t": "0", "check_code": "AB"}
    stub.on("GET", "/eia/registrations", {**page, "items": [form]})
    company = {"uscc": uscc, "name": "Co", "district": "120116", "industry_code": "C2614"}
    company |= {"category": "key", "address": "", "operating_status": "operating"}
    stub.on("GET", f"/permit/enterprises/{uscc}", company)
    stub.on("GET", "/permit/industries", [])
    await sign_in(client, "officer-jizhou")
    r = await client.get(f"/console/enterprise/{uscc}", params={"lang": "en"})
    main = _main(r.text)
    assert "<dd>Key management</dd>" in main and "<dd>In operation</dd>" in main
    assert "<dd>Binhai New Area</dd>" in main
    assert "VOCs (open, by 2026-12-20)" in main and "revoked: false statement" in main
    assert not re.search("[\u3000-\u303f\uff00-\uffef\u4e00-\u9fff]", main), main
    assert "李华 (approval officer, Jizhou District)" in r.text

    stub.on("GET", "/eia/filings", page)
    r = await client.get("/console/workbench/", params={"lang": "en"})
    assert "Overdue (statutory time limit)" in r.text and "限时办结" not in r.text
    assert "Workbench · Jizhou District" in r.text


async def test_the_public_register_names_a_park_as_its_register_does(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """滨海新区 VOCs 园区子池 天津南港工业区, as the investment page names it, not
    园区子池 nangang: for anyone, signed in or not (eia-svc's public park list,
    one read a page); a signed-in reader of an eia-svc without that list by
    the list their token reads."""
    entry = {"seq": "7", "at": "2026-12-03T13:08:07Z", "district": "120116", "kind": "reserve"}
    entry |= {"refs": "entry=e1;pool=120116:VOCs:park:nangang"}
    stub.on("GET", "/quota/public/register", {"items": [entry, {**entry, "seq": "8"}]})
    parks = [{"district": "120116", "id": "nangang", "name": "天津南港工业区"}]
    stub.on("GET", "/eia/public/parks", parks)
    r = await client.get("/console/public/register")  # not signed in
    assert_console_page(r, 200, "滨海新区 VOCs 园区子池 天津南港工业区")
    assert "nangang" not in r.text
    assert [c.url.path for c in stub.calls].count("/eia/public/parks") == 1
    del stub.routes[("GET", "/eia/public/parks")]
    stub.on("GET", "/eia/parks", parks)
    await sign_in(client, "investment")
    r = await client.get("/console/public/register")
    assert_console_page(r, 200, "滨海新区 VOCs 园区子池 天津南港工业区")
    assert "nangang" not in r.text


async def test_the_public_register_numbers_each_entry_once_and_says_what_happened(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """流水号 showed the ledger's own references (`res:3ae8…:allocate`,
    `park:nangang:out`), then the entry's number again (第 44 号 beside 序号
    44): the number shows once, in the 序号 column, and where the entry
    says more than its kind, 摘要 says what happened in words; the reference
    stays for an auditor in the number's title (and the API, the CSV)."""
    rid = "3ae8be47-9c86-41e0-beea-bdfc798961f6"
    base = {"at": "2026-12-03T13:08:07Z", "district": "120116", "pollutant": "VOCs"}
    items = [
        {**base, "seq": "44", "kind": "allocate", "refs": f"entry=res:{rid}:allocate"},
        {**base, "seq": "39", "kind": "transfer", "refs": "entry=park:nangang:out"},
        {**base, "seq": "40", "kind": "transfer", "refs": "entry=park:nangang:in"},
        {**base, "seq": "45", "kind": "release", "refs": f"entry=res:{rid}:remainder"},
    ]
    stub.on("GET", "/quota/public/register", {"items": items, "next_cursor": None})
    stub.on(
        "GET", "/eia/public/parks", [{"district": "120116", "id": "nangang", "name": "南港工业区"}]
    )
    r = await client.get("/console/public/register")
    assert_console_page(r, 200)
    said = _main(r.text).split("<tbody>")[1]
    rows = dict(re.findall(r'<td class="n"><span title="流水号：([^"]+)">(\d+)</span>', said))
    assert rows == {
        f"res:{rid}:allocate": "44",
        "park:nangang:out": "39",
        "park:nangang:in": "40",
        f"res:{rid}:remainder": "45",
    }
    assert "第 44 号" not in said and "流水号：</span>" not in said
    lines = re.findall(r"摘要：</span>([^<]*)</li>", said)
    assert lines == ["转出至园区子池 南港工业区", "转入", "余量释放"]  # 44: its kind says it
    # The references are in titles only, never the text a reader reads.
    visible = re.sub(r'title="[^"]*"', "", said)
    assert "res:" not in visible and ":out" not in visible and rid not in visible
    en = await client.get("/console/public/register", params={"lang": "en"})
    assert "details: </span>out to the park sub-pool 南港工业区" in en.text
    assert 'title="journal entry: park:nangang:out">39<' in en.text


async def test_the_public_register_shows_a_records_id_by_its_first_characters(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """预留编号 showed a reservation's whole UUID (cd9e44dc-5459-…), a line
    of machine text: a record's id shows by its first characters, which tell
    the entries of one reservation apart, the whole id (what the API and
    the CSV publish, nothing more) in the title."""
    rid = "cd9e44dc-5459-4cd1-a1c3-b4d8e1f6c1fd"
    trade = "0b7c2f1e-1111-4a4a-9a9a-123456789abc"
    base = {"at": "2026-12-03T13:08:07Z", "district": "120119", "pollutant": "VOCs"}
    items = [
        {
            **base,
            "seq": "43",
            "kind": "reserve",
            "refs": f"entry=res:{rid}:reserve;reservation={rid}",
        },
        {**base, "seq": "50", "kind": "trade_settled", "refs": f"trade={trade}"},
    ]
    stub.on("GET", "/quota/public/register", {"items": items, "next_cursor": None})
    r = await client.get("/console/public/register")
    assert_console_page(r, 200)
    said = _main(r.text).split("<tbody>")[1]
    assert f'预留编号：</span><span title="{rid}">cd9e44dc…</span>' in said
    assert f'交易编号：</span><span title="{trade}">0b7c2f1e…</span>' in said
    visible = re.sub(r'title="[^"]*"', "", said)
    assert rid not in visible and trade not in visible


async def test_the_public_register_is_filtered_by_district_and_pollutant(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The register had no filter: a form (GET, no script) filters it by
    district and pollutant through quota-svc's own filter, and its page
    links keep the filter; a district or a pollutant made up is said beside
    its field, and nothing is asked of quota-svc."""
    entry = {"seq": "9", "at": "2026-12-03T13:08:07Z", "district": "120119", "kind": "baseline"}
    entry |= {"pollutant": "NOx", "refs": "entry=api:1"}
    asked: list[dict[str, str]] = []

    def register(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json={"items": [entry], "next_cursor": "MTAw"})

    stub.on("GET", "/quota/public/register", register)
    stub.on("GET", "/quota/pollutants", QUOTA_POLLUTANTS)
    r = await client.get("/console/public/register")
    assert_console_page(r, 200, 'id="register-filters"', '<option value="">全部区</option>')
    assert 'id="register-extract"' not in r.text
    assert '<option value="120119">蓟州区</option>' in r.text
    assert '<option value="NOx">NOx（氮氧化物）</option>' in r.text
    r = await client.get(
        "/console/public/register", params={"district": "120119", "pollutant": "nox"}
    )
    assert asked[-1] == {"district": "120119", "pollutant": "NOx"}
    assert_console_page(r, 200, '<option value="120119" selected>蓟州区</option>')
    assert '<option value="NOx" selected>NOx（氮氧化物）</option>' in r.text
    nxt = 'href="/console/public/register?district=120119&amp;pollutant=NOx&amp;cursor=MTAw"'
    assert nxt in r.text
    # A filtered page is no chain to verify: it says so, and leads to the
    # full register.
    extract = _main(r.text).split('id="register-extract">')[1].split("</p>")[0]
    assert "以下为登记簿的筛选摘录，不是完整登记簿" in extract
    assert "哈希链只能在完整登记簿上核验" in extract
    assert '<a href="/console/public/register">查看完整登记簿</a>' in extract
    r = await client.get(
        "/console/public/register", params={"district": "120119", "cursor": "MTAw"}
    )
    assert asked[-1] == {"district": "120119", "cursor": "MTAw"}
    assert '<a href="/console/public/register?district=120119">第一页</a>' in r.text

    calls = len(asked)
    r = await client.get(
        "/console/public/register", params={"district": "120199", "pollutant": "CO2"}
    )
    assert_console_page(r, 200)
    main = _main(r.text)
    assert 'aria-invalid="true" aria-describedby="district-err"' in main
    assert "&#39;120199&#39; 不是天津市 16 个区的区划代码" in main.split('id="district-err"')[1]
    assert 'aria-invalid="true" aria-describedby="pollutant-err"' in main
    assert "不是总量控制污染物" in main.split('id="pollutant-err"')[1]
    assert 'id="register"' not in main and len(asked) == calls

    # quota-svc's own refusal of a filter, beside the field it names.
    stub.on(
        "GET",
        "/quota/public/register",
        lambda _: httpx.Response(
            422,
            json={
                "title": "请求参数有误",
                "detail": "pollutant：'NOx' 暂不公示",
                "errors": [{"field": "pollutant", "message": "'NOx' 暂不公示"}],
            },
            headers={"content-type": "application/problem+json"},
        ),
    )
    r = await client.get("/console/public/register", params={"pollutant": "NOx"})
    assert_console_page(r, 200)
    assert "暂不公示" in _main(r.text).split('id="pollutant-err"')[1]


async def test_a_register_filter_given_twice_is_said_beside_its_field(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """`?district=120119&district=120115` (a link made by hand) showed the
    last district's entries as if it were the only one asked for. The
    register filters by one district and one pollutant, as quota-svc's does
    (a 422 naming the parameter there): a filter given twice is said beside
    its field, which selects none, and nothing is asked of quota-svc; a page
    link with two cursors is a link not valid."""
    asked: list[dict[str, str]] = []

    def register(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    stub.on("GET", "/quota/public/register", register)
    stub.on("GET", "/quota/pollutants", QUOTA_POLLUTANTS)
    r = await client.get("/console/public/register?district=120119&district=120115")
    assert_console_page(r, 200)
    main = _main(r.text)
    assert 'aria-invalid="true" aria-describedby="district-err"' in main
    said = main.split('id="district-err"')[1].split("</p>")[0]
    assert "公示名录一次只能按一个区筛选，地址中给出了 2 个：蓟州区、宝坻区；请只选择一个。" in said
    assert " selected>" not in main.split('id="district"')[1].split("</select>")[0]
    assert 'id="register"' not in main and asked == []

    r = await client.get(
        "/console/public/register?pollutant=VOCs&pollutant=NOx&district=120119",
        headers={"Accept-Language": "en"},
    )
    main = _main(r.text)
    said = main.split('id="pollutant-err"')[1].split("</p>")[0]
    assert "filtered by one pollutant at a time; the address gives 2: VOCs, NOx" in said
    assert 'id="district-err"' not in main and asked == []

    r = await client.get("/console/public/register?cursor=MTAw&cursor=MjAw")
    assert_console_page(r, 200, "该翻页链接不完整或已失效")
    assert asked == []

    # One of each is read as before.
    r = await client.get("/console/public/register?district=120119&pollutant=NOx")
    assert asked == [{"district": "120119", "pollutant": "NOx"}]


async def test_an_investment_pollutant_given_twice_is_said_beside_its_field(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """`?pollutant=VOCs&pollutant=NOx` (a link made by hand) showed NOx's
    pools, trend and export as if it were the only one asked for, where the
    public register says a filter given twice beside its field: the 招商 page
    now does the same (`console.filters.repeated_filters`), reads no pools,
    and its trend and export refuse such a link in the same words."""
    asked: list[str] = []

    def pools(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["pollutant"])
        return httpx.Response(200, json=[])

    stub.on("GET", "/quota/pollutants", QUOTA_POLLUTANTS)
    stub.on("GET", "/quota/availability", pools)
    stub.on("GET", "/quota/balances", pools)
    stub.on("GET", "/eia/parks", [])
    await sign_in(client, "investment")
    r = await client.get("/console/investment/?pollutant=VOCs&pollutant=NOx")
    assert_console_page(r, 200)
    main = _main(r.text)
    assert 'aria-invalid="true" aria-describedby="pollutant-err"' in main
    said = main.split('id="pollutant-err"')[1].split("</p>")[0]
    assert "本页一次只能按一种污染物筛选，地址中给出了 2 个：VOCs、NOx；请只选择一个。" in said
    assert " selected>" not in main.split('id="pollutant"')[1].split("</select>")[0]
    assert 'id="ranking"' not in main and "/console/investment/trend" not in main
    assert "/console/investment/export" not in main and asked == []
    hx = {"HX-Request": "true"}
    for link in ("/console/investment/trend", "/console/investment/export.csv"):
        r = await client.get(
            f"{link}?pollutant=VOCs&pollutant=vocs",
            headers={**(hx if "trend" in link else {}), "Accept-Language": "en"},
        )
        assert r.status_code == 422, (link, r.text)
        assert "filtered by one pollutant at a time; the address gives 2: VOCs, vocs" in r.text
    assert asked == []
    # One is read as before.
    r = await client.get("/console/investment/?pollutant=NOx")
    assert_console_page(r, 200)
    assert asked == ["NOx"] and 'id="pollutant-err"' not in _main(r.text)


#: quota-svc's `GET /quota/pollutants` (its public list), as it answers.
QUOTA_POLLUTANTS = [
    {"code": "VOCs", "name_zh": "挥发性有机物", "name_en": "volatile organic compounds"},
    {"code": "NOx", "name_zh": "氮氧化物", "name_en": "nitrogen oxides"},
    {"code": "COD", "name_zh": "化学需氧量", "name_en": "chemical oxygen demand"},
    {"code": "NH3-N", "name_zh": "氨氮", "name_en": "ammonia nitrogen"},
]


async def test_the_register_filters_by_the_pollutants_quota_svc_keeps(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The pollutant filter's options were written into the console: a
    pollutant quota-svc comes to keep (总磷 TP) could not be chosen, and
    typed into the address it was refused. The options are quota-svc's own
    list (its public `GET /quota/pollutants`), each code with its name; when
    that list cannot be read, the filter is left to quota-svc to check."""
    from svc_common import clock

    asked: list[dict[str, str]] = []

    def register(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json={"items": [], "next_cursor": None})

    stub.on("GET", "/quota/public/register", register)
    tp = {"code": "TP", "name_zh": "总磷", "name_en": "total phosphorus"}
    stub.on("GET", "/quota/pollutants", [*QUOTA_POLLUTANTS, tp])
    at = clock.ManualClock(dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC))
    with clock.using(at):
        r = await client.get("/console/public/register", params={"pollutant": "tp"})
        assert_console_page(r, 200, '<option value="TP" selected>TP（总磷）</option>')
        assert asked[-1] == {"pollutant": "TP"} and 'id="pollutant-err"' not in r.text
        # The list read once serves a reader of either language.
        en = await client.get("/console/public/register", params={"lang": "en"})
        assert '<option value="TP">TP (total phosphorus)</option>' in en.text

        # A quota-svc without the list (404), once the list read is no
        # longer fresh (console.pollutants.PollutantList).
        del stub.routes[("GET", "/quota/pollutants")]
        at.advance_now(dt.timedelta(seconds=61))
        r = await client.get("/console/public/register", params={"pollutant": "SO2"})
    assert r.status_code == 200 and '<option value="SO2" selected>SO2</option>' in r.text
    assert asked[-1] == {"pollutant": "SO2"}


def _pollutant_reads(stub: Stub) -> int:
    return len([c for c in stub.calls if c.url.path == "/quota/pollutants"])


async def test_the_pollutant_list_is_read_once_a_minute_and_a_failure_is_not_kept(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """quota-svc's pollutant list was read on every request of the pages
    that offer it. One read now serves every page for 60 s (the one clock);
    then it is read again. A failed read is not kept: the next request asks
    again, and a list read back serves the page at once."""
    from svc_common import clock

    stub.on("GET", "/quota/availability", [])
    stub.on("GET", "/eia/parks", [])
    stub.on("GET", "/quota/public/register", {"items": [], "next_cursor": None})
    await sign_in(client, "investment")
    at = clock.ManualClock(dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC))
    with clock.using(at):
        assert_console_page(await client.get("/console/investment/"), 200)
        at.advance_now(dt.timedelta(seconds=30))
        r = await client.get("/console/public/register")
        assert_console_page(r, 200, '<option value="NOx">NOx（氮氧化物）</option>')
        # The list read once serves a reader of either language.
        en = await client.get("/console/investment/", params={"lang": "en"})
        assert en.status_code == 200 and "NOx (nitrogen oxides)" in en.text
        assert _pollutant_reads(stub) == 1

        at.advance_now(dt.timedelta(seconds=31))
        tp = {"code": "TP", "name_zh": "总磷", "name_en": "total phosphorus"}
        stub.on("GET", "/quota/pollutants", [*QUOTA_POLLUTANTS, tp])
        r = await client.get("/console/investment/", params={"lang": "zh"})
        assert_console_page(r, 200, '<option value="TP" >TP（总磷）</option>')
        assert _pollutant_reads(stub) == 2

        # quota-svc out, with no list read within the last ten minutes: said
        # (503), and not kept — the list back, the next page has it.
        at.advance_now(dt.timedelta(minutes=11))
        out = {"title": "服务暂不可用", "detail": "总量服务暂不可用，请稍后重试。"}
        stub.on(
            "GET",
            "/quota/pollutants",
            lambda _: httpx.Response(503, json=out, headers={"Retry-After": "30"}),
        )
        r = await client.get("/console/investment/")
        assert_console_page(r, 503, "暂时无法读取总量控制污染物名录")
        assert r.headers["retry-after"] == "30"
        assert _pollutant_reads(stub) == 3
        stub.on("GET", "/quota/pollutants", QUOTA_POLLUTANTS)
        r = await client.get("/console/investment/")
        assert_console_page(r, 200, '<option value="VOCs" selected>VOCs（挥发性有机物）</option>')
        assert "TP" not in r.text and _pollutant_reads(stub) == 4


async def test_while_quota_svc_is_out_the_last_pollutant_list_serves_ten_minutes(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """quota-svc failing or out of reach after the list was read: the list
    read last serves the pages (asked for again on each, as it is no longer
    fresh) until ten minutes after it was read; then the page says the list
    cannot be read. quota-svc answering without the list (a 4xx) is said at
    once: it is up and has no such list."""
    from svc_common import clock

    stub.on("GET", "/quota/availability", [])
    stub.on("GET", "/eia/parks", [])
    await sign_in(client, "investment")
    at = clock.ManualClock(dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC))
    with clock.using(at):
        assert_console_page(await client.get("/console/investment/"), 200)
        stub.on("GET", "/quota/pollutants", lambda _: httpx.Response(500, text="boom"))
        at.advance_now(dt.timedelta(minutes=5))
        r = await client.get("/console/investment/")
        assert_console_page(r, 200, '<option value="NOx" >NOx（氮氧化物）</option>')
        assert 'id="pollutants-unseen"' not in r.text and _pollutant_reads(stub) == 2
        at.advance_now(dt.timedelta(minutes=4, seconds=59))
        assert_console_page(await client.get("/console/investment/"), 200)
        at.advance_now(dt.timedelta(seconds=1))
        r = await client.get("/console/investment/")
        assert_console_page(r, 502, 'id="pollutants-unseen"')
        assert _pollutant_reads(stub) == 4

        stub.on("GET", "/quota/pollutants", QUOTA_POLLUTANTS)
        assert_console_page(await client.get("/console/investment/"), 200)
        at.advance_now(dt.timedelta(seconds=61))
        del stub.routes[("GET", "/quota/pollutants")]
        r = await client.get("/console/investment/")
        assert_console_page(r, 502, 'id="pollutants-unseen"')


def _check_all_fit(request: httpx.Request) -> httpx.Response:
    """quota-svc's what-if, fitting every project (2:1 offset)."""
    body = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            **body,
            "offset_ratio": "2",
            "required_t": str(Decimal(body["increment_t"]) * 2),
            "available_t": "50.000",
            "fits": True,
            "shortfall_t": "0",
            "remaining_t": "40.000",
        },
    )


async def test_the_investment_page_offers_and_checks_the_pollutants_quota_svc_keeps(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """招商's pollutants were written into the console (VOCs, NOx, COD,
    NH3-N): a pollutant quota-svc comes to keep (总磷 TP) had no amount
    field and no place in the pools' selector, and an amount typed for it
    in a link was dropped in silence. They are quota-svc's own list, each
    code with its name; an amount for a pollutant it does not keep is said
    beside its field, never dropped."""
    tp = {"code": "TP", "name_zh": "总磷", "name_en": "total phosphorus"}
    stub.on("GET", "/quota/pollutants", [*QUOTA_POLLUTANTS, tp])
    stub.on("GET", "/quota/availability", [])
    stub.on("GET", "/eia/parks", [])
    stub.on("POST", "/quota/checks", _check_all_fit)
    await sign_in(client, "investment")
    page = await client.get("/console/investment/")
    assert_console_page(page, 200, '<option value="TP" >TP（总磷）</option>')
    assert '<option value="VOCs" selected>VOCs（挥发性有机物）</option>' in page.text
    assert '<label for="p_TP">TP（总磷） 新增量（吨/年）</label>' in page.text

    hx = {"HX-Request": "true"}
    params = {"p_VOCs": "5", "p_TP": "0.5", "district": "120119"}
    r = await client.get("/console/investment/fit", params=params, headers=hx)
    assert r.status_code == 200 and "1 个区可以容纳该项目" in r.text
    asked = [json.loads(c.content) for c in stub.calls if c.url.path == "/quota/checks"]
    assert {(a["pollutant"], a["increment_t"]) for a in asked} == {
        ("VOCs", "5.000"),
        ("TP", "0.500"),
    }
    assert "<td>TP（总磷）</td>" in r.text

    # A link carrying an amount for a pollutant quota-svc does not keep.
    before = len(stub.calls)
    r = await client.get("/console/investment/fit", params={"p_VOCs": "5", "p_SO2": "3"})
    assert_console_page(r, 200, "不是总量控制污染物（应为 VOCs、NOx、COD、NH3-N、TP 之一）：SO2")
    assert 'name="p_SO2" inputmode="decimal" autocomplete="off" value="3" aria-invalid="true"' in (
        r.text
    )
    assert not [c for c in stub.calls[before:] if c.url.path == "/quota/checks"]
    en = await client.get("/console/investment/", params={"lang": "en"})
    assert '<option value="TP" >TP (total phosphorus)</option>' in en.text


async def test_without_quota_svcs_pollutants_the_investment_page_says_so(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """quota-svc out: its pollutant list cannot be read. The page is a 503
    with Retry-After saying so (not a 500, not a form without fields); the
    fit checks nothing and names each amount typed as not checked, its field
    kept with what was typed."""
    out = {"title": "服务暂不可用", "detail": "总量服务暂不可用，请稍后重试。"}
    down = lambda _: httpx.Response(503, json=out, headers={"Retry-After": "30"})  # noqa: E731
    for path in ("/quota/pollutants", "/quota/availability"):
        stub.on("GET", path, down)
    stub.on("POST", "/quota/checks", down)
    stub.on("GET", "/eia/parks", [])
    await sign_in(client, "investment")
    page = await client.get("/console/investment/")
    assert_console_page(page, 503, 'id="pollutants-unseen"', "暂时无法读取总量控制污染物名录")
    assert page.headers["retry-after"] == "30"
    tp = await client.get("/console/investment/", params={"pollutant": "TP"})
    assert tp.status_code == 503 and '<option value="TP" selected>TP</option>' in tp.text

    hx = {"HX-Request": "true"}
    params = {"p_VOCs": "5", "p_TP": "1"}
    r = await client.get("/console/investment/fit", params=params, headers=hx)
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    assert "暂时无法读取总量控制污染物名录，无法试算，请稍后重试。未试算：VOCs、TP。" in r.text
    assert 'name="p_TP" inputmode="decimal" autocomplete="off" value="1"' in r.text
    assert not [c for c in stub.calls if c.url.path == "/quota/checks"]
    whole = await client.get("/console/investment/fit", params=params)
    assert_console_page(whole, 503, "未试算：VOCs、TP")
    assert whole.headers["retry-after"] == "30"

    # A quota-svc without the list (404): a bad answer, 502, not the user's 404.
    del stub.routes[("GET", "/quota/pollutants")]
    r = await client.get("/console/investment/fit", params=params, headers=hx)
    assert r.status_code == 502 and "未试算：VOCs、TP" in r.text
    en = await client.get("/console/investment/", params={"lang": "en"})
    assert "list of pollutants under total-quantity control could not be read" in en.text


def _investment_links(html: str) -> list[str]:
    """The page's trend and export addresses (its links, the trend's htmx load)."""
    found = re.findall(r'(?:href|hx-get)="(/console/investment/(?:trend|export)[^"]*)"', html)
    return [unescape(u) for u in found]


async def test_the_trend_and_export_are_of_the_pollutant_the_page_is_of(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The trend and the export defaulted to VOCs where the page took the
    first of quota-svc's list: each is of the pollutant its page is of (the
    links carry it), the page's default without one, and one quota-svc does
    not keep is refused with the page's status and words."""
    from svc_common import clock

    pollutants = [QUOTA_POLLUTANTS[1], QUOTA_POLLUTANTS[0], *QUOTA_POLLUTANTS[2:]]  # NOx first
    stub.on("GET", "/quota/pollutants", pollutants)
    asked: list[tuple[str, str]] = []
    refusal = {
        "title": "请求参数有误",
        "detail": "pollutant：'SO2' 不是总量控制污染物",
        "errors": [{"field": "pollutant", "message": "'SO2' 不是总量控制污染物"}],
    }

    def pools(answer: Any) -> Handler:
        def handle(request: httpx.Request) -> httpx.Response:
            pollutant = request.url.params["pollutant"]
            asked.append((request.url.path, pollutant))
            if pollutant == "SO2":
                return httpx.Response(
                    422, json=refusal, headers={"content-type": "application/problem+json"}
                )
            return httpx.Response(200, json=answer)

        return handle

    stub.on("GET", "/quota/availability", pools([]))
    stub.on("GET", "/quota/balances", pools([]))
    stub.on("GET", "/eia/parks", [])
    await sign_in(client, "investment")
    hx = {"HX-Request": "true"}

    page = await client.get("/console/investment/", params={"pollutant": "COD"})
    links = _investment_links(page.text)
    assert sorted(links) == [
        "/console/investment/export.csv?pollutant=COD",
        "/console/investment/export.xlsx?pollutant=COD",
        "/console/investment/trend?pollutant=COD",
        "/console/investment/trend?pollutant=COD",
    ]
    for link in links:
        asked.clear()
        r = await client.get(link, headers=hx if "trend" in link else {})
        assert r.status_code == 200 and [p for _, p in asked] == ["COD"], link
    r = await client.get("/console/investment/export.csv", params={"pollutant": "COD"})
    assert 'filename="quota-COD-' in r.headers["content-disposition"]
    r = await client.get("/console/investment/trend", params={"pollutant": "COD"})
    assert '<a href="/console/investment/?pollutant=COD">' in r.text

    # None asked: quota-svc's first, as the page.
    for link in (
        "/console/investment/",
        "/console/investment/trend",
        "/console/investment/export.csv",
    ):
        asked.clear()
        r = await client.get(link)
        assert r.status_code == 200 and [p for _, p in asked] == ["NOx"], link

    # One quota-svc does not keep: its refusal, the page's status and words.
    page = await client.get("/console/investment/", params={"pollutant": "SO2"})
    assert_console_page(page, 422, "不是总量控制污染物")
    for link in _investment_links(page.text):
        r = await client.get(link, headers=hx if "trend" in link else {})
        assert r.status_code == 422 and "不是总量控制污染物" in r.text, link

    # quota-svc's list unread: the page is of none, its links carry none,
    # and each says what the page says (503 with Retry-After).
    out = {"title": "服务暂不可用", "detail": "总量服务暂不可用，请稍后重试。"}
    down = lambda _: httpx.Response(503, json=out, headers={"Retry-After": "30"})  # noqa: E731
    stub.on("GET", "/quota/pollutants", down)
    # Past the ten minutes the list read last serves (console.pollutants).
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    with clock.using(clock.ManualClock(later)):
        page = await client.get("/console/investment/")
        assert_console_page(page, 503)
        links = _investment_links(page.text)
        assert sorted(set(links)) == [
            "/console/investment/export.csv",
            "/console/investment/export.xlsx",
            "/console/investment/trend",
        ]
        for link in links:
            r = await client.get(link, headers=hx if "trend" in link else {})
            assert r.status_code == 503 and r.headers["retry-after"] == "30", link


async def test_the_investment_pollutant_may_be_blank_or_in_any_case(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """`?pollutant=nox` was sent to quota-svc as typed (and refused), where
    the public register reads it as NOx; `?pollutant=` was a 422 where no
    pollutant is the page's default. Both now name what the page is of:
    the listed code, on the page, its trend and its export."""
    stub.on("GET", "/quota/pollutants", QUOTA_POLLUTANTS)
    asked: list[str] = []

    def pools(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["pollutant"])
        return httpx.Response(200, json=[])

    stub.on("GET", "/quota/availability", pools)
    stub.on("GET", "/quota/balances", pools)
    stub.on("GET", "/eia/parks", [])
    await sign_in(client, "investment")
    hx = {"HX-Request": "true"}
    for given, meant in (("nox", "NOx"), ("Cod", "COD"), ("", "VOCs")):
        for link in (
            "/console/investment/",
            "/console/investment/trend",
            "/console/investment/export.csv",
        ):
            asked.clear()
            r = await client.get(
                link, params={"pollutant": given}, headers=hx if "trend" in link else {}
            )
            assert r.status_code == 200 and set(asked) == {meant}, (link, given, asked)
        page = await client.get("/console/investment/", params={"pollutant": given})
        assert f'<option value="{meant}" selected>' in page.text
        assert f"/console/investment/trend?pollutant={meant}" in page.text


async def test_the_investment_pollutant_may_be_typed_full_width(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """`?pollutant=ＶＯＣｓ` (a Chinese IME in full-width mode) was a 422 page:
    the address's pattern refused it before the pollutant was looked up. It
    now names the listed code, spaces around it aside, as the public
    register reads it (and quota-svc); one quota-svc does not keep is still
    its refusal, named as read."""
    stub.on("GET", "/quota/pollutants", QUOTA_POLLUTANTS)
    asked: list[str] = []

    def pools(request: httpx.Request) -> httpx.Response:
        pollutant = request.url.params["pollutant"]
        asked.append(pollutant)
        if pollutant == "SO2":
            return httpx.Response(
                422, json={"title": "请求有误", "detail": "pollutant: 'SO2' 不是总量控制污染物"}
            )
        return httpx.Response(200, json=[])

    stub.on("GET", "/quota/availability", pools)
    stub.on("GET", "/quota/balances", pools)
    stub.on("GET", "/eia/parks", [])
    await sign_in(client, "investment")
    hx = {"HX-Request": "true"}
    for given, meant in (("ＶＯＣｓ", "VOCs"), (" ｎｏｘ\u3000", "NOx"), ("ＮＨ３－Ｎ", "NH3-N")):
        for link in (
            "/console/investment/",
            "/console/investment/trend",
            "/console/investment/export.csv",
        ):
            asked.clear()
            r = await client.get(
                link, params={"pollutant": given}, headers=hx if "trend" in link else {}
            )
            assert r.status_code == 200 and set(asked) == {meant}, (link, given, asked)
        page = await client.get("/console/investment/", params={"pollutant": given})
        assert f'<option value="{meant}" selected>' in page.text
    asked.clear()
    page = await client.get("/console/investment/", params={"pollutant": "ＳＯ２"})
    assert_console_page(page, 422, "不是总量控制污染物")
    assert asked == ["SO2"]


async def test_a_fit_link_outside_the_users_districts_says_so(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """张敏 (宝坻区) opens a colleague's link for 滨海新区: not an empty
    result, but that 滨海新区 is outside what she may see, and what she may."""
    stub.on("GET", "/quota/availability", [])
    stub.on("GET", "/eia/parks", [])
    await sign_in(client, "officer-baodi")
    params = {"p_VOCs": "5", "district": "120116"}
    r = await client.get("/console/investment/fit", params=params, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "滨海新区不在您可查看的范围内（您可查看：宝坻区）" in r.text
    assert not [c for c in stub.calls if c.url.path == "/quota/checks"]
    page = await client.get("/console/investment/fit", params=params)
    assert_console_page(page, 200, "滨海新区不在您可查看的范围内（您可查看：宝坻区）")


async def test_an_enterprise_unknown_to_the_user_holds_no_quota_on_the_page(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """在您可查看的区内没有该代码的记录, then no 持有的 VOCs 总量指标 block of
    0.000 吨/年 lines (it read as "holds 0 t")."""
    uscc = "91120116MA05XXXX1A"
    page = {"next_cursor": None, "items": []}
    for path in ("/permit/permits", "/permit/registrations", "/permit/audits"):
        stub.on("GET", path, page)
    for path in ("/eia/registrations", "/eia/filings", "/quota/reservations", "/quota/holdings"):
        stub.on("GET", path, page)
    stub.on("GET", f"/permit/enterprises/{uscc}", lambda _: httpx.Response(403, json={}))
    await sign_in(client, "officer-baodi")
    r = await client.get(f"/console/enterprise/{uscc}")
    assert_console_page(r, 200, "在您可查看的区内没有该代码的记录")
    assert "持有的 VOCs 总量指标" not in r.text and "0.000" not in r.text


async def test_a_later_register_page_without_entries_links_the_first_page(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/public/register?cursor=MTAw past the register's end: no
    entries, and still the way back (第一页)."""
    stub.on("GET", "/quota/public/register", {"items": [], "next_cursor": None})
    r = await client.get("/console/public/register", params={"cursor": "MTAw"})
    assert_console_page(r, 200, "本页暂无条目", '<a href="/console/public/register">第一页</a>')
    first = await client.get("/console/public/register")
    assert "第一页" not in first.text and "公示名录暂无条目" in first.text


async def test_the_sign_in_page_names_the_development_users_in_the_readers_language(
    client: httpx.AsyncClient,
) -> None:
    """The English sign-in page listed 审批人员（蓟州区） beside each name."""
    zh = await client.get("/console/login", headers={"Accept-Language": "zh-CN"})
    assert "李华 — 审批人员（蓟州区）" in zh.text and "孙丽 — 审计人员（全市，只读）" in zh.text
    en = await client.get("/console/login", headers={"Accept-Language": "en"})
    assert "李华 — approval officer (Jizhou District)" in en.text, en.text[:2000]
    assert "auditor (citywide, read only)" in en.text
    assert "审批人员" not in en.text and "全市" not in en.text


async def test_a_refused_check_code_is_named_by_the_verify_pages_word(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/public/verify?no=…&code=abc said `code: 至少需要 4 个字符` (the
    API's field name, from the problem's detail): the page's word 校验码."""
    no = "DJB-120101-2026-000001"
    stub.on(
        "GET",
        f"/eia/public/receipts/{no}",
        lambda _: httpx.Response(
            422,
            json={
                "title": "请求内容无效",
                "detail": "code: 至少需要 4 个字符",
                "errors": [{"field": "code", "message": "至少需要 4 个字符"}],
            },
        ),
    )
    r = await client.get("/console/public/verify", params={"no": no, "code": "abc"})
    assert_console_page(r, 200, "校验码：至少需要 4 个字符")
    assert "code:" not in _main(r.text) and "code：" not in _main(r.text)
    en = await client.get("/console/public/verify", params={"no": no, "code": "abc", "lang": "en"})
    assert "check code: 至少需要 4 个字符" in _main(en.text)
    assert not re.search(r"(?<!check )code: ", _main(en.text))
    # The register's own refusals (other than a page link's) by its words too.
    stub.on(
        "GET",
        "/quota/public/register",
        lambda _: httpx.Response(
            400,
            json={
                "title": "请求内容无效",
                "detail": "cursor: 格式不对",
                "errors": [{"field": "cursor", "message": "格式不对"}],
            },
        ),
    )
    r = await client.get("/console/public/register", params={"lang": "zh"})
    assert_console_page(r, 200, "翻页链接：格式不对")
    assert "cursor" not in _main(r.text)


async def test_what_the_role_may_not_read_is_said_not_shown_as_nothing(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """Investment staff (王芳): eia-svc refuses them the filings and the
    registration forms (403). The page said 无。 under 环评文件 and 0.000 吨/年
    under 已批项目已分配 (now 已批项目累计分配), where an auditor sees the approved filing and
    5.000 t: the sections say the role cannot see them, the figures drawn
    from them are not available, and the history says what it leaves out."""
    uscc = "91120119000000001C"
    page = {"next_cursor": None}
    company = {
        "uscc": uscc,
        "name": "天津某涂装有限公司",
        "district": "120119",
        "industry_code": "C3360",
        "category": "key",
        "address": "蓟州区",
        "operating_status": "operating",
    }
    stub.on("GET", f"/permit/enterprises/{uscc}", company)
    stub.on("GET", "/permit/industries", [])
    permit = {
        "id": "p1",
        "permit_no": uscc + "001P",
        "category": "key",
        "status": "issued",
        "vocs_t": "0.600",
        "quota_drawn_t": "0",
        "created_at": "2026-10-01T02:00:00+00:00",
        "updated_at": "2026-10-02T02:00:00+00:00",
    }
    stub.on("GET", "/permit/permits", {**page, "items": [permit]})
    stub.on("GET", "/permit/registrations", {**page, "items": []})
    stub.on("GET", "/permit/audits", {**page, "items": []})
    stub.on("GET", "/quota/reservations", {**page, "items": []})
    stub.on("GET", "/quota/holdings", {**page, "items": []})
    refused = {"title": "无权访问", "detail": "您的角色无权执行此操作"}
    stub.on("GET", "/permit/audit", lambda _: httpx.Response(403, json=refused))
    for path in ("/eia/filings", "/eia/registrations"):
        stub.on("GET", path, lambda _: httpx.Response(403, json=refused))
    await sign_in(client, "investment")
    r = await client.get(f"/console/enterprise/{uscc}")
    assert_console_page(r, 200, "您的角色无权查看环评文件", "您的角色无权查看环评登记表备案")
    main = _main(r.text)
    filings = main.split('id="f-h"')[1].split("</section>")[0]
    assert "无。" not in filings
    allocated = main.split("已批项目累计分配</dt><dd>")[1].split("</dd>")[0]
    reserved = main.split("审批中预留</dt><dd>")[1].split("</dd>")[0]
    assert "0.000" not in allocated and "不可用" in allocated, allocated
    assert "0.000" not in reserved and "不可用" in reserved, reserved
    # What the role may read still shows: the permit's amount.
    permitted = main.split("有效许可证许可量</dt><dd>")[1].split("</dd>")[0]
    assert "0.600" in permitted
    history = main.split('id="h-h"')[1].split("</section>")[0]
    assert "历史记录未包括：环评文件、环评登记表备案、许可证办理记录（审计日志）" in history
    assert "在您可查看的区内没有该代码的记录" not in main

    # A service that fails is not "nothing" either: a note, and the section
    # says it could not be read.
    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/permit/permits", lambda _: httpx.Response(503, json=down))
    await sign_in(client, "auditor")
    r = await client.get(f"/console/enterprise/{uscc}")
    main = _main(r.text)
    permits = main.split('id="p-h"')[1].split("</section>")[0]
    assert "无。" not in permits and "排污许可证暂时无法读取" in permits, permits
    permitted = main.split("有效许可证许可量</dt><dd>")[1].split("</dd>")[0]
    assert "0.000" not in permitted and "不可用" in permitted
    assert "本次请求所需的服务暂不可用" in main


async def test_a_queue_not_read_is_not_shown_as_nothing_waiting(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A queue the role may not read (403) or whose service failed read
    暂无待确认的收回指标 and 收回待确认 (0): it says so, on its section and
    its tab; the queues that were read show as before."""
    page = {"next_cursor": None, "items": []}
    for path in ("/eia/filings", "/permit/permits", "/permit/audits"):
        stub.on("GET", path, page)
    stub.on("GET", "/quota/reclaims", lambda _: httpx.Response(403, json={"title": "无权访问"}))
    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/eia/review-queue", lambda _: httpx.Response(503, json=down))
    await sign_in(client, "auditor")
    r = await client.get("/console/workbench/")
    assert_console_page(r, 200, "本次请求所需的服务暂不可用")
    main = _main(r.text)
    tabs = main.split('aria-label="待办"')[1].split("</nav>")[0]
    assert "收回待确认 (—)" in tabs and "事后抽查 (—)" in tabs, tabs
    assert "环评审批 (0)" in tabs and "审核整改到期 (0)" in tabs, tabs
    reclaims = main.split('id="reclaims"')[1].split("</section>")[0]
    assert "您的角色无权查看此项待办" in reclaims and "暂无待确认" not in reclaims
    checks = main.split('id="checks"')[1].split("</section>")[0]
    assert "此项待办暂时无法完整读取" in checks and "暂无待抽查" not in checks
    filings = main.split('id="filings"')[1].split("</section>")[0]
    assert "暂无待办" in filings and "无法" not in filings


async def test_an_actions_answer_brings_the_tabs_counts_up_to_date(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """李华 rejects a reclaim: the row said 已办理 — 已驳回 and the tab still
    read 收回待确认 (5) until a reload. The answer carries the tabs, read
    again, to replace the page's (htmx out-of-band); a filing's row too. A
    service failure brings none (the queues would be read from it)."""
    reclaim = {"district": "120119", "pollutant": "VOCs", "amount_t": "0.670"}
    reclaim |= {"source": "manual", "created_at": "2026-11-02T02:00:00+00:00"}
    pending = [{**reclaim, "id": f"r{i}", "created_by": "chen.jing"} for i in range(5)]
    page = {"next_cursor": None, "items": []}
    for path in ("/eia/filings", "/eia/review-queue", "/permit/permits", "/permit/audits"):
        stub.on("GET", path, page)
    stub.on("GET", "/quota/reclaims", {"next_cursor": None, "items": pending})
    token = await sign_in(client, "officer-jizhou")
    before = await client.get("/console/workbench/")
    assert "收回待确认 (5)" in before.text

    def reject(request: httpx.Request) -> httpx.Response:
        pending.pop(0)
        return httpx.Response(200, json={**reclaim, "id": "r0", "status": "rejected"})

    stub.on("POST", "/quota/reclaims/r0/reject", reject)
    form = {"csrf_token": token, "op": "reclaim-reject", "id": "r0", "idem": "k" * 20}
    hx = {"HX-Request": "true"}
    r = await client.post("/console/workbench/act", data={**form, "reason": "重复录入"}, headers=hx)
    assert r.status_code == 200 and "已办理" in r.text
    tabs = re.search(r'<nav id="queue-tabs"[^>]*hx-swap-oob="true"[^>]*>(.*?)</nav>', r.text, re.S)
    assert tabs and "收回待确认 (4)" in tabs.group(1), r.text
    # A filing's row, redrawn, brings them as well.
    filing = _filing(id="f1", status="accepted", district="120119")
    stub.on("POST", "/eia/filings/f1/evaluation-done", {**filing, "status": "evaluated"})
    r = await client.post(
        "/console/workbench/act",
        data={**form, "op": "filing", "id": "f1", "action": "evaluation-done", "row": "filing"},
        headers=hx,
    )
    assert r.status_code == 200 and 'data-filing="f1"' in r.text
    assert 'id="queue-tabs"' in r.text and "收回待确认 (4)" in r.text
    # The service down: the message, and no tabs read from it.
    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用，请稍后重试"}
    stub.on("POST", "/quota/reclaims/r1/reject", lambda _: httpx.Response(503, json=down))
    r = await client.post(
        "/console/workbench/act", data={**form, "id": "r1", "reason": "x"}, headers=hx
    )
    assert r.status_code == 503 and "本次请求所需的服务暂不可用" in r.text
    assert "queue-tabs" not in r.text


async def test_a_service_failure_in_a_part_of_a_page_is_a_fragment_not_a_page(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The trend (loaded by htmx) with quota-svc out: the message, where the
    trend goes; it was a whole page with its header and menu (which the page's
    script then dropped, leaving 正在读取… for good)."""
    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用，请稍后重试"}
    stub.on("GET", "/quota/balances", lambda _: httpx.Response(503, json=down))
    await sign_in(client, "investment")
    r = await client.get("/console/investment/trend", headers={"HX-Request": "true"})
    assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
    assert "本次请求所需的服务暂不可用" in r.text and "<html" not in r.text
    assert 'class="result error"' in r.text
    page = await client.get("/console/investment/trend")
    assert_console_page(page, 503, "本次请求所需的服务暂不可用")


@pytest.mark.parametrize("how", ["unreachable", "503", "500"])
async def test_a_public_page_whose_service_is_down_says_so_by_its_status(
    client: httpx.AsyncClient, stub: Stub, how: str
) -> None:
    """The public pages answered 200 with "无法连接 eia-svc（ConnectError）"
    in them: a monitor or a cache took an outage for the page, and the
    public read the service's internal name. Now 503 (with Retry-After: the
    service's own when it said one) or 502, and a plain message."""
    no = "DJB-120119-2026-000123"

    def down(request: httpx.Request) -> httpx.Response:
        if how == "unreachable":
            raise httpx.ConnectError("refused", request=request)
        if how == "503":
            return httpx.Response(503, json={"title": "服务暂不可用"}, headers={"Retry-After": "7"})
        return httpx.Response(500, text="Internal Server Error")

    for path in (f"/eia/public/receipts/{no}", f"/eia/public/receipts/{no}/receipt"):
        stub.on("GET", path, down)
    stub.on("GET", "/quota/public/register", down)
    status = 502 if how == "500" else 503
    pages = [
        ("/console/public/verify", {"no": no, "code": "ABCD"}),
        ("/console/public/register", {}),
        (f"/console/public/receipt/{no}", {"code": "ABCD"}),
    ]
    for path, params in pages:
        r = await client.get(path, params=params)
        assert_console_page(r, status, "该服务暂时不可用，请稍后再试")
        assert "-svc" not in r.text and "ConnectError" not in r.text, path
        if status == 503:
            assert r.headers["retry-after"] == ("7" if how == "503" else "5"), path
        else:
            assert "retry-after" not in r.headers, path


async def test_a_signed_in_page_whose_service_is_down_asks_to_try_again_later(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    await sign_in(client, "auditor")
    stub.on("GET", "/permit/enterprises/91120119000000001C", down)
    r = await client.get("/console/enterprise/91120119000000001C")
    assert r.status_code == 503, r.text[:300]
    assert r.headers["retry-after"] == "5"


async def test_an_officer_sees_a_major_claim_first_and_decides_it_on_accepting(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A filing that claims to be a major project waits for the officer's
    受理 like any other: the workbench lists it first (即到即受理), says what
    it claims, and offers the acceptance as the decision on the claim, each
    button eia-svc's accept with green_channel true or false."""
    claim = _filing(
        id="f2",
        status="submitted",
        quota_status="not_requested",
        due_at=None,
        overdue=False,
        major_project=True,
        major_kind="livelihood",
        green_channel="requested",
        allowed_actions=["accept"],
        created_at="2026-11-05T02:00:00+00:00",
    )
    older = _filing(
        id="f1",
        due_at="2099-01-01T16:00:00+00:00",
        due_on="2099-01-01",
        overdue=False,
        allowed_actions=["evaluation-done"],
    )
    listed = {"next_cursor": None}
    stub.on(
        "GET",
        "/eia/filings",
        lambda req: httpx.Response(
            200,
            json={
                **listed,
                "items": {"submitted": [claim], "accepted": [older]}.get(
                    req.url.params.get("status", ""), []
                ),
            },
        ),
    )
    token = await sign_in(client, "officer-jizhou")
    page = (await client.get("/console/workbench/")).text
    assert page.index('data-filing="f2"') < page.index('data-filing="f1"')
    assert "申报重大项目（民生工程），申请绿色通道" in page
    assert 'data-op="filing-accept-green"' in page and 'data-op="filing-accept-normal"' in page
    assert 'data-op="filing-accept"' not in page

    sent: list[Any] = []

    def accept(req: httpx.Request) -> httpx.Response:
        sent.append(json.loads(req.content))
        return httpx.Response(
            200,
            json={
                **claim,
                "status": "accepted",
                "channel": "green" if sent[-1]["green_channel"] else "normal",
                "green_channel": "confirmed" if sent[-1]["green_channel"] else "declined",
                "allowed_actions": ["evaluation-done", "review-done"],
            },
        )

    stub.on("POST", "/eia/filings/f2/accept", accept)
    form = {"csrf_token": token, "op": "filing", "id": "f2", "row": "filing"}
    hx = {"HX-Request": "true"}
    r = await client.post(
        "/console/workbench/act",
        data={**form, "idem": "g" * 20, "action": "accept-green"},
        headers=hx,
    )
    assert r.status_code == 200, r.text[:300]
    assert "绿色通道" in r.text and "已确认重大项目（民生工程）" in r.text
    r = await client.post(
        "/console/workbench/act",
        data={**form, "idem": "n" * 20, "action": "accept-normal"},
        headers=hx,
    )
    assert r.status_code == 200, r.text[:300]
    assert "未予确认，按常规程序办理" in r.text
    assert sent == [{"green_channel": True}, {"green_channel": False}]


def _reduced_and_sold(uscc: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """An enterprise whose 2.345 t/a project was approved (4.690 t allocated
    at a ratio of 2), whose permit was then reduced (a reclaim confirmed:
    0.690 t of its holding retired) and which sold 1.000 t: quota-svc's
    holdings say 3.000 t held (1.500 rights) and 0.690 t retired."""
    permit = {
        "id": "p-1",
        "permit_no": uscc + "001P",
        "category": "key",
        "status": "issued",
        "last_action": "change",
        "vocs_t": "1.500",
        # permit-svc's draw only ever grows: neither the cut nor the sale lowers it.
        "quota_drawn_t": "2.345",
        "created_at": "2026-03-01T02:00:00+00:00",
        "updated_at": "2026-09-01T06:30:00+00:00",
    }
    common = {
        "uscc": uscc,
        "district": "120115",
        "pollutant": "VOCs",
        "pool_id": "120115:VOCs",
        "source": "allocation",
        "offset_ratio": "2",
        "reservation_id": "res-1",
        "trade_id": None,
        "acquired_at": "2026-03-01T01:00:00+00:00",
        "valid_until": "2031-03-01T01:00:00+00:00",
        "valid": True,
    }
    holdings = [
        {
            **common,
            "id": "res-1",
            "original_t": "4.690",
            "amount_t": "3.000",
            "rights_t": "1.500",
            "retired_at": None,
            "tradable": True,
        },
        {
            **common,
            "id": "h-retired",
            "original_t": "0.690",
            "amount_t": "0.690",
            "rights_t": "0.345",
            "retired_at": "2026-05-10T02:00:00+00:00",
            "reclaim_id": "rc-1",
            "tradable": False,
        },
    ]
    trail = [
        # Newest first, as GET /permit/audit answers.
        {
            "at": "2026-09-01T06:30:00+00:00",
            "action": "permit.change",
            "detail": {"trade_id": "t-1", "pollutant": "VOCs", "delta_kg": -500},
        },
        {"at": "2026-07-02T02:00:00+00:00", "action": "permit.reinstate", "detail": {}},
        {
            "at": "2026-06-01T02:00:00+00:00",
            "action": "permit.suspend",
            "detail": {"reason": "立案查处 JZ-2026-0007: 超标排放", "case_no": "JZ-2026-0007"},
        },
        {
            "at": "2026-05-09T02:00:00+00:00",
            "action": "permit.change",
            "detail": {"vocs_delta_kg": -345},
        },
        {"at": "2026-03-02T02:00:00+00:00", "action": "permit.issue", "detail": {}},
        {"at": "2026-03-01T02:00:00+00:00", "action": "permit.apply", "detail": {}},
    ]
    return permit, holdings, trail


async def test_the_enterprise_quota_is_its_holdings_and_its_history_the_permits_steps(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The page said 已批项目已分配 4.690 吨/年 (the sale and the retirement
    ignored) and 其中由已分配指标支撑 2.345 吨/年 of a 1.500 吨/年 permit (the
    "of which" larger than the whole), and its history had one line for the
    permit's changes, 许可证：已核发 at the trade's amendment. Now: the
    holdings' position, an "of which" never above the whole, and each step
    of the permit's audit trail in words, in Beijing time."""
    uscc = "91120115MA05XXXX1A"
    page = {"next_cursor": None}
    permit, holdings, trail = _reduced_and_sold(uscc)
    stub.on("GET", "/permit/permits", {**page, "items": [permit]})
    for path in ("/permit/registrations", "/permit/audits", "/eia/registrations"):
        stub.on("GET", path, {**page, "items": []})
    approved = _filing(
        status="approved",
        quota_status="allocated",
        vocs_increment_t="2.345",
        quota_allocated_t="4.690",
        project_name="涂装线扩建",
        decided_at="2026-02-20T02:00:00+00:00",
    )
    stub.on("GET", "/eia/filings", {**page, "items": [approved]})
    stub.on("GET", "/quota/reservations", {**page, "items": []})

    def holdings_of(request: httpx.Request) -> httpx.Response:
        # The emptied holdings too: one sold out says how much was sold.
        assert request.url.params["include_empty"] == "true"
        return httpx.Response(200, json={**page, "items": holdings})

    stub.on("GET", "/quota/holdings", holdings_of)

    def audit_of(request: httpx.Request) -> httpx.Response:
        assert request.url.params["target_id"] == "p-1"
        return httpx.Response(200, json={**page, "items": trail})

    stub.on("GET", "/permit/audit", audit_of)
    await sign_in(client, "auditor")
    r = await client.get(f"/console/enterprise/{uscc}")
    assert_console_page(r, 200)
    main = _main(r.text)

    def figure(label: str) -> str:
        return main.split(f"{label}</dt><dd>")[1].split("</dd>")[0]

    assert figure("现持有排污权") == "3.000 吨/年，对应许可排放量 1.500 吨/年"
    assert figure("已收回注销") == "0.690 吨/年"
    assert figure("已交易转出") == "1.000 吨/年"
    assert figure("已批项目累计分配") == "4.690 吨/年"
    assert figure("有效许可证许可量") == "1.500 吨/年"
    assert figure("其中由现持有指标支撑") == "1.500 吨/年"
    assert "2.345 吨/年" not in main.split('id="q-h"')[1].split("</section>")[0]

    history = main.split('id="h-h"')[1].split("</section>")[0]
    no = f'<span class="code">{uscc}001P</span>'
    for when, what in (
        ("2026-09-01 14:30", "因排污权交易变更许可证（VOCs -0.500 吨/年）"),
        ("2026-07-02 10:00", "恢复许可证"),
        ("2026-06-01 10:00", "因立案查处暂停许可证（案件编号 JZ-2026-0007）"),
        ("2026-05-09 10:00", "变更许可证（VOCs -0.345 吨/年）"),
        ("2026-03-02 10:00", "核发许可证"),
        ("2026-03-01 10:00", "申请排污许可证"),
    ):
        assert f"{when}</time> {what} {no}" in history, (when, what, history)
    assert "已核发" not in history and "历史记录未包括" not in history
    assert history.count("申请排污许可证") == 1

    # An officer of the permit's district reads its trail too (permit-svc
    # answers them for a record of their districts): every step, as above.
    await sign_in(client, "officer-baodi")
    r = await client.get(f"/console/enterprise/{uscc}")
    history = _main(r.text).split('id="h-h"')[1].split("</section>")[0]
    for when, what in (
        ("2026-09-01 14:30", "因排污权交易变更许可证（VOCs -0.500 吨/年）"),
        ("2026-06-01 10:00", "因立案查处暂停许可证（案件编号 JZ-2026-0007）"),
        ("2026-03-02 10:00", "核发许可证"),
    ):
        assert f"{when}</time> {what} {no}" in history, (when, what, history)
    assert "历史记录未包括" not in history
    assert len([c for c in stub.calls if c.url.path == "/permit/audit"]) == 2

    # A role that may not read the trail (investment staff): the permit's
    # last step by its action (a change, not 已核发), and the history says
    # what it leaves out.
    stub.on("GET", "/permit/audit", lambda _: httpx.Response(403, json={"title": "无权访问"}))
    await sign_in(client, "investment")
    r = await client.get(f"/console/enterprise/{uscc}")
    history = _main(r.text).split('id="h-h"')[1].split("</section>")[0]
    assert f"2026-09-01 14:30</time> 变更许可证 {no}" in history, history
    assert "已核发" not in history
    assert "历史记录未包括：许可证办理记录（审计日志）" in history
    assert len([c for c in stub.calls if c.url.path == "/permit/audit"]) == 3


def test_the_backed_part_of_a_permit_is_never_more_than_the_permit() -> None:
    """Without the holdings, permit-svc's draw (which never shrinks) is
    capped at what the permits permit."""
    from console.pages.enterprise.history import quota_held

    permit, holdings, _ = _reduced_and_sold("91120115MA05XXXX1A")
    held = quota_held([], [permit])
    assert (held.permitted_t, held.drawn_t) == (Decimal("1.500"), Decimal("1.500"))
    held = quota_held([], [permit], holdings=holdings)
    assert held.position is not None
    assert (held.position.held_t, held.position.retired_t, held.position.sold_t) == (
        Decimal("3.000"),
        Decimal("0.690"),
        Decimal("1.000"),
    )


async def test_a_cancelled_permits_reclaim_is_labelled_by_its_reason(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """收回待确认 said 许可证注销（关停） of every cancelled permit's candidate,
    whatever the reason: a permit revoked and then cancelled as 其他原因 is
    no closure. The label follows the candidate's reason code (quota-svc's
    `reason`), never the words of its note: a note can say anything (the
    cancellation's own note is in it), and a code unknown says the source."""
    page = {"next_cursor": None}
    reclaim = {
        "district": "120119",
        "pollutant": "VOCs",
        "amount_t": "0.670",
        "status": "pending",
        "source": "permit_cancelled",
        "created_by": "system",
        "created_at": "2026-11-02T02:00:00+00:00",
    }
    closure_note = "天津某厂（91120119000000001C001P）许可证注销：企业关停"
    codes = {
        "closed": ("closure", closure_note),
        # Its note reads as a closure (the officer's note said so): the code says otherwise.
        "other": ("other", "天津某厂（91120119000000001C001P）许可证注销：其他原因；原为企业关停"),
        "process": ("process_closed", closure_note),
        "unknown": ("unknown", closure_note),
        "none": (None, closure_note),
        "new": ("a_reason_added_later", closure_note),
    }
    items = [{**reclaim, "id": k, "reason": v, "note": n} for k, (v, n) in codes.items()]
    items.append({**reclaim, "id": "cut", "source": "permit_changed", "reason": None})
    stub.on("GET", "/quota/reclaims", {**page, "items": items})
    stub.on("GET", "/eia/filings", {**page, "items": []})
    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/workbench/")
    assert r.status_code == 200, r.text[:300]
    rows = dict(re.findall(r'<tr data-reclaim="(\w+)">(.*?)</tr>', r.text, re.S))
    source = {k: re.search(r"<td>([^<]*)", v).group(1) for k, v in rows.items()}  # type: ignore[union-attr]
    assert source == {
        "closed": "许可证注销（企业关停）",
        "other": "许可证注销（其他原因）",
        "process": "许可证注销（生产工序关停）",
        "unknown": "许可证注销",
        "none": "许可证注销",
        "new": "许可证注销",
        "cut": "许可量核减",
    }


async def test_a_register_price_in_yuan_is_exact(client: httpx.AsyncClient, stub: Stub) -> None:
    """A price in fen is said in yuan by decimal arithmetic: 9007199254740993
    fen (past what a float holds exactly) is 90,071,992,547,409.93 yuan, not
    .94; a negative one keeps its sign and cents."""
    entry = {"at": "2026-11-02T02:00:00+00:00", "district": "120115", "kind": "trade_settled"}
    items = [
        {**entry, "seq": 1, "refs": "price_fen_per_t=9007199254740993;trade=t-1"},
        {**entry, "seq": 2, "refs": "price_fen_per_t=5;trade=t-2"},
    ]
    stub.on("GET", "/quota/public/register", {"items": items, "next_cursor": None})
    r = await client.get("/console/public/register")
    assert_console_page(
        r, 200, "成交价（元/吨）：</span>90,071,992,547,409.93", "成交价（元/吨）：</span>0.05"
    )


async def test_the_public_register_says_its_codes_in_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/public/register (no sign-in) showed 来源： permit_changed,
    permit_cancelled, reduction: the references' codes are said in words,
    as docs/console.md promises, and so are a trade's refusal, a ratio set
    by air quality, an air-quality status and a price in fen."""
    entry = {
        "seq": 1,
        "at": "2026-11-02T02:00:00+00:00",
        "district": "120115",
        "pollutant": "VOCs",
        "amount_t": "0.690",
        "prev_hash": "0" * 64,
        "hash": "a" * 64,
    }
    refs = {
        "reclaim_confirmed": "permit=p-1;reclaim=r-1;source=permit_changed;uscc=X",
        "reclaim_credit": "source=permit_cancelled",
        "reduction_credit": "source=reduction",
        "trade_refused": "reason=seller_holds_too_little;trade=t-1",
        "ratio_setting": "effective_from=2026-11-02T02:00:00+00:00;ratio=air_quality",
        "air_quality": "status=slightly_exceeded",
        "trade_settled": "price_fen_per_t=1250000;trade=t-2",
    }
    items = [
        {**entry, "seq": n, "kind": kind, "refs": text}
        for n, (kind, text) in enumerate(refs.items(), start=1)
    ]
    stub.on("GET", "/quota/public/register", {"items": items, "next_cursor": None})
    r = await client.get("/console/public/register")
    assert_console_page(
        r,
        200,
        "来源：</span>许可量核减",
        "来源：</span>许可证注销",
        "来源：</span>深度治理减排",
        "原因：</span>卖方持有的有效指标不足",
        "倍量替代比例：</span>按空气质量确定",
        "空气质量状况：</span>轻度超标",
        "成交价（元/吨）：</span>12,500.00",
    )
    table = _main(r.text).split('id="register"')[1]
    for code in (
        "permit_changed",
        "permit_cancelled",
        ">reduction<",
        "seller_holds_too_little",
        "air_quality",
        "slightly_exceeded",
        "price_fen_per_t",
    ):
        assert code not in table, code


def test_an_imported_certificate_is_recorded_not_applied_for() -> None:
    """A certificate imported in bulk has an empty audit trail of its own:
    its first line is 录入存量许可证, not 申请排污许可证."""
    from console.pages.enterprise.history import timeline
    from svc_common.i18n import use

    permit, _, trail = _reduced_and_sold("91120115MA05XXXX1A")
    with use("zh"):
        events = timeline([permit], [], [], [], [], steps={"p-1": []})
        assert [e["what"] for e in events] == ["录入存量许可证"]
        events = timeline([permit], [], [], [], [], steps={"p-1": trail[:1]})
        assert [e["what"] for e in events][-1] == "录入存量许可证"
        issued_here = [e for e in trail if e["action"] != "permit.apply"]
        events = timeline([permit], [], [], [], [], steps={"p-1": issued_here})
        assert [e["what"] for e in events][-1] == "申请排污许可证"


NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def _not_a_problem(how: str) -> Handler:
    """A service (or the proxy in front of it) failing without its
    problem+json: an nginx 502 page, a bare 500, no answer in time."""

    def answer(request: httpx.Request) -> httpx.Response:
        if how == "html":
            return httpx.Response(502, text=NGINX_502, headers={"Content-Type": "text/html"})
        if how == "text":
            return httpx.Response(500, text="500 Internal Server Error")
        raise httpx.ReadTimeout("timed out", request=request)

    return answer


def _nothing_raw(html: str) -> None:
    """None of what the service sent or why it failed reaches the user."""
    for raw in ("nginx", "Bad Gateway", "&lt;", "Internal Server Error", "-svc", "ReadTimeout"):
        assert raw not in html, raw


@pytest.mark.parametrize("how", ["html", "text", "timeout"])
async def test_a_failure_without_a_problem_is_said_plainly_never_shown_raw(
    client: httpx.AsyncClient, stub: Stub, how: str
) -> None:
    """An nginx 502 page was shown as HTML source in the workbench's banner
    and beside an action's button and replaced the whole 招商 page; a bare
    500 said "Internal Server Error"; a timeout "无法连接 quota-svc
    （ReadTimeout）". Now a plain sentence in the user's language, the page
    whole with a note on the section that could not be read, and the status
    the console uses (503 + Retry-After for an outage, 502 for a bad answer)."""
    failing = _not_a_problem(how)
    status = {"html": 502, "text": 502, "timeout": 503}[how]
    page = {"next_cursor": None, "items": []}
    for path in ("/eia/filings", "/permit/permits", "/permit/audits", "/eia/review-queue"):
        stub.on("GET", path, page)
    stub.on("GET", "/quota/reclaims", failing)
    stub.on("GET", "/quota/availability", failing)
    stub.on("GET", "/eia/parks", [])
    token = await sign_in(client, "officer-jizhou")

    r = await client.get("/console/workbench/")
    assert_console_page(r, 200, "服务暂不可用，请稍后重试")
    _nothing_raw(_main(r.text))

    stub.on("POST", "/quota/reclaims/rc1/confirm", failing)
    form = {"csrf_token": token, "idem": "k" * 20, "op": "reclaim-confirm", "id": "rc1"}
    act = await client.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
    assert act.status_code == status and "服务暂不可用，请稍后重试" in act.text
    _nothing_raw(act.text)

    await sign_in(client, "investment")
    inv = await client.get("/console/investment/")
    assert_console_page(inv, status, "招商服务：各区总量指标", "暂时无法读取各区指标池")
    _nothing_raw(_main(inv.text))
    assert 'id="fit-h"' in inv.text and 'id="trend"' in inv.text  # the rest of the page
    assert 'id="ranking"' not in inv.text  # no table of nothing
    assert ("retry-after" in inv.headers) == (status == 503)
    en = await client.get("/console/investment/", params={"lang": "en"})
    assert "The service is unavailable just now; please try again shortly." in en.text
    assert "服务暂不可用" not in _main(en.text)


async def test_what_ifs_that_fail_give_no_verdict_and_never_wait_past_one_timeout(
    stub: Stub,
) -> None:
    """The fit check said 目前没有区能够容纳该项目 when quota-svc's checks
    failed, showed "Internal Server Error" in every row, and could wait 20 s
    per batch of eight districts. Now: no verdict when no check could be
    made; a district not checked is 未能试算, never 不足; the whole check is
    bounded by one deadline."""
    app = create(
        Settings(dev_login=True, api_timeout_seconds=0.5), transport=httpx.MockTransport(stub)
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test"
    ) as c:
        hx = {"HX-Request": "true"}
        stub.on("POST", "/quota/checks", _not_a_problem("text"))
        await sign_in(c, "investment")
        r = await c.get("/console/investment/fit", params={"p_VOCs": "5"}, headers=hx)
        assert r.status_code == 200
        assert "试算暂时无法完成，请稍后重试" in r.text
        assert "目前没有区能够容纳" not in r.text and "不足" not in r.text
        _nothing_raw(r.text)

        async def slow_in_some(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            if body["district"] in ("120101", "120116"):
                await asyncio.sleep(30)  # never answers in time
            fits = body["district"] != "120119"
            return httpx.Response(
                200,
                json={
                    **body,
                    "offset_ratio": "2",
                    "required_t": "10.000",
                    "available_t": "50.000" if fits else "1.000",
                    "fits": fits,
                    "shortfall_t": "0",
                    "remaining_t": "40.000",
                },
            )

        stub.on("POST", "/quota/checks", slow_in_some)
        started = asyncio.get_running_loop().time()
        r = await c.get("/console/investment/fit", params={"p_VOCs": "5"}, headers=hx)
        assert asyncio.get_running_loop().time() - started < 2  # one deadline, not per batch
        assert r.status_code == 200
        assert "13 个区可以容纳该项目" in r.text
        assert "2 个区未能试算（和平区、滨海新区）" in r.text, r.text[:600]
        rows = {
            m.group(1): m.group(2)
            for m in re.finditer(r'data-district="(\d+)".*?class="verdict">([^<]*)<', r.text, re.S)
        }
        assert rows["120101"] == "未能试算" and rows["120116"] == "未能试算"
        assert "不足" in rows["120119"] and "可以" in rows["120102"]
        # The form cannot be sent twice while it waits.
        page = await c.get("/console/investment/", headers={})
        assert 'hx-disabled-elt="find button[type=submit]"' in page.text


def _illegal(entity: str, state: str, action: str) -> Handler:
    """A service's refusal of an action its object's state no longer allows,
    as svc_common words it (the codes in brackets)."""

    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            409,
            json={
                "type": "urn:envbureau:problem:illegal-transition",
                "title": "当前状态不允许此操作",
                "status": 409,
                "detail": f"{entity}当前为 已确认（{state}），不能执行 驳回（{action}）；"
                "现在可执行：无",
                "state": state,
                "action": action,
                "allowed": [],
            },
        )

    return answer


async def test_stale_reclaims_findings_and_renewals_are_said_as_a_filings_are(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A second officer's stale click on 驳回, 整改完成 or 延续 showed the
    API's text with its codes ("收回候选当前为 已确认（confirmed），不能执行
    驳回（reject）；现在可执行：无", "暂不能延续：延续申请自 2030-12-13 起可办理")
    and left the row as it was. Now, as for a filing: someone else acted,
    where it stands in words, and the row removed (it left the queue) or
    drawn again from the object as it now is."""
    page = {"next_cursor": None, "items": []}
    for path in ("/eia/filings", "/permit/permits", "/permit/audits", "/eia/review-queue"):
        stub.on("GET", path, page)
    stub.on("GET", "/quota/reclaims", page)
    token = await sign_in(client, "officer-jizhou")
    hx = {"HX-Request": "true"}
    base = {"csrf_token": token, "idem": "k" * 20}
    codes = ("confirmed", "reject", "rectified", "rectify", "现在可执行", "暂不能延续", "起可办理")

    stub.on("POST", "/quota/reclaims/rc1/reject", _illegal("收回候选", "confirmed", "reject"))
    form = {**base, "op": "reclaim-reject", "id": "rc1", "reason": "重复", "row": "reclaim"}
    r = await client.post("/console/workbench/act", data=form, headers=hx)
    assert r.status_code == 409
    assert "该收回候选已由其他人办理（当前：已确认），已按最新状态显示" in r.text
    for code in codes:
        assert code not in r.text, code
    assert r.headers["hx-retarget"] == 'tr[data-reclaim="rc1"]'
    assert r.headers["hx-reswap"] == "outerHTML"
    assert r.text.lstrip().startswith('<tr data-reclaim="rc1" class="gone"><td colspan="6">')
    assert "<form" not in r.text  # nothing left to act on

    stub.on(
        "POST", "/permit/audits/a1/findings/s1/rectify", _illegal("问题", "rectified", "rectify")
    )
    form = {**base, "op": "finding-rectify", "id": "a1", "sub": "s1", "row": "finding"}
    r = await client.post("/console/workbench/act", data=form, headers=hx)
    assert r.status_code == 409 and "该审核问题已由其他人办理（当前：已整改）" in r.text
    assert r.headers["hx-retarget"] == 'tr[data-finding="a1/s1"]'

    # Renewed by another officer: its status stays issued, its term moved on.
    today = today_beijing()
    later = (today + dt.timedelta(days=5 * 365)).isoformat()
    soon = (today + dt.timedelta(days=20)).isoformat()
    renewed = {
        "id": "p1",
        "permit_no": "91120119000000001C001P",
        "uscc": "91120119000000001C",
        "enterprise_name": "天津某涂装有限公司",
        "district": "120119",
        "status": "issued",
        "valid_to": later,
        "allowed_actions": ["change", "renew", "suspend", "revoke", "cancel"],
    }
    not_yet = {
        "type": "urn:envbureau:problem:conflict",
        "title": "冲突",
        "status": 409,
        "detail": "暂不能延续：延续申请自 2030-12-13 起可办理（到期前 365 天）",
        "valid_to": later,
    }
    stub.on("POST", "/permit/permits/p1/renew", lambda _: httpx.Response(409, json=not_yet))
    stub.on("GET", "/permit/permits/p1", renewed)
    form = {**base, "op": "permit-renew", "id": "p1", "row": "permit"}
    r = await client.post("/console/workbench/act", data=form, headers=hx)
    assert r.status_code == 409
    assert f"该许可证已由其他人办理（当前：已延续，有效期至 {later}）" in r.text, r.text
    for code in codes:
        assert code not in r.text, code
    assert r.headers["hx-retarget"] == 'tr[data-permit="p1"]'
    assert "<form" not in r.text  # it left the expiring queue

    # Still expiring (suspended by someone else, say): its row drawn again
    # from the permit as it now is, without 延续.
    suspended = {**renewed, "status": "suspended", "valid_to": soon}
    suspended["allowed_actions"] = ["resume", "revoke", "cancel"]
    stub.on("GET", "/permit/permits/p1", suspended)
    refused = _illegal("许可证", "suspended", "renew")
    stub.on("POST", "/permit/permits/p1/renew", refused)
    r = await client.post("/console/workbench/act", data=form, headers=hx)
    assert (
        r.status_code == 409
        and f"该许可证已由其他人办理（当前：已暂停，有效期至 {soon}）" in r.text
    )
    assert r.text.lstrip().startswith('<tr data-permit="p1">') and "剩余 20 天" in r.text
    assert 'data-op="permit-renew"' not in r.text

    # Without script: the same sentence above the page drawn again.
    stub.on("POST", "/quota/reclaims/rc1/reject", _illegal("收回候选", "confirmed", "reject"))
    plain = {**base, "op": "reclaim-reject", "id": "rc1", "reason": "重复", "idem": "j" * 20}
    assert (await client.post("/console/workbench/act", data=plain)).status_code == 303
    text = (await client.get("/console/workbench/")).text
    assert "该收回候选已由其他人办理（当前：已确认），已按最新状态显示" in text


async def test_a_stale_post_hoc_check_is_said_as_the_other_queues_are(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A second officer's 属实 or 不实 on a filing someone else had checked
    showed eia-svc's text with its codes and left the row as it was: now,
    as for the other queues, someone else acted, where the check stands in
    words, and the row (`data-check`) removed, the filing having left the
    queue."""
    page = {"next_cursor": None, "items": []}
    for path in ("/eia/filings", "/permit/permits", "/permit/audits"):
        stub.on("GET", path, page)
    stub.on("GET", "/quota/reclaims", page)
    form_ = {
        "id": "g1",
        "filing_no": "DJB-120119-2026-000123",
        "project_name": "涂装线",
        "uscc": "91120119000000001C",
        "enterprise_name": "天津某涂装有限公司",
        "filed_at": "2026-11-02T02:00:00+00:00",
        "status": "filed",
        "review_status": "pending",
    }
    stub.on("GET", "/eia/review-queue", {**page, "items": [form_]})
    token = await sign_in(client, "officer-jizhou")
    text = (await client.get("/console/workbench/")).text
    assert '<tr data-check="g1">' in text
    assert text.count('<input type="hidden" name="row" value="check">') == 2

    hx = {"HX-Request": "true"}
    base = {"csrf_token": token, "idem": "k" * 20, "id": "g1", "row": "check"}
    codes = ("cleared", "revoked", "clear", "revoke", "现在可执行")
    stub.on("GET", "/eia/registrations/g1", {**form_, "review_status": "cleared"})
    stub.on("POST", "/eia/review-queue/g1/clear", _illegal("备案抽查", "cleared", "clear"))
    r = await client.post("/console/workbench/act", data={**base, "op": "check-clear"}, headers=hx)
    assert r.status_code == 409
    assert "该登记表备案已由其他人办理（当前：抽查属实，已通过），已按最新状态显示" in r.text
    for code in codes:
        assert code not in r.text, code
    assert r.headers["hx-retarget"] == 'tr[data-check="g1"]'
    assert r.headers["hx-reswap"] == "outerHTML"
    assert r.text.lstrip().startswith('<tr data-check="g1" class="gone"><td colspan="4">')

    revoked = {**form_, "status": "revoked", "review_status": "revoked"}
    stub.on("GET", "/eia/registrations/g1", revoked)
    stub.on("POST", "/eia/registrations/g1/revoke", _illegal("登记表备案", "revoked", "revoke"))
    form = {**base, "op": "check-revoke", "reason": "不实"}
    r = await client.post("/console/workbench/act", data=form, headers=hx)
    assert r.status_code == 409
    assert "该登记表备案已由其他人办理（当前：抽查不实，已撤销备案）" in r.text
    for code in codes:
        assert code not in r.text, code
    assert r.headers["hx-retarget"] == 'tr[data-check="g1"]'


async def test_workbench_tables_have_captions_and_each_reason_names_its_row(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """docs/console.md says tables have captions: the workbench's had none;
    every 原因 box was labelled "原因" alone, so a screen reader could not
    tell one row's from another's; on a phone 办理 started off-screen with
    no hint that the table scrolls."""
    page = {"next_cursor": None}
    filing = _filing(id="f1", project_name="涂装线", allowed_actions=["approve", "reject"])
    filing |= {"status": "reviewed", "due_at": "2099-01-01T16:00:00+00:00", "overdue": False}
    stub.on("GET", "/eia/filings", {**page, "items": [filing]})
    reclaim = {
        "id": "rc1",
        "district": "120119",
        "pollutant": "VOCs",
        "amount_t": "0.670",
        "status": "pending",
        "source": "manual",
        "created_by": "someone.else",
        "created_at": "2026-11-02T02:00:00+00:00",
        "note": "关停",
    }
    stub.on("GET", "/quota/reclaims", {**page, "items": [reclaim]})
    for path in ("/permit/permits", "/permit/audits", "/eia/review-queue"):
        stub.on("GET", path, {**page, "items": []})
    await sign_in(client, "officer-jizhou")
    main = _main((await client.get("/console/workbench/")).text)
    tables = main.count('<table class="data">')
    assert tables == 2 and main.count('<caption class="sr-only">') == tables
    assert '<caption class="sr-only">待办环评文件（限时办结）</caption>' in main
    labels = re.findall(r'<label for="r-[^"]+" class="sr-only">([^<]*)</label>', main)
    # (the stub answers the filing for each undecided status: four rows)
    assert list(dict.fromkeys(labels)) == ["不予批准原因：涂装线", "驳回原因：蓟州区 0.670 吨 VOCs"]
    # Each box takes what its service field does (quota-svc's rejection 1000).
    boxes = re.findall(
        r'<input id="r-([a-z-]+)-[^"]*" name="reason" required maxlength="(\d+)"', main
    )
    assert dict(boxes) == {"filing": "2000", "reclaim-reject": "1000"}
    assert main.count('class="scroll-hint no-print" aria-hidden="true"') == tables
    assert "← 左右滑动表格查看办理" in main
    css = (await client.get("/console/static/console.css")).text
    assert ".scroll-hint{display:none}" in css
    assert ".scroll-hint{display:block" in css.split("@media (max-width:48rem){", 1)[1]


def _parked(filing_id: str = "f-park-1", **f: Any) -> dict[str, Any]:
    """permit-svc's parked filing (GET /permit/parked-filings), waiting."""
    return {
        "filing_id": filing_id,
        "uscc": "91120119MA05PARK1X",
        "enterprise_name": "蓟州区新材料有限公司",
        "district": "120119",
        "industry_code": "C2929",
        "project_ref": "EIA-2026-0042",
        "vocs_increment_t": "1.250",
        # 2026-12-01 17:30 UTC: 12-02 in Beijing.
        "received_at": "2026-12-01T17:30:00+00:00",
        "reason": "industry_unclassified",
        "reason_text": "行业代码 C2929 不在分类管理名录中，无法确定企业的管理类别；"
        "管理员在名录中补充该代码后即起草许可申请",
        "state": "waiting",
        "drafted_at": None,
        "permit_id": None,
    } | f


async def test_the_workbench_lists_parked_filings_and_an_admin_redrives_them(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """An approved filing permit-svc could not draft (its industry not in the
    classification table) waited where no page showed it. The workbench
    lists the waiting ones of the user's districts with their reason and how
    long they have waited (Beijing days); an administrator re-drives one
    (重新推动), an officer only sees it; permit-svc's 409 (still
    unclassified) is said as any refusal."""
    from svc_common import clock

    page = {"next_cursor": None, "items": []}
    for path in ("/eia/filings", "/eia/review-queue", "/quota/reclaims", "/permit/permits"):
        stub.on("GET", path, page)
    stub.on("GET", "/permit/audits", page)
    asked: list[httpx.Request] = []

    def parked(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json={"next_cursor": None, "items": [_parked()]})

    stub.on("GET", "/permit/parked-filings", parked)
    # 2026-12-04 16:30 UTC is 12-05 00:30 in Beijing: three days after 12-02.
    at = clock.ManualClock(dt.datetime(2026, 12, 4, 16, 30, tzinfo=dt.UTC))
    await sign_in(client, "officer-jizhou")
    with clock.using(at):
        r = await client.get("/console/workbench/")
    assert asked and asked[0].url.params.get("state") == "waiting"
    main = _main(r.text)
    assert "待分类 (1)" in main.split('aria-label="待办"')[1].split("</nav>")[0]
    section = main.split('id="parked"')[1].split("</section>")[0]
    assert "待分类的环评批复" in section
    row = re.search(r'<tr data-parked="f-park-1">(.*?)</tr>', section, re.S)
    assert row, section
    for text in (
        "蓟州区新材料有限公司",
        "C2929",
        "不在分类管理名录中",
        "2026-12-02",
        "已等待 3 天",
    ):
        assert text in row.group(1), text
    # An officer does not re-drive.
    assert "重新推动" not in section and "<form" not in section

    token = await sign_in(client, "admin")
    with clock.using(at):
        r = await client.get("/console/workbench/")
    row = re.search(r'<tr data-parked="f-park-1">(.*?)</tr>', r.text, re.S)
    assert row and "重新推动" in row.group(1)
    assert 'name="csrf_token"' in row.group(1) and 'value="parked-redrive"' in row.group(1)
    form = {"csrf_token": token, "idem": "k" * 20, "op": "parked-redrive", "id": "f-park-1"}
    hx = {"HX-Request": "true"}
    still = {
        "type": "urn:envbureau:problem:conflict",
        "title": "冲突",
        "status": 409,
        "detail": _parked()["reason_text"],
        "reason": "industry_unclassified",
        "industry_code": "C2929",
    }
    stub.on(
        "POST",
        "/permit/parked-filings/f-park-1/redrive",
        lambda _: httpx.Response(409, json=still),
    )
    r = await client.post("/console/workbench/act", data=form, headers=hx)
    assert r.status_code == 409 and "不在分类管理名录中" in r.text
    assert 'class="result error"' in r.text
    drafted = _parked(state="drafted", permit_id="p-77", drafted_at="2026-12-04T16:31:00+00:00")
    stub.on("POST", "/permit/parked-filings/f-park-1/redrive", drafted)
    r = await client.post("/console/workbench/act", data={**form, "idem": "j" * 20}, headers=hx)
    assert r.status_code == 200 and "已办理 — 已起草排污许可申请" in r.text
    posts = [c for c in stub.calls if c.method == "POST"]
    assert [c.url.path for c in posts] == ["/permit/parked-filings/f-park-1/redrive"] * 2
    assert all(c.content in (b"", b"null") for c in posts)

    # An officer's re-drive is refused by the console, permit-svc not asked.
    token = await sign_in(client, "officer-jizhou")
    r = await client.post(
        "/console/workbench/act", data={**form, "csrf_token": token, "idem": "m" * 20}, headers=hx
    )
    assert r.status_code == 403 and "您的角色无权执行此操作" in r.text
    assert len([c for c in stub.calls if c.method == "POST"]) == 2

    # permit-svc down: the section says it was not read, never "nothing waiting".
    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/permit/parked-filings", lambda _: httpx.Response(503, json=down))
    main = _main((await client.get("/console/workbench/")).text)
    assert "待分类 (—)" in main
    section = main.split('id="parked"')[1].split("</section>")[0]
    assert "此项待办暂时无法完整读取" in section and "暂无待分类" not in section


async def test_the_trend_without_javascript_is_a_page_of_the_console(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """Without JavaScript the investment page links 查看变化表 to the trend:
    it opened a bare fragment, with no title, no menu, no style sheet and no
    way back. It is now a console page, its table open, with the way back;
    htmx still gets the fragment it puts in the page."""
    stub.on(
        "GET",
        "/quota/balances",
        lambda req: httpx.Response(
            200,
            json=[
                {"at": at, "district": "120119", "available_t": "5", "credited_t": "5"}
                for at in req.url.params.get_list("at")
            ],
        ),
    )
    await sign_in(client, "investment")
    page = await client.get("/console/investment/trend", params={"pollutant": "VOCs"})
    assert_console_page(page, 200, "近 12 个月各区可用量变化")
    assert "<title>VOCs 近 12 个月各区可用量变化 · " in page.text
    assert 'href="/console/investment/?pollutant=VOCs"' in page.text
    assert "<details open>" in page.text
    part = await client.get("/console/investment/trend", headers={"HX-Request": "true"})
    assert part.status_code == 200 and "<html" not in part.text and "<details>" in part.text


async def test_the_alerts_page_says_when_supervision_svc_cannot_be_read(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """supervision-svc out: a note where the alerts would be and a 503 with
    Retry-After, never "no alert is in force" (an officer would stand the
    district's enterprises down); read, each state asked of it by the user's
    token, in Beijing time."""
    alert = {
        "id": "a-1",
        "level": "red",
        "districts": ["120119"],
        "starts_at": "2026-12-06T16:00:00Z",
        "ends_at": "2026-12-08T16:00:00Z",
        "note": "<b>加强管控</b>",
        "lifted_at": None,
        "state": "in_force",
    }

    def alerts(request: httpx.Request) -> httpx.Response:
        state = request.url.params["state"]
        return httpx.Response(200, json={"items": [alert] if state == "in_force" else []})

    stub.on("GET", "/supervision/alerts", alerts)
    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/alerts/")
    assert_console_page(r, 200, "红色预警", "蓟州区", "2026-12-07 00:00", "2026-12-09 00:00")
    assert "&lt;b&gt;加强管控&lt;/b&gt;" in r.text and "没有即将开始的预警" in r.text
    asked = [c for c in stub.calls if c.url.path == "/supervision/alerts"]
    assert sorted(c.url.params["state"] for c in asked) == ["in_force", "upcoming"]
    assert all(c.headers["authorization"].startswith("Bearer ") for c in asked)

    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/supervision/alerts", lambda _: httpx.Response(503, json=down))
    r = await client.get("/console/alerts/")
    assert_console_page(r, 503, "暂时无法读取预警", "本次请求所需的服务暂不可用")
    assert "Retry-After" in r.headers and "没有生效的预警" not in r.text
    await sign_in(client, "investment")
    assert (await client.get("/console/alerts/")).status_code == 403


async def test_an_alerts_measures_are_downloaded_as_supervision_svc_writes_them(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/alerts/{id}/measures.csv: supervision-svc's CSV byte for
    byte, with its file name; its refusal (no measures table in force) in
    its words; a service out, a 503 with Retry-After; an id that is no
    alert's, a 404 without asking."""
    alert_id = "0e6b930a-8825-4861-b682-6eda8eee7893"
    path = f"/supervision/alerts/{alert_id}/measures.csv"
    csv = "\ufeff企业,措施\r\n天津某厂,停产\r\n".encode()
    named = 'attachment; filename="alert-0e6b930a-120119.csv"'
    stub.on(
        "GET",
        path,
        lambda _: httpx.Response(
            200,
            content=csv,
            headers={"content-type": "text/csv; charset=utf-8", "content-disposition": named},
        ),
    )
    await sign_in(client, "officer-jizhou")
    r = await client.get(f"/console/alerts/{alert_id}/measures.csv")
    assert r.status_code == 200 and r.content == csv, r.text
    assert r.headers["content-disposition"] == named
    assert r.headers["content-type"].startswith("text/csv")
    (asked,) = [c for c in stub.calls if c.url.path == path]
    assert asked.headers["authorization"].startswith("Bearer ")

    refused = {"title": "冲突", "detail": "预警当日没有生效的应急减排清单"}
    stub.on("GET", path, lambda _: httpx.Response(409, json=refused))
    r = await client.get(f"/console/alerts/{alert_id}/measures.csv")
    assert_console_page(r, 409, "预警当日没有生效的应急减排清单")
    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", path, lambda _: httpx.Response(503, json=down))
    r = await client.get(f"/console/alerts/{alert_id}/measures.csv")
    assert_console_page(r, 503, "本次请求所需的服务暂不可用")
    assert "Retry-After" in r.headers
    before = len(stub.calls)
    r = await client.get("/console/alerts/not-an-alert/measures.csv")
    assert_console_page(r, 404, "没有该预警")
    assert len(stub.calls) == before
    await sign_in(client, "investment")
    assert (await client.get(f"/console/alerts/{alert_id}/measures.csv")).status_code == 403


def _complaint(n: int, status: str, **over: Any) -> dict[str, Any]:
    """A complaint as supervision-svc answers one (ComplaintOut)."""
    return {
        "id": f"c-{n}",
        "case_no": f"12369-120119-2026-{n:06d}",
        "channel": "hotline",
        "received_at": "2026-12-01T02:00:00Z",
        "district": "120119",
        "address": "天津市蓟州区渔阳镇",
        "category": "odor",
        "description": f"投诉 {n}",
        "uscc": None,
        "status": status,
        "accept_due": "2026-12-03T16:00:00Z",
        "close_due": None if status == "received" else "2027-01-13T16:00:00Z",
        "overdue": False,
        "repeat": False,
        "cluster_id": f"k-{n}",
        **over,
    }


async def test_the_complaints_page_lists_the_open_ones_the_soonest_due_first(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/complaints/: each open state asked of supervision-svc by the
    user's token; the soonest deadline first, by its clock (受理 until
    accepted, then 办结), its Beijing day — the service's deadline is the
    first instant after it, 00:00 the next day in Beijing — and the days
    left in Beijing days; states by supervision-svc's names; the text
    escaped and cut; the repeated problems by attention, those reported
    once left out."""
    today = today_beijing()

    def due(days: int) -> str:
        """A deadline on the Beijing day `days` from today, as supervision-svc
        writes it (svc_common.calendar.end_of_day)."""
        day = today + dt.timedelta(days=days + 1)
        return dt.datetime.combine(day, dt.time(), dt.timezone(dt.timedelta(hours=8))).isoformat()

    long_text = "<script>x</script>夜间排放刺鼻气味" + "很" * 80 + "e\u0301"
    by_state = {
        "received": [
            _complaint(1, "received", accept_due=due(2), description=long_text),
            _complaint(2, "received", accept_due=due(-3), uscc="91120119MA05W8LL0A"),
        ],
        "accepted": [_complaint(3, "accepted", close_due=due(20))],
        "assigned": [],
        "replied": [_complaint(4, "replied", close_due=due(0), repeat=True)],
    }

    def complaints(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": by_state[request.url.params["status"]]})

    cluster = {
        "id": "k-9",
        "district": "120119",
        "category": "odor",
        "uscc": "91120119MA05W8LL0A",
        "reports": 3,
        "complainants": 2,
        "open_reports": 2,
        "first_received_at": "2026-11-20T16:30:00Z",
        "last_received_at": "2026-12-01T02:00:00Z",
        "attention": 17.26,
        "summary": "化工厂<b>夜间</b>排放刺鼻气味",
    }
    alone = {**cluster, "id": "k-1", "reports": 1, "summary": "只反映过一次"}
    stub.on("GET", "/supervision/complaints", complaints)
    stub.on("GET", "/supervision/complaints/clusters", [cluster, alone])
    # The enterprise by its name from permit-svc; one it does not answer
    # for (c-3's, a 404) by its code alone.
    company = {"uscc": "91120119MA05W8LL0A", "name": "天津<宏泰>化工有限公司"}
    stub.on("GET", "/permit/enterprises/91120119MA05W8LL0A", company)
    by_state["accepted"][0]["uscc"] = "91120119MA05W8LM8X"
    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/complaints/")
    assert_console_page(r, 200, "已接收", "已受理", "已答复", "蓟州区", "异味")
    table = r.text.split('id="open-complaints"')[1].split("</table>")[0]
    order = re.findall(r'data-complaint="(c-\d)"', table)
    assert order == ["c-2", "c-4", "c-1", "c-3"]
    rows = dict(zip(order, table.split("data-complaint=")[1:], strict=True))
    assert (today - dt.timedelta(days=3)).isoformat() in rows["c-2"]
    assert "已超期 3 天" in rows["c-2"] and "受理期限" in rows["c-2"]
    assert 'href="/console/enterprise/91120119MA05W8LL0A"' in rows["c-2"]
    assert "今日到期" in rows["c-4"] and "办结期限" in rows["c-4"] and "重复反映" in rows["c-4"]
    assert today.isoformat() in rows["c-4"]
    assert "剩余 2 天" in rows["c-1"] and "2026-12-01" in rows["c-1"]
    assert "&lt;script&gt;x&lt;/script&gt;夜间排放刺鼻气味" in rows["c-1"] and "…" in rows["c-1"]
    assert "<script>x" not in r.text and "很" * 80 not in r.text
    assert "天津&lt;宏泰&gt;化工有限公司<br>" in rows["c-2"]
    assert "剩余 20 天" in rows["c-3"] and "91120119MA05W8LM8X</a>" in rows["c-3"]
    assert "<br><a" not in rows["c-3"] and "未指明" in rows["c-1"]
    asked = [c for c in stub.calls if c.url.path == "/supervision/complaints"]
    assert sorted(c.url.params["status"] for c in asked) == sorted(
        ["received", "accepted", "assigned", "replied"]
    )
    assert all(c.headers["authorization"].startswith("Bearer ") for c in stub.calls)
    clusters = r.text.split('id="clusters"')[1].split("</table>")[0]
    assert "17.3" in clusters and "化工厂&lt;b&gt;夜间&lt;/b&gt;" in clusters
    assert "天津&lt;宏泰&gt;化工有限公司" in clusters
    assert "2026-11-21" in clusters and "只反映过一次" not in r.text
    en = await client.get("/console/complaints/", params={"lang": "en"})
    assert "3 days overdue" in en.text and "accept by" in en.text

    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/supervision/complaints", lambda _: httpx.Response(503, json=down))
    r = await client.get("/console/complaints/", params={"lang": "zh"})
    assert_console_page(r, 503, "暂时无法读取投诉", "本次请求所需的服务暂不可用")
    assert "Retry-After" in r.headers and "没有未办结的投诉" not in r.text
    assert 'id="open-complaints"' not in r.text and "没有重复反映" not in r.text
    # The clusters alone failing: the complaints shown, a note for the rest.
    stub.on("GET", "/supervision/complaints", complaints)
    stub.on("GET", "/supervision/complaints/clusters", lambda _: httpx.Response(500, text="x"))
    r = await client.get("/console/complaints/")
    assert_console_page(r, 502, 'id="open-complaints"', "暂时无法读取重复反映的问题")
    stub.on("GET", "/supervision/complaints/clusters", [])
    await sign_in(client, "auditor")
    assert (await client.get("/console/complaints/")).status_code == 200
    await sign_in(client, "investment")
    assert (await client.get("/console/complaints/")).status_code == 403


def test_a_complaints_state_and_category_are_named_as_supervision_svc_names_them() -> None:
    """The page's state names are supervision-svc's own (`LABELS_ZH`), and
    every state and category it gives a complaint has words."""
    from console.pages.complaints.views import CATEGORIES, STATES
    from supervision_svc.complaints.rules import LABELS_ZH
    from supervision_svc.complaints.schemas import Category, Status

    assert set(STATES) == set(Status.__args__)
    assert {s: zh for s, (_, zh) in STATES.items()} == {s: LABELS_ZH[s] for s in STATES}
    assert set(CATEGORIES) == set(Category.__args__)


def test_a_complaints_summary_is_cut_between_characters() -> None:
    from console.pages.complaints.views import summary

    assert summary("  夜间\n排放  ") == "夜间 排放"
    assert summary("a" * 59 + "e\u0301x") == "a" * 59 + "…"
    assert summary("a" * 58 + "👩\u200d🔧") == "a" * 58 + "…"
    assert summary("a" * 60) == "a" * 60


#: A complaint's id as supervision-svc makes them.
CID = "5b0f3c1e-8a51-4c55-9d1a-2f0c6f3b7e10"


def _acted(before: dict[str, Any]) -> Handler:
    """supervision-svc's answer to an action: the complaint in the state the
    action leads to, with the actions allowed there (its TRANSITIONS)."""
    after = {"accept": "accepted", "reject": "rejected", "assign": "assigned"}
    after |= {"reply": "replied", "close": "closed", "reopen": "assigned"}
    allowed = {"accepted": ["assign"], "assigned": ["assign", "reply"]}
    allowed |= {"replied": ["reply", "close"], "closed": ["reopen"], "rejected": []}

    def answer(request: httpx.Request) -> httpx.Response:
        status = after[request.url.path.rsplit("/", 1)[1]]
        return httpx.Response(
            200, json={**before, "status": status, "allowed_actions": allowed[status]}
        )

    return answer


async def test_an_officer_acts_on_a_complaint_as_on_the_workbench(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/complaints/{id}: the complaint, linked from the list, with
    the forms of the actions supervision-svc allows it now and only those;
    each form posted as the workbench's are (its CSRF token, its
    Idempotency-Key), sent only the fields its action takes; the answer
    redraws the complaint in its new state with its next actions; a 409
    said beside the form in words, never the API's codes."""
    received = _complaint(1, "received", id=CID, allowed_actions=["accept", "reject"])
    stub.on("GET", f"/supervision/complaints/{CID}", received)
    stub.on("GET", "/supervision/complaints", {"items": [received]})
    stub.on("GET", "/supervision/complaints/clusters", [])
    sent: list[httpx.Request] = []

    def recorded(answer: Handler) -> Handler:
        def record(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return answer(request)

        return record

    for action in ("accept", "reject", "assign", "reply", "close", "reopen"):
        stub.on("POST", f"/supervision/complaints/{CID}/{action}", recorded(_acted(received)))
    token = await sign_in(client, "officer-jizhou")
    listed = await client.get("/console/complaints/")
    assert f'href="/console/complaints/{CID}"' in listed.text and "仅供查阅" not in listed.text
    page = await client.get(f"/console/complaints/{CID}")
    assert_console_page(page, 200, "12369-120119-2026-000001", "已接收", "受理期限")
    assert sorted(re.findall(r'data-op="([a-z]+)"', page.text)) == ["accept", "reject"]
    assert page.text.count(f'action="/console/complaints/{CID}/act"') == 2
    assert page.text.count('name="csrf_token"') >= 2 and 'name="idem"' in page.text
    assert 'id="read-only"' not in page.text
    hx = {"HX-Request": "true"}
    form = {"csrf_token": token, "idem": "k" * 20}
    url = f"/console/complaints/{CID}/act"

    r = await client.post(url, data={**form, "op": "accept"}, headers=hx)
    assert r.status_code == 200 and "<html" not in r.text, r.text
    assert "已办理 — 已受理" in r.text and 'data-op="assign"' in r.text
    assert 'data-op="accept"' not in r.text
    assert sent[-1].content == b"" and sent[-1].headers["idempotency-key"].endswith("k" * 20)
    assert sent[-1].headers["authorization"].startswith("Bearer ")
    bodies = {
        "reject": ({"reason": " 不属于职责范围 "}, {"reason": "不属于职责范围"}),
        "assign": ({"reason": "王伟"}, {"officer": "王伟"}),
        "reply": ({"reason": "已责令整改"}, {"reply": "已责令整改"}),
        "close": (
            {"reason": "现场核实", "choice": "substantiated"},
            {"outcome": "substantiated", "note": "现场核实"},
        ),
        "reopen": ({"reason": " 群众再次反映 "}, {"reason": "群众再次反映"}),
    }
    for op, (typed, body) in bodies.items():
        r = await client.post(url, data={**form, "op": op, **typed}, headers=hx)
        assert r.status_code == 200 and "已办理" in r.text, (op, r.text)
        assert sent[-1].url.path.endswith(f"/{op}") and json.loads(sent[-1].content) == body
    r = await client.post(
        url, data={**form, "op": "close", "choice": "not_substantiated"}, headers=hx
    )
    assert r.status_code == 200 and json.loads(sent[-1].content) == {
        "outcome": "not_substantiated",
        "note": None,
    }

    # Refused on the form as supervision-svc would refuse it: nothing sent.
    count = len(sent)
    for typed, said in (
        ({"op": "reject"}, "请填写原因"),
        ({"op": "assign", "reason": "\u200b"}, "承办人：首尾须为可见字符"),
        ({"op": "reply", "reason": "y" * 2001}, "答复内容共 2001 个字符，最多 2000 个"),
        ({"op": "close", "choice": "maybe"}, "无法识别的操作"),
        ({"op": "reopen"}, "请填写原因"),
        ({"op": "reopen", "reason": "r" * 501}, "原因共 501 个字符，最多 500 个"),
        ({"op": "resolve", "reason": "再查"}, "无法识别的操作"),
    ):
        r = await client.post(url, data={**form, **typed}, headers=hx)
        assert r.status_code == 422 and said in r.text and 'class="result error"' in r.text
    assert len(sent) == count

    # Someone else accepted it first: supervision-svc's 409, said beside the
    # form in words (the script keeps the form and what was typed).
    stub.on("POST", f"/supervision/complaints/{CID}/reject", _illegal("投诉", "accepted", "reject"))
    r = await client.post(url, data={**form, "op": "reject", "reason": "重复"}, headers=hx)
    assert r.status_code == 409 and "<html" not in r.text
    assert "该投诉已由其他人办理（当前：已受理）" in r.text and "accepted" not in r.text
    # supervision-svc's refusal of a field, by the form's word for it.
    refused = {"title": "请求内容无效", "errors": [{"field": "officer", "message": "过长"}]}
    stub.on(
        "POST", f"/supervision/complaints/{CID}/assign", lambda _: httpx.Response(422, json=refused)
    )
    r = await client.post(url, data={**form, "op": "assign", "reason": "王伟"}, headers=hx)
    assert r.status_code == 422 and "承办人：过长" in r.text

    # A closed complaint (reached by its address) is reopened with the reason.
    closed = {**received, "status": "closed", "allowed_actions": ["reopen"]}
    closed |= {"closed_at": "2026-12-05T02:00:00Z", "outcome": "substantiated"}
    stub.on("GET", f"/supervision/complaints/{CID}", closed)
    page = await client.get(f"/console/complaints/{CID}")
    assert_console_page(page, 200, "已办结", "重新办理")
    assert re.findall(r'data-op="([a-z]+)"', page.text) == ["reopen"]
    r = await client.post(url, data={**form, "op": "reopen", "reason": "再次反映"}, headers=hx)
    assert r.status_code == 200 and "已办理 — 已交办" in r.text and 'data-op="reply"' in r.text
    assert json.loads(sent[-1].content) == {"reason": "再次反映"}
    stub.on("GET", f"/supervision/complaints/{CID}", received)

    # Without htmx: post/redirect/get, the outcome on the complaint's page.
    r = await client.post(url, data={**form, "op": "accept"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/complaints/{CID}"
    assert "已办理 — 已受理" in (await client.get(r.headers["location"])).text
    r = await client.post(url, data={**form, "op": "reject", "reason": "重复"})
    assert r.status_code == 303
    back = (await client.get(r.headers["location"])).text
    assert "该投诉已由其他人办理（当前：已受理），已按最新状态显示" in back


async def test_only_a_complaints_officers_and_admins_may_act_on_it(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """An auditor reads a complaint with no form and its POST is refused, as
    investment staff's are; a form without the session's CSRF token is
    refused; an officer of another district sees no form; an id that is no
    UUID is no complaint, said without asking supervision-svc."""
    received = _complaint(1, "received", id=CID, allowed_actions=["accept", "reject"])
    stub.on("GET", f"/supervision/complaints/{CID}", received)
    stub.on("POST", f"/supervision/complaints/{CID}/accept", _acted(received))
    url = f"/console/complaints/{CID}/act"

    def posted() -> int:
        return sum(1 for c in stub.calls if c.method == "POST")

    token = await sign_in(client, "officer-jizhou")
    r = await client.post(url, data={"op": "accept", "idem": "k" * 20})
    assert r.status_code == 403 and posted() == 0
    r = await client.post(url, data={"csrf_token": "x" * 40, "op": "accept", "idem": "k" * 20})
    assert r.status_code == 403 and posted() == 0
    r = await client.post(url, data={"csrf_token": token, "op": "accept", "idem": "k" * 20})
    assert r.status_code == 303 and posted() == 1

    for who in ("auditor", "investment"):
        token = await sign_in(client, who)
        r = await client.post(url, data={"csrf_token": token, "op": "accept", "idem": "k" * 20})
        assert r.status_code == 403, who
    assert posted() == 1
    await sign_in(client, "auditor")
    page = await client.get(f"/console/complaints/{CID}")
    assert_console_page(page, 200, 'id="read-only"', "12369-120119-2026-000001")
    assert 'class="act"' not in page.text and "data-op=" not in page.text
    await sign_in(client, "officer-baodi")
    page = await client.get(f"/console/complaints/{CID}")
    assert page.status_code == 200 and 'class="act"' not in page.text
    await sign_in(client, "admin")
    page = await client.get(f"/console/complaints/{CID}")
    assert sorted(re.findall(r'data-op="([a-z]+)"', page.text)) == ["accept", "reject"]
    await sign_in(client, "investment")
    assert (await client.get(f"/console/complaints/{CID}")).status_code == 403

    await sign_in(client, "officer-jizhou")
    before = len(stub.calls)
    r = await client.get("/console/complaints/not-a-complaint")
    assert_console_page(r, 404, "没有该投诉")
    assert len(stub.calls) == before


def test_a_complaints_forms_take_what_supervision_svc_takes() -> None:
    """The forms' maxima are supervision-svc's fields' and the outcomes its
    `Outcome`: the console reads the service through its API, not its code."""
    from console.pages.complaints.views import ACTS, OUTCOMES
    from supervision_svc.complaints.schemas import (
        ComplaintAssignIn,
        ComplaintCloseIn,
        ComplaintRejectIn,
        ComplaintReopenIn,
        ComplaintReplyIn,
        Outcome,
    )

    assert ACTS["reject"].most == _most(ComplaintRejectIn, "reason")
    assert ACTS["assign"].most == _most(ComplaintAssignIn, "officer")
    assert ACTS["reply"].most == _most(ComplaintReplyIn, "reply")
    assert ACTS["reopen"].most == _most(ComplaintReopenIn, "reason")
    assert ACTS["close"].most == _most(ComplaintCloseIn, "note")
    assert set(OUTCOMES) == set(Outcome.__args__)


#: An inspection's and a case's ids as supervision-svc makes them.
IID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
KID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"


def _inspection(n: int, **over: Any) -> dict[str, Any]:
    """An inspection as supervision-svc answers one (InspectionOut)."""
    return {
        "id": f"i-{n}",
        "inspection_no": f"JC-120119-2026-{n:04d}",
        "uscc": "91120119MA05W8LL0A",
        "enterprise_name": "天津<宏泰>化工有限公司",
        "district": "120119",
        "inspected_at": "2026-12-01T17:30:00Z",
        "inspectors": ["李华", "陈静"],
        "plan_id": None,
        "items": [
            {"item": "ledger", "result": "compliant", "note": None},
            {"item": "treatment_facilities", "result": "problem", "note": "活性炭未更换"},
            {"item": "online_monitoring", "result": "not_checked", "note": None},
        ],
        "findings": [],
        **over,
    }


def _finding(n: int, status: str = "open", severity: str = "minor") -> dict[str, Any]:
    return {
        "id": f"f-{n}",
        "item": "treatment_facilities",
        "description": f"活性炭吸附装置<未>按期更换 {n}",
        "severity": severity,
        "status": status,
    }


def _case(n: int, status: str, **over: Any) -> dict[str, Any]:
    """A case as supervision-svc answers one (CaseOut)."""
    allowed = {"proposed": ["approve", "reject"], "decided": ["close"]}
    return {
        "id": f"k-{n}",
        "case_no": f"LA-120119-2026-{n:04d}",
        "finding_id": f"f-{n}",
        "uscc": "91120119MA05W8LM8X",
        "district": "120119",
        "legal_basis": "《大气污染防治法》第一百零八条",
        "facts": "",
        "measure": "rectification",
        "fine_cny": None,
        "rectify_by": None,
        "permit_id": None,
        "permit_no": None,
        "status": status,
        "allowed_actions": allowed.get(status, []),
        "proposed_by": "chen.jing",
        "proposed_at": "2026-12-02T02:00:00Z",
        "decided_by": None,
        "decided_at": None,
        "decision_note": None,
        "closed_at": None,
        "closing_note": None,
        **over,
    }


async def test_the_inspections_page_lists_the_latest_and_the_cases_under_way(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/inspections/ (执法检查, in the nav): supervision-svc's
    inspections by the user's token, in its order (latest first), a page
    at a time, each with its date in Beijing, its enterprise by name, what
    it found and whether a case was opened; the cases under way, those
    awaiting a decision first, then by their rectification deadline, with
    the days left; a service out leaves a note (503 with Retry-After, 502),
    never an empty list; investment staff are refused."""
    today = today_beijing()
    soon, past = (today + dt.timedelta(days=5)).isoformat(), (today - dt.timedelta(days=2))
    inspections = [
        _inspection(2, findings=[_finding(2, "case_opened", "serious"), _finding(3)]),
        _inspection(1, inspected_at="2026-11-20T03:00:00Z"),
    ]
    cases = {
        "proposed": [_case(7, "proposed", measure="fine", fine_cny=50000)],
        "decided": [
            _case(5, "decided", rectify_by=soon),
            _case(6, "decided", rectify_by=past.isoformat()),
        ],
    }

    def listed(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "next-1":
            return httpx.Response(200, json={"items": [_inspection(0)], "next_cursor": None})
        if request.url.params.get("cursor"):
            refused = {"title": "请求参数无效", "errors": [{"field": "cursor", "message": "无效"}]}
            return httpx.Response(422, json=refused)
        return httpx.Response(200, json={"items": inspections, "next_cursor": "next-1"})

    stub.on("GET", "/supervision/inspections", listed)
    stub.on(
        "GET",
        "/supervision/cases",
        lambda r: httpx.Response(200, json={"items": cases[r.url.params["status"]]}),
    )
    stub.on("GET", "/permit/enterprises/91120119MA05W8LM8X", {"name": "天津永安涂装有限公司"})
    await sign_in(client, "officer-jizhou")
    home = await client.get("/console/")
    assert 'href="/console/inspections/"' in home.text and "执法检查" in home.text
    r = await client.get("/console/inspections/")
    assert_console_page(r, 200, "执法检查", "蓟州区", 'aria-current="page"')
    table = r.text.split('id="inspections"')[1].split("</table>")[0]
    assert re.findall(r'data-inspection="(i-\d)"', table) == ["i-2", "i-1"]
    rows = dict(zip(["i-2", "i-1"], table.split("data-inspection=")[1:], strict=True))
    # 17:30 UTC on 1 December is 2 December in Beijing.
    assert "2026-12-02" in rows["i-2"] and "2026-11-20" in rows["i-1"]
    assert "天津&lt;宏泰&gt;化工有限公司" in rows["i-2"] and "<宏泰>" not in r.text
    assert "检查 2 项，发现问题 2 个（严重 1 个）" in rows["i-2"] and "已立案" in rows["i-2"]
    assert "活性炭吸附装置&lt;未&gt;按期更换 2" in rows["i-2"]
    assert "未发现问题" in rows["i-1"] and "已立案" not in rows["i-1"]
    assert 'href="/console/inspections/i-2"' in rows["i-2"]
    assert 'href="/console/inspections/?cursor=next-1"' in r.text
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/inspections"]
    assert asked.url.params["limit"] == "50" and "cursor" not in asked.url.params
    assert sorted(c.url.params["status"] for c in stub.calls if c.url.path.endswith("/cases")) == [
        "decided",
        "proposed",
    ]
    assert all(c.headers["authorization"].startswith("Bearer ") for c in stub.calls)
    open_cases = r.text.split('id="open-cases"')[1].split("</table>")[0]
    assert re.findall(r'data-case="(k-\d)"', open_cases) == ["k-7", "k-6", "k-5"]
    crows = dict(zip(["k-7", "k-6", "k-5"], open_cases.split("data-case=")[1:], strict=True))
    assert "待决定" in crows["k-7"] and "罚款 50,000 元" in crows["k-7"]
    assert "已超期 2 天" in crows["k-6"] and past.isoformat() in crows["k-6"]
    assert "剩余 5 天" in crows["k-5"] and "已决定" in crows["k-5"] and "责令整改" in crows["k-5"]
    assert (
        "天津永安涂装有限公司<br>" in crows["k-5"] and 'href="/console/cases/k-5"' in crows["k-5"]
    )
    earlier = await client.get("/console/inspections/", params={"cursor": "next-1"})
    assert_console_page(earlier, 200, 'data-inspection="i-0"', "（更早）", "最近的检查")
    assert 'id="earlier"' not in earlier.text
    # A page link supervision-svc does not take: its refusal, in the page's words.
    bad = await client.get("/console/inspections/", params={"cursor": "x"})
    assert_console_page(bad, 422, 'id="inspections-unseen"', "翻页链接：无效")
    en = await client.get("/console/inspections/", params={"lang": "en"})
    assert "2 problem(s) found (1 serious)" in en.text and "2 days overdue" in en.text

    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/supervision/inspections", lambda _: httpx.Response(503, json=down))
    r = await client.get("/console/inspections/", params={"lang": "zh"})
    assert_console_page(r, 503, "暂时无法读取执法检查记录", "暂时无法读取立案案件")
    assert "Retry-After" in r.headers and "没有执法检查记录" not in r.text
    assert "没有办理中的立案案件" not in r.text and 'id="open-cases"' not in r.text
    # The cases alone failing: the inspections shown, a note for the rest.
    stub.on("GET", "/supervision/inspections", listed)
    stub.on("GET", "/supervision/cases", lambda _: httpx.Response(500, text="x"))
    r = await client.get("/console/inspections/")
    assert_console_page(r, 502, 'id="inspections"', "暂时无法读取立案案件")
    assert "没有办理中的立案案件" not in r.text
    # An answer that is no page of a list (read page by page) is a bad answer.
    for not_a_page in ([], {"items": None}, "x"):
        stub.on("GET", "/supervision/cases", not_a_page)
        r = await client.get("/console/inspections/")
        assert_console_page(r, 502, 'id="inspections"', "暂时无法读取立案案件")
    stub.on("GET", "/supervision/inspections", {"items": [], "next_cursor": None})
    stub.on("GET", "/supervision/cases", {"items": []})
    await sign_in(client, "auditor")
    r = await client.get("/console/inspections/")
    assert_console_page(r, 200, "您所辖区没有执法检查记录", "您所辖区没有办理中的立案案件")
    await sign_in(client, "investment")
    assert (await client.get("/console/inspections/")).status_code == 403
    assert 'href="/console/inspections/"' not in (await client.get("/console/")).text


async def test_an_inspections_page_shows_what_it_found_and_its_cases(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/inspections/{id}: its items and findings, and the cases
    opened on them (the district's cases read, those of its findings
    shown); the cases' read failing leaves a note, the inspection shown;
    an id that is no UUID is said without asking supervision-svc."""
    found = [_finding(2, "case_opened", "serious"), _finding(3)]
    stub.on("GET", f"/supervision/inspections/{IID}", _inspection(2, id=IID, findings=found))
    other = _case(9, "closed", finding_id="f-elsewhere")
    stub.on("GET", "/supervision/cases", {"items": [_case(2, "proposed", id=KID), other]})
    stub.on("GET", "/supervision/demands", {"items": [], "next_cursor": None})
    await sign_in(client, "auditor")
    r = await client.get(f"/console/inspections/{IID}")
    assert_console_page(r, 200, "JC-120119-2026-0002", "李华、陈静", "2026-12-02 01:30")
    assert "治污设施运行：发现问题——活性炭未更换" in r.text and "在线监测：未检查" in r.text
    assert "活性炭吸附装置&lt;未&gt;按期更换 2" in r.text and "严重" in r.text
    assert f'href="/console/cases/{KID}"' in r.text and "LA-120119-2026-0002" in r.text
    assert "LA-120119-2026-0009" not in r.text and "未立案" in r.text
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/cases"]
    assert asked.url.params["district"] == "120119"

    stub.on("GET", "/supervision/cases", lambda _: httpx.Response(503, json={"detail": "停机"}))
    before = len(stub.calls)
    r = await client.get(f"/console/inspections/{IID}")
    assert_console_page(r, 503, "暂时无法读取立案案件：停机", "活性炭吸附装置")
    # The demands list not asked of a service that failed: said unread too.
    assert "Retry-After" in r.headers and "暂时无法读取群众诉求清单：停机" in r.text
    assert not [c for c in stub.calls[before:] if c.url.path == "/supervision/demands"]
    before = len(stub.calls)
    r = await client.get("/console/inspections/not-an-inspection")
    assert_console_page(r, 404, "没有该检查记录")
    assert len(stub.calls) == before
    await sign_in(client, "investment")
    assert (await client.get(f"/console/inspections/{IID}")).status_code == 403


#: An item of the demands list's id as supervision-svc makes them.
DID = "3f2e1d0c-9b8a-4766-a5b4-c3d2e1f0a9b8"


def _demand(n: int, **over: Any) -> dict[str, Any]:
    """An item of the demands list as supervision-svc answers one (DemandOut)."""
    return {
        "id": f"d-{n}",
        "district": "120119",
        "title": f"督促企业更换活性炭 {n}",
        "detail": "",
        "source": "inspection",
        "source_ref": "JC-120119-2026-0002",
        "owner": "王伟",
        "deadline": "2099-01-31",
        "progress_percent": 40,
        "progress_note": "已采购",
        "status": "open",
        "overdue": False,
        "done_at": None,
        "created_at": "2026-12-02T02:00:00Z",
        "updated_at": "2026-12-02T02:00:00Z",
        **over,
    }


async def test_an_item_of_the_demands_list_is_done_from_its_inspections_page(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The items of the demands list an inspection is the source of (the
    district's list read; another inspection's, a complaint's left out),
    each open one with its 办结 form for the district's officers, posted as
    a case's action (a note if any); a 409 said in words; without htmx,
    back to the inspection's page; an auditor reads them with no form; the
    list's read failing alone leaves a note."""
    stub.on("GET", f"/supervision/inspections/{IID}", _inspection(2, id=IID))
    mine = _demand(1, id=DID)
    demands = [
        _demand(2, status="done", progress_percent=100),
        mine,
        _demand(3, source_ref="JC-120119-2026-0009"),
        _demand(4, source="complaint"),
    ]
    stub.on("GET", "/supervision/demands", {"items": demands, "next_cursor": None})
    sent: list[httpx.Request] = []

    def done(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={**mine, "status": "done", "progress_percent": 100})

    stub.on("POST", f"/supervision/demands/{DID}/done", done)
    token = await sign_in(client, "officer-jizhou")
    r = await client.get(f"/console/inspections/{IID}")
    assert_console_page(r, 200, 'id="demands"', "群众诉求清单事项", "责任人：王伟", "进展 40%")
    listed = r.text.split('id="demands"')[1].split("</ul>")[0]
    assert re.findall(r'id="demand-(d-\d|[0-9a-f-]{36})"', listed) == [DID, "d-2"]
    assert "已办结" in listed and "督促企业更换活性炭 3" not in r.text and "活性炭 4" not in r.text
    assert r.text.count('data-op="done"') == 1
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/demands"]
    assert asked.url.params["district"] == "120119"
    hx = {"HX-Request": "true"}
    form = {"csrf_token": token, "idem": "k" * 20, "op": "done", "sub": IID}
    url = f"/console/demands/{DID}/act"
    r = await client.post(url, data={**form, "reason": " 已更换 "}, headers=hx)
    assert r.status_code == 200 and "<html" not in r.text, r.text
    assert "已办理 — 已办结" in r.text and 'data-op="done"' not in r.text
    assert json.loads(sent[-1].content) == {"note": "已更换"}
    assert sent[-1].headers["idempotency-key"].endswith("k" * 20)
    r = await client.post(url, data=form, headers=hx)
    assert r.status_code == 200 and json.loads(sent[-1].content) == {"note": None}
    count = len(sent)
    r = await client.post(url, data={**form, "reason": "y" * 2001}, headers=hx)
    assert r.status_code == 422 and "说明共 2001 个字符，最多 2000 个" in r.text
    r = await client.post(url, data={**form, "op": "reopen"}, headers=hx)
    assert r.status_code == 422 and "无法识别的操作" in r.text
    assert len(sent) == count
    refused = {
        "type": "urn:envbureau:problem:illegal-transition",
        "title": "当前状态不允许此操作",
        "detail": "诉求当前为 已办结（done），不能执行 办结（done）；现在可执行：无",
        "state": "done",
        "action": "done",
    }
    stub.on("POST", f"/supervision/demands/{DID}/done", lambda _: httpx.Response(409, json=refused))
    r = await client.post(url, data=form, headers=hx)
    assert r.status_code == 409 and "该诉求事项已由其他人办理（当前：已办结）" in r.text
    r = await client.post(url, data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/console/inspections/{IID}"
    assert "该诉求事项已由其他人办理" in (await client.get(r.headers["location"])).text

    await sign_in(client, "auditor")
    r = await client.get(f"/console/inspections/{IID}")
    assert r.status_code == 200 and 'id="demands"' in r.text and 'class="act"' not in r.text
    stub.on("GET", "/supervision/demands", lambda _: httpx.Response(500, text="x"))
    r = await client.get(f"/console/inspections/{IID}")
    assert_console_page(r, 502, 'id="demands-unseen"', "暂时无法读取群众诉求清单")
    assert "暂时无法读取立案案件" not in r.text


async def test_the_demands_list_shows_its_items_open_first_by_deadline(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/demands/: the items of the user's districts (the user's
    token: supervision-svc scopes an officer's), the open ones first by
    their deadline with 已超期 N 天 / 剩余 N 天 in Beijing days, then those
    done; each with its district, source (linked through
    /console/demands/source), owner and progress, and an officer's forms;
    an auditor reads with no form, investment staff are refused; none is
    said; supervision-svc out leaves a note (503 with Retry-After), a bad
    answer a 502, never an empty list."""
    today = today_beijing()
    late = (today - dt.timedelta(days=3)).isoformat()
    soon = (today + dt.timedelta(days=5)).isoformat()
    items = [
        _demand(1, deadline=soon, id=DID),
        _demand(2, status="done", progress_percent=100, deadline="2000-01-01"),
        _demand(3, deadline=late, overdue=True, source="complaint", source_ref="TS-1"),
        _demand(4, deadline="2099-01-31", source="visit", source_ref=None),
    ]
    stub.on("GET", "/supervision/demands", {"items": items, "next_cursor": None})
    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/demands/")
    assert_console_page(r, 200, "群众诉求清单", "已超期 3 天", "剩余 5 天", "责任人：王伟")
    assert 'href="/console/demands/" aria-current="page"' in r.text
    listed = r.text.split('id="demands"')[1].split("</ul>")[0]
    order = re.findall(r'id="demand-(d-\d|[0-9a-f-]{36})"', listed)
    assert order == ["d-3", DID, "d-4", "d-2"]
    assert "办理中：3 项 · 已超期：1 项 · 已办结：1 项" in r.text
    assert "来源：投诉" in listed and "来源：走访" in listed and "蓟州区" in listed
    assert "/console/demands/source?kind=complaint&amp;ref=TS-1&amp;district=120119" in listed
    assert "/console/demands/source?kind=inspection" in listed
    # An open item's two forms; none for the one done.
    assert listed.count('data-op="progress"') == 3 and listed.count('data-op="done"') == 3
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/demands"]
    assert "district" not in asked.url.params and asked.headers["authorization"]

    await sign_in(client, "auditor")
    r = await client.get("/console/demands/")
    assert r.status_code == 200 and "督促企业更换活性炭 1" in r.text
    assert 'class="act"' not in r.text
    stub.on("GET", "/supervision/demands", {"items": [], "next_cursor": None})
    r = await client.get("/console/demands/")
    assert_console_page(r, 200, "您所辖区的群众诉求清单暂无事项")
    out = {"title": "服务暂不可用", "detail": "停机维护"}
    down = lambda _: httpx.Response(503, json=out, headers={"Retry-After": "30"})  # noqa: E731
    stub.on("GET", "/supervision/demands", down)
    r = await client.get("/console/demands/")
    assert_console_page(r, 503, 'id="demands-unseen"', "暂时无法读取群众诉求清单：停机维护")
    assert r.headers["retry-after"] == "30" and 'id="demands"' not in r.text
    stub.on("GET", "/supervision/demands", lambda _: httpx.Response(500, text="x"))
    assert_console_page(await client.get("/console/demands/"), 502, 'id="demands-unseen"')
    await sign_in(client, "investment")
    assert (await client.get("/console/demands/")).status_code == 403
    assert 'href="/console/demands/"' not in (await client.get("/console/")).text


async def test_an_items_progress_and_done_are_sent_from_the_demands_list(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """An item's progress (a percent chosen, a note if any) is PATCHed and
    its 办结 POSTed from the demands list, each with the form's
    Idempotency-Key; with htmx the item is redrawn from supervision-svc's
    answer, a refusal (a percent not 0–100, a note too long: nothing sent;
    supervision-svc's 422; someone else's 办结, its 409) said beside the
    form in Chinese; without htmx, back to the list (303) with the outcome
    flashed."""
    mine = _demand(1, id=DID)
    stub.on("GET", "/supervision/demands", {"items": [mine], "next_cursor": None})
    sent: list[httpx.Request] = []

    def patched(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = json.loads(request.content)
        return httpx.Response(200, json={**mine, **body})

    stub.on("PATCH", f"/supervision/demands/{DID}", patched)
    token = await sign_in(client, "officer-jizhou")
    page = await client.get("/console/demands/")
    assert 'name="choice"' in page.text and '<option value="40">40%</option>' in page.text
    hx = {"HX-Request": "true"}
    form = {"csrf_token": token, "idem": "p" * 20, "op": "progress"}
    url = f"/console/demands/{DID}/act"
    r = await client.post(url, data={**form, "choice": "７０", "reason": " 已签合同 "}, headers=hx)
    assert r.status_code == 200 and "<html" not in r.text, r.text
    assert "已办理 — 进展 70%" in r.text and "进展 70%：已签合同" in r.text
    assert sent[-1].method == "PATCH"
    assert json.loads(sent[-1].content) == {"progress_percent": 70, "progress_note": "已签合同"}
    assert sent[-1].headers["idempotency-key"].endswith("p" * 20)
    # Without htmx: post/redirect/get back to the list, the outcome flashed.
    r = await client.post(url, data={**form, "choice": "80"})
    assert r.status_code == 303 and r.headers["location"] == "/console/demands/"
    assert json.loads(sent[-1].content) == {"progress_percent": 80, "progress_note": None}
    assert "已办理 — 进展 80%" in (await client.get("/console/demands/")).text
    count = len(sent)
    for bad in ("101", "", "七十"):
        r = await client.post(url, data={**form, "choice": bad}, headers=hx)
        assert r.status_code == 422 and "请选择办理进展（0–100%）" in r.text
    r = await client.post(url, data={**form, "choice": "50", "reason": "y" * 2001}, headers=hx)
    assert r.status_code == 422 and "进展说明共 2001 个字符，最多 2000 个" in r.text
    assert len(sent) == count
    refused = {"title": "请求内容无效", "detail": "deadline：不得早于今天"}
    stub.on("PATCH", f"/supervision/demands/{DID}", lambda _: httpx.Response(422, json=refused))
    r = await client.post(url, data={**form, "choice": "50"}, headers=hx)
    assert r.status_code == 422 and "不得早于今天" in r.text
    r = await client.post(url, data={**form, "choice": "50"})
    assert r.status_code == 303 and r.headers["location"] == "/console/demands/"
    assert "不得早于今天" in (await client.get("/console/demands/")).text

    stub.on(
        "POST",
        f"/supervision/demands/{DID}/done",
        lambda _: httpx.Response(200, json={**mine, "status": "done", "progress_percent": 100}),
    )
    done = {**form, "op": "done", "idem": "d" * 20}
    r = await client.post(url, data=done, headers=hx)
    assert r.status_code == 200 and "已办理 — 已办结" in r.text and 'class="act"' not in r.text
    stale = {
        "type": "urn:envbureau:problem:illegal-transition",
        "title": "当前状态不允许此操作",
        "detail": "诉求当前为 已办结（done），不能执行 更新进展（progress）；现在可执行：无",
        "state": "done",
        "action": "progress",
    }
    stub.on("PATCH", f"/supervision/demands/{DID}", lambda _: httpx.Response(409, json=stale))
    r = await client.post(url, data={**form, "choice": "50"}, headers=hx)
    assert r.status_code == 409 and "该诉求事项已由其他人办理（当前：已办结）" in r.text

    await sign_in(client, "auditor")
    token = csrf_of((await client.get("/console/demands/")).text)
    r = await client.post(url, data={**form, "csrf_token": token, "choice": "50"}, headers=hx)
    assert r.status_code == 403


async def test_an_items_source_link_leads_to_its_page(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """An item names its source by number only: its link reads the
    district's inspections or complaints when followed and leads to the one
    with that number; none found, or a link made by hand, is said (404)."""
    stub.on(
        "GET",
        "/supervision/inspections",
        {"items": [_inspection(2, id=IID), _inspection(3)], "next_cursor": None},
    )
    stub.on(
        "GET",
        "/supervision/complaints",
        {"items": [{"id": DID, "case_no": "TS-1"}, {"id": "x", "case_no": "TS-2"}]},
    )
    await sign_in(client, "officer-jizhou")
    q = {"kind": "inspection", "ref": "JC-120119-2026-0002", "district": "120119"}
    r = await client.get("/console/demands/source", params=q)
    assert r.status_code == 303 and r.headers["location"] == f"/console/inspections/{IID}"
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/inspections"]
    assert asked.url.params["district"] == "120119"
    q = {"kind": "complaint", "ref": "TS-1", "district": "120119"}
    r = await client.get("/console/demands/source", params=q)
    assert r.status_code == 303 and r.headers["location"] == f"/console/complaints/{DID}"
    before = len(stub.calls)
    for bad in ({**q, "ref": "TS-9"}, {**q, "kind": "visit"}, {**q, "district": "x"}):
        r = await client.get("/console/demands/source", params=bad)
        assert_console_page(r, 404, "未找到该事项的来源")
    assert len(stub.calls) == before + 1  # only the number not found was looked for


def _case_acted(before: dict[str, Any]) -> Handler:
    """supervision-svc's answer to a case's action: the case in the state it
    leads to, with the actions allowed there (its TRANSITIONS)."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/close"):
            status, allowed = "closed", []
        else:
            status, allowed = ("decided", ["close"]) if body["approve"] else ("rejected", [])
        return httpx.Response(200, json={**before, "status": status, "allowed_actions": allowed})

    return answer


async def test_an_officer_decides_and_closes_a_case_from_its_page(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/cases/{id}: the case, the finding it was opened on with its
    inspection, and the forms of the actions supervision-svc allows it now,
    posted as a complaint's (CSRF token, Idempotency-Key, only the fields
    the action takes); the answer redraws the case; a 409 said beside the
    form in words; no decision offered to its proposer (four eyes); an
    auditor, another district's officer read it with no form."""
    proposed = _case(2, "proposed", id=KID, rectify_by="2099-01-31", uscc="91120119MA05W8LL0A")
    stub.on("GET", f"/supervision/cases/{KID}", proposed)
    inspection = _inspection(2, id=IID, findings=[_finding(2, "case_opened")])
    stub.on("GET", "/supervision/inspections", {"items": [inspection], "next_cursor": None})
    sent: list[httpx.Request] = []

    def recorded(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return _case_acted(proposed)(request)

    for endpoint in ("decide", "close"):
        stub.on("POST", f"/supervision/cases/{KID}/{endpoint}", recorded)
    token = await sign_in(client, "officer-jizhou")
    page = await client.get(f"/console/cases/{KID}")
    assert_console_page(page, 200, "LA-120119-2026-0002", "待决定", "2099-01-31", "责令整改")
    assert "活性炭吸附装置&lt;未&gt;按期更换 2" in page.text
    assert f'href="/console/inspections/{IID}"' in page.text and "天津&lt;宏泰&gt;" in page.text
    assert sorted(re.findall(r'data-op="([a-z]+)"', page.text)) == ["approve", "reject"]
    assert page.text.count(f'action="/console/cases/{KID}/act"') == 2
    assert 'id="read-only"' not in page.text and 'id="four-eyes"' not in page.text
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/inspections"]
    assert asked.url.params["uscc"] == "91120119MA05W8LL0A"
    assert not [c for c in stub.calls if c.url.path.startswith("/permit/")]
    hx = {"HX-Request": "true"}
    form = {"csrf_token": token, "idem": "k" * 20}
    url = f"/console/cases/{KID}/act"

    r = await client.post(url, data={**form, "op": "approve"}, headers=hx)
    assert r.status_code == 200 and "<html" not in r.text, r.text
    assert "已办理 — 已决定" in r.text and 'data-op="close"' in r.text
    assert 'data-op="approve"' not in r.text
    assert sent[-1].url.path.endswith("/decide")
    assert json.loads(sent[-1].content) == {"approve": True, "note": None}
    assert sent[-1].headers["idempotency-key"].endswith("k" * 20)
    r = await client.post(url, data={**form, "op": "reject", "reason": " 证据不足 "}, headers=hx)
    assert r.status_code == 200 and "已办理 — 已驳回" in r.text
    assert json.loads(sent[-1].content) == {"approve": False, "note": "证据不足"}
    r = await client.post(url, data={**form, "op": "close", "reason": "已更换活性炭"}, headers=hx)
    assert r.status_code == 200 and "已办理 — 已结案" in r.text
    assert sent[-1].url.path.endswith("/close") and json.loads(sent[-1].content) == {
        "note": "已更换活性炭"
    }

    # Refused on the form as supervision-svc would refuse it: nothing sent.
    count = len(sent)
    for typed, said in (
        ({"op": "close"}, "请填写整改情况"),
        ({"op": "close", "reason": "\u200b"}, "整改情况：首尾须为可见字符"),
        ({"op": "approve", "reason": "y" * 2001}, "说明共 2001 个字符，最多 2000 个"),
        ({"op": "decide"}, "无法识别的操作"),
    ):
        r = await client.post(url, data={**form, **typed}, headers=hx)
        assert r.status_code == 422 and said in r.text and 'class="result error"' in r.text
    assert len(sent) == count

    # Someone else decided it first: supervision-svc's 409, in words.
    stub.on("POST", f"/supervision/cases/{KID}/decide", _illegal("立案案件", "decided", "reject"))
    r = await client.post(url, data={**form, "op": "reject"}, headers=hx)
    assert r.status_code == 409 and "<html" not in r.text
    assert "该案件已由其他人办理（当前：已决定）" in r.text and "decided" not in r.text
    # Without htmx: post/redirect/get, the outcome on the case's page.
    r = await client.post(url, data={**form, "op": "reject"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/cases/{KID}"
    back = (await client.get(r.headers["location"])).text
    assert "该案件已由其他人办理（当前：已决定），已按最新状态显示" in back
    stub.on("POST", f"/supervision/cases/{KID}/decide", recorded)
    r = await client.post(url, data={**form, "op": "approve"})
    assert r.status_code == 303
    assert "已办理 — 已决定" in (await client.get(r.headers["location"])).text

    # Its proposer is offered no decision; others read it with no form.
    await sign_in(client, "officer-jizhou-2")
    page = await client.get(f"/console/cases/{KID}")
    assert_console_page(page, 200, 'id="four-eyes"', "须由其他人员作出决定")
    assert "data-op=" not in page.text
    for who in ("auditor", "officer-baodi"):
        await sign_in(client, who)
        page = await client.get(f"/console/cases/{KID}")
        assert_console_page(page, 200, 'id="read-only"', "LA-120119-2026-0002")
        assert 'class="act"' not in page.text, who
    count = len(sent)
    for who in ("auditor", "investment"):
        token = await sign_in(client, who)
        r = await client.post(url, data={"csrf_token": token, "op": "approve", "idem": "k" * 20})
        assert r.status_code == 403, who
    assert len(sent) == count
    assert (await client.get(f"/console/cases/{KID}")).status_code == 403
    await sign_in(client, "admin")
    page = await client.get(f"/console/cases/{KID}")
    assert sorted(re.findall(r'data-op="([a-z]+)"', page.text)) == ["approve", "reject"]
    en = await client.get(f"/console/cases/{KID}", params={"lang": "en"})
    assert "awaiting decision" in en.text and "rectification order" in en.text
    assert ">Approve</button>" in en.text and "What was found" in en.text
    assert "待决定" not in en.text
    await client.get("/console/", params={"lang": "zh"})
    before = len(stub.calls)
    assert_console_page(await client.get("/console/cases/not-a-case"), 404, "没有该案件")
    assert len(stub.calls) == before


def test_inspections_and_cases_are_named_as_supervision_svc_names_them() -> None:
    """The page's words for a case's states are supervision-svc's own
    (`LABELS_ZH`); every item, result, measure it gives has words; the
    forms' maxima are its fields'."""
    from console.pages.inspections.views import CASE_ACTS, CASE_STATES, ITEMS, MEASURES, RESULTS
    from supervision_svc.cases.rules import LABELS_ZH, TRANSITIONS
    from supervision_svc.cases.schemas import CloseIn, DecisionIn, Measure
    from supervision_svc.inspections.schemas import Item, ItemIn

    assert set(CASE_STATES) == set(TRANSITIONS)
    assert {s: zh for s, (_, zh) in CASE_STATES.items()} == {s: LABELS_ZH[s] for s in CASE_STATES}
    assert {a for acts in TRANSITIONS.values() for a in acts} == set(CASE_ACTS)
    assert set(ITEMS) == set(Item.__args__) and set(MEASURES) == set(Measure.__args__)
    assert set(RESULTS) == set(ItemIn.model_fields["result"].annotation.__args__)
    assert CASE_ACTS["close"].most == _most(CloseIn, "note")
    assert CASE_ACTS["approve"].most == _most(DecisionIn, "note")
    from console.pages.demands.views import DEMAND_DONE, DEMAND_STATES
    from supervision_svc.demands.router import DoneIn
    from supervision_svc.demands.service import DEMAND_LABELS_ZH

    assert {s: zh for s, (_, zh) in DEMAND_STATES.items()} == {
        s: DEMAND_LABELS_ZH[s] for s in ("open", "done")
    }
    assert DEMAND_DONE.most == _most(DoneIn, "note")
    from console.pages.demands.views import DEMAND_ACTS, SOURCES
    from supervision_svc.demands.schemas import ProgressIn, Source

    assert DEMAND_ACTS["progress"].most == _most(ProgressIn, "progress_note")
    assert set(SOURCES) == set(Source.__args__)
    # What the progress form sends is what supervision-svc takes.
    ProgressIn.model_validate(DEMAND_ACTS["progress"].body("", "0"))
    ProgressIn.model_validate(DEMAND_ACTS["progress"].body("已签合同", "100"))


#: A plan's id as supervision-svc makes them.
PID = "5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


def _plan(n: int = 1, **over: Any) -> dict[str, Any]:
    """A plan as supervision-svc answers one (PlanOut): two of three drawn."""
    return {
        "id": PID if n == 1 else f"{n:08d}-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
        "district": "120119",
        "period": "2026-Q4",
        "method": "efraimidis-spirakis/mt19937/v1",
        "seed": 20261201,
        "requested_count": 2,
        "share_percent": None,
        "population": 3,
        "sample_size": 2,
        "weights": {"low": 1, "normal": 2, "high": 4},
        "tiers": [
            {"tier": "high", "weight": 4, "eligible": 1, "drawn": 1, "candidates_sha256": "x"},
            {"tier": "normal", "weight": 2, "eligible": 1, "drawn": 1, "candidates_sha256": "y"},
            {"tier": "low", "weight": 1, "eligible": 1, "drawn": 0, "candidates_sha256": "z"},
        ],
        "inspector_pool": ["李华", "王伟", "陈静"],
        "selection": [
            {
                "uscc": "91120119MA05W8LL0A",
                "name": "天津宏泰化工有限公司（旧名）",
                "tier": "high",
                "weight": 4,
                "inspectors": ["李华", "陈静"],
            },
            {
                "uscc": "91120119MA05W8LM8X",
                "name": "",
                "tier": "normal",
                "weight": 2,
                "inspectors": ["王伟", "李华"],
            },
        ],
        "created_by": "li.hua",
        "created_at": "2026-12-01T17:30:00Z",
        **over,
    }


def _summary(plan: dict[str, Any]) -> dict[str, Any]:
    """A plan as supervision-svc lists it (PlanSummary)."""
    return {k: v for k, v in plan.items() if k not in ("weights", "tiers", "selection")} | {
        "inspector_pool": None
    }


async def test_the_plans_page_lists_the_draws_of_the_users_districts(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/inspections/plans/ (抽查计划, a tab of 执法检查): the plans
    supervision-svc lists for the user's token (its districts'), the latest
    first, a page at a time, each with its district, period, how many were
    drawn of how many, what was asked, and who drew it when; the draw form
    for the district's officers (their district chosen) and the
    administrators; an auditor reads with no form; supervision-svc out
    leaves a note (503 with Retry-After), never an empty list; investment
    staff are refused."""
    share = _plan(2, requested_count=None, share_percent="12.5", created_by="admin.zhao")

    def listed(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "next-1":
            return httpx.Response(200, json={"items": [_summary(share)], "next_cursor": None})
        return httpx.Response(200, json={"items": [_summary(_plan())], "next_cursor": "next-1"})

    stub.on("GET", "/supervision/inspection-plans", listed)
    stub.on("GET", "/supervision/inspections", {"items": [], "next_cursor": None})
    stub.on("GET", "/supervision/cases", {"items": []})
    await sign_in(client, "officer-jizhou")
    index = await client.get("/console/inspections/")
    assert 'href="/console/inspections/plans/"' in index.text and "抽查计划" in index.text
    typed = await client.get("/console/inspections/plans")  # no slash: not an inspection
    assert typed.status_code == 307 and typed.headers["location"] == "/console/inspections/plans/"
    r = await client.get("/console/inspections/plans/")
    assert_console_page(r, 200, 'id="plans"', "双随机抽查计划", 'aria-current="page"')
    table = r.text.split('id="plans"')[1].split("</table>")[0]
    assert re.findall(r'data-plan="([0-9a-f-]{36})"', table) == [PID]
    assert f'href="/console/inspections/plans/{PID}"' in table and "2026-Q4" in table
    assert "蓟州区" in table and "2 / 3 家" in table and "2 家" in table
    assert "2026-12-02 01:30" in table and "li.hua" in table  # Beijing time
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/inspection-plans"]
    assert asked.url.params["limit"] == "50" and "cursor" not in asked.url.params
    assert "district" not in asked.url.params
    assert asked.headers["authorization"].startswith("Bearer ")
    assert 'href="/console/inspections/plans/?cursor=next-1"' in r.text
    # The draw form: the officer's one district chosen, nothing else to choose.
    form = r.text.split('id="draw"')[1].split("</form>")[0]
    assert re.findall(r'<option value="(\d*)"', form) == ["120119"] and "selected" in form
    assert 'name="idem"' in form and 'name="csrf_token"' in form and 'class="act draw"' in form
    earlier = await client.get("/console/inspections/plans/", params={"cursor": "next-1"})
    assert_console_page(earlier, 200, "按比例 12.5%", "admin.zhao", "（更早）", "最近的抽查计划")
    assert 'id="earlier"' not in earlier.text
    en = await client.get("/console/inspections/plans/", params={"lang": "en"})
    assert "2 of 3" in en.text and "Double-random plans" in en.text
    await client.get("/console/", params={"lang": "zh"})

    await sign_in(client, "admin")
    r = await client.get("/console/inspections/plans/")
    form = r.text.split('id="draw"')[1].split("</form>")[0]
    assert len(re.findall(r'<option value="\d{6}"', form)) == 16 and "请选择" in form
    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/supervision/inspection-plans", lambda _: httpx.Response(503, json=down))
    r = await client.get("/console/inspections/plans/")
    assert_console_page(r, 503, 'id="plans-unseen"', "暂时无法读取抽查计划")
    assert "Retry-After" in r.headers and "尚无抽查计划" not in r.text

    stub.on("GET", "/supervision/inspection-plans", {"items": [], "next_cursor": None})
    await sign_in(client, "auditor")
    r = await client.get("/console/inspections/plans/")
    assert_console_page(r, 200, "您所辖区尚无抽查计划", 'id="read-only"')
    assert 'class="act draw"' not in r.text
    await sign_in(client, "investment")
    assert (await client.get("/console/inspections/plans/")).status_code == 403
    assert (await client.get(f"/console/inspections/plans/{PID}")).status_code == 403


async def test_a_plan_is_drawn_from_the_plans_page(client: httpx.AsyncClient, stub: Stub) -> None:
    """The draw form, posted as a case's action: checked on the form (a
    district of the user's, a period, a number or a share, not both:
    nothing sent when refused), then `POST /supervision/inspection-plans`
    with the user's token and the form's Idempotency-Key, the inspectors a
    name a line; supervision-svc's refusal said beside the form by the
    form's words; without htmx, post/redirect/get — to the plan drawn, or
    back to the form as it was typed; an auditor is refused."""
    sent: list[httpx.Request] = []

    def drawn(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json=_plan())

    stub.on("POST", "/supervision/inspection-plans", drawn)
    stub.on("GET", "/supervision/inspection-plans", {"items": [], "next_cursor": None})
    token = await sign_in(client, "officer-jizhou")
    hx = {"HX-Request": "true"}
    url = "/console/inspections/plans/"
    form = {
        "csrf_token": token,
        "idem": "k" * 20,
        "district": "120119",
        "period": " ２０２６-q4 ",
        "count": "２",
        "share_percent": "",
        "inspector_pool": "李华\n王伟、陈静\n\n",
    }
    r = await client.post(url, data=form, headers=hx)
    assert r.status_code == 200 and "<html" not in r.text, r.text
    assert "已办理 — 已抽取 2 家企业" in r.text
    assert f'href="/console/inspections/plans/{PID}"' in r.text
    assert 'class="act draw"' in r.text  # a fresh form for the next draw
    assert json.loads(sent[-1].content) == {
        "district": "120119",
        "period": "2026-Q4",
        "count": 2,
        "inspector_pool": ["李华", "王伟", "陈静"],
    }
    assert sent[-1].headers["idempotency-key"].endswith("k" * 20)
    assert sent[-1].headers["authorization"].startswith("Bearer ")
    r = await client.post(url, data={**form, "count": "", "share_percent": "10%"}, headers=hx)
    assert r.status_code == 200 and json.loads(sent[-1].content)["share_percent"] == "10"
    assert "count" not in json.loads(sent[-1].content)

    # Refused on the form: nothing sent.
    count = len(sent)
    for typed, said in (
        ({"share_percent": "10"}, "请填写抽取家数或抽取比例（二选一）"),
        ({"count": ""}, "请填写抽取家数或抽取比例（二选一）"),
        ({"count": "两家"}, "抽取家数应为正整数"),
        ({"count": "0"}, "抽取家数应为正整数"),
        ({"period": " "}, "请填写抽查期间"),
        ({"district": "120115"}, "请选择您所辖的区"),
        ({"district": ""}, "请选择您所辖的区"),
    ):
        r = await client.post(url, data={**form, **typed}, headers=hx)
        assert r.status_code == 422 and said in r.text, (typed, r.text)
        assert 'class="result error"' in r.text
    assert len(sent) == count

    # supervision-svc's refusal, by the form's word for the field.
    refused = {
        "title": "请求参数无效",
        "detail": "period: …",
        "errors": [{"field": "period", "message": "格式应如 2026、2026-06、2026-Q3 或 2026-H2"}],
    }
    stub.on("POST", "/supervision/inspection-plans", lambda _: httpx.Response(422, json=refused))
    r = await client.post(url, data={**form, "period": "2026-Q5"}, headers=hx)
    assert r.status_code == 422 and "抽查期间：格式应如 2026" in r.text and "period" not in r.text
    # Without htmx: back to the plans' page, the refusal flashed above the
    # form as it was typed.
    r = await client.post(url, data={**form, "period": "2026-Q5"})
    assert r.status_code == 303 and r.headers["location"] == url
    back = await client.get(url)
    assert "抽查期间：格式应如 2026" in back.text
    again = back.text.split('id="draw"')[1].split("</form>")[0]
    assert 'value="2026-Q5"' in again and 'value="２"' in again and "王伟、陈静" in again
    # Once: the next visit shows the form empty.
    assert 'value="2026-Q5"' not in (await client.get(url)).text
    stub.on("POST", "/supervision/inspection-plans", drawn)
    r = await client.post(url, data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/console/inspections/plans/{PID}"

    count = len(sent)
    for who in ("auditor", "investment"):
        token = await sign_in(client, who)
        r = await client.post(url, data={**form, "csrf_token": token})
        assert r.status_code == 403, who
    assert len(sent) == count


async def test_a_draw_refused_for_a_plan_drawn_links_that_plan(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """supervision-svc refusing a draw because a plan of the district has
    the period, or one overlapping it (409 `existing_plan`): the refusal
    beside the form links that plan's page, with htmx and without; another
    refusal links nothing."""
    other = "0000000a-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
    refused = {
        "title": "Conflict",
        "detail": "区 120119 已有 2026-Q3 的抽查计划 …",
        "errors": [
            {"field": "period", "message": f"与区 120119 已抽取的 2026-Q3 重叠：抽查计划 {other}"}
        ],
        "reason": "plan_exists",
        "existing_plan": {"id": other, "district": "120119", "period": "2026-Q3"},
    }
    stub.on("POST", "/supervision/inspection-plans", lambda _: httpx.Response(409, json=refused))
    stub.on("GET", "/supervision/inspection-plans", {"items": [], "next_cursor": None})
    token = await sign_in(client, "officer-jizhou")
    url = "/console/inspections/plans/"
    form = {"csrf_token": token, "idem": "k" * 20, "district": "120119", "period": "2026"}
    form |= {"count": "2", "share_percent": "", "inspector_pool": ""}
    r = await client.post(url, data=form, headers={"HX-Request": "true"})
    assert r.status_code == 409 and "<html" not in r.text, r.text
    assert "抽查期间：与区 120119 已抽取的 2026-Q3 重叠" in r.text
    assert f'<a href="/console/inspections/plans/{other}" class="refused-link">' in r.text
    assert "查看已抽取的抽查计划：蓟州区 2026-Q3" in r.text
    r = await client.post(url, data=form)
    assert r.status_code == 303 and r.headers["location"] == url
    back = _main((await client.get(url)).text)
    said = back.split('id="draw-period-err"')[1].split("</p>")[0]
    assert "与区 120119 已抽取的 2026-Q3 重叠" in said
    assert f'href="/console/inspections/plans/{other}"' in said
    # Another refusal names no plan: nothing linked.
    stub.on(
        "POST",
        "/supervision/inspection-plans",
        lambda _: httpx.Response(409, json={**refused, "existing_plan": None}),
    )
    r = await client.post(url, data=form, headers={"HX-Request": "true"})
    assert r.status_code == 409 and "refused-link" not in r.text


async def test_a_form_refused_by_the_console_says_so_beside_its_field(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The draw and grading forms refused by the console's own checks
    (nothing sent) and sent without htmx: the refusal is beside the field
    it concerns, that field marked invalid, as supervision-svc's refusals
    are, not only at the form's end."""
    stub.on("GET", "/supervision/inspection-plans", {"items": [], "next_cursor": None})
    stub.on("GET", f"/supervision/grades/{GU2}", {"uscc": GU2, "current": None, "history": []})
    stub.on("GET", f"/supervision/plant-plans/{GU2}", [])
    stub.on("GET", "/supervision/guarantee-list", {"items": [], "next_cursor": None})
    stub.on("GET", f"/permit/enterprises/{GU2}", {"name": "天津永安涂装有限公司"})
    token = await sign_in(client, "officer-jizhou")
    url = "/console/inspections/plans/"
    draw = {"csrf_token": token, "idem": "k" * 20, "district": "120119", "period": "2026"}
    draw |= {"count": "2", "share_percent": "", "inspector_pool": ""}
    for typed, fid, said in (
        ({"district": "120115"}, "draw-district", "请选择您所辖的区"),
        ({"period": " "}, "draw-period", "请填写抽查期间"),
        ({"count": "0"}, "draw-count", "抽取家数应为正整数"),
        ({"count": ""}, "draw-count", "请填写抽取家数或抽取比例（二选一）"),
    ):
        r = await client.post(url, data={**draw, **typed})
        assert r.status_code == 303, (typed, r.text)
        main = _main((await client.get(url)).text)
        assert f'id="{fid}-err" class="problem" role="alert">{said}' in main, (typed, main)
        assert 'aria-invalid="true"' in main.split(f'id="{fid}"')[1].split(">")[0], typed
    page = f"/console/grading/{GU2}"
    grade = {"csrf_token": token, "idem": "g" * 20, "grade": "A", "benchmark": ""}
    grade |= {"industry": "涂装", "valid_from": "2026-01-01", "valid_to": "2026-12-31"}
    grade |= {"basis": "现场核查"}
    listed = {"csrf_token": token, "idem": "h" * 20, "reason": "major_project"}
    listed |= {"valid_from": "2026-10-01", "valid_to": "2027-03-31", "kind": "reduce"}
    listed |= {"percent": "", "processes": "", "note": ""}
    plan = {"csrf_token": token, "idem": "p" * 20, "level": "red", "kind": "stop_processes"}
    plan |= {"percent": "", "processes": "", "note": "停喷涂"}
    for path, body, typed, fid, said in (
        ("grade", grade, {"grade": "E"}, "grade-grade", "请选择绩效等级"),
        ("grade", grade, {"industry": " "}, "grade-industry", "请填写行业"),
        ("grade", grade, {"valid_to": "2026-13-01"}, "grade-to", "请按 YYYY-MM-DD 填写有效期止"),
        ("grade", grade, {"basis": ""}, "grade-basis", "请填写评级依据"),
        ("guarantee", listed, {}, "guarantee-percent", "请填写限产比例"),
        ("guarantee", listed, {"kind": ""}, "guarantee-kind", "请选择可采取的措施"),
        ("plan", plan, {}, "plan-processes", "请填写停产工序"),
        ("plan", plan, {"processes": "喷涂", "note": ""}, "plan-note", "请填写措施说明"),
    ):
        r = await client.post(f"{page}/{path}", data={**body, **typed})
        assert r.status_code == 303, (typed, r.text)
        main = _main((await client.get(page)).text)
        assert f'id="{fid}-err" class="problem" role="alert">{said}' in main, (path, typed)
    assert not [c for c in stub.calls if c.method in ("POST", "PUT")]


async def test_a_plans_page_shows_whom_it_drew_and_who_is_inspected(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/inspections/plans/{id}: what was asked, the candidates by
    tier, the enterprises drawn by name (the register's, else permit-svc's)
    with their inspectors, and the inspections recorded under the plan
    (`plan_id`), each linked, the others not yet inspected; the
    inspections' read failing leaves a note, the plan shown; an id that is
    no UUID is said without asking supervision-svc."""
    stub.on("GET", f"/supervision/inspection-plans/{PID}", _plan())
    done = _inspection(4, id=IID, plan_id=PID, enterprise_name="天津宏泰化工有限公司")
    stub.on("GET", "/supervision/inspections", {"items": [done], "next_cursor": None})
    stub.on("GET", "/permit/enterprises/91120119MA05W8LM8X", {"name": "天津永安涂装有限公司"})
    await sign_in(client, "auditor")
    r = await client.get(f"/console/inspections/plans/{PID}")
    assert_console_page(r, 200, "蓟州区 2026-Q4", "在营企业 3 家中抽取 2 家", "1 / 2 家")
    assert "2 家" in r.text and "20261201" in r.text and "li.hua" in r.text
    assert "重点检查（权重 4）：候选 1 家，抽中 1 家" in r.text
    assert "减少频次（权重 1）：候选 1 家，抽中 0 家" in r.text
    table = r.text.split('id="drawn-enterprises"')[1].split("</table>")[0]
    rows = dict(
        zip(
            ["91120119MA05W8LL0A", "91120119MA05W8LM8X"],
            table.split("data-uscc=")[1:],
            strict=True,
        )
    )
    assert "天津宏泰化工有限公司<br>" in rows["91120119MA05W8LL0A"] and "旧名" not in r.text
    assert "李华、陈静" in rows["91120119MA05W8LL0A"]
    assert f'href="/console/inspections/{IID}"' in rows["91120119MA05W8LL0A"]
    assert "JC-120119-2026-0004" in rows["91120119MA05W8LL0A"]
    assert "天津永安涂装有限公司<br>" in rows["91120119MA05W8LM8X"]
    assert "尚未检查" in rows["91120119MA05W8LM8X"] and "王伟、李华" in rows["91120119MA05W8LM8X"]
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/inspections"]
    assert asked.url.params["plan_id"] == PID
    assert 'class="act' not in r.text  # nothing to do on a plan

    down = {"detail": "停机"}
    stub.on("GET", "/supervision/inspections", lambda _: httpx.Response(503, json=down))
    r = await client.get(f"/console/inspections/plans/{PID}")
    assert_console_page(r, 503, 'id="inspections-unseen"', "暂时无法读取本计划下的检查记录：停机")
    assert "Retry-After" in r.headers and "尚未检查" not in r.text and "李华、陈静" in r.text
    before = len(stub.calls)
    r = await client.get("/console/inspections/plans/not-a-plan")
    assert_console_page(r, 404, "没有该抽查计划")
    assert len(stub.calls) == before
    stub.on(
        "GET",
        f"/supervision/inspection-plans/{PID}",
        lambda _: httpx.Response(404, json={"title": "未找到", "detail": f"没有抽查计划 {PID}"}),
    )
    r = await client.get(f"/console/inspections/plans/{PID}")
    assert_console_page(r, 404, "没有抽查计划")


def test_a_draws_tiers_and_fields_are_supervision_svcs() -> None:
    """The page's tiers are the draw's, and the draw form's fields the ones
    supervision-svc's `PlanIn` takes."""
    from console.pages.inspections.views import DRAW_FIELDS, TIERS
    from supervision_svc.inspections.rules import TIERS as DRAWN
    from supervision_svc.inspections.schemas import PlanIn

    assert tuple(TIERS) == DRAWN
    assert set(DRAW_FIELDS) <= set(PlanIn.model_fields)


#: supervision-svc's reports as it answers them (ComplaintReport,
#: EnforcementReport, DemandReport), for 蓟州区.
COMPLAINT_REPORT = {
    "district": None,
    "from": "2026-12-01",
    "to": "2026-12-03",
    "received": 1210,
    "rejected": 13,
    "accepted": 1197,
    "closed": 1165,
    "closure_rate_percent": "97.3",
    "overdue": 4,
    "repeated": 31,
    "by_category": [
        {"category": "odor", "received": 700, "accepted": 690, "closed": 680, "repeated": 20},
        {"category": "noise", "received": 510, "accepted": 507, "closed": 485, "repeated": 11},
    ],
}
ENFORCEMENT_REPORT = {
    "district": None,
    "from": "2026-12-01",
    "to": "2026-12-03",
    "inspections": 181,
    "enterprises_inspected": 174,
    "problems_found": 28,
    "cases_filed": 10,
    "cases_decided": 8,
    "cases_closed": 5,
}
DEMAND_REPORT = {"district": None, "total": 318, "done": 271, "in_progress": 47, "overdue": 6}


def _reports(stub: Stub) -> None:
    stub.on("GET", "/supervision/reports/complaints", COMPLAINT_REPORT)
    stub.on("GET", "/supervision/reports/enforcement", ENFORCEMENT_REPORT)
    stub.on("GET", "/supervision/reports/demands", DEMAND_REPORT)


async def test_the_supervision_reports_are_of_this_month_unless_asked(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/reports/: supervision-svc's three reports as tables, with
    the user's token (an officer's districts'), complaints and enforcement
    for this month in Beijing by default (the demands list as it stands),
    or for the period the form asks; a date refused is said beside its
    field (422), nothing asked; the 招商 staff are refused."""
    from svc_common import clock

    _reports(stub)
    await sign_in(client, "officer-jizhou")
    # 2026-12-02 17:30 UTC is already 12-03 in Beijing.
    with clock.using(clock.ManualClock(dt.datetime(2026, 12, 2, 17, 30, tzinfo=dt.UTC))):
        r = await client.get("/console/reports/")
    assert_console_page(r, 200, "监管统计", "范围：蓟州区", "有效投诉受理", "1197", "97.3")
    assert 'href="/console/reports/" aria-current="page"' in r.text
    assert "检查企业" in r.text and "174" in r.text and "汇集" in r.text and "318" in r.text
    assert "异味" in r.text and "690" in r.text and "群众诉求清单（截至当前）" in r.text
    assert 'name="from" value="2026-12-01"' in r.text and 'name="to" value="2026-12-03"' in r.text
    asked = {c.url.path: c for c in stub.calls if "/reports/" in c.url.path}
    for name in ("complaints", "enforcement"):
        params = asked[f"/supervision/reports/{name}"].url.params
        assert (params["from"], params["to"]) == ("2026-12-01", "2026-12-03")
    assert not asked["/supervision/reports/demands"].url.params
    assert 'href="/console/reports/complaints.xlsx?from=2026-12-01&amp;to=2026-12-03"' in r.text

    r = await client.get("/console/reports/", params={"from": "２０２６-01-01", "to": "2026-06-30"})
    assert r.status_code == 200 and "2026-01-01" in r.text
    params = stub.calls[-3].url.params
    assert (params["from"], params["to"]) == ("2026-01-01", "2026-06-30")
    before = len(stub.calls)
    r = await client.get("/console/reports/", params={"from": "2026-13-01", "to": "2026-06-30"})
    assert_console_page(r, 422, 'id="from-err"', "日期格式应为 YYYY-MM-DD")
    assert 'name="from" value="2026-13-01"' in r.text and 'id="report-complaints"' not in r.text
    r = await client.get("/console/reports/", params={"from": "2026-07-01", "to": "2026-06-30"})
    assert_console_page(r, 422, 'id="from-err"', "起始日期不得晚于截止日期")
    assert len(stub.calls) == before
    refused = {
        "title": "请求内容无效",
        "detail": "x",
        "errors": [{"field": "to", "message": "时间范围不得超过十年"}],
    }
    stub.on("GET", "/supervision/reports/complaints", lambda _: httpx.Response(422, json=refused))
    r = await client.get("/console/reports/", params={"from": "2000-01-01", "to": "2026-06-30"})
    assert_console_page(r, 422, "截止日期：时间范围不得超过十年")

    await sign_in(client, "investment")
    assert (await client.get("/console/reports/")).status_code == 403
    assert (await client.get("/console/reports/demands.xlsx")).status_code == 403
    assert 'href="/console/reports/"' not in (await client.get("/console/")).text


async def test_a_supervision_report_failing_is_said_never_an_empty_table(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """supervision-svc out leaves a note where the reports would be (503
    with Retry-After), a bad answer a 502, never a table of nothing; the
    reports after a failed one are not asked."""
    _reports(stub)
    out = {"title": "服务暂不可用", "detail": "停机维护"}
    down = lambda _: httpx.Response(503, json=out, headers={"Retry-After": "30"})  # noqa: E731
    stub.on("GET", "/supervision/reports/enforcement", down)
    await sign_in(client, "auditor")
    r = await client.get("/console/reports/")
    assert_console_page(r, 503, 'id="reports-unseen"', "暂时无法读取监管统计：停机维护")
    assert r.headers["retry-after"] == "30" and 'id="report-complaints"' not in r.text
    assert not [c for c in stub.calls if c.url.path == "/supervision/reports/demands"]
    r = await client.get("/console/reports/enforcement.xlsx")
    assert_console_page(r, 503, "停机维护")
    assert r.headers["retry-after"] == "30"
    stub.on("GET", "/supervision/reports/enforcement", [ENFORCEMENT_REPORT])
    r = await client.get("/console/reports/")
    assert_console_page(r, 502, 'id="reports-unseen"')
    assert (await client.get("/console/reports/enforcement.xlsx")).status_code == 502
    assert_console_page(await client.get("/console/reports/grades.xlsx"), 404, "没有该统计报表")


async def test_each_supervision_report_downloads_as_a_spreadsheet(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/reports/<name>.xlsx: the report of the period asked (this
    month by default) as openpyxl reads it — what, of whom and of what
    period above a table of its figures, numbers as numbers (the closure
    rate exact), the complaints by category on a second sheet."""
    import io

    from openpyxl import load_workbook
    from svc_common import clock

    _reports(stub)
    await sign_in(client, "admin")
    with clock.using(clock.ManualClock(dt.datetime(2026, 12, 2, 17, 30, tzinfo=dt.UTC))):
        r = await client.get("/console/reports/complaints.xlsx")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert (
        'filename="supervision-complaints-20261201-20261203.xlsx"'
        in (r.headers["content-disposition"])
    )
    book = load_workbook(io.BytesIO(r.content))
    figures, categories = book.worksheets
    rows = [[c.value for c in row] for row in figures.iter_rows()]
    assert [r[0] for r in rows[:3]] == [
        "12369 环保投诉",
        "范围：全市",
        "统计期间：2026-12-01 至 2026-12-03",
    ]
    values = {row[0]: row[1] for row in rows[4:]}
    assert values["有效投诉受理"] == 1197 and values["办结"] == 1165
    assert values["办结率（%）"] == 97.3 and values["重复反映"] == 31
    # The table's header in bold, frozen as the sheet scrolls.
    assert figures.freeze_panes == "A6" and figures["A5"].value == "指标" and figures["A5"].font.b
    cats = [[c.value for c in row] for row in categories.iter_rows(min_row=6)]
    assert cats == [["异味", 700, 690, 680, 20], ["噪声", 510, 507, 485, 11]]

    r = await client.get("/console/reports/enforcement.xlsx", params={"from": "2026-01-01"})
    sheet = load_workbook(io.BytesIO(r.content)).worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[2][0].startswith("统计期间：2026-01-01 至 ")
    assert {row[0]: row[1] for row in rows[4:]}["立案查处"] == 10
    asked = [c for c in stub.calls if c.url.path == "/supervision/reports/enforcement"][-1]
    assert asked.url.params["from"] == "2026-01-01"
    r = await client.get("/console/reports/demands.xlsx")
    rows = [
        [c.value for c in row] for row in load_workbook(io.BytesIO(r.content)).active.iter_rows()
    ]
    assert rows[2][0] == "截至当前" and {row[0]: row[1] for row in rows[4:]}["汇集"] == 318
    before = len(stub.calls)
    r = await client.get("/console/reports/demands.xlsx", params={"to": "tomorrow"})
    assert_console_page(r, 422, "日期格式应为 YYYY-MM-DD")
    assert len(stub.calls) == before


#: Enterprises of 蓟州区 as supervision-svc's register has them.
GU1, GU2 = "91120119000000001C", "91120119000000002F"


def _grade(uscc: str = GU1, **over: Any) -> dict[str, Any]:
    """A grade as supervision-svc answers one (GradeOut)."""
    return {
        "uscc": uscc,
        "enterprise_name": "天津<宏泰>化工有限公司",
        "district": "120119",
        "grade": "B",
        "benchmark": "none",
        "industry": "涂装",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "basis": "2026 年度绩效评级<复核>",
        "set_by": "li.hua",
        "set_at": "2026-01-02T02:00:00Z",
        **over,
    }


def _guarantee(uscc: str = GU2, **over: Any) -> dict[str, Any]:
    """A guarantee-list entry as supervision-svc answers one (GuaranteeOut)."""
    return {
        "uscc": uscc,
        "enterprise_name": "天津市蓟州区供热公司",
        "district": "120119",
        "reason": "livelihood",
        "valid_from": "2026-10-01",
        "valid_to": "2027-03-31",
        "allowed_measure": {"kind": "reduce", "percent": 30},
        "note": None,
        "set_by": "li.hua",
        "set_at": "2026-10-01T02:00:00Z",
        **over,
    }


async def test_the_grading_page_lists_the_grades_and_the_guarantee_list(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/grading/ (绩效分级, in the nav): supervision-svc's grades in
    force by the user's token, a page at a time, each enterprise by name
    with its grade, industry, validity and basis, and the guarantee list
    with what an enterprise may be asked to do at most; a service out
    leaves a note (503 with Retry-After, 502), never an empty list;
    investment staff, whom supervision-svc does not let read, neither see
    nor open it."""
    grades = [_grade(), _grade(GU2, grade="A", benchmark="tianjin", enterprise_name="")]

    def listed(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "next-1":
            return httpx.Response(200, json={"items": [_grade(GU2)], "next_cursor": None})
        return httpx.Response(200, json={"items": grades, "next_cursor": "next-1"})

    stub.on("GET", "/supervision/grades", listed)
    stub.on("GET", "/supervision/guarantee-list", {"items": [_guarantee()], "next_cursor": None})
    await sign_in(client, "officer-jizhou")
    home = await client.get("/console/")
    assert 'href="/console/grading/"' in home.text and "绩效分级" in home.text
    r = await client.get("/console/grading/")
    assert_console_page(r, 200, "重污染天气绩效分级", 'aria-current="page"')
    table = r.text.split('id="grades"')[1].split("</table>")[0]
    assert re.findall(r'data-grade="(\w+)"', table) == [GU1, GU2]
    rows = dict(zip([GU1, GU2], table.split("data-grade=")[1:], strict=True))
    assert "天津&lt;宏泰&gt;化工有限公司" in rows[GU1] and "<宏泰>" not in r.text
    assert "B级" in rows[GU1] and "非标杆" not in rows[GU1] and "涂装" in rows[GU1]
    assert "2026-01-01 – 2026-12-31" in rows[GU1] and "2026 年度绩效评级&lt;复核&gt;" in rows[GU1]
    assert f'href="/console/grading/{GU1}"' in rows[GU1] and "蓟州区" in rows[GU1]
    assert "A级" in rows[GU2] and "天津市标杆" in rows[GU2]
    listed_g = r.text.split('id="guarantees"')[1].split("</table>")[0]
    assert "天津市蓟州区供热公司" in listed_g and "民生保障" in listed_g and "限产 30%" in listed_g
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/grades"]
    assert asked.url.params["limit"] == "50" and "cursor" not in asked.url.params
    assert all(c.headers["authorization"].startswith("Bearer ") for c in stub.calls)
    assert 'href="/console/grading/?cursor=next-1"' in r.text
    more = await client.get("/console/grading/", params={"cursor": "next-1"})
    assert_console_page(more, 200, f'data-grade="{GU2}"', "（续）")
    en = await client.get("/console/grading/", params={"lang": "en"})
    assert "grade B" in en.text and "reduce output 30%" in en.text and "livelihood" in en.text

    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/supervision/grades", lambda _: httpx.Response(503, json=down))
    r = await client.get("/console/grading/", params={"lang": "zh"})
    assert_console_page(r, 503, "暂时无法读取绩效等级", "暂时无法读取保障类正面清单")
    assert "Retry-After" in r.headers and "没有有效的企业绩效等级" not in r.text
    assert "没有列入保障类正面清单" not in r.text
    # The guarantee list alone failing: the grades shown, a note for the rest.
    stub.on("GET", "/supervision/grades", listed)
    stub.on("GET", "/supervision/guarantee-list", lambda _: httpx.Response(500, text="x"))
    r = await client.get("/console/grading/")
    assert_console_page(r, 502, 'id="grades"', "暂时无法读取保障类正面清单")
    assert "没有列入保障类正面清单" not in r.text
    stub.on("GET", "/supervision/grades", {"items": [], "next_cursor": None})
    stub.on("GET", "/supervision/guarantee-list", {"items": [], "next_cursor": None})
    await sign_in(client, "auditor")
    r = await client.get("/console/grading/")
    assert_console_page(r, 200, "您所辖区没有有效的企业绩效等级", "没有列入保障类正面清单的企业")
    await sign_in(client, "investment")
    assert (await client.get("/console/grading/")).status_code == 403
    assert 'href="/console/grading/"' not in (await client.get("/console/")).text


async def test_an_enterprises_grading_page_shows_its_grades_list_entry_and_plant_plan(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/grading/{uscc}: the grade in force and every grading, the
    guarantee-list entry in force (its district's list read) and the plant
    plan (一厂一策) by alert level; the forms for the district's officer,
    none for an auditor; the plant plan's read failing leaves a note, the
    grades shown; a code that is no USCC is said without asking."""
    old = _grade(GU2, grade="C", valid_to="2025-12-31", set_at="2025-01-02T02:00:00Z")
    stub.on(
        "GET",
        f"/supervision/grades/{GU2}",
        {"uscc": GU2, "current": _grade(GU2), "history": [_grade(GU2), old]},
    )
    stub.on(
        "GET",
        f"/supervision/plant-plans/{GU2}",
        [
            {"uscc": GU2, "level": "red", "measure": {"kind": "stop"}, "note": "全厂停产"},
            {
                "uscc": GU2,
                "level": "yellow",
                "measure": {"kind": "stop_processes", "processes": ["喷涂", "烘干"]},
                "note": "停喷涂",
            },
        ],
    )
    entry = _guarantee(enterprise_name="天津<宏泰>化工有限公司")
    stub.on("GET", "/supervision/guarantee-list", {"items": [entry], "next_cursor": None})
    await sign_in(client, "officer-jizhou")
    r = await client.get(f"/console/grading/{GU2}")
    assert_console_page(r, 200, "天津&lt;宏泰&gt;化工有限公司", "蓟州区")
    assert "B级" in r.text.split('id="current"')[1].split("</dd>")[0]
    history = r.text.split('id="history"')[1].split("</table>")[0]
    assert history.index("B级") < history.index("C级") and "2025-12-31" in history
    entry = r.text.split('id="entry"')[1].split("</dd>")[0]
    assert "民生保障" in entry and "限产 30%" in entry
    (asked,) = [c for c in stub.calls if c.url.path == "/supervision/guarantee-list"]
    assert asked.url.params["district"] == "120119"
    plans = r.text.split('id="plans"')[1].split("</ul>")[0]
    assert plans.index("黄色预警") < plans.index("红色预警")
    assert "停产部分工序：喷涂、烘干" in plans and "全厂停产" in plans
    assert 'id="grade-form"' in r.text and 'id="guarantee-remove"' in r.text
    assert 'value="涂装"' in r.text  # the grade in force's industry, to start from
    await sign_in(client, "auditor")
    r = await client.get(f"/console/grading/{GU2}")
    assert 'id="read-only"' in r.text and 'id="grade-form"' not in r.text
    stub.on(
        "GET",
        f"/supervision/plant-plans/{GU2}",
        lambda _: httpx.Response(503, json={"title": "服务暂不可用", "detail": "稍后重试"}),
    )
    r = await client.get(f"/console/grading/{GU2}")
    assert_console_page(r, 503, "暂时无法读取一厂一策", 'id="history"')
    assert "Retry-After" in r.headers and "尚未登记一厂一策" not in r.text
    count = len(stub.calls)
    r = await client.get("/console/grading/not-a-code")
    assert_console_page(r, 404, "没有该企业")
    assert len(stub.calls) == count


async def test_a_grade_is_set_and_the_guarantee_list_kept_from_the_enterprises_page(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The grade form, posted as a plan's draw: checked on the form (nothing
    sent when refused), then `PUT /supervision/grades/{uscc}` with the
    user's token and the form's Idempotency-Key; with htmx a refusal said
    beside the form (supervision-svc's by the form's words) and a change
    sends the browser to the page drawn again; without, post/redirect/get
    back to the page, a refused form as it was typed. The guarantee list's
    put and take-off likewise; an auditor is refused."""
    sent: list[httpx.Request] = []

    def graded(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=_grade(GU2, grade="A"))

    stub.on("PUT", f"/supervision/grades/{GU2}", graded)
    stub.on("GET", f"/supervision/grades/{GU2}", {"uscc": GU2, "current": None, "history": []})
    stub.on("GET", f"/supervision/plant-plans/{GU2}", [])
    stub.on("GET", "/supervision/guarantee-list", {"items": [], "next_cursor": None})
    stub.on("GET", f"/permit/enterprises/{GU2}", {"name": "天津永安涂装有限公司"})
    token = await sign_in(client, "officer-jizhou")
    hx = {"HX-Request": "true"}
    url = f"/console/grading/{GU2}/grade"
    form = {
        "csrf_token": token,
        "idem": "g" * 20,
        "grade": "A",
        "benchmark": "",
        "industry": " 涂装 ",
        "valid_from": "２０２６-01-01",
        "valid_to": "2026-12-31",
        "basis": "现场核查",
    }
    r = await client.post(url, data=form, headers=hx)
    assert r.status_code == 200 and r.headers["hx-redirect"] == f"/console/grading/{GU2}"
    assert json.loads(sent[-1].content) == {
        "grade": "A",
        "benchmark": "none",
        "industry": "涂装",
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "basis": "现场核查",
    }
    assert sent[-1].headers["idempotency-key"].endswith("g" * 20)
    assert sent[-1].headers["authorization"].startswith("Bearer ")
    page = await client.get(f"/console/grading/{GU2}")
    assert "已办理 — 绩效等级：A级" in page.text and "天津永安涂装有限公司" in page.text

    count = len(sent)
    for typed, said in (
        ({"grade": "E"}, "请选择绩效等级"),
        ({"industry": " "}, "请填写行业"),
        ({"valid_to": "2026-13-01"}, "请按 YYYY-MM-DD 填写有效期止日期"),
        ({"basis": ""}, "请填写评级依据"),
    ):
        r = await client.post(url, data={**form, **typed}, headers=hx)
        assert r.status_code == 422 and said in r.text, (typed, r.text)
        assert 'class="result error"' in r.text
    assert len(sent) == count
    refused = {
        "title": "请求参数无效",
        "detail": "valid_to: …",
        "errors": [{"field": "valid_to", "message": "有效期不得超过十年"}],
    }
    stub.on("PUT", f"/supervision/grades/{GU2}", lambda _: httpx.Response(422, json=refused))
    r = await client.post(url, data={**form, "valid_to": "2040-01-01"}, headers=hx)
    assert r.status_code == 422 and "有效期止：有效期不得超过十年" in r.text
    # Without htmx: back to the page, the refusal flashed, the form as typed.
    r = await client.post(url, data={**form, "valid_to": "2040-01-01"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/grading/{GU2}"
    back = await client.get(f"/console/grading/{GU2}")
    assert "有效期止：有效期不得超过十年" in back.text
    again = back.text.split('id="grade-form"')[1].split("</form>")[0]
    assert 'value="2040-01-01"' in again and "现场核查" in again
    assert 'value="A" selected' in again
    assert 'value="2040-01-01"' not in (await client.get(f"/console/grading/{GU2}")).text

    puts: list[httpx.Request] = []

    def kept(request: httpx.Request) -> httpx.Response:
        puts.append(request)
        return httpx.Response(204) if request.method == "DELETE" else httpx.Response(200, json={})

    stub.on("PUT", f"/supervision/guarantee-list/{GU2}", kept)
    stub.on("DELETE", f"/supervision/guarantee-list/{GU2}", kept)
    listed = {
        "csrf_token": token,
        "idem": "h" * 20,
        "reason": "major_project",
        "valid_from": "2026-10-01",
        "valid_to": "2027-03-31",
        "kind": "stop_processes",
        "percent": "40%",
        "processes": "喷涂、烘干\n",
        "note": "",
    }
    r = await client.post(f"/console/grading/{GU2}/guarantee", data=listed)
    assert r.status_code == 303
    assert json.loads(puts[-1].content) == {
        "reason": "major_project",
        "valid_from": "2026-10-01",
        "valid_to": "2027-03-31",
        "allowed_measure": {"kind": "stop_processes", "percent": 40, "processes": ["喷涂", "烘干"]},
        "note": None,
    }
    r = await client.post(
        f"/console/grading/{GU2}/guarantee",
        data={**listed, "kind": "reduce", "percent": ""},
        headers=hx,
    )
    assert r.status_code == 422 and "请填写限产比例" in r.text and len(puts) == 1
    r = await client.post(
        f"/console/grading/{GU2}/guarantee/remove", data={"csrf_token": token, "idem": "r" * 20}
    )
    assert r.status_code == 303 and puts[-1].method == "DELETE"
    assert puts[-1].headers["idempotency-key"].endswith("r" * 20)
    assert "已移出保障类正面清单" in (await client.get(f"/console/grading/{GU2}")).text

    count = len(sent) + len(puts)
    for who in ("auditor", "investment"):
        token = await sign_in(client, who)
        r = await client.post(url, data={**form, "csrf_token": token})
        assert r.status_code == 403, who
        r = await client.post(
            f"/console/grading/{GU2}/guarantee/remove", data={"csrf_token": token, "idem": "r" * 20}
        )
        assert r.status_code == 403, who
    assert len(sent) + len(puts) == count


def test_the_grading_words_are_supervision_svcs_own() -> None:
    """Every grade, benchmark, guarantee reason, alert level and measure
    supervision-svc takes has words on the page, its Chinese ones its own
    (rules.GRADE_ZH, BENCHMARK_ZH, GUARANTEE_ZH, LEVEL_ZH)."""
    from typing import get_args

    from console.pages.grading.views import BENCHMARKS, GRADES, KINDS, LEVELS, REASONS
    from supervision_svc.grading import rules, schemas

    for table, codes, zh in (
        (GRADES, schemas.Grade, rules.GRADE_ZH),
        (BENCHMARKS, schemas.Benchmark, rules.BENCHMARK_ZH),
        (REASONS, schemas.GuaranteeReason, rules.GUARANTEE_ZH),
        (LEVELS, schemas.Level, rules.LEVEL_ZH),
    ):
        assert list(table) == list(get_args(codes))
        assert {c: words[1] for c, words in table.items()} == zh
    assert tuple(KINDS) == rules.KINDS


async def test_a_form_refused_without_htmx_comes_back_as_typed_beside_its_field(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """A plain form post (no htmx) that is refused, by the page's check or
    by the service's 422, sends the browser back to its page with the form
    as it was typed and the refusal beside the field it names (or the
    form); the next visit shows the form empty. A complaint's action, an
    item of the demands list's progress and a plan's draw alike."""
    received = _complaint(1, "received", id=CID, allowed_actions=["accept", "reject"])
    stub.on("GET", f"/supervision/complaints/{CID}", received)
    refused = {
        "title": "请求参数无效",
        "detail": "reason: …",
        "errors": [{"field": "reason", "message": "不得只含标点"}],
    }
    stub.on(
        "POST",
        f"/supervision/complaints/{CID}/reject",
        lambda _: httpx.Response(422, json=refused),
    )
    token = await sign_in(client, "officer-jizhou")
    page = f"/console/complaints/{CID}"
    url = f"{page}/act"
    form = {"csrf_token": token, "idem": "k" * 20, "op": "reject"}

    def reject_form(html: str) -> str:
        return html.split('data-op="accept"')[1].split("</form>")[1]

    r = await client.post(url, data={**form, "reason": "。。。"})
    assert r.status_code == 303 and r.headers["location"] == page
    back = await client.get(page)
    assert_console_page(back, 200)
    again = reject_form(back.text)
    assert 'value="。。。"' in again and 'aria-invalid="true"' in again
    assert f'id="r-reject-{CID}--err" class="problem" role="alert">原因：不得只含标点' in again
    assert "。。。" not in (await client.get(page)).text  # once
    # The page's own check: nothing sent, the text kept beside its refusal.
    r = await client.post(url, data={**form, "reason": "无法\u200b受理"})
    assert r.status_code == 303
    again = reject_form((await client.get(page)).text)
    assert 'value="无法\u200b受理"' in again and f'id="r-reject-{CID}--err"' in again
    # A text too long to keep in the session's cookie (a browser drops one
    # past 4 KB, and the user with it) is not kept; its refusal is said.
    r = await client.post(url, data={**form, "reason": "太长" * 300})
    assert r.status_code == 303 and len(r.headers["set-cookie"]) < 3000
    back = await client.get(page)
    assert "原因共 600 个字符，最多 500 个" in reject_form(back.text)
    assert "太长太长" not in back.text

    mine = _demand(1, id=DID)
    stub.on("GET", "/supervision/demands", {"items": [mine], "next_cursor": None})
    url = f"/console/demands/{DID}/act"
    form = {"csrf_token": token, "idem": "p" * 20, "op": "progress"}
    r = await client.post(url, data={**form, "choice": "七十", "reason": "已签合同"})
    assert r.status_code == 303 and r.headers["location"] == "/console/demands/"
    back = (await client.get("/console/demands/")).text
    again = back.split('data-op="progress"')[0].rsplit("<form", 1)[1]
    assert ">已签合同</textarea>" in again or 'value="已签合同"' in again
    assert f'id="c-progress-{DID}-err" class="problem" role="alert">请选择办理进展' in again

    stub.on("GET", "/supervision/inspection-plans", {"items": [], "next_cursor": None})
    refused = {
        "title": "请求参数无效",
        "detail": "period: …",
        "errors": [{"field": "period", "message": "格式应如 2026、2026-06、2026-Q3 或 2026-H2"}],
    }
    stub.on("POST", "/supervision/inspection-plans", lambda _: httpx.Response(422, json=refused))
    url = "/console/inspections/plans/"
    draw = {
        "csrf_token": token,
        "idem": "d" * 20,
        "district": "120119",
        "period": "2026-Q5",
        "count": "2",
        "inspector_pool": "李华\n王伟",
    }
    assert (await client.post(url, data=draw)).status_code == 303
    again = (await client.get(url)).text.split('id="draw"')[1].split("</form>")[0]
    assert 'value="2026-Q5"' in again
    assert 'id="draw-period-err" class="problem" role="alert">抽查期间：格式应如' in again


async def test_people_are_shown_by_name_with_their_login_id_in_the_title(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """Who set a grade, proposed or decided a case, drew a plan, inspected:
    by the name the console knows them by (a development user, the
    signed-in user), the login id in the name's title; one it does not
    know by the login id as it is, escaped; the services' own 系统."""
    unknown = "officer.<120119>"
    old = _grade(GU2, grade="C", set_by=unknown, set_at="2025-01-02T02:00:00Z")
    stub.on(
        "GET",
        f"/supervision/grades/{GU2}",
        {"uscc": GU2, "current": _grade(GU2), "history": [_grade(GU2, set_by="chen.jing"), old]},
    )
    stub.on("GET", f"/supervision/plant-plans/{GU2}", [])
    stub.on("GET", "/supervision/guarantee-list", {"items": [], "next_cursor": None})
    await sign_in(client, "auditor")
    history = (await client.get(f"/console/grading/{GU2}")).text.split('id="history"')[1]
    history = history.split("</table>")[0]
    assert '<span class="person" title="chen.jing">陈静</span>' in history
    assert "officer.&lt;120119&gt;" in history and 'title="officer.' not in history

    decided = _case(2, "decided", id=KID, decided_by="admin.zhao")
    decided["decided_at"] = "2026-12-03T02:00:00Z"
    stub.on("GET", f"/supervision/cases/{KID}", decided)
    stub.on("GET", "/supervision/inspections", {"items": [], "next_cursor": None})
    page = (await client.get(f"/console/cases/{KID}")).text
    assert '<span class="person" title="chen.jing">陈静</span>' in page
    assert '<span class="person" title="admin.zhao">赵强</span>' in page
    # The signed-in user is known by name even without development sign-in.
    plans = {"items": [_plan(1, created_by="sun.li")], "next_cursor": None}
    stub.on("GET", "/supervision/inspection-plans", plans)
    page = (await client.get("/console/inspections/plans/")).text
    assert '<span class="person" title="sun.li">孙丽</span>' in page


async def test_the_supervision_reports_are_filtered_by_a_district_the_user_may_see(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/reports/?district=: the districts offered are those the
    user may see (an officer's, every one for a citywide token); the one
    chosen is asked of supervision-svc for every report and kept in the
    downloads, whose spreadsheet is of it too; one the user may not see,
    or one given twice, is said beside the field (422), nothing asked."""
    import io

    from openpyxl import load_workbook

    _reports(stub)
    await sign_in(client, "admin")
    r = await client.get("/console/reports/")
    select = r.text.split('id="period-district"')[1].split("</select>")[0]
    assert 'value="120119"' in select and 'value="120115"' in select and "全部" in select
    r = await client.get("/console/reports/", params={"district": "１２０１１５"})
    assert_console_page(r, 200, 'value="120115" selected')
    asked = [c for c in stub.calls if "/reports/" in c.url.path][-3:]
    assert [c.url.params.get("district") for c in asked] == ["120115"] * 3
    assert "district=120115" in r.text.split('id="report-complaints"')[1]
    xlsx = re.search(r'href="(/console/reports/demands\.xlsx\?[^"]+)"', r.text)
    assert xlsx and "district=120115" in xlsx.group(1)
    r = await client.get(unescape(xlsx.group(1)))
    assert r.status_code == 200
    assert stub.calls[-1].url.params["district"] == "120115"
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(r.content)).worksheets[0]]
    assert rows[1][0] == "范围：宝坻区"

    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/reports/")
    select = r.text.split('id="period-district"')[1].split("</select>")[0]
    assert 'value="120119"' in select and 'value="120115"' not in select
    before = len(stub.calls)
    r = await client.get("/console/reports/", params={"district": "120115"})
    assert_console_page(r, 422, 'id="district-err"', "请选择您可查看的区")
    assert 'id="report-complaints"' not in r.text
    r = await client.get("/console/reports/?district=120119&district=120119")
    assert_console_page(r, 422, 'id="district-err"', "一次只能按一个区筛选")
    r = await client.get("/console/reports/complaints.xlsx", params={"district": "120115"})
    assert_console_page(r, 422, "请选择您可查看的区")
    assert len(stub.calls) == before


async def test_an_officer_records_an_enterprises_plant_plan_by_alert_level(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/grading/{uscc}: the 一厂一策 form (alert level, measure,
    note) for the district's officers, none for an auditor; checked first
    (nothing sent when refused), then `PUT /supervision/plant-plans/{uscc}`
    with the form's Idempotency-Key; with htmx a change draws the page
    again, without a refusal comes back as typed beside its field."""
    sent: list[httpx.Request] = []

    def planned(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = json.loads(request.content)
        return httpx.Response(200, json={"uscc": GU2, **body, "set_by": "li.hua"})

    stub.on("PUT", f"/supervision/plant-plans/{GU2}", planned)
    stub.on("GET", f"/supervision/grades/{GU2}", {"uscc": GU2, "current": None, "history": []})
    stub.on("GET", f"/supervision/plant-plans/{GU2}", [])
    stub.on("GET", "/supervision/guarantee-list", {"items": [], "next_cursor": None})
    token = await sign_in(client, "officer-jizhou")
    page = await client.get(f"/console/grading/{GU2}")
    form_html = page.text.split('id="plan-form"')[1].split("</form>")[0]
    assert "红色预警" in form_html and 'name="note"' in form_html and "停产部分工序" in form_html
    url = f"/console/grading/{GU2}/plan"
    form = {
        "csrf_token": token,
        "idem": "q" * 20,
        "level": "orange",
        "kind": "stop_processes",
        "percent": "４０%",
        "processes": "喷涂、烘干",
        "note": " 停喷涂线 ",
    }
    hx = {"HX-Request": "true"}
    r = await client.post(url, data=form, headers=hx)
    assert r.status_code == 200 and r.headers["hx-redirect"] == f"/console/grading/{GU2}"
    assert json.loads(sent[-1].content) == {
        "level": "orange",
        "measure": {"kind": "stop_processes", "percent": 40, "processes": ["喷涂", "烘干"]},
        "note": "停喷涂线",
    }
    assert sent[-1].headers["idempotency-key"].endswith("q" * 20)
    assert "已办理 — 一厂一策：橙色预警" in (await client.get(f"/console/grading/{GU2}")).text
    count = len(sent)
    for typed, said in (
        ({"level": "purple"}, "请选择预警级别"),
        ({"kind": ""}, "请选择减排措施"),
        ({"kind": "reduce", "percent": ""}, "请填写限产比例"),
        ({"note": " "}, "请填写措施说明"),
    ):
        r = await client.post(url, data={**form, **typed}, headers=hx)
        assert r.status_code == 422 and said in r.text, (typed, r.text)
    assert len(sent) == count
    refused = {
        "title": "请求参数无效",
        "detail": "measure.percent: …",
        "errors": [{"field": "measure.percent", "message": "应不大于 100"}],
    }
    stub.on("PUT", f"/supervision/plant-plans/{GU2}", lambda _: httpx.Response(422, json=refused))
    r = await client.post(url, data={**form, "kind": "reduce", "percent": "120"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/grading/{GU2}"
    again = (await client.get(f"/console/grading/{GU2}")).text.split('id="plan-form"')[1]
    again = again.split("</form>")[0]
    assert 'value="120"' in again and 'value="orange" selected' in again
    assert 'id="plan-percent-err" class="problem" role="alert">限产比例：应不大于 100' in again

    token = await sign_in(client, "auditor")
    assert 'id="plan-form"' not in (await client.get(f"/console/grading/{GU2}")).text
    r = await client.post(url, data={**form, "csrf_token": token})
    assert r.status_code == 403


def _missed(n: int, period: str, **over: Any) -> dict[str, Any]:
    """A missed period as permit-svc lists one (MissedReportOut)."""
    return {
        "permit_id": f"p-{n}",
        "permit_no": f"91120119MA05W8LM8X00{n}P",
        "uscc": "91120119MA05W8LM8X",
        "district": "120119",
        "category": "key",
        "period": period,
        "frequency": "annual",
        "period_start": "2025-01-01",
        "period_end": "2025-12-31",
        "due_date": "2026-01-15",
        "days_overdue": 326,
        **over,
    }


async def test_the_missed_report_list_names_each_period_in_words(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """/console/execution-reports/ (逾期未报, in the nav): permit-svc's
    missed-report list by the user's token, a page at a time, each
    enterprise by name linked to its page, the period in words, the due
    date and 逾期 N 天; of one district when the form asks (one the user
    may not see refused beside the field, nothing asked); permit-svc out
    leaves a note (503 with Retry-After), never an empty list; investment
    staff are refused."""
    missed = [
        _missed(1, "2025"),
        _missed(1, "2025-Q3", frequency="quarterly", due_date="2025-10-15", days_overdue=418),
        _missed(2, "2025-07", frequency="monthly", uscc="91120119MA05W8LM9Y", days_overdue=5),
    ]

    def listed(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "next-1":
            return httpx.Response(200, json={"items": [_missed(3, "2024")], "next_cursor": None})
        return httpx.Response(200, json={"items": missed, "next_cursor": "next-1"})

    stub.on("GET", "/permit/execution-reports/missed", listed)
    stub.on("GET", "/permit/enterprises/91120119MA05W8LM8X", {"name": "天津永安涂装有限公司"})
    await sign_in(client, "officer-jizhou")
    home = await client.get("/console/")
    assert 'href="/console/execution-reports/"' in home.text and "逾期未报" in home.text
    r = await client.get("/console/execution-reports/")
    assert_console_page(r, 200, "逾期未报", 'aria-current="page"')
    table = r.text.split('id="missed"')[1].split("</table>")[0]
    rows = table.split("data-missed=")[1:]
    assert re.findall(r'data-missed="([^"]+)"', table) == ["p-1/2025", "p-1/2025-Q3", "p-2/2025-07"]
    assert "2025年度" in rows[0] and "2026-01-15" in rows[0] and "逾期 326 天" in rows[0]
    assert "2025年第3季度" in rows[1] and "逾期 418 天" in rows[1]
    assert "2025年7月" in rows[2] and "逾期 5 天" in rows[2]
    assert '<a href="/console/enterprise/91120119MA05W8LM8X">天津永安涂装有限公司</a>' in rows[0]
    # One the register does not name (its read failed): by its code, linked.
    assert '<a href="/console/enterprise/91120119MA05W8LM9Y">91120119MA05W8LM9Y</a>' in rows[2]
    assert "91120119MA05W8LM8X001P" in rows[0] and "蓟州区" in rows[0]
    (asked,) = [c for c in stub.calls if c.url.path.endswith("/missed")]
    assert asked.url.params["limit"] == "50" and "cursor" not in asked.url.params
    assert asked.headers["authorization"].startswith("Bearer ")
    today = today_beijing().isoformat()
    assert asked.url.params["as_of"] == today  # judged today unless the form asks
    assert f'href="/console/execution-reports/?as_of={today}&amp;cursor=next-1"' in r.text
    more = await client.get("/console/execution-reports/", params={"cursor": "next-1"})
    assert_console_page(more, 200, 'data-missed="p-3/2024"', "（续）", "第一页")
    en = await client.get("/console/execution-reports/", params={"lang": "en"})
    assert "Q3 2025" in en.text and "418 days overdue" in en.text

    # A district: asked of permit-svc, kept in the next page's link.
    r = await client.get("/console/execution-reports/", params={"district": "120119", "lang": "zh"})
    *_, asked = [c for c in stub.calls if c.url.path.endswith("/missed")]
    assert asked.url.params["district"] == "120119"
    assert (
        f'href="/console/execution-reports/?district=120119&amp;as_of={today}&amp;cursor=next-1"'
        in r.text
    )
    before = len(stub.calls)
    r = await client.get("/console/execution-reports/", params={"district": "120115"})
    assert_console_page(r, 422, 'id="district-err"', "请选择您可查看的区")
    r = await client.get("/console/execution-reports/?district=120119&district=120119")
    assert_console_page(r, 422, 'id="district-err"', "一次只能按一个区筛选")
    assert len(stub.calls) == before

    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on("GET", "/permit/execution-reports/missed", lambda _: httpx.Response(503, json=down))
    r = await client.get("/console/execution-reports/", params={"lang": "zh"})
    assert_console_page(r, 503, 'id="missed-unseen"', "暂时无法读取逾期未报清单")
    assert "Retry-After" in r.headers and "没有逾期未报" not in r.text
    stub.on("GET", "/permit/execution-reports/missed", {"items": [], "next_cursor": None})
    await sign_in(client, "auditor")
    r = await client.get("/console/execution-reports/")
    assert_console_page(r, 200, "您所辖区没有逾期未报的执行报告")
    assert 'value="120115"' in r.text  # a citywide reader chooses any district
    await sign_in(client, "investment")
    assert (await client.get("/console/execution-reports/")).status_code == 403
    assert 'href="/console/execution-reports/"' not in (await client.get("/console/")).text


async def test_the_missed_report_list_is_judged_on_the_day_asked(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """逾期未报 as of a day (`as_of`, a Beijing day; today by default, shown
    in the field): passed to permit-svc, kept in the page links; a day
    permit-svc refuses is its 422 beside the field, and a day given twice
    is refused beside it with nothing asked."""

    def listed(request: httpx.Request) -> httpx.Response:
        day = request.url.params.get("as_of", "")
        if day != "2026-01-15":
            problem = {
                "title": "请求内容无效",
                "detail": "as_of: 不是有效的日期",
                "errors": [{"field": "as_of", "message": "不是有效的日期", "type": "value_error"}],
            }
            return httpx.Response(422, json=problem)
        return httpx.Response(
            200, json={"items": [_missed(1, "2025-Q2", days_overdue=184)], "next_cursor": "n-2"}
        )

    stub.on("GET", "/permit/execution-reports/missed", listed)
    stub.on("GET", "/permit/enterprises/91120119MA05W8LM8X", {"name": "天津永安涂装有限公司"})
    await sign_in(client, "officer-jizhou")
    page = "/console/execution-reports/"
    # Full-width digits and spaces around the day are read as the day.
    for typed in ("2026-01-15", " ２０２６-０１-１５ "):
        r = await client.get(page, params={"as_of": typed, "district": "120119"})
        assert_console_page(r, 200, 'data-missed="p-1/2025-Q2"', "截至 2026-01-15")
        *_, asked = [c for c in stub.calls if c.url.path.endswith("/missed")]
        assert asked.url.params["as_of"] == "2026-01-15", typed
        assert 'id="missed-as-of" name="as_of" value="2026-01-15"' in r.text
        assert (
            'href="/console/execution-reports/?district=120119&amp;as_of=2026-01-15&amp;cursor=n-2"'
            in r.text
        )
    more = await client.get(page, params={"as_of": "2026-01-15", "cursor": "n-2"})
    assert 'href="/console/execution-reports/?as_of=2026-01-15"' in more.text  # 第一页
    # No day typed: today, shown in the field.
    r = await client.get(page)
    assert f'name="as_of" value="{today_beijing().isoformat()}"' in r.text
    # A day permit-svc refuses: its words beside the field, the day as typed.
    r = await client.get(page, params={"as_of": "2026-13-01"})
    assert_console_page(r, 422, 'id="as_of-err"', ">不是有效的日期</p>")
    assert 'value="2026-13-01" maxlength="40" aria-invalid="true"' in r.text
    assert 'id="missed-unseen"' not in r.text
    before = len(stub.calls)
    r = await client.get(page + "?as_of=2026-01-15&as_of=2026-01-16")
    assert_console_page(r, 422, 'id="as_of-err"', "一次只能按一个日期筛选")
    assert len(stub.calls) == before


def _execution_report(n: int, period: str, **over: Any) -> dict[str, Any]:
    """An execution report as permit-svc lists one (ExecutionReportOut)."""
    return {
        "id": f"r-{n}",
        "permit_id": "p-1",
        "uscc": "91120225MA05XXXX1A",
        "district": "120116",
        "period": period,
        "frequency": "annual",
        "period_start": "2025-01-01",
        "period_end": "2025-12-31",
        "due_date": "2026-01-15",
        "version": 1,
        "current": True,
        "supersedes": None,
        "emissions": [{"pollutant": "VOCs", "amount_t": "12.000"}],
        "findings": [],
        "late": False,
        "note": None,
        "filed_by": "li.hua",
        "filed_at": "2026-01-09T17:30:00Z",
        **over,
    }


async def test_the_enterprise_page_shows_each_permits_execution_reports(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """Each issued permit's execution reports on the enterprise page: the
    period in words, the Beijing date filed, the version, 逾期提交 when
    late, and the findings in permit-svc's words; permit-svc failing to
    list them is said in their section, the rest of the page shown."""
    uscc = "91120225MA05XXXX1A"
    page = {"next_cursor": None, "items": []}
    for path in ("/permit/registrations", "/permit/audits", "/permit/audit"):
        stub.on("GET", path, page)
    for path in ("/eia/registrations", "/eia/filings", "/quota/reservations"):
        stub.on("GET", path, page)
    permit = {
        "id": "p-1",
        "permit_no": "91120225MA05XXXX1A001P",
        "category": "key",
        "status": "issued",
        "valid_from": "2025-01-01",
        "valid_to": "2029-12-31",
        "vocs_t": "10.000",
    }
    applied = {**permit, "id": "p-2", "permit_no": None, "status": "applied"}
    stub.on("GET", "/permit/permits", {**page, "items": [permit, applied]})
    over = "VOCs：实际排放量 12 吨超过许可排放量 10 吨/年（超许可排放量）"
    reports = [
        _execution_report(
            1,
            "2025",
            version=2,
            supersedes="r-0",
            late=True,
            findings=[
                {
                    "code": "over_permitted",
                    "pollutant": "VOCs",
                    "reported_t": "12.000",
                    "permitted_t": "10.000",
                    "message": over,
                }
            ],
        ),
        _execution_report(2, "2025-Q3", frequency="quarterly", filed_at="2025-10-10T02:00:00Z"),
    ]
    stub.on("GET", "/permit/permits/p-1/execution-reports", {**page, "items": reports})
    await sign_in(client, "auditor")
    r = await client.get(f"/console/enterprise/{uscc}")
    assert_console_page(r, 200, "排污许可证执行报告")
    table = r.text.split('id="reports-p-1"')[1].split("</table>")[0]
    first, second = table.split("data-report=")[1:]
    # 17:30 UTC on 9 January is 10 January in Beijing.
    assert "2025年度" in first and "2026-01-10" in first and ">2</td>" in first
    assert "逾期提交" in first and over in first
    assert "2025年第3季度" in second and "2025-10-10" in second and "逾期提交" not in second
    assert "按期提交" in second and "—" in second
    # A permit never issued owes none: its list is not asked for.
    asked = [c.url.path for c in stub.calls if c.url.path.endswith("/execution-reports")]
    assert asked == ["/permit/permits/p-1/execution-reports"]

    down = {"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"}
    stub.on(
        "GET", "/permit/permits/p-1/execution-reports", lambda _: httpx.Response(503, json=down)
    )
    r = await client.get(f"/console/enterprise/{uscc}")
    assert_console_page(r, 200, "排污许可证执行报告暂时无法读取", "91120225MA05XXXX1A001P")
    assert 'id="reports-p-1"' not in r.text and "尚未提交执行报告" not in r.text
    assert "历史记录未包括" not in r.text


async def test_a_permit_number_finds_its_holder(client: httpx.AsyncClient) -> None:
    """The enterprise search takes a permit's certificate number too (the
    holder's code, three digits and P; typed full-width or in groups, or in
    the address): the holder's page. A number that is none is said beside
    the field in permit-svc's words."""
    await sign_in(client, "auditor")
    holder = "/console/enterprise/91120119000000A9CG"
    for typed in (
        "91120119000000A9CG001P",
        "９１１２０１１９００００００Ａ９ＣＧ００１ｐ",
        "9112 0119 0000 00A9 CG00 1P",
    ):
        r = await client.get("/console/enterprise/", params={"uscc": typed})
        assert r.status_code == 303 and r.headers["location"] == holder, typed
    r = await client.get("/console/enterprise/91120119000000A9CG001P", follow_redirects=True)
    assert r.status_code == 200 and str(r.url).endswith(holder)
    for typed, said in (
        ("91120119000000A9CG001W", "以 W 结尾：这是排污登记编号，不是许可证编号"),
        ("91120119000000A9CX001P", "许可证编号：前 18 位是统一社会信用代码：校验码错误"),
        ("91120119000000A9CG0A1P", "第 19-21 位必须是数字"),
    ):
        r = await client.get("/console/enterprise/", params={"uscc": typed})
        assert_console_page(r, 200, 'aria-invalid="true"', said)
    page = await client.get("/console/enterprise/")
    assert "统一社会信用代码或许可证编号" in page.text


def _application(**fields: Any) -> dict[str, Any]:
    """A permit application as permit-svc lists it (the fields the console
    reads)."""
    return {
        "id": "a1",
        "permit_no": None,
        "uscc": "91120119000000001C",
        "enterprise_name": "天津某涂装有限公司",
        "district": "120119",
        "industry_code": "C3360",
        "category": "key",
        "status": "applied",
        "last_action": "apply",
        "allowed_actions": ["issue", "reject"],
        "pollutants": [
            {"pollutant": "VOCs", "amount_t": "1.200"},
            {"pollutant": "NOx", "amount_t": "0.350"},
        ],
        "vocs_t": "1.200",
        "quota_drawn_t": "0",
        "project_ref": None,
        "source_filing_id": None,
        "valid_from": None,
        "valid_to": None,
        "created_at": "2026-11-02T02:00:00+00:00",
        **fields,
    }


#: permit-svc's checks of an application, as it will answer them: each
#: with its code, whether it passed, the field it concerns and its message
#: (in the reader's language).
PRECHECKS = [
    {"code": "industry", "passed": True, "field": None, "message": "行业已分类"},
    {
        "code": "vocs_backing",
        "passed": False,
        "field": "pollutants",
        "message": "VOCs 1.200 吨/年尚无已分配的总量指标",
    },
    {
        "code": "eia_approved",
        "passed": False,
        "field": None,
        "message": "未找到该项目的环评批复",
    },
]


def _applications_stub(stub: Stub, applied: list[dict[str, Any]]) -> None:
    """The workbench's reads: `applied` for `GET /permit/permits?status=
    applied`, no permit expiring, every other queue empty."""
    page = {"next_cursor": None, "items": []}
    for path in ("/eia/filings", "/eia/review-queue", "/permit/audits", "/quota/reclaims"):
        stub.on("GET", path, page)

    def permits(request: httpx.Request) -> httpx.Response:
        status = request.url.params.get("status")
        items = applied if status == "applied" else []
        return httpx.Response(200, json={"next_cursor": None, "items": items})

    stub.on("GET", "/permit/permits", permits)


def _row(html: str, attr: str, key: str) -> str:
    m = re.search(rf'<tr data-{attr}="{re.escape(key)}"[^>]*>(.*?)</tr>', html, re.S)
    assert m, (attr, key, html[:500])
    return m.group(1)


async def test_the_workbench_lists_permit_applications_awaiting_a_decision(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """The workbench had no queue of permit applications: an officer could
    neither issue (核发) nor refuse (不予许可) one from the console. The tab
    许可申请 lists `GET /permit/permits?status=applied`, the longest waiting
    first: the enterprise, district, category and amounts in words, the
    project, whether it was drafted from an EIA filing, how long it has
    waited, and permit-svc's checks that did not pass (需关注, with its
    count) when it gives them; an application without them says nothing of
    them. An auditor reads it without a form."""
    today = today_beijing()
    older = dt.datetime.combine(today - dt.timedelta(days=12), dt.time(2), dt.UTC).isoformat()
    newer = dt.datetime.combine(today - dt.timedelta(days=3), dt.time(2), dt.UTC).isoformat()
    checked = _application(
        id="a2",
        uscc="91120119000000002A",
        enterprise_name="天津某印刷有限公司",
        category="simplified",
        project_ref="EIA-120119-2026-0007",
        source_filing_id="f7",
        created_at=older,
        prechecks=PRECHECKS,
        attention=2,
    )
    plain = _application(created_at=newer)
    _applications_stub(stub, [plain, checked])
    await sign_in(client, "officer-jizhou")
    r = await client.get("/console/workbench/")
    assert_console_page(r, 200, "许可申请 (2)", "待核发的排污许可申请")
    (read,) = [
        c for c in stub.calls if c.url.path == "/permit/permits" and "status" in c.url.params
    ]
    assert read.url.params["status"] == "applied"
    section = _main(r.text).split('id="applications"')[1].split("</section>")[0]
    # The longest waiting first.
    assert section.index('data-application="a2"') < section.index('data-application="a1"')
    row = _row(r.text, "application", "a2")
    assert 'href="/console/enterprise/91120119000000002A">天津某印刷有限公司</a>' in row
    assert "蓟州区" in row and "简化管理" in row
    assert "VOCs" in row and "1.200" in row and "NOx" in row and "0.350" in row
    assert "吨/年" in row and "EIA-120119-2026-0007" in row and "由环评批复起草" in row
    assert "已等待 12 天" in row
    assert "需关注" in row and 'data-attention="2"' in row
    flagged = re.findall(r'<li data-precheck="([^"]+)"[^>]*>([^<]*)</li>', row)
    assert flagged == [
        ("vocs_backing", "VOCs 1.200 吨/年尚无已分配的总量指标"),
        ("eia_approved", "未找到该项目的环评批复"),
    ]
    assert "行业已分类" not in row  # a check that passed is not flagged
    assert 'data-op="permit-issue"' in row and 'data-op="permit-reject"' in row
    assert "核发" in row and "不予许可" in row
    row = _row(r.text, "application", "a1")
    assert "重点管理" in row and "直接申请" in row and "已等待 3 天" in row
    assert "需关注" not in row and "预检" not in row and "data-precheck" not in row
    assert 'data-op="permit-issue"' in row

    # Every check passed: no flag.
    passed = [{**c, "passed": True} for c in PRECHECKS]
    _applications_stub(stub, [{**checked, "prechecks": passed, "attention": 0}])
    row = _row((await client.get("/console/workbench/")).text, "application", "a2")
    assert "需关注" not in row and "data-precheck" not in row and "预检通过" in row

    # In English when the user picks it.
    _applications_stub(stub, [plain, checked])
    r = await client.get("/console/workbench/", params={"lang": "en"})
    assert "Permit applications (2)" in r.text
    row = _row(r.text, "application", "a2")
    assert "Simplified management" in row and "Needs attention" in row and "t/a" in row
    assert "Drafted from an approved EIA filing" in row and "Refuse" in row

    # An auditor reads the queue; only officers and administrators act.
    await sign_in(client, "auditor")
    r = await client.get("/console/workbench/", params={"lang": "zh"})
    assert "许可申请 (2)" in r.text
    row = _row(r.text, "application", "a2")
    assert "需关注" in row and "<form" not in row
    # Investment staff have no workbench, and so no such tab.
    await sign_in(client, "investment")
    r = await client.get("/console/workbench/")
    assert "许可申请" not in r.text


async def test_an_officer_issues_or_refuses_a_permit_application(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """核发 posts `POST /permit/permits/{id}/issue` with no body and says the
    permit's number; 不予许可 posts `/reject` with the reason (required,
    checked on the form as permit-svc checks it) and says 已不予许可; each
    answer brings the tabs' counts read again. issue's 409 when the VOCs
    increase is not backed by quota is said beside the row in permit-svc's
    words, not as a generic error; the same without htmx. An application
    someone else decided first is said so, its row replaced."""
    applied = [_application(id="a1"), _application(id="a2", uscc="91120119000000002A")]
    _applications_stub(stub, applied)
    sent: list[tuple[str, bytes]] = []
    no = "91120119000000001C001P"

    def issue(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, request.content))
        applied.pop(0)
        return httpx.Response(200, json={**_application(), "status": "issued", "permit_no": no})

    def reject(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, request.content))
        applied.pop(0)
        return httpx.Response(200, json={**_application(id="a2"), "status": "rejected"})

    stub.on("POST", "/permit/permits/a1/issue", issue)
    stub.on("POST", "/permit/permits/a2/reject", reject)
    token = await sign_in(client, "officer-jizhou")
    assert "许可申请 (2)" in (await client.get("/console/workbench/")).text
    hx = {"HX-Request": "true"}
    base = {"csrf_token": token, "idem": "k" * 20, "row": "application"}

    r = await client.post(
        "/console/workbench/act", data={**base, "op": "permit-issue", "id": "a1"}, headers=hx
    )
    assert r.status_code == 200, r.text
    assert sent == [("/permit/permits/a1/issue", b"")]
    assert f"已办理 — 已核发，许可证编号 {no}" in r.text
    tabs = re.search(r'<nav id="queue-tabs"[^>]*hx-swap-oob="true"[^>]*>(.*?)</nav>', r.text, re.S)
    assert tabs and "许可申请 (1)" in tabs.group(1), r.text

    # 不予许可 needs a reason, checked before anything is sent.
    form = {**base, "op": "permit-reject", "id": "a2", "idem": "j" * 20}
    r = await client.post("/console/workbench/act", data=form, headers=hx)
    assert r.status_code == 422 and "请填写原因" in r.text and len(sent) == 1
    r = await client.post("/console/workbench/act", data={**form, "reason": "y" * 501}, headers=hx)
    assert r.status_code == 422 and "原因共 501 个字符，最多 500 个" in r.text and len(sent) == 1
    r = await client.post(
        "/console/workbench/act", data={**form, "reason": " 不符合产业政策 "}, headers=hx
    )
    assert r.status_code == 200 and "已办理 — 已不予许可" in r.text, r.text
    assert sent[-1][0] == "/permit/permits/a2/reject"
    assert json.loads(sent[-1][1]) == {"reason": "不符合产业政策"}
    assert "许可申请 (0)" in r.text

    # Not backed by quota: permit-svc's 409, said beside the form.
    short = {
        "type": "urn:envbureau:problem:conflict",
        "title": "冲突",
        "status": 409,
        "detail": "总量控制：VOCs 增加 1.200 吨/年需要已分配的总量指标，尚缺 0.500 吨/年",
        "missing_t": "0.500",
        "required_t": "1.200",
        "available_t": "0.700",
    }
    stub.on("POST", "/permit/permits/a3/issue", lambda _: httpx.Response(409, json=short))
    quota = {**base, "op": "permit-issue", "id": "a3", "idem": "m" * 20}
    r = await client.post("/console/workbench/act", data=quota, headers=hx)
    assert r.status_code == 409
    assert 'class="result error"' in r.text and short["detail"] in r.text, r.text
    assert "hx-retarget" not in r.headers and "其他人" not in r.text
    # Without htmx: the same words, beside the form on the page drawn again.
    _applications_stub(stub, [_application(id="a3")])
    r = await client.post("/console/workbench/act", data={**quota, "idem": "n" * 20})
    assert r.status_code == 303 and r.headers["location"] == "/console/workbench/"
    page = (await client.get("/console/workbench/")).text
    row = _row(page, "application", "a3")
    assert short["detail"] in row, row

    # Without htmx, done: 已办理 with the permit's number above the page.
    stub.on("POST", "/permit/permits/a3/issue", issue)
    applied[:] = [_application(id="a3")]
    r = await client.post("/console/workbench/act", data={**quota, "idem": "p" * 20})
    assert r.status_code == 303
    page = (await client.get("/console/workbench/")).text
    assert f"已办理 — 已核发，许可证编号 {no}" in page

    # Decided by someone else first: said so, its row replaced by the note.
    stub.on("POST", "/permit/permits/a4/issue", _illegal("许可证", "rejected", "issue"))
    stub.on("GET", "/permit/permits/a4", {**_application(id="a4"), "status": "rejected"})
    r = await client.post(
        "/console/workbench/act",
        data={**base, "op": "permit-issue", "id": "a4", "idem": "q" * 20},
        headers=hx,
    )
    assert r.status_code == 409
    assert "该许可申请已由其他人办理（当前：已不予许可）" in r.text, r.text
    assert r.headers["hx-retarget"] == 'tr[data-application="a4"]'
    assert r.text.lstrip().startswith('<tr data-application="a4" class="gone"><td colspan="7">')

    # Investment staff may not act.
    token = await sign_in(client, "investment")
    r = await client.post(
        "/console/workbench/act",
        data={**base, "csrf_token": token, "op": "permit-issue", "id": "a1", "idem": "r" * 20},
    )
    assert r.status_code in (303, 403)
    posted = [c.url.path for c in stub.calls if c.method == "POST"]
    assert posted.count("/permit/permits/a1/issue") == 1


async def test_a_change_application_is_approved_as_a_change_of_the_permit_it_changes(
    client: httpx.AsyncClient, stub: Stub
) -> None:
    """An expansion's application drafted for an enterprise holding a permit
    in force is a change application (permit-svc's `kind` change): its row
    says 变更申请 · 许可证 X, linking the enterprise's page, its amounts
    read as increases (增加 +x), its issue
    button reads 核准变更, and issuing it says 已并入许可证 X (the
    application merged into that permit). An application of its own keeps
    核发."""
    held = "91120119000000001C001P"
    change = _application(
        id="c1", kind="change", changes_permit_no=held, source_filing_id="f9", project_ref="P-9"
    )
    plain = _application(id="a1", kind="new", changes_permit_no=None)
    applied = [change, plain]
    _applications_stub(stub, applied)
    sent: list[str] = []

    def issue(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        applied.remove(change)
        return httpx.Response(200, json={**change, "status": "merged", "allowed_actions": []})

    stub.on("POST", "/permit/permits/c1/issue", issue)
    token = await sign_in(client, "officer-jizhou")
    r = await client.get("/console/workbench/")
    row = _row(r.text, "application", "c1")
    assert (
        '变更申请 · <a href="/console/enterprise/91120119000000001C">许可证 '
        f'<span class="code">{held}</span></a>'
    ) in row, row
    assert 'data-op="permit-issue"' in row and "核准变更" in row
    assert ">核发<" not in row and "核发</button>" not in row
    # Its amounts are the increments the permit's go up by.
    assert '增加 <span class="n">+' in row, row
    other = _row(r.text, "application", "a1")
    assert "变更申请" not in other and "核准变更" not in other and "核发" in other
    assert "增加" not in other and '<span class="n">+' not in other

    hx = {"HX-Request": "true"}
    form = {"csrf_token": token, "idem": "c" * 20, "row": "application"}
    r = await client.post(
        "/console/workbench/act", data={**form, "op": "permit-issue", "id": "c1"}, headers=hx
    )
    assert r.status_code == 200, r.text
    assert sent == ["/permit/permits/c1/issue"]
    assert f"已办理 — 已并入许可证 {held}" in r.text, r.text
    applied.append(change)
    r = await client.get("/console/workbench/", params={"lang": "en"})
    row = _row(r.text, "application", "c1")
    assert "Change application" in row and "Approve change" in row


def test_the_enterprise_history_words_a_merged_change_application() -> None:
    """A change application issued (核准变更) reads as merged into the permit
    it changed, named as the change application of that permit."""
    from console.pages.enterprise.history import timeline
    from svc_common.i18n import use

    held = "91120119000000001C001P"
    application = {
        "id": "c1",
        "permit_no": None,
        "kind": "change",
        "changes_permit_no": held,
        "status": "merged",
        "last_action": "merge",
        "created_at": "2026-11-02T02:00:00+00:00",
        "updated_at": "2026-11-03T02:00:00+00:00",
    }
    trail = [
        {"action": "permit.apply", "at": "2026-11-02T02:00:00+00:00", "detail": {}},
        {
            "action": "permit.merge",
            "at": "2026-11-03T02:00:00+00:00",
            "detail": {"from": "applied", "to": "merged", "permit_no": held},
        },
    ]
    with use("zh"):
        events = timeline([application], [], [], [], [], steps={"c1": trail})
        assert [(e["what"], e["ref"]) for e in events] == [
            (f"核准变更：并入许可证 {held}", f"许可证 {held} 的变更申请"),
            ("申请排污许可证", f"许可证 {held} 的变更申请"),
        ]
        # Its trail not read: its last step, from its status.
        events = timeline([application], [], [], [], [])
        assert events[0]["what"] == "核准变更"
    with use("en"):
        events = timeline([application], [], [], [], [], steps={"c1": trail})
        assert events[0]["what"] == f"change approved: merged into permit {held}"
