"""The console in a real browser: Debian's Chromium driven by Playwright for
Python (never a browser Playwright downloads). Each user's main task, with a
screenshot of every page left in the artefacts folder.

scripts/test.sh installs /usr/bin/chromium when it is missing; outside
`make test` the tests skip when it is absent (REQUIRE_SERVERS=1 makes that a
failure)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.async_api import Browser, Page, Route
from svc_common import testing
from svc_common.uscc import make_uscc

from .conftest import ROOT, Server, receive_complaint

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Screenshots committed for the README (refreshed with UPDATE_SCREENSHOTS=1):
#: a small set, reduced to a 256-colour palette.
DOCS_SHOTS = ROOT / "docs" / "screenshots"
DOCS_SET = {"investment-fit", "workbench-done", "verify", "receipt", "enterprise", "docs-quota"}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        if os.environ.get("REQUIRE_SERVERS") == "1":
            pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs it")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Browser, demo_server: Server) -> AsyncIterator[Any]:
    """A fresh browser context (no cookies) that may reach only the server:
    any request elsewhere is aborted and recorded, so a page that needs the
    internet fails its test."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    outside: list[str] = []
    allowed = urlparse(demo_server.url).netloc

    async def gate(route: Route) -> None:
        url = route.request.url
        if urlparse(url).netloc == allowed or url.startswith("data:"):
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    await ctx.route("**/*", gate)
    p = await ctx.new_page()
    p.set_default_timeout(15_000)
    p.outside = outside
    try:
        yield p
    finally:
        await ctx.close()
    assert outside == [], f"the page reached outside the server: {outside}"


