"""The console over HTTP, without a browser: sign-in, cookies and CSRF,
language, the investment figures, export, the workbench's idempotent
actions, the public pages, and the console app alone (HTTPS cookies)."""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from svc_common import testing

from .conftest import Server, receive_complaint


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@pytest.fixture
def browser_like(demo_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo_server.url, follow_redirects=False, timeout=30) as c:
        yield c


def sign_in(c: httpx.Client, user: str) -> None:
    page = c.get("/console/login")
    r = c.post("/console/login/dev", data={"user": user, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text


def test_pages_need_sign_in_and_the_session_cookie_is_locked_down(
    browser_like: httpx.Client,
) -> None:
    c = browser_like
    r = c.get("/console/workbench/")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")
    login = c.get("/console/login")
    cookie = login.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP here; see the HTTPS test below
    assert "script-src 'self'" in login.headers["content-security-policy"]
    # A form injected into a page could not post anywhere but the console.
    assert "form-action 'self'" in login.headers["content-security-policy"]
    assert login.headers["x-frame-options"] == "DENY"
    # The services' own pages on the same origin cannot be framed either.
    receipt_docs = c.get("/eia/docs")
    assert "frame-ancestors 'none'" in receipt_docs.headers["content-security-policy"]
    # A form without the session's token is refused and signs nobody in.
    forged = c.post("/console/login/dev", data={"user": "admin", "csrf_token": "x" * 40})
    assert forged.status_code == 403
    assert c.get("/console/workbench/").status_code == 303
    sign_in(c, "officer-jizhou")
    page = c.get("/console/workbench/")
    assert page.status_code == 200 and "李华" in page.text
    # The console refuses what the role may not see.
    assert c.get("/console/investment/").status_code == 200
    c.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
    assert c.get("/console/workbench/").status_code == 303


def test_open_redirects_are_refused(browser_like: httpx.Client) -> None:
    c = browser_like
    page = c.get("/console/login")
    r = c.post(
        "/console/login/dev",
        data={
            "user": "investment",
            "next": "https://evil.example/",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert r.headers["location"] == "/console/investment/"


def test_language_switch_and_api_errors_follow_it(browser_like: httpx.Client) -> None:
    c = browser_like
    sign_in(c, "investment")
    zh = c.get("/console/investment/fit", params={"p_VOCs": "1.2345"})
    assert "最多 3 位小数" in zh.text and 'lang="zh-CN"' in zh.text
    en = c.get("/console/investment/fit", params={"p_VOCs": "1.2345", "lang": "en"})
    assert "at most 3 decimals" in en.text and 'lang="en"' in en.text
    assert "envbureau_lang=en" in en.headers["set-cookie"]
    again = c.get("/console/investment/")  # the cookie remembers
    assert "Investment attraction" in again.text
    c.get("/console/", params={"lang": "zh"})


def test_fit_ranking_export_agree_with_the_quota_api(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    c = browser_like
    sign_in(c, "investment")
    pools = httpx.get(
        f"{demo_server.url}/quota/availability", headers=testing.auth("investment"), timeout=30
    ).json()
    districts = sorted(
        (p for p in pools if p["kind"] == "district"),
        key=lambda p: -Decimal(p["max_project_increment_t"]),
    )
    page = c.get("/console/investment/")
    ranked = re.findall(r'<span class="code">(\d{6})</span>', page.text)
    assert ranked[: len(districts)] == [p["district"] for p in districts]
    # A project of two pollutants, in two preferred districts.
    fit = c.get(
        "/console/investment/fit",
        params=[("p_VOCs", "3"), ("p_NOx", "2"), ("district", "120116"), ("district", "120119")],
        headers={"HX-Request": "true"},
    )
    assert fit.status_code == 200 and "<html" not in fit.text  # an htmx fragment
    rows = dict(re.findall(r'<tr class="(fits|nofit)" data-district="(\d{6})"', fit.text))
    assert set(re.findall(r'data-district="(\d{6})"', fit.text)) == {"120116", "120119"}
    assert 'class="fits" data-district="120116"' in fit.text
    assert 'class="nofit" data-district="120119"' in fit.text
    assert rows  # both rows are there

    xlsx = c.get("/console/investment/export.xlsx", params={"pollutant": "VOCs"})
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][0] == "排名" and table[1][1] == districts[0]["district"]
    csv = c.get("/console/investment/export.csv", params={"pollutant": "VOCs"})
    assert csv.content.startswith(b"\xef\xbb\xbf") and "滨海新区" in csv.content.decode()


def test_a_workbench_form_submitted_twice_acts_once(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    c = browser_like
    sign_in(c, "officer-baodi")
    admin = testing.auth("admin")
    submitted = httpx.get(
        f"{demo_server.url}/eia/filings",
        params={"district": "120115", "status": "submitted"},
        headers=admin,
        timeout=30,
    ).json()["items"]
    target = submitted[-1]
    page = c.get("/console/workbench/")
    form = {
        "csrf_token": csrf_of(page.text),
        "idem": uuid.uuid4().hex,
        "op": "filing",
        "id": target["id"],
        "action": "accept",
    }
    first = c.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
    # The same form again (a double click): the service replays its first
    # answer; a second accept would have been a 409.
    again = c.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
    assert 'class="result ok"' in first.text and 'class="result ok"' in again.text
    now = httpx.get(f"{demo_server.url}/eia/filings/{target['id']}", headers=admin).json()
    assert now["status"] == "accepted"
    # A second, new form for the same step is refused, said plainly (no
    # API codes): the filing was handled already.
    form["idem"] = uuid.uuid4().hex
    third = c.post("/console/workbench/act", data=form, headers={"HX-Request": "true"})
    assert third.status_code == 409 and 'class="result error"' in third.text
    assert "该文件已由其他人办理（当前：已受理）" in third.text and "accept" not in third.text
    # Unknown operations and other roles' actions never reach a service.
    bad = c.post(
        "/console/workbench/act",
        data={**form, "op": "drop-tables", "idem": uuid.uuid4().hex},
        headers={"HX-Request": "true"},
    )
    assert "无法识别的操作" in bad.text


def test_public_pages_need_no_sign_in(browser_like: httpx.Client, demo_server: Server) -> None:
    c = browser_like
    forms = httpx.get(
        f"{demo_server.url}/eia/registrations", headers=testing.auth("admin"), timeout=30
    ).json()["items"]
    filed = next(f for f in forms if f["status"] == "filed")
    ok = c.get(
        "/console/public/verify", params={"no": filed["filing_no"], "code": filed["check_code"]}
    )
    assert "真实有效" in ok.text
    pdf = c.get(
        f"/console/public/receipt/{filed['filing_no']}",
        params={"code": filed["check_code"], "format": "pdf"},
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    html = c.get(
        f"/console/public/receipt/{filed['filing_no']}", params={"code": filed["check_code"]}
    )
    assert f"/console/public/receipt/{filed['filing_no']}?" in html.text  # its PDF link too
    bad = c.get("/console/public/verify", params={"no": "not-a-number", "code": "x"})
    assert "DJB-120119-2026-000123" in bad.text
    # The public register degrades gracefully until quota-svc publishes it.
    reg = c.get("/console/public/register")
    assert reg.status_code == 200
    probe = httpx.get(f"{demo_server.url}/quota/public/register", timeout=30)
    if probe.status_code == 404:
        assert 'id="register-unavailable"' in reg.text
    else:
        assert 'id="register"' in reg.text or "暂无条目" in reg.text
        # Headers and kinds as people say them, times in Beijing time.
        kinds = {e["kind"] for e in probe.json()["items"]}
        assert '<th scope="col">时间（北京时间）</th>' in reg.text and ">seq<" not in reg.text
        assert "baseline" in kinds and "存量基数" in reg.text and ">baseline<" not in reg.text
        table = reg.text.split('id="register"')[1]
        assert "+00:00" not in table and not re.search(r"\d{2}:\d{2}:\d{2}\.\d", table)


def test_static_assets_are_served_locally(browser_like: httpx.Client) -> None:
    c = browser_like
    page = c.get("/console/login")
    for src in re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page.text):
        assert c.get(src).status_code == 200, src
    assert not re.search(r'(?:src|href)="https?://', page.text)
    assert c.get("/console/static/vendor/chart.js/chart.umd.min.js").status_code == 200
    icon = c.get("/favicon.ico")  # the embedded default passes it to the console
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"


async def test_the_cookie_is_secure_over_https() -> None:
    """The console alone, reached over HTTPS: the session cookie gets Secure."""
    from console.app import create
    from console.settings import Settings

    app = create(Settings(dev_login=True))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://console.example"
    ) as c:
        page = await c.get("/console/login")
        assert "secure" in page.headers["set-cookie"].lower()
        r = await c.post(
            "/console/login/dev", data={"user": "auditor", "csrf_token": csrf_of(page.text)}
        )
        assert r.status_code == 303
        assert "secure" in r.headers["set-cookie"].lower()
        assert (await c.get("/console/")).text.count("孙丽") >= 1


def test_no_page_may_be_stored_but_the_static_files(browser_like: httpx.Client) -> None:
    """A stored page is shown again on Back after 退出 (the back-forward
    cache): the console's pages and answers are no-store, its static files
    and icon are not (they hold nothing of anyone's)."""
    c = browser_like
    sign_in(c, "auditor")
    for path in (
        "/console/",
        "/console/enterprise/91120119000000001C",
        "/console/workbench/",
        "/console/investment/export.csv?pollutant=VOCs",
        "/console/public/verify",
        "/console/login",
    ):
        r = c.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers.get("cache-control") == "no-store", path
    assert "no-store" not in c.get("/console/static/console.css").headers.get("cache-control", "")
    assert c.get("/favicon.ico").headers["cache-control"].startswith("public")


def test_a_code_with_a_wrong_check_character_leads_to_the_search_form(
    browser_like: httpx.Client,
) -> None:
    """/console/enterprise/<18 characters whose last is wrong>: the search
    form with the code and what is wrong beside the field, not a page of
    permit-svc's refusal (422 请求内容无效)."""
    c = browser_like
    sign_in(c, "officer-baodi")
    r = c.get("/console/enterprise/911201150000000000")
    assert r.status_code == 303, r.status_code
    assert r.headers["location"] == "/console/enterprise/?uscc=911201150000000000"
    form = c.get(r.headers["location"])
    assert form.status_code == 200
    assert 'aria-invalid="true"' in form.text and "应为 &#39;F&#39;" in form.text, form.text[-900:]


def test_an_officer_sees_the_alerts_in_force_in_its_districts(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    """The alerts page: those in force in the officer's districts and those
    about to begin, in Beijing time; another district's are not listed."""
    c = browser_like
    beijing = dt.timezone(dt.timedelta(hours=8))
    hour = dt.datetime.now(beijing).replace(minute=0, second=0, microsecond=0)
    admin = testing.auth("admin", sub="admin.console-test")

    def issue(district: str, level: str, start: dt.datetime, hours: int) -> dict[str, Any]:
        body = {
            "level": level,
            "districts": [district],
            "from": start.isoformat(),
            "to": (start + dt.timedelta(hours=hours)).isoformat(),
            "note": f"控制台测试 {level}",
        }
        r = c.post("/supervision/alerts", json=body, headers=admin)
        assert r.status_code == 201, r.text
        answer: dict[str, Any] = r.json()
        return answer

    now = issue("120119", "orange", hour - dt.timedelta(hours=1), 24)
    later = issue("120119", "red", hour + dt.timedelta(days=2), 24)
    baodi = issue("120115", "yellow", hour - dt.timedelta(hours=1), 24)
    sign_in(c, "officer-jizhou")
    page = c.get("/console/alerts/")
    assert page.status_code == 200, page.text
    in_force = page.text.split('id="in-force"')[1].split("</table>")[0]
    upcoming = page.text.split('id="upcoming"')[1].split("</table>")[0]
    assert now["id"] in in_force and "橙色预警" in in_force and "蓟州区" in in_force
    assert (hour - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M") in in_force
    assert later["id"] in upcoming and "红色预警" in upcoming
    assert baodi["id"] not in page.text
    assert 'href="/console/alerts/" aria-current="page"' in page.text
    # Its measures, as supervision-svc writes them for the officer's token.
    link = f"/console/alerts/{now['id']}/measures.csv"
    assert f'href="{link}"' in in_force
    officer = testing.auth("officer", districts=["120119"], sub="officer.console-test")
    direct = c.get(f"/supervision/alerts/{now['id']}/measures.csv", headers=officer)
    got = c.get(link)
    assert (got.status_code, got.headers["content-type"]) == (200, direct.headers["content-type"])
    assert got.content == direct.content and got.content.startswith(b"\xef\xbb\xbf")
    assert got.headers["content-disposition"] == direct.headers["content-disposition"]
    assert c.get(f"/console/alerts/{baodi['id']}/measures.csv").status_code == 404
    sign_in(c, "admin")
    assert baodi["id"] in c.get("/console/alerts/").text
    sign_in(c, "investment")
    assert c.get("/console/alerts/").status_code == 403


def test_an_officer_sees_the_open_complaints_of_its_districts(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    """The complaints page: the open complaints of the officer's districts
    (the demonstration's 蓟州区 ones), the soonest due first, by their
    states' names; not a rejected one, not another district's; the odour
    reported twice among the repeated problems. An auditor reads every
    district's; investment staff may not open it."""
    c = browser_like
    admin = testing.auth("admin", sub="admin.console-test")

    def listed(district: str) -> list[dict[str, Any]]:
        r = c.get("/supervision/complaints", params={"district": district}, headers=admin)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    jizhou, baodi = listed("120119"), listed("120115")
    open_jz = [x for x in jizhou if x["status"] not in ("closed", "rejected")]
    rejected = [x for x in jizhou if x["status"] == "rejected"]
    assert open_jz and rejected and baodi
    soonest = sorted(
        open_jz,
        key=lambda x: (
            x["accept_due"] if x["status"] == "received" else x["close_due"],
            x["received_at"],
        ),
    )
    sign_in(c, "officer-jizhou")
    page = c.get("/console/complaints/")
    assert page.status_code == 200, page.text
    table = page.text.split('id="open-complaints"')[1].split("</table>")[0]
    assert re.findall(r'data-complaint="([^"]+)"', table) == [x["id"] for x in soonest]
    assert "已接收" in table and "已受理" in table and "蓟州区" in table
    assert all(x["case_no"] not in page.text for x in rejected + baodi)
    assert 'href="/console/complaints/" aria-current="page"' in page.text
    clusters = page.text.split('id="clusters"')[1].split("</table>")[0]
    assert "异味" in clusters and "2（2）" in clusters
    # The enterprise complained about by its name, as permit-svc registers it.
    named = next(x for x in open_jz if x["uscc"])
    company = c.get(f"/permit/enterprises/{named['uscc']}", headers=admin).json()
    assert company["name"] in table and company["name"] in clusters
    sign_in(c, "auditor")
    page = c.get("/console/complaints/")
    assert page.status_code == 200
    assert all(x["case_no"] in page.text for x in open_jz) and baodi[0]["case_no"] in page.text
    sign_in(c, "investment")
    assert c.get("/console/complaints/").status_code == 403


def test_an_officer_accepts_a_complaint_from_its_page(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    """李华 (蓟州区) opens a received complaint from the complaints page and
    accepts it with its form (post/redirect/get): supervision-svc has it
    accepted, the list says 已受理, the same form sent again is answered
    once (its Idempotency-Key); an auditor reads the page with no form."""
    c = browser_like
    complaint = receive_complaint(
        demo_server.url, "河道里出现大量死鱼，水面发黑发臭", "天津市蓟州区下营镇河道旁"
    )
    cid = complaint["id"]

    def row() -> str:
        listed = c.get("/console/complaints/")
        assert listed.status_code == 200, listed.text
        return listed.text.split(f'data-complaint="{cid}"')[1].split("</tr>")[0]

    sign_in(c, "officer-jizhou")
    assert "已接收" in row() and f'href="/console/complaints/{cid}"' in row()
    page = c.get(f"/console/complaints/{cid}")
    assert page.status_code == 200 and complaint["case_no"] in page.text
    assert sorted(re.findall(r'data-op="([a-z]+)"', page.text)) == ["accept", "reject"]
    accept = page.text.split('value="accept"')[0].rsplit("<form", 1)[1]
    idem = re.search(r'name="idem" value="([^"]+)"', accept)
    assert idem
    form = {"csrf_token": csrf_of(page.text), "op": "accept", "idem": idem.group(1)}
    r = c.post(f"/console/complaints/{cid}/act", data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/console/complaints/{cid}"
    after = c.get(r.headers["location"])
    assert "已办理 — 已受理" in after.text and 'data-op="assign"' in after.text
    assert 'data-op="accept"' not in after.text
    admin = testing.auth("admin", sub="admin.console-test")
    now = c.get(f"/supervision/complaints/{cid}", headers=admin).json()
    assert now["status"] == "accepted" and now["accepted_at"]
    assert "已受理" in row() and "已接收" not in row() and "办结期限" in row()
    # The same form sent again (a double click): answered once, not refused.
    again = c.post(f"/console/complaints/{cid}/act", data=form)
    assert again.status_code == 303
    assert "已办理 — 已受理" in c.get(again.headers["location"]).text
    sign_in(c, "auditor")
    page = c.get(f"/console/complaints/{cid}")
    assert page.status_code == 200 and 'class="act"' not in page.text
    assert 'id="read-only"' in page.text


def test_an_officer_sees_the_inspections_and_cases_of_its_districts(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    """The inspections page over the demonstration's data: 蓟州区's
    inspections, the latest first, with their enterprise by name and the
    case opened on the serious finding, which is listed under way with its
    rectification deadline; an officer of 宝坻区 sees none of them, an
    auditor all; the inspection's page links the case, whose page offers
    李华 (not its proposer) the decision."""
    c = browser_like
    admin = testing.auth("admin", sub="admin.console-test")
    r = c.get("/supervision/inspections", params={"district": "120119"}, headers=admin)
    assert r.status_code == 200, r.text
    inspections = r.json()["items"]
    cases = c.get("/supervision/cases", params={"district": "120119"}, headers=admin).json()
    (case,) = [x for x in cases["items"] if x["status"] in ("proposed", "decided")]
    assert len(inspections) >= 2
    sign_in(c, "officer-jizhou")
    page = c.get("/console/inspections/")
    assert page.status_code == 200, page.text
    table = page.text.split('id="inspections"')[1].split("</table>")[0]
    assert re.findall(r'data-inspection="([^"]+)"', table) == [x["id"] for x in inspections]
    assert all(x["enterprise_name"] in table for x in inspections)
    assert "已立案" in table and "未发现问题" in table and "严重 1 个" in table
    under_way = page.text.split('id="open-cases"')[1].split("</table>")[0]
    assert case["case_no"] in under_way and case["rectify_by"] in under_way
    assert "责令整改" in under_way and "剩余 30 天" in under_way
    found = next(x for x in inspections if x["findings"])
    detail = c.get(f"/console/inspections/{found['id']}")
    assert detail.status_code == 200 and f'href="/console/cases/{case["id"]}"' in detail.text
    assert "活性炭逾期未更换" in detail.text
    page = c.get(f"/console/cases/{case['id']}")
    assert page.status_code == 200 and found["inspection_no"] in page.text
    if case["status"] == "proposed":
        assert sorted(re.findall(r'data-op="([a-z]+)"', page.text)) == ["approve", "reject"]
    sign_in(c, "officer-baodi")
    page = c.get("/console/inspections/")
    assert page.status_code == 200 and all(x["id"] not in page.text for x in inspections)
    assert case["case_no"] not in page.text
    assert c.get(f"/console/cases/{case['id']}").status_code == 404
    sign_in(c, "auditor")
    page = c.get("/console/inspections/")
    assert all(x["id"] in page.text for x in inspections) and case["case_no"] in page.text
    sign_in(c, "investment")
    assert c.get("/console/inspections/").status_code == 403


def test_an_officer_draws_a_plan_and_reads_whom_it_drew(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    """The draw form over HTTP (no htmx): 李华 draws one 蓟州区 enterprise
    with two inspectors; post/redirect/get lands on the plan's page, which
    names the enterprise drawn (as supervision-svc's plan has it) and its
    inspectors, not yet inspected; the plans' page lists it; an officer of
    宝坻区 neither lists nor reads it; an auditor reads it with no form."""
    c = browser_like
    sign_in(c, "officer-jizhou")
    page = c.get("/console/inspections/plans/")
    assert page.status_code == 200, page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "idem": uuid.uuid4().hex,
        "district": "120119",
        # A year no other test of the session's demo server draws in 蓟州区
        # (test_browser draws 2099-Q4): periods that overlap are refused.
        "period": "2098-H2",
        "count": "1",
        "inspector_pool": "李华\n陈静",
    }
    r = c.post("/console/inspections/plans/", data=form)
    assert r.status_code == 303, r.text
    where = r.headers["location"]
    assert where.startswith("/console/inspections/plans/"), where
    plan_id = where.rsplit("/", 1)[1]
    admin = testing.auth("admin", sub="admin.console-test")
    plan = c.get(f"/supervision/inspection-plans/{plan_id}", headers=admin).json()
    ((drawn,),) = [plan["selection"]]
    assert plan["created_by"] == "li.hua" and plan["period"] == "2098-H2"
    page = c.get(where)
    assert page.status_code == 200, page.text
    assert "已办理 — 已抽取 1 家企业" in page.text and drawn["name"] in page.text
    assert sorted(drawn["inspectors"]) == ["李华", "陈静"]  # in the order drawn
    assert drawn["uscc"] in page.text and "尚未检查" in page.text
    assert "、".join(drawn["inspectors"]) in page.text
    listed = c.get("/console/inspections/plans/").text
    assert f'data-plan="{plan_id}"' in listed and "2098-H2" in listed
    # A refusal: the form as it was typed, the reason in Chinese.
    form = {**form, "csrf_token": csrf_of(listed), "idem": uuid.uuid4().hex, "period": "2099-Q5"}
    r = c.post("/console/inspections/plans/", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/console/inspections/plans/"
    back = c.get("/console/inspections/plans/").text
    assert "抽查期间：" in back and 'value="2099-Q5"' in back
    sign_in(c, "officer-baodi")
    assert plan_id not in c.get("/console/inspections/plans/").text
    assert c.get(where).status_code == 404
    sign_in(c, "auditor")
    page = c.get(where)
    assert page.status_code == 200 and drawn["uscc"] in page.text
    plans = c.get("/console/inspections/plans/")
    assert plan_id in plans.text and 'class="act draw"' not in plans.text


def test_an_officer_records_a_demands_progress_and_completes_it(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    """李华 (蓟州区) records an item's progress from the demands list
    (supervision-svc's PATCH, with the form's Idempotency-Key: the same
    form sent again is answered once) and completes it (办结); the reports
    page counts it and its spreadsheet opens with the same figures."""
    c = browser_like
    admin = testing.auth("admin", sub="admin.console-test", idem=str(uuid.uuid4()))
    body = {
        "district": "120119",
        "title": "督促下营镇河道清理（控制台测试）",
        "source": "other",
        "owner": "王伟",
        "deadline": (dt.date.today() + dt.timedelta(days=10)).isoformat(),
    }
    r = c.post("/supervision/demands", json=body, headers=admin)
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    sign_in(c, "officer-jizhou")
    page = c.get("/console/demands/")
    assert page.status_code == 200 and body["title"] in page.text, page.text[:500]
    item = page.text.split(f'id="demand-{did}"')[1].split("</li>")[0]
    progress = item.split('value="progress"')[0].rsplit("<form", 1)[1]
    idem = re.search(r'name="idem" value="([^"]+)"', progress)
    assert idem
    form = {
        "csrf_token": csrf_of(page.text),
        "op": "progress",
        "idem": idem.group(1),
        "choice": "60",
        "reason": "已清理大半",
    }
    for _ in range(2):  # a double click: answered once
        r = c.post(f"/console/demands/{did}/act", data=form)
        assert r.status_code == 303 and r.headers["location"] == "/console/demands/"
        assert "已办理 — 进展 60%" in c.get("/console/demands/").text
    now = c.get("/supervision/demands", params={"district": "120119"}, headers=admin).json()
    (mine,) = [d for d in now["items"] if d["id"] == did]
    assert (mine["progress_percent"], mine["progress_note"]) == (60, "已清理大半")
    before = c.get("/supervision/reports/demands", headers=admin).json()
    done = {**form, "op": "done", "idem": uuid.uuid4().hex, "reason": ""}
    r = c.post(f"/console/demands/{did}/act", data=done)
    assert r.status_code == 303 and "已办理 — 已办结" in c.get("/console/demands/").text
    after = c.get("/supervision/reports/demands", headers=admin).json()
    assert after["done"] == before["done"] + 1
    sign_in(c, "auditor")
    page = c.get("/console/reports/")
    assert page.status_code == 200 and "群众诉求清单" in page.text
    r = c.get("/console/reports/demands.xlsx")
    assert r.status_code == 200
    rows = [
        [x.value for x in row] for row in load_workbook(io.BytesIO(r.content)).active.iter_rows()
    ]
    assert {row[0]: row[1] for row in rows[4:]}["已完成"] == after["done"]
    sign_in(c, "investment")
    assert c.get("/console/reports/").status_code == 403


def test_an_officer_reads_and_sets_the_grades_of_its_districts(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    """The grading page over the demonstration's data: 蓟州区's two grades
    and its guarantee-list entry, each enterprise by name; the A-grade
    plant's page with its plant plan by alert level; the grade form sent
    without htmx (post/redirect/get) with what supervision-svc has, which
    records nothing new; the demonstration's grading run again changes
    nothing; an officer of 宝坻区 sees none of it."""
    from bureau.client import Api
    from bureau.demo import Demo

    c = browser_like
    admin = testing.auth("admin", sub="admin.console-test")
    grades = c.get("/supervision/grades", params={"district": "120119"}, headers=admin).json()
    listed = c.get("/supervision/guarantee-list", params={"district": "120119"}, headers=admin)
    assert len(grades["items"]) == 2 and len(listed.json()["items"]) == 1
    sign_in(c, "officer-jizhou")
    page = c.get("/console/grading/")
    assert page.status_code == 200, page.text
    table = page.text.split('id="grades"')[1].split("</table>")[0]
    assert re.findall(r'data-grade="([^"]+)"', table) == [g["uscc"] for g in grades["items"]]
    assert all(g["enterprise_name"] in table for g in grades["items"])
    assert "A级" in table and "B级" in table
    entry = listed.json()["items"][0]
    guarantees = page.text.split('id="guarantees"')[1].split("</table>")[0]
    assert entry["enterprise_name"] in guarantees and "民生保障" in guarantees
    graded = next(g for g in grades["items"] if g["grade"] == "A")
    detail = c.get(f"/console/grading/{graded['uscc']}")
    assert detail.status_code == 200, detail.text
    plans = detail.text.split('id="plans"')[1].split("</ul>")[0]
    assert plans.index("黄色预警") < plans.index("橙色预警") < plans.index("红色预警")
    assert "限产 20%" in plans and "停产部分工序：喷涂" in plans
    before = c.get(f"/supervision/grades/{graded['uscc']}", headers=admin).json()["history"]
    form = {
        "csrf_token": csrf_of(detail.text),
        "idem": uuid.uuid4().hex,
        **{k: graded[k] for k in ("grade", "benchmark", "industry", "valid_from", "valid_to")},
        "basis": graded["basis"],
    }
    r = c.post(f"/console/grading/{graded['uscc']}/grade", data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/console/grading/{graded['uscc']}"
    assert "已办理 — 绩效等级：A级" in c.get(r.headers["location"]).text
    api = Api(demo_server.url)
    try:
        Demo(api, say=lambda _: None).grading()
    finally:
        api.close()
    after = c.get(f"/supervision/grades/{graded['uscc']}", headers=admin).json()["history"]
    assert after == before
    sign_in(c, "officer-baodi")
    page = c.get("/console/grading/")
    assert page.status_code == 200 and all(g["uscc"] not in page.text for g in grades["items"])
    assert c.get(f"/console/grading/{graded['uscc']}").status_code == 404


def test_an_officer_sees_the_missed_execution_reports_of_its_districts(
    browser_like: httpx.Client, demo_server: Server
) -> None:
    """The missed-report page over the demonstration's data: permit-svc's
    missed-report list of 宝坻区 (its first page, in its order), each
    period in words; an enterprise's page shows its permits' execution
    reports section, with no note of a failed read."""
    c = browser_like
    admin = testing.auth("admin", sub="admin.console-test")
    r = c.get(
        "/permit/execution-reports/missed",
        params={"district": "120115", "limit": 50},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    missed = r.json()["items"]
    assert missed  # the demonstration files no execution report
    sign_in(c, "officer-baodi")
    page = c.get("/console/execution-reports/")
    assert page.status_code == 200, page.text
    table = page.text.split('id="missed"')[1].split("</table>")[0]
    assert re.findall(r'data-missed="([^"]+)"', table) == [
        f"{x['permit_id']}/{x['period']}" for x in missed
    ]
    assert f"逾期 {missed[0]['days_overdue']} 天" in table
    assert ("更多逾期未报" in page.text) == bool(r.json()["next_cursor"])
    uscc = missed[0]["uscc"]
    enterprise = c.get(f"/console/enterprise/{uscc}")
    assert enterprise.status_code == 200 and "排污许可证执行报告" in enterprise.text
    assert "执行报告暂时无法读取" not in enterprise.text
    sign_in(c, "investment")
    assert c.get("/console/execution-reports/").status_code == 403