#: Every visible form control has a label, every image an alternative, the
#: page its language: checked on each page a test visits.
A11Y = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden') continue;
    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || el.getAttribute('title');
    if (!named) bad.push('unlabelled ' + el.tagName + ' ' + (el.name || el.id));
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) bad.push('img without alt ' + img.src);
  }
  if (!document.documentElement.lang) bad.push('no lang on <html>');
  return bad;
}"""


async def shot(
    page: Page, artifacts: Path, name: str, *, ours: bool = True, full: bool = True
) -> None:
    if ours:  # the console's and the receipt's pages (not Swagger UI's)
        problems = await page.evaluate(A11Y)
        assert problems == [], f"{name}: {problems}"
    path = artifacts / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" and name in DOCS_SET:
        from PIL import Image

        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as img:
            img.convert("RGB").quantize(256).save(DOCS_SHOTS / path.name, optimize=True)


async def sign_in(page: Page, server: Server, user_key: str, next_path: str = "") -> None:
    await page.goto(f"{server.url}/console/login{next_path}")
    await page.check(f"#u-{user_key}")
    await page.click("form[action='/console/login/dev'] button[type=submit]")
    await page.wait_for_load_state("networkidle")


def admin_get(server: Server, path: str, **params: Any) -> Any:
    r = httpx.get(f"{server.url}{path}", params=params, headers=testing.auth("admin"), timeout=30)
    r.raise_for_status()
    return r.json()


async def test_investment_staff_find_the_districts_that_fit_a_5_t_project(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    await sign_in(page, demo_server, "investment")
    await shot(page, artifacts, "investment")
    p = page
    await p.fill("#p_VOCs", "5")
    # With the keyboard: the button is disabled while the check runs; focus
    # comes back to it (it fell to the page, and Tab began at the header).
    await p.focus("form.project button[type=submit]")
    await p.keyboard.press("Enter")
    await p.wait_for_selector("#fit-table")
    await p.wait_for_function(
        "() => document.activeElement.matches('form.project button[type=submit]')",
        timeout=5_000,
    )
    shown_fit = set(
        await p.eval_on_selector_all(
            "#fit-table tr.fits[data-district]", "rows => rows.map(r => r.dataset.district)"
        )
    )
    shown_not = set(
        await p.eval_on_selector_all(
            "#fit-table tr.nofit[data-district]", "rows => rows.map(r => r.dataset.district)"
        )
    )
    # What the quota API says, read independently: a district fits a 5 t/a
    # project when its largest project that fits is at least 5 t/a.
    pools = admin_get(demo_server, "/quota/availability", pollutant="VOCs")
    assert isinstance(pools, list)
    expected = {
        p["district"]
        for p in pools
        if p["kind"] == "district" and Decimal(p["max_project_increment_t"]) >= 5
    }
    assert shown_fit == expected and expected
    assert "120119" in shown_not  # 蓟州区's tight pool cannot take it
    assert len(shown_fit | shown_not) == 16
    summary = await p.inner_text("#fit-summary")
    assert str(len(expected)) in summary
    # The trend chart draws from the ledger's past balances, with vendored Chart.js.
    await p.wait_for_selector("#trend-chart[data-drawn=true]")
    chart = json.loads(await p.inner_text("#trend-data"))
    # Its last point is now: each district's available quota as the API says.
    available_now = {
        pool["district"]: float(Decimal(pool["available_t"]))
        for pool in pools
        if pool["kind"] == "district"
    }
    assert chart["series"] and {s["district"]: s["values"][-1] for s in chart["series"]} == {
        s["district"]: available_now[s["district"]] for s in chart["series"]
    }
    await shot(page, artifacts, "investment-fit")


async def test_officer_accepts_a_filing_and_confirms_a_reclaim(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    p = page
    filings = admin_get(demo_server, "/eia/filings", district="120115", status="submitted")
    assert isinstance(filings, dict)
    target = filings["items"][0]
    await sign_in(p, demo_server, "officer-baodi")
    assert p.url.endswith("/console/workbench/")
    await shot(p, artifacts, "workbench")
    row = f"tr[data-filing='{target['id']}']"
    await p.click(f"{row} button[data-op='filing-accept']")
    await p.wait_for_selector(f"{row} .result.ok")
    after = admin_get(demo_server, f"/eia/filings/{target['id']}")
    assert isinstance(after, dict) and after["status"] == "accepted" and after["due_at"]
    # The row is the accepted filing's: its status and statutory clock, not
    # 已提交待受理 | 受理后起算 beside 已办理 — 已受理.
    cells = await p.locator(f"{row} td").all_inner_texts()
    assert "已受理" in cells[2] and "已提交待受理" not in cells[2], cells
    assert cells[3] == after["due_on"] and "剩余" in cells[4], cells
    assert await p.locator(f"{row} button[data-op='filing-accept']").count() == 0

    # Another officer of the district completes the evaluation after this
    # row was drawn: 技术评估完成 here says so plainly and redraws the row.
    async with httpx.AsyncClient(timeout=30) as api:
        r = await api.post(
            f"{demo_server.url}/eia/filings/{target['id']}/evaluation-done",
            headers=testing.auth("officer", ["120115"], "zhang.min2", idem=target["id"] + "-e"),
        )
    assert r.status_code == 200, r.text
    await p.click(f"{row} button[data-op='filing-evaluation-done']")
    await p.wait_for_selector(f"{row} .result.error")
    said = await p.inner_text(row)
    assert "该文件已由其他人办理（当前：已评估）" in said, said
    assert "evaluat" not in said and "撤回" not in said and "已受理" not in said, said
    # The redrawn row took the clicked button with it: focus is on its note,
    # not back at the top of the page.
    assert await p.evaluate(
        "row => document.activeElement === document.querySelector(row + ' .result')", row
    )
    await shot(p, artifacts, "workbench-stale")

    # 蓟州区: a closed plant's reclaim, confirmed by an officer of the district.
    reclaims = admin_get(demo_server, "/quota/reclaims", district="120119", status="pending")
    assert isinstance(reclaims, dict)
    closed = next(r for r in reclaims["items"] if r["source"] == "permit_cancelled")
    mine = next(r for r in reclaims["items"] if r["source"] == "reduction")
    before = admin_get(demo_server, "/quota/balances/120119/VOCs")
    assert isinstance(before, dict)
    await p.goto(f"{demo_server.url}/console/")
    await p.click("form[action='/console/logout'] button")
    await sign_in(p, demo_server, "officer-jizhou")
    # li.hua entered the reduction credit himself: four eyes, no confirm button.
    own = p.locator(f"tr[data-reclaim='{mine['id']}']")
    assert await own.locator("button[data-op='reclaim-confirm']").count() == 0
    assert "另一名审批人员" in await own.inner_text()
    row = f"tr[data-reclaim='{closed['id']}']"
    await p.click(f"{row} button[data-op='reclaim-confirm']")
    await p.wait_for_selector(f"{row} .result.ok")
    await shot(p, artifacts, "workbench-done")
    confirmed = admin_get(demo_server, "/quota/reclaims", district="120119", status="confirmed")
    assert isinstance(confirmed, dict)
    assert closed["id"] in {r["id"] for r in confirmed["items"]}
    after_balance = admin_get(demo_server, "/quota/balances/120119/VOCs")
    assert isinstance(after_balance, dict)
    assert Decimal(after_balance["credited_t"]) == Decimal(before["credited_t"]) + Decimal(
        closed["amount_t"]
    )


async def test_a_refused_action_is_said_beside_its_form_which_stays(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """A refusal (here: a reclaim rejected with only spaces for a reason,
    which the browser's `required` lets through) shows beside the form; the
    form stays, with a new Idempotency-Key, for the officer to correct and
    send again. It replaced the whole cell, form and all."""
    p = page
    reclaims = admin_get(demo_server, "/quota/reclaims", district="120119", status="pending")
    assert isinstance(reclaims, dict)
    theirs = [r for r in reclaims["items"] if r["created_by"] != "li.hua"]
    await sign_in(p, demo_server, "officer-jizhou")
    row = p.locator(f"tr[data-reclaim='{theirs[-1]['id']}']")
    form = row.locator("form.act:has(button[data-op='reclaim-reject'])")
    key = await form.locator("input[name=idem]").input_value()
    reason = form.locator("input[name=reason]")
    await reason.evaluate("e => e.removeAttribute('required')")
    await reason.fill("   ")
    await form.locator("button").click()
    await form.locator(".outcome .result.error").wait_for()
    assert "请填写原因" in await form.locator(".outcome").inner_text()
    assert await form.locator("button[data-op='reclaim-reject']").count() == 1
    assert await form.locator("input[name=idem]").input_value() != key
    # The button's word stays on one line beside the refusal (驳回, not 驳/回).
    button = await form.locator("button").bounding_box()
    assert button and button["height"] < 48, button
    await shot(p, artifacts, "workbench-refused")


async def test_anyone_verifies_a_receipt_without_signing_in(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    p = page
    forms = admin_get(demo_server, "/eia/registrations", limit=100)
    assert isinstance(forms, dict)
    filed = next(f for f in forms["items"] if f["status"] == "filed")
    revoked = next(f for f in forms["items"] if f["status"] == "revoked")

    await p.goto(f"{demo_server.url}/console/public/verify")
    await p.fill("#no", filed["filing_no"])
    await p.fill("#code", filed["check_code"])
    await p.click("main form button[type=submit]")
    verdict = await p.inner_text("#verdict")
    assert "真实有效" in verdict and filed["project_name"] in verdict
    await shot(p, artifacts, "verify")

    await p.click("text=查看回执")
    await p.wait_for_selector("svg")
    assert "建设项目环境影响登记表备案回执" in await p.inner_text("h1")
    await shot(p, artifacts, "receipt")

    await p.goto(
        f"{demo_server.url}/console/public/verify?no={revoked['filing_no']}"
        f"&code={revoked['check_code']}"
    )
    verdict = await p.inner_text("#verdict")
    assert "已撤销" in verdict and revoked["revoke_reason"] in verdict

    await p.goto(f"{demo_server.url}/console/public/verify?no={filed['filing_no']}&code=AAAAAAAAAA")
    assert "没有与该备案号和校验码相符" in await p.inner_text("#verdict")

    await p.goto(f"{demo_server.url}/console/public/register")
    await p.wait_for_selector("main h1")
    await shot(p, artifacts, "register")
    # A later page (or a page link cut short) leads back to the first page.
    for cursor in ("MTAw", "abc"):
        await p.goto(f"{demo_server.url}/console/public/register?cursor={cursor}")
        await p.click("nav.pager >> text=第一页")
        await p.wait_for_url("**/console/public/register")
    # Filtered by the form (a GET form: no script needed): that district's
    # and pollutant's entries only; a district made up is said beside its
    # field, and on a phone nothing scrolls sideways.
    await p.select_option("#district", "120116")
    await p.select_option("#pollutant", "VOCs")
    await p.click("#register-filters button[type=submit]")
    await p.wait_for_url("**/console/public/register?district=120116&pollutant=VOCs")
    main = await p.inner_text("main")
    districts = await p.locator("#register tbody td:nth-child(3) .code").all_inner_texts()
    assert set(districts) <= {"120116"} and (districts or "没有符合筛选条件的条目" in main)
    # An extract, said so; the pollutants are quota-svc's, by code and name.
    assert "不是完整登记簿" in await p.inner_text("#register-extract")
    assert await p.inner_text("#pollutant option:checked") == "VOCs（挥发性有机物）"
    await p.set_viewport_size({"width": 375, "height": 812})
    await p.goto(f"{demo_server.url}/console/public/register?district=999999")
    assert "不是天津市 16 个区的区划代码" in await p.inner_text("#district-err")
    assert await p.get_attribute("#district", "aria-invalid") == "true"
    width = await p.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 375, (width, await p.evaluate(WIDEST))


@pytest.mark.parametrize("service", ["permit", "quota", "eia"])
async def test_api_docs_render_their_operations_offline(
    page: Page, demo_server: Server, artifacts: Path, service: str
) -> None:
    p = page
    await p.goto(f"{demo_server.url}/{service}/docs")
    await p.wait_for_selector(".opblock")
    assert await p.locator(".opblock").count() > 5
    await shot(p, artifacts, f"docs-{service}", ours=False, full=False)
    await p.goto(f"{demo_server.url}/{service}/redoc")
    await p.wait_for_selector("[data-section-id]")


async def test_enterprise_page_and_english(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    p = page
    filings = admin_get(demo_server, "/eia/filings", district="120119")
    assert isinstance(filings, dict)
    uscc = filings["items"][0]["uscc"]
    await sign_in(p, demo_server, "auditor")
    await p.goto(f"{demo_server.url}/console/enterprise/")
    await p.fill("#uscc", uscc.lower())
    await p.keyboard.press("Enter")
    await p.wait_for_selector("#h-h")
    text = await p.inner_text("main")
    assert uscc in text and filings["items"][0]["project_name"] in text
    await shot(p, artifacts, "enterprise")
    await p.click("text=English")
    assert "History" in await p.inner_text("main")
    assert await p.get_attribute("html", "lang") == "en"


async def test_a_code_typed_into_the_address_is_answered_beside_the_field(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """A code longer than the search field takes, typed straight into the
    address, gets the search form with the reason beside the field (it got
    the generic 422 page); one pasted with a zero-width space and spaces
    between its groups opens the enterprise."""
    p = page
    filings = admin_get(demo_server, "/eia/filings", district="120119")
    assert isinstance(filings, dict)
    uscc = filings["items"][0]["uscc"]
    await sign_in(p, demo_server, "auditor")
    r = await p.goto(f"{demo_server.url}/console/enterprise/?uscc={uscc}{'9' * 30}")
    assert r is not None and r.status == 200
    await p.wait_for_selector("#uscc[aria-invalid=true]")
    assert "实际为 48 个" in await p.inner_text("#uscc-err")
    assert await p.get_attribute("#uscc", "aria-describedby") == "uscc-err"
    await shot(p, artifacts, "enterprise-code-too-long", full=False)

    await p.fill("#uscc", f"{uscc[:4]} {uscc[4:8]}\u200b{uscc[8:]}")
    await p.keyboard.press("Enter")
    await p.wait_for_selector("#h-h")
    assert uscc in await p.inner_text("main")


#: The outermost elements reaching past the screen's right edge (what a
#: scroll box holds is not the page's width).
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 391
    && !(e.parentElement && e.parentElement.getBoundingClientRect().right > 391)
    && !e.parentElement.closest('table.data'))
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


async def test_on_a_phone_no_page_scrolls_sideways(
    browser: Browser, demo_server: Server, artifacts: Path
) -> None:
    """390 px wide: a wide table scrolls inside its own box; the page itself
    is never wider than the screen."""
    ctx = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        p = await ctx.new_page()
        p.set_default_timeout(15_000)
        uscc = admin_get(demo_server, "/eia/filings", district="120119")["items"][0]["uscc"]
        wide: dict[str, list[str]] = {}
        for user, paths in (
            (
                "officer-jizhou",
                [
                    "/console/workbench/",
                    f"/console/enterprise/{uscc}",
                    "/console/alerts/",
                    "/console/inspections/plans/",
                ],
            ),
            ("investment", ["/console/investment/"]),
        ):
            await sign_in(p, demo_server, user)
            for path in [*paths, "/console/public/register"]:
                await p.goto(f"{demo_server.url}{path}")
                await p.wait_for_load_state("networkidle")
                width = await p.evaluate("document.documentElement.scrollWidth")
                if width > 390:
                    wide[path] = await p.evaluate(WIDEST)
                if path == "/console/investment/":
                    # The trend chart keeps a plot of its own beside the 16
                    # districts' legend (it was flattened to a line under it).
                    await p.wait_for_selector("#trend-chart[data-drawn=true]")
                    plot = await p.evaluate(
                        "() => Chart.getChart(document.querySelector('#trend-chart')).chartArea"
                    )
                    assert plot["bottom"] - plot["top"] >= 150, plot
                    await p.locator("#trend").screenshot(path=str(artifacts / "phone-trend.png"))
            await p.screenshot(path=str(artifacts / f"phone-{user}.png"), full_page=False)
            await ctx.clear_cookies()
        assert wide == {}
    finally:
        await ctx.close()


async def test_an_actions_answer_updates_the_tabs_counts(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """李华 rejects (驳回) a reclaim 陈静 entered: the row said 已办理 — 已驳回
    while the tab still read 收回待确认 (5) until a reload. With the keyboard:
    the answer replaced the focused button and focus fell to the page's top,
    so the next Tab started over from the header."""
    p = page
    pending = admin_get(demo_server, "/quota/reclaims", district="120119", status="pending")
    assert isinstance(pending, dict)
    theirs = [r for r in pending["items"] if r["created_by"] != "li.hua"]
    target = theirs[0]
    await sign_in(p, demo_server, "officer-jizhou")
    tab = p.locator("nav.queues a[href='#reclaims']")
    assert await tab.inner_text() == f"收回待确认 ({len(pending['items'])})"
    form = p.locator(
        f"tr[data-reclaim='{target['id']}'] form.act:has(button[data-op='reclaim-reject'])"
    )
    await form.locator("input[name=reason]").fill("重复录入")
    await form.locator("button").focus()
    await p.keyboard.press("Enter")
    await p.locator(f"tr[data-reclaim='{target['id']}'] .result.ok").wait_for()
    assert "已驳回" in await p.inner_text(f"tr[data-reclaim='{target['id']}']")
    # Focus is on the answer, where the button was (not back at the top).
    focused = await p.evaluate(
        "() => { const a = document.activeElement;"
        " return a && a.matches('.result') ? a.closest('tr').dataset.reclaim : a && a.tagName }"
    )
    assert focused == target["id"]
    await p.wait_for_function(
        "n => document.querySelector(\"nav.queues a[href='#reclaims']\").textContent"
        " === '收回待确认 (' + n + ')'",
        arg=len(pending["items"]) - 1,
        timeout=5_000,
    )
    # One set of tabs: the answer's replaced the page's.
    assert await p.locator("nav.queues").count() == 1
    await shot(p, artifacts, "workbench-tabs-updated")


async def test_a_failure_is_said_beside_the_form_not_dropped(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """A workbench action (and the fit form) while a service is out: the
    console answers 503 with 本次请求所需的服务暂不可用，请稍后重试 and the
    page showed nothing (the script dropped every answer of 500 or more), so
    the button looked dead. The message shows beside the form, as a refusal
    does; the form stays, with its Idempotency-Key (sending it again cannot
    act twice). An answer not in the console's words (a proxy's page, a bare
    500) or no answer at all is said in the page's language."""
    p = page
    said = "本次请求所需的服务暂不可用，请稍后重试"
    fragment = f'<p class="result error" role="alert">{said}</p>'
    answers: list[dict[str, Any]] = [
        {"status": 503, "content_type": "text/html; charset=utf-8", "body": fragment},
        {"status": 500, "content_type": "text/plain", "body": "Internal Server Error"},
    ]

    async def outage(route: Route) -> None:
        if not answers:
            await route.abort("connectionrefused")
            return
        await route.fulfill(**answers.pop(0))

    await sign_in(p, demo_server, "officer-jizhou")
    form = p.locator("form.act:has(button[data-op='permit-renew'])").first
    key = await form.locator("input[name=idem]").input_value()
    await p.route("**/console/workbench/act", outage)
    await form.locator("button").click()
    await form.locator(".outcome .result.error").wait_for()
    assert said in await form.locator(".outcome").inner_text()
    assert await form.locator("button[data-op='permit-renew']").count() == 1
    assert await form.locator("input[name=idem]").input_value() == key
    await shot(p, artifacts, "workbench-outage")
    await form.locator("button").click()
    await p.wait_for_function(
        "el => el.textContent.includes('请求未能完成（500）')",
        arg=await form.locator(".outcome").element_handle(),
        timeout=5_000,
    )
    await form.locator("button").click()
    await p.wait_for_function(
        "el => el.textContent.includes('无法连接控制台')",
        arg=await form.locator(".outcome").element_handle(),
        timeout=5_000,
    )
    await p.unroute("**/console/workbench/act")

    # The fit form: its answer's place (#fit-result) says it.
    await p.goto(f"{demo_server.url}/console/investment/")
    answers.append({"status": 503, "content_type": "text/html; charset=utf-8", "body": fragment})
    await p.route("**/console/investment/fit?*", outage)
    await p.fill("#p_VOCs", "5")
    await p.click("form.project button[type=submit]")
    await p.locator("#fit-result .result.error").wait_for()
    assert said in await p.inner_text("#fit-result")


def admin_post(server: Server, path: str, body: dict[str, Any]) -> Any:
    headers = testing.auth("admin", idem=f"console-test-{uuid.uuid4()}")
    r = httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=30)
    assert r.status_code < 300, r.text
    return r.json()


async def test_an_officer_decides_a_permit_application_from_the_workbench(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """The workbench's 许可申请: 核发 of an application whose VOCs increase no
    allocated quota backs is refused beside its row in permit-svc's words
    (尚缺 … 吨/年), the row and its forms staying; 不予许可 with a reason
    then decides it (已不予许可) and the tab's count goes down."""
    p = page
    uscc = make_uscc("120119", 880_001)
    admin_post(
        demo_server,
        "/permit/enterprises",
        {
            "uscc": uscc,
            "name": "天津测试涂装有限公司",
            "district": "120119",
            "industry_code": "C3360",
        },
    )
    app = admin_post(
        demo_server,
        "/permit/permits",
        {"uscc": uscc, "pollutants": [{"pollutant": "VOCs", "amount_t": "2.500"}]},
    )
    applied = admin_get(demo_server, "/permit/permits", district="120119", status="applied")
    n = len(applied["items"])
    await sign_in(p, demo_server, "officer-jizhou")
    tab = p.locator("nav.queues a[href='#applications']")
    assert await tab.inner_text() == f"许可申请 ({n})"
    row = p.locator(f"tr[data-application='{app['id']}']")
    assert "天津测试涂装有限公司" in await row.inner_text()
    issue = row.locator("form.act:has(button[data-op='permit-issue'])")
    await issue.locator("button").click()
    await issue.locator(".outcome .result.error").wait_for()
    said = await issue.locator(".outcome").inner_text()
    assert "总量控制" in said and "尚缺 2.500 吨/年" in said, said
    assert await row.locator("button[data-op='permit-reject']").count() == 1
    await shot(p, artifacts, "workbench-application-short")
    refuse = row.locator("form.act:has(button[data-op='permit-reject'])")
    await refuse.locator("input[name=reason]").fill("未取得总量指标")
    await refuse.locator("button").click()
    await row.locator(".result.ok").wait_for()
    assert "已不予许可" in await row.inner_text()
    await p.wait_for_function(
        "n => document.querySelector(\"nav.queues a[href='#applications']\").textContent"
        " === '许可申请 (' + n + ')'",
        arg=n - 1,
        timeout=5_000,
    )
    now = admin_get(demo_server, f"/permit/permits/{app['id']}")
    assert now["status"] == "rejected" and now["status_reason"] == "未取得总量指标"


#: A project's name of 90 letters and no space (a filer's typing, a pasted
#: identifier): the page must wrap it, not widen.
LONG_WORD = "Reconstruction" * 6 + "ABCDEF"


async def test_a_long_unbroken_name_does_not_widen_a_phones_page(
    browser: Browser, demo_server: Server, artifacts: Path
) -> None:
    """375 px: an EIA filing whose project name is a 90-letter word made the
    enterprise page 717 px wide (its history's items and its headings did
    not wrap)."""
    assert len(LONG_WORD) == 90
    uscc = admin_get(demo_server, "/eia/filings", district="120119")["items"][0]["uscc"]
    body = {
        "project_name": LONG_WORD,
        "uscc": uscc,
        "enterprise_name": "天津" + LONG_WORD + "有限公司",
        "district": "120119",
        "project_type": "C3670",
        "category": "report_form",
        "vocs_increment_t": "0",
        "major_project": False,
    }
    async with httpx.AsyncClient(timeout=30) as api:
        r = await api.post(
            f"{demo_server.url}/eia/filings",
            json=body,
            headers=testing.auth("filer", sub="long-name-filer", idem="long-name-filing-1"),
        )
    assert r.status_code in (200, 201), r.text
    ctx = await browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    try:
        p = await ctx.new_page()
        p.set_default_timeout(15_000)
        await sign_in(p, demo_server, "officer-jizhou")
        for path in (f"/console/enterprise/{uscc}", "/console/workbench/"):
            await p.goto(f"{demo_server.url}{path}")
            await p.wait_for_load_state("networkidle")
            assert LONG_WORD in await p.inner_text("main")
            width = await p.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 375, (path, width, await p.evaluate(WIDEST))
        await p.goto(f"{demo_server.url}/console/enterprise/{uscc}")
        await p.screenshot(path=str(artifacts / "phone-long-name.png"), full_page=True)
    finally:
        await ctx.close()


async def test_back_after_signing_out_does_not_show_the_record_again(
    demo_server: Server, artifacts: Path
) -> None:
    """Chrome keeps a page it left in its back-forward cache and shows it again
    on Back without asking the server — after 退出 too, on a computer the
    next person uses. Playwright turns that cache off by default; here it is
    on, as in the browsers people use. A signed-in page is not to be kept."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.async_api import async_playwright

    uscc = "91120119000000001C"
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            ignore_default_args=["--disable-back-forward-cache"],
        )
        try:
            p = await (await b.new_context(locale="zh-CN")).new_page()
            p.set_default_timeout(15_000)
            await sign_in(p, demo_server, "auditor")
            await p.goto(f"{demo_server.url}/console/enterprise/{uscc}")
            record = await p.inner_text("h1")
            assert uscc in record
            await p.click("form[action='/console/logout'] button")
            await p.wait_for_load_state("networkidle")
            # A page restored from that cache fires no load event: wait for
            # the navigation only, then for whichever page is shown.
            await p.go_back(wait_until="commit")
            # A function, not an expression: Playwright evals an expression
            # again at each poll, and a poll after the first (not readyState
            # complete yet) runs under the page's policy, which refuses eval
            # (script-src 'self'); a function is evaled once, at the first.
            await p.wait_for_function("() => document.readyState === 'complete'")
            shown = await p.inner_text("main")
            await p.screenshot(path=str(artifacts / "back-after-sign-out.png"))
            assert record not in shown and uscc not in shown, shown[:200]
            assert "/console/login" in p.url, p.url
        finally:
            await b.close()


async def test_a_mistyped_filing_number_or_code_is_said_beside_its_field(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """回执核验's form: a number not of the form DJB-…, or a check code too
    short, is said beside the field concerned, which is marked invalid for a
    screen reader; the verdict's place stays for the verdict. Both were said
    under the form, neither field marked."""
    p = page
    forms = admin_get(demo_server, "/eia/registrations", limit=10)
    assert isinstance(forms, dict)
    filing_no = forms["items"][0]["filing_no"]

    await p.goto(f"{demo_server.url}/console/public/verify")
    await p.fill("#no", "12011920260001")
    await p.fill("#code", "ABCD1234")
    await p.click("main form button[type=submit]")
    await p.wait_for_selector("#no[aria-invalid=true]")
    said = await p.inner_text("#no-err")
    assert "备案号的格式如" in said, said
    # Beside its field: in the field's box, and the field points at it.
    assert await p.locator(".field:has(#no) #no-err").count() == 1
    assert await p.get_attribute("#no", "aria-describedby") == "no-err"
    assert await p.get_attribute("#code", "aria-invalid") is None
    assert await p.locator("#verdict").count() == 0
    await shot(p, artifacts, "verify-bad-number", full=False)

    # eia-svc refuses a code under 4 characters: beside the code field.
    await p.fill("#no", filing_no)
    await p.fill("#code", "AB")
    await p.click("main form button[type=submit]")
    await p.wait_for_selector("#code[aria-invalid=true]")
    assert "校验码" in await p.inner_text(".field:has(#code) #code-err")
    assert await p.get_attribute("#no", "aria-invalid") is None
    assert await p.locator("#verdict").count() == 0


async def test_a_refused_amount_is_said_beside_its_field_and_cleared_when_corrected(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """招商's project form: an amount that is not a number of tonnes (abc),
    or above one project's bound, is marked and said beside its own field,
    what was typed kept; corrected and sent again, the marks go. It was
    said only in a note under the form, no field marked."""
    p = page
    await sign_in(p, demo_server, "investment")
    await p.fill("#p_VOCs", "abc")
    await p.fill("#p_NOx", "200000")
    await p.fill("#p_COD", "1.5")
    await p.click("form.project button[type=submit]")
    await p.wait_for_selector("#p_VOCs[aria-invalid=true]")
    assert "大于 0" in await p.inner_text("#field-VOCs #err-VOCs")
    assert "不得超过" in await p.inner_text("#field-NOx #err-NOx")
    assert await p.get_attribute("#p_NOx", "aria-invalid") == "true"
    assert await p.get_attribute("#p_COD", "aria-invalid") is None
    assert await p.locator("#err-COD").count() == 0
    # What was typed stays, to be corrected; the summary under the form too.
    assert await p.input_value("#p_VOCs") == "abc"
    assert await p.input_value("#p_NOx") == "200000"
    assert "VOCs" in await p.inner_text("#fit-result")
    await shot(p, artifacts, "investment-bad-amounts", full=False)

    await p.fill("#p_VOCs", "5")
    await p.fill("#p_NOx", "")
    await p.click("form.project button[type=submit]")
    await p.wait_for_selector("#fit-table")
    assert await p.locator("[aria-invalid=true]").count() == 0
    assert await p.locator(".field-error").count() == 0
    assert await p.input_value("#p_VOCs") == "5"

    # The page without htmx (the form's own GET) marks the same field.
    await p.goto(f"{demo_server.url}/console/investment/fit?p_VOCs=-1")
    assert await p.get_attribute("#p_VOCs", "aria-invalid") == "true"
    assert await p.locator("#field-VOCs #err-VOCs").count() == 1


async def test_the_fit_result_has_its_address_reload_and_back_keep_it(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """招商's answer (which districts fit) is at an address of its own:
    reloaded, the same answer, the amounts typed kept; Back, the form as it
    was before. Reload used to show the empty form, what was typed lost.
    htmx keeps no copy of the page in the browser's storage (one would be
    shown on Back after 退出)."""
    p = page
    await sign_in(p, demo_server, "investment")
    start = p.url
    await p.fill("#p_VOCs", "5")
    await p.click("form.project button[type=submit]")
    await p.wait_for_selector("#fit-table")
    await p.wait_for_url("**/console/investment/fit?**")
    assert "p_VOCs=5" in p.url, p.url
    fitting = await p.locator("#fit-table tr.fits[data-district]").count()
    assert fitting > 0

    await p.reload()
    await p.wait_for_selector("#fit-table")
    assert await p.input_value("#p_VOCs") == "5"
    assert await p.locator("#fit-table tr.fits[data-district]").count() == fitting

    await p.go_back()
    await p.wait_for_load_state("networkidle")
    assert p.url == start, p.url
    assert await p.locator("#fit-table").count() == 0
    await p.go_forward()
    await p.wait_for_selector("#fit-table")
    cached = await p.evaluate("() => sessionStorage.getItem('htmx-history-cache')")
    assert cached in (None, "[]"), (cached or "")[:200]

    # After an answer drawn in place, the page's English link keeps that
    # answer's question (it kept the page's first one: here the answer for
    # 5 t, or on the empty form a refusal, no amount given).
    await p.fill("#p_VOCs", "6")
    await p.click("form.project button[type=submit]")
    await p.wait_for_url("**p_VOCs=6**")
    await p.wait_for_selector("#fit-table caption:has-text('6.000')")
    await p.click("#lang-switch")
    await p.wait_for_selector("#fit-table")
    assert "lang=en" in p.url and "p_VOCs=6" in p.url, p.url
    assert await p.input_value("#p_VOCs") == "6"
    assert "districts can take this project" in await p.inner_text("#fit-summary")
    await p.click("#lang-switch")  # back to Chinese for the tests after
    await p.wait_for_selector("#fit-table")


async def test_an_officer_reads_the_complaints_of_the_district_on_a_phone_too(
    browser: Browser, page: Page, demo_server: Server, artifacts: Path
) -> None:
    """李华 opens 环保投诉 from the navigation: the open complaints of 蓟州区
    with their states, deadlines and time left, the odour reported twice
    among the repeated problems; on a phone the tables scroll in their own
    boxes, with the hint above them, and the page does not."""
    p = page
    await sign_in(p, demo_server, "officer-jizhou")
    await p.click("nav >> text=环保投诉")
    await p.wait_for_selector("#open-complaints")
    assert await p.get_attribute("nav a[href='/console/complaints/']", "aria-current") == "page"
    rows = p.locator("#open-complaints tbody tr")
    assert await rows.count() >= 3
    table = await p.inner_text("#open-complaints")
    assert "已接收" in table and "已受理" in table and "宝坻区" not in table
    assert all(
        ("剩余" in t or "今日到期" in t or "已超期" in t)
        for t in await p.locator("#open-complaints tbody tr td:last-child").all_inner_texts()
    )
    assert "异味" in await p.inner_text("#clusters")
    await shot(p, artifacts, "complaints")

    ctx = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        phone = await ctx.new_page()
        phone.set_default_timeout(15_000)
        await sign_in(phone, demo_server, "officer-jizhou", "?next=/console/complaints/")
        await phone.wait_for_selector("#open-complaints")
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 390, (
            await phone.evaluate(WIDEST)
        )
        assert await phone.locator(".scroll-hint").first.is_visible()
        await phone.screenshot(path=str(artifacts / "phone-complaints.png"), full_page=False)
    finally:
        await ctx.close()


async def test_an_officer_decides_an_enforcement_case_through_its_form(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """李华 opens 执法检查 from the navigation: 蓟州区's inspections with
    what they found and the rectification order under way; from the
    inspection with the finding to its case, which 李华 (not its proposer)
    approves with 批准: the case is drawn again in place, 已决定 with its
    next action (结案), and supervision-svc has it decided."""
    p = page
    await sign_in(p, demo_server, "officer-jizhou")
    await p.click("nav >> text=执法检查")
    await p.wait_for_selector("#inspections")
    assert await p.get_attribute("nav a[href='/console/inspections/']", "aria-current") == "page"
    table = await p.inner_text("#inspections")
    assert "蓟州区" in table and "宝坻区" not in table and "已立案" in table
    assert "责令整改" in await p.inner_text("#open-cases")
    await shot(p, artifacts, "inspections")
    await p.click("#inspections tr:has-text('已立案') th a")
    await p.wait_for_selector("#findings")
    assert "活性炭逾期未更换" in await p.inner_text("#findings")
    await p.click("#findings a[href^='/console/cases/']")
    await p.wait_for_selector("#case")
    case_id = p.url.rsplit("/", 1)[1]
    if await p.inner_text("#case-state") == "待决定":  # the demonstration's, as loaded
        await p.fill("form.act:has(button[data-op=approve]) input[name=reason]", "同意责令整改")
        await p.click("form.act button[data-op=approve]")
        await p.wait_for_selector("#case .result.ok")
        assert "已办理 — 已决定" in await p.inner_text("#case .result")
    assert await p.inner_text("#case-state") == "已决定"
    assert await p.locator("button[data-op=close]").count() == 1
    assert await p.locator("button[data-op=approve]").count() == 0
    await shot(p, artifacts, "case-decided")
    case = admin_get(demo_server, f"/supervision/cases/{case_id}")
    assert case["status"] == "decided" and case["decision_note"] == "同意责令整改"


async def test_an_officer_draws_a_plan_through_its_form(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """李华 opens 抽查计划 from the 执法检查 page and draws one 蓟州区
    enterprise: a period supervision-svc refuses is said beside the form,
    which keeps what was typed (and takes a new Idempotency-Key); corrected,
    the draw is said with a link to the plan, whose page names the
    enterprise drawn and its two inspectors."""
    p = page
    await sign_in(p, demo_server, "officer-jizhou", "?next=/console/inspections/")
    await p.click("#inspection-tabs >> text=抽查计划")
    await p.wait_for_selector("#draw form.act")
    form = p.locator("#draw form.act")
    key = await form.locator("input[name=idem]").input_value()
    await p.fill("#draw-period", "2099-Q5")
    await p.fill("#draw-count", "1")
    await p.fill("#draw-pool", "李华\n陈静")
    await form.locator("button[data-op=draw]").click()
    await form.locator(".outcome .result.error").wait_for()
    assert "抽查期间：" in await form.locator(".outcome").inner_text()
    assert await p.input_value("#draw-period") == "2099-Q5"
    assert await p.input_value("#draw-pool") == "李华\n陈静"
    assert await form.locator("input[name=idem]").input_value() != key
    await shot(p, artifacts, "plan-refused")
    await p.fill("#draw-period", "2099-Q4")
    await form.locator("button[data-op=draw]").click()
    await p.wait_for_selector("#draw .result.ok")
    assert "已办理 — 已抽取 1 家企业" in await p.inner_text("#draw .result")
    await p.click("#drawn-plan")
    await p.wait_for_selector("#drawn-enterprises")
    plan = admin_get(demo_server, f"/supervision/inspection-plans/{p.url.rsplit('/', 1)[1]}")
    (drawn,) = plan["selection"]
    row = await p.inner_text(f"tr[data-uscc='{drawn['uscc']}']")
    assert drawn["name"] in row and "尚未检查" in row
    assert sorted(drawn["inspectors"]) == ["李华", "陈静"] and "、" in row
    await shot(p, artifacts, "plan")


async def test_an_officer_accepts_a_complaint_through_its_form(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """李华 opens a received complaint from the complaints page and clicks
    受理: the complaint is drawn again in place, 已受理 with its next action
    (交办), and the list says so."""
    complaint = receive_complaint(
        demo_server.url, "夜间有人向河道倾倒不明液体，气味刺鼻", "天津市蓟州区邦均镇桥下"
    )
    p = page
    await sign_in(p, demo_server, "officer-jizhou", "?next=/console/complaints/")
    await p.wait_for_selector("#open-complaints")
    await p.click(f"a[href='/console/complaints/{complaint['id']}']")
    await p.wait_for_selector("#complaint")
    assert await p.inner_text("#complaint-state") == "已接收"
    await p.click("form.act button[data-op=accept]")
    await p.wait_for_selector("#complaint .result.ok")
    assert "已办理 — 已受理" in await p.inner_text("#complaint .result")
    assert await p.inner_text("#complaint-state") == "已受理"
    assert await p.locator("button[data-op=assign]").count() == 1
    assert await p.locator("button[data-op=accept]").count() == 0
    await shot(p, artifacts, "complaint-accepted")
    await p.goto(f"{demo_server.url}/console/complaints/")
    row = p.locator(f"tr[data-complaint='{complaint['id']}']")
    assert "已受理" in await row.inner_text()


def _new_demand(server: Server, title: str) -> str:
    """An item of 蓟州区's demands list made through supervision-svc's API."""
    import datetime as dt
    import uuid

    body = {
        "district": "120119",
        "title": title,
        "source": "other",
        "owner": "王伟",
        "deadline": (dt.date.today() + dt.timedelta(days=10)).isoformat(),
    }
    headers = testing.auth("admin", idem=str(uuid.uuid4()))
    r = httpx.post(f"{server.url}/supervision/demands", json=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _complete(server: Server, demand_id: str) -> None:
    import uuid

    headers = testing.auth("admin", idem=str(uuid.uuid4()))
    r = httpx.post(f"{server.url}/supervision/demands/{demand_id}/done", headers=headers)
    assert r.status_code == 200, r.text


async def test_an_officer_records_a_demands_progress_through_its_form(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """李华 opens 群众诉求清单 from the nav and records an item's progress:
    the item redrawn with it; an item someone else completed meanwhile is
    said beside its form in Chinese, the note typed kept (and a new
    Idempotency-Key)."""
    first = _new_demand(demo_server, "清理河道垃圾（浏览器测试）")
    second = _new_demand(demo_server, "督促企业更换活性炭（浏览器测试）")
    p = page
    await sign_in(p, demo_server, "officer-jizhou")
    await p.click("nav >> text=群众诉求清单")
    await p.wait_for_selector(f"#demand-{first} form.act")
    await p.select_option(f"#c-progress-{first}", "50")
    await p.fill(f"#r-progress-{first}-", "已清理一半")
    await p.click(f"#demand-{first} button[data-op=progress]")
    await p.wait_for_selector(f"#demand-{first} .result.ok")
    item = await p.inner_text(f"#demand-{first}")
    assert "已办理 — 进展 50%" in item and "进展 50%：已清理一半" in item
    await shot(p, artifacts, "demands")
    _complete(demo_server, second)  # by someone else since the page was drawn
    form = p.locator(f"#demand-{second} form.act").first
    key = await form.locator("input[name=idem]").input_value()
    await p.fill(f"#r-progress-{second}-", "已通知企业")
    await form.locator("button[data-op=progress]").click()
    await form.locator(".outcome .result.error").wait_for()
    said = await form.locator(".outcome").inner_text()
    assert "该诉求事项已由其他人办理（当前：已办结）" in said
    assert await p.input_value(f"#r-progress-{second}-") == "已通知企业"
    assert await form.locator("input[name=idem]").input_value() != key
    await shot(p, artifacts, "demand-refused")


async def test_an_officer_keeps_the_guarantee_list_through_its_form(
    page: Page, demo_server: Server, artifacts: Path
) -> None:
    """李华 opens 绩效分级 from the nav, then the listed 蓟州区 plant's page
    (its grade history and guarantee-list entry); a validity supervision-svc
    refuses is said beside the form, which keeps what was typed (and takes
    a new Idempotency-Key); corrected, the page is drawn again with 已办理."""
    (entry,) = admin_get(demo_server, "/supervision/guarantee-list", district="120119")["items"]
    p = page
    await sign_in(p, demo_server, "officer-jizhou")
    await p.click("nav >> text=绩效分级")
    await p.wait_for_selector("#grades")
    await shot(p, artifacts, "grading")
    await p.click(f"#guarantees a[href='/console/grading/{entry['uscc']}']")
    await p.wait_for_selector("#guarantee-form")
    assert "民生保障" in await p.inner_text("#entry")
    form = p.locator("#guarantee-form")
    key = await form.locator("input[name=idem]").input_value()
    await p.select_option("#guarantee-reason", "livelihood")
    await p.fill("#guarantee-from", entry["valid_to"])
    await p.fill("#guarantee-to", entry["valid_from"])
    await p.select_option("#guarantee-kind", "reduce")
    await p.fill("#guarantee-percent", str(entry["allowed_measure"]["percent"]))
    await p.fill("#guarantee-note", entry["note"] or "")
    await form.locator("button[data-op=guarantee]").click()
    await form.locator(".outcome .result.error").wait_for()
    assert "有效期止：" in await form.locator(".outcome").inner_text()
    assert await p.input_value("#guarantee-from") == entry["valid_to"]
    assert await form.locator("input[name=idem]").input_value() != key
    await shot(p, artifacts, "guarantee-refused")
    await p.fill("#guarantee-from", entry["valid_from"])
    await p.fill("#guarantee-to", entry["valid_to"])
    await form.locator("button[data-op=guarantee]").click()
    await p.wait_for_selector("#flash p.flash.ok")
    assert "已办理 — 已纳入保障类正面清单" in await p.inner_text("body")
    (now,) = admin_get(demo_server, "/supervision/guarantee-list", district="120119")["items"]
    assert now == entry  # the same as listed: supervision-svc recorded nothing new
