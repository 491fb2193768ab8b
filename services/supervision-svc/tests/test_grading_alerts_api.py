"""Grades with history, the guarantee list, per-plant plans, the
effective-dated policy table, an alert's measures with their reasons, the
expected reductions per district, and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from svc_common import clock
from svc_common.i18n import use

from .conftest import ADMIN, AUDITOR, DONGLI, T0, WUQING, Service, officer

YEAR = {"valid_from": "2026-01-01", "valid_to": "2026-12-31"}


async def grade(svc: Service, uscc: str, g: str, benchmark: str = "none") -> Any:
    r = await svc.http.put(
        f"/supervision/grades/{uscc}",
        json={"grade": g, "benchmark": benchmark, "industry": "工业涂装", "basis": "评定", **YEAR},
        headers=officer(),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_alert_measures_with_reasons_reductions_and_csv(svc: Service) -> None:
    with clock.using(clock.ManualClock(T0)):
        await _alert_story(svc)


async def _alert_story(svc: Service) -> None:
    national = await svc.enterprise(1, vocs="73", nox="36.5", name="国家标杆企业")
    b_grade = await svc.enterprise(2, vocs="36.5", nox="0", name="B级企业")
    livelihood = await svc.enterprise(3, vocs="36.5", nox="36.5", name="民生保障企业")
    planned = await svc.enterprise(4, vocs="10", name="一厂一策企业")
    ungraded = await svc.enterprise(5, vocs="3.65", name="未评级企业")
    await svc.enterprise(6, name="只登记企业")  # no permit, no grade: not on the list
    await svc.enterprise(7, WUQING, vocs="100")  # another district
    await grade(svc, national, "A", "national")
    await grade(svc, b_grade, "C")
    await grade(svc, b_grade, "B")  # regraded: history keeps both
    await grade(svc, livelihood, "D")
    await grade(svc, planned, "C")
    r = await svc.http.get(f"/supervision/grades/{b_grade}", headers=AUDITOR)
    assert r.json()["current"]["grade"] == "B" and [h["grade"] for h in r.json()["history"]] == [
        "B",
        "C",
    ]
    r = await svc.http.get(f"/supervision/grades?district={DONGLI}&grade=B", headers=AUDITOR)
    assert [g["uscc"] for g in r.json()["items"]] == [b_grade]
    r = await svc.http.put(
        f"/supervision/guarantee-list/{livelihood}",
        json={"reason": "livelihood", "allowed_measure": {"kind": "reduce", "percent": 10}, **YEAR},
        headers=officer(),
    )
    assert r.status_code == 200, r.text
    r = await svc.http.put(
        f"/supervision/plant-plans/{planned}",
        json={
            "level": "red",
            "measure": {"kind": "stop_processes", "processes": ["喷涂"], "percent": 40},
            "note": "喷涂工序停产",
        },
        headers=officer(),
    )
    assert r.status_code == 200, r.text

    r = await svc.http.post(
        "/supervision/alerts",
        json={
            "level": "red",
            "districts": [DONGLI],
            "from": "2026-11-01T00:00:00+08:00",
            "to": "2026-11-08T00:00:00+08:00",
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    alert = r.json()
    r = await svc.http.get(f"/supervision/alerts/{alert['id']}/measures", headers=officer())
    assert r.status_code == 200, r.text
    m = r.json()
    by = {i["uscc"]: i for i in m["items"]}
    assert set(by) == {national, b_grade, livelihood, planned, ungraded}
    assert (
        by[national]["measure"] == {"kind": "none"} and by[national]["tier"] == "benchmark_national"
    )
    assert by[b_grade]["measure"] == {"kind": "reduce", "percent": 30}
    assert by[livelihood]["measure"] == {"kind": "reduce", "percent": 10}
    # Why, in the caller's language (the test client asks for English).
    assert by[livelihood]["guarantee"] == "livelihood" and by[livelihood]["why"] == [
        "grade D → tier D: policy at red requires stop",
        "guarantee list (livelihood): at most reduce 10%",
    ]
    chinese = {**officer(), "Accept-Language": "zh-CN"}
    r = await svc.http.get(f"/supervision/alerts/{alert['id']}/measures", headers=chinese)
    why = {i["uscc"]: i["why"] for i in r.json()["items"]}
    assert why[livelihood] == [
        "绩效分级 D级 → 适用D级档，红色预警时按政策表：停产",
        "保障类清单（民生保障）：至多减排 10%",
    ]
    assert why[planned][-1] == "一厂一策（红色预警）：停止喷涂"
    assert why[ungraded] == ["未评级 → 适用未评级档，红色预警时按政策表：停止涉VOCs排放工序"]
    assert by[planned]["measure"]["kind"] == "stop_processes" and by[planned]["plant_plan"]
    assert by[ungraded]["tier"] == "ungraded" and by[ungraded]["cut_percent"] == 50
    # 7 days of a year: B 36.5 t × 30 % × 7/365 = 0.210 t; D on the list 36.5 × 10 % → 0.070.
    assert by[b_grade]["expected_vocs_reduction_t"] == "0.210"
    assert by[livelihood]["expected_nox_reduction_t"] == "0.070"
    (dongli,) = m["districts"]
    # VOCs: 0 + 0.210 + 0.070 + 10 × 40 % × 7/365 (0.077) + 3.65 × 50 % × 7/365 (0.035)
    assert dongli["expected_vocs_reduction_t"] == "0.392"
    assert dongli["expected_nox_reduction_t"] == "0.070" and dongli["enterprises"] == 5

    r = await svc.http.get(f"/supervision/alerts/{alert['id']}/measures.csv", headers=officer())
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 5 and {x["name"] for x in rows} >= {"国家标杆企业", "民生保障企业"}
    assert {x["uscc"]: x["why"] for x in rows}[livelihood] == (
        "grade D → tier D: policy at red requires stop; "
        "guarantee list (livelihood): at most reduce 10%"
    )
    # With no Accept-Language at all, Chinese.
    req = svc.http.build_request(
        "GET", f"/supervision/alerts/{alert['id']}/measures.csv", headers=officer()
    )
    del req.headers["Accept-Language"]
    r = await svc.http.send(req)
    assert r.headers["content-language"] == "zh-CN"
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {x["统一社会信用代码"]: x["减排措施"] for x in rows}[livelihood] == "减排 10%"
    assert {x["统一社会信用代码"]: x["依据"] for x in rows}[livelihood] == (
        "绩效分级 D级 → 适用D级档，红色预警时按政策表：停产; 保障类清单（民生保障）：至多减排 10%"
    )
    r = await svc.http.get(f"/supervision/alerts/{alert['id']}/measures", headers=officer(WUQING))
    assert r.status_code == 404

    # A stricter table from 1 November: B at red stops.
    table = (await svc.http.get("/supervision/emergency-policy", headers=AUDITOR)).json()["rules"]
    for rule in table:
        if (rule["level"], rule["tier"]) == ("red", "B"):
            rule["measure"] = {"kind": "stop"}
    r = await svc.http.put(
        "/supervision/emergency-policy",
        json={"effective_from": "2026-11-01", "rules": table[1:]},
        headers=ADMIN,
    )
    assert r.status_code == 422 and r.json()["missing"] == ["yellow/benchmark_national"]
    assert [e["field"] for e in r.json()["errors"]] == ["rules"]
    # A level and tier twice: the second one is named.
    r = await svc.http.put(
        "/supervision/emergency-policy",
        json={"effective_from": "2026-11-01", "rules": [*table[:-1], table[3]]},
        headers=ADMIN,
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [f"rules.{len(table) - 1}"], r.text
    r = await svc.http.put(
        "/supervision/emergency-policy",
        json={"effective_from": "2026-11-01", "rules": table},
        headers=officer(),
    )
    assert r.status_code == 403
    r = await svc.http.put(
        "/supervision/emergency-policy",
        json={"effective_from": "2026-11-01", "rules": table},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    m = (
        await svc.http.get(f"/supervision/alerts/{alert['id']}/measures", headers=officer())
    ).json()
    assert m["policy_effective_from"] == "2026-11-01"
    assert {i["uscc"]: i["measure"] for i in m["items"]}[b_grade] == {"kind": "stop"}
    r = await svc.http.get("/supervision/emergency-policy?on=2026-10-31", headers=AUDITOR)
    assert r.json()["effective_from"] == "2020-01-01"


async def test_a_policy_table_takes_effect_today_or_later(svc: Service) -> None:
    """A table dated before today (Beijing) would change the measures of
    alerts already issued, whose measures are the table in force on their
    first day: it is refused, naming `effective_from`. Today is fine. At
    01:00 on 1 July in Beijing it is still 30 June in UTC."""
    c = clock.ManualClock(dt.datetime(2026, 6, 30, 2, 0, tzinfo=dt.UTC))
    with clock.using(c):
        await svc.enterprise(9100, vocs="36.5")
        r = await svc.http.post(
            "/supervision/alerts",
            json={
                "level": "red",
                "districts": [DONGLI],
                "from": "2026-06-30T20:00:00+08:00",
                "to": "2026-07-02T20:00:00+08:00",
            },
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        alert = r.json()["id"]
        await c.advance(dt.timedelta(hours=15))  # 01:00 on 1 July in Beijing
        table = (await svc.http.get("/supervision/emergency-policy", headers=ADMIN)).json()
        for rule in table["rules"]:
            rule["measure"] = {"kind": "stop"}
        for lang, message in (
            (
                "zh-CN",
                "不得早于今天（北京时间 2026-07-01）：措施表自今天或以后生效，"
                "已发布预警的减排措施仍按当时有效的措施表",
            ),
            (
                "en",
                "must not be before today (2026-07-01, Beijing time): a table takes effect "
                "today or later, so alerts already issued keep the measures of the table "
                "in force then",
            ),
        ):
            r = await svc.http.put(
                "/supervision/emergency-policy",
                json={"effective_from": "2026-06-30", "rules": table["rules"]},
                headers={**ADMIN, "Accept-Language": lang},
            )
            assert r.status_code == 422, r.text
            assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
                ("effective_from", message)
            ]
        m = (await svc.http.get(f"/supervision/alerts/{alert}/measures", headers=ADMIN)).json()
        assert m["policy_effective_from"] == "2020-01-01"
        assert {i["measure"]["kind"] for i in m["items"]} == {"stop_processes"}
        r = await svc.http.put(
            "/supervision/emergency-policy",
            json={"effective_from": "2026-07-01", "rules": table["rules"]},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        m = (await svc.http.get(f"/supervision/alerts/{alert}/measures", headers=ADMIN)).json()
        assert m["policy_effective_from"] == "2020-01-01"


async def test_the_shipped_policy_tables_note_is_in_the_callers_language(svc: Service) -> None:
    """The shipped emergency policy table's note was English under a zh-CN
    answer: it is said in the caller's language now; an administrator's own
    note is answered as written."""
    with clock.using(clock.ManualClock(T0)):  # 1 November is ahead
        await _shipped_note(svc)


async def _shipped_note(svc: Service) -> None:
    url = "/supervision/emergency-policy?on=2026-10-31"
    zh = await svc.http.get(url, headers={**AUDITOR, "Accept-Language": "zh-CN"})
    assert zh.status_code == 200 and zh.headers["content-language"] == "zh-CN", zh.text
    assert zh.json()["set_by"] == "system"
    assert zh.json()["note"] == "系统预置的默认应急减排措施表；本局的措施表由管理员设置"
    en = await svc.http.get(url, headers={**AUDITOR, "Accept-Language": "en"})
    assert en.json()["note"] == "shipped default; an administrator sets the bureau's own"
    table = zh.json()["rules"]
    for note in (
        "天津市重污染天气应急预案（2026 年修订）",
        "shipped default; an administrator sets the bureau's own",
    ):
        r = await svc.http.put(
            "/supervision/emergency-policy",
            json={"effective_from": "2026-11-01", "rules": table, "note": note},
            headers={**ADMIN, "Accept-Language": "zh-CN"},
        )
        assert r.status_code == 200 and r.json()["note"] == note, r.text
        r = await svc.http.get(
            "/supervision/emergency-policy?on=2026-11-01",
            headers={**AUDITOR, "Accept-Language": "zh-CN"},
        )
        assert r.json()["note"] == note


def test_the_measures_csv_shows_a_formula_like_name_as_written() -> None:
    from decimal import Decimal
    from types import SimpleNamespace

    from supervision_svc.alerts.service import to_csv

    item = SimpleNamespace(
        district=DONGLI,
        uscc="91120110000000001A",
        name='=HYPERLINK("http://evil/")',
        grade="B",
        benchmark=None,
        guarantee=None,
        plant_plan=False,
        measure={"kind": "reduce", "percent": 30},
        cut_percent=30,
        expected_vocs_reduction_t=Decimal("0.210"),
        expected_nox_reduction_t=Decimal("-0.010"),
        why=["B 级"],
    )
    with use("en"):
        text = to_csv(SimpleNamespace(items=[item]))  # type: ignore[arg-type]
    [row] = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert row["name"] == '\'=HYPERLINK("http://evil/")'
    assert row["expected_nox_reduction_t"] == "-0.010" and row["uscc"] == "91120110000000001A"
    assert row["measure"] == "reduce 30%" and row["plant_plan"] == ""


def test_the_measures_csv_speaks_chinese_to_district_teams() -> None:
    from decimal import Decimal
    from types import SimpleNamespace

    from supervision_svc.alerts.service import to_csv

    item = SimpleNamespace(
        district=DONGLI,
        uscc="91120110000000001A",
        name="天津市某化工有限公司",
        grade="C",
        benchmark="tianjin",
        guarantee="livelihood",
        plant_plan=True,
        measure={"kind": "stop_processes", "processes": ["喷涂", "烘干"]},
        cut_percent=40,
        expected_vocs_reduction_t=Decimal("0.077"),
        expected_nox_reduction_t=Decimal("0.000"),
        why=["C级"],
    )
    with use("zh"):
        text = to_csv(SimpleNamespace(items=[item]))  # type: ignore[arg-type]
    assert text.startswith("\ufeff")  # spreadsheet programs then read UTF-8
    [row] = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert row == {
        "区": "东丽区",
        "统一社会信用代码": "91120110000000001A",
        "企业名称": "天津市某化工有限公司",
        "绩效分级": "C级",
        "标杆企业": "天津市标杆",
        "保障类清单": "民生保障",
        "一厂一策": "是",
        "减排措施": "停止喷涂、烘干",
        "减排比例（%）": "40",
        "预计VOCs减排量（吨）": "0.077",
        "预计NOx减排量（吨）": "0.000",
        "依据": "C级",
    }


def test_the_measures_csv_says_no_benchmark_in_chinese() -> None:
    """A graded enterprise that is no benchmark showed the code `none` in the
    Chinese CSV's 标杆企业 column; English (for scripts) keeps the code."""
    from decimal import Decimal
    from types import SimpleNamespace

    from supervision_svc.alerts.service import to_csv

    item = SimpleNamespace(
        district=DONGLI,
        uscc="91120110000000001A",
        name="天津市某化工有限公司",
        grade="D",
        benchmark="none",
        guarantee=None,
        plant_plan=False,
        measure={"kind": "stop"},
        cut_percent=100,
        expected_vocs_reduction_t=Decimal("0.009"),
        expected_nox_reduction_t=Decimal("0.011"),
        why=["D级"],
    )
    measures = SimpleNamespace(items=[item])
    with use("zh"):
        [zh] = csv.DictReader(io.StringIO(to_csv(measures).lstrip("\ufeff")))  # type: ignore[arg-type]
    assert zh["标杆企业"] == "非标杆" and zh["绩效分级"] == "D级" and zh["减排措施"] == "停产"
    with use("en"):
        [en] = csv.DictReader(io.StringIO(to_csv(measures).lstrip("\ufeff")))  # type: ignore[arg-type]
    assert en["benchmark"] == "none"


async def red_alert(svc: Service, district: str = DONGLI) -> dict[str, Any]:
    r = await svc.http.post(
        "/supervision/alerts",
        json={
            "level": "red",
            "districts": [district],
            "from": "2026-11-01T00:00:00+08:00",
            "to": "2026-11-08T00:00:00+08:00",
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_the_guarantee_list_never_makes_a_plants_measure_stricter(svc: Service) -> None:
    """A plant plan stopping 喷涂 (30 %) with a guarantee entry allowing at most
    "reduce 60 %" was answered "reduce 60 %": the list, which only eases,
    had doubled what the plant must cut. The plan's 30 % stands."""
    with clock.using(clock.ManualClock(T0)):
        plant = await svc.enterprise(21, vocs="36.5", name="一厂一策保障企业")
        await grade(svc, plant, "D")
        plan = {"kind": "stop_processes", "processes": ["喷涂"], "percent": 30}
        r = await svc.http.put(
            f"/supervision/plant-plans/{plant}",
            json={"level": "red", "measure": plan, "note": "一厂一策"},
            headers=officer(),
        )
        assert r.status_code == 200, r.text
        r = await svc.http.put(
            f"/supervision/guarantee-list/{plant}",
            json={
                "reason": "livelihood",
                "allowed_measure": {"kind": "reduce", "percent": 60},
                **YEAR,
            },
            headers=officer(),
        )
        assert r.status_code == 200, r.text
        alert = await red_alert(svc)
        r = await svc.http.get(f"/supervision/alerts/{alert['id']}/measures", headers=officer())
        assert r.status_code == 200, r.text
        (item,) = r.json()["items"]
        assert (item["measure"], item["cut_percent"]) == (plan, 30)
        assert item["why"][-1] == "guarantee list (livelihood): allows reduce 60%, no easing needed"
        # 36.5 t × 30 % × 7/365 = 0.210 t
        assert item["expected_vocs_reduction_t"] == "0.210"


async def test_a_permit_before_its_start_date_counts_for_no_alert(svc: Service) -> None:
    """A certificate valid from 2030 was counted in force in 2026: its
    permitted tonnes went into the alert's expected reductions."""
    with clock.using(clock.ManualClock(T0)):
        future = await svc.enterprise(22, vocs="36.5", permit_from=dt.date(2030, 1, 1))
        current = await svc.enterprise(23, vocs="36.5")
        await grade(svc, future, "B")
        await grade(svc, current, "B")
        alert = await red_alert(svc)
        r = await svc.http.get(f"/supervision/alerts/{alert['id']}/measures", headers=officer())
        assert r.status_code == 200, r.text
        by = {i["uscc"]: i for i in r.json()["items"]}
        assert by[future]["permitted_vocs_t"] == "0.000"
        assert by[future]["expected_vocs_reduction_t"] == "0.000"
        assert by[future]["why"][-1] == "no permit in force: no permitted amounts to reduce"
        assert by[current]["expected_vocs_reduction_t"] == "0.210"
        (dongli,) = r.json()["districts"]
        assert dongli["expected_vocs_reduction_t"] == "0.210"


async def test_a_districts_expected_reduction_may_pass_a_million_tonnes(svc: Service) -> None:
    """A district's summed reduction is a sum (TotalTonnes, no bound): past
    1,000,000 t the measures and their CSV were a 422 "is implausibly large"."""
    with clock.using(clock.ManualClock(T0)):
        for serial in range(41, 54):
            uscc = await svc.enterprise(serial, vocs="1000000", nox="1000000")
            await grade(svc, uscc, "D")  # stop at red: 100 %
        r = await svc.http.post(
            "/supervision/alerts",
            json={
                "level": "red",
                "districts": [DONGLI],
                "from": "2026-11-01T00:00:00+08:00",
                "to": "2026-12-02T00:00:00+08:00",
            },
            headers=ADMIN,
        )
        assert r.status_code == 201, r.text
        path = f"/supervision/alerts/{r.json()['id']}/measures"
        r = await svc.http.get(path, headers=officer())
        assert r.status_code == 200, r.text
        # Each: 1,000,000 t × 100 % × 31/365 = 84,931.507 t; thirteen of them.
        assert {i["expected_vocs_reduction_t"] for i in r.json()["items"]} == {"84931.507"}
        (dongli,) = r.json()["districts"]
        assert dongli["enterprises"] == 13
        assert dongli["expected_vocs_reduction_t"] == "1104109.591"
        assert dongli["expected_nox_reduction_t"] == "1104109.591"
        r = await svc.http.get(f"{path}.csv", headers=officer())
        assert r.status_code == 200, r.text
        assert len(list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))) == 13


def test_a_districts_summed_reduction_is_total_tonnes() -> None:
    """Sums in answers are TotalTonnes, not the bounded input type Tonnes."""
    from decimal import Decimal

    from supervision_svc.alerts.schemas import DistrictReduction

    big = Decimal("1104109.591")
    d = DistrictReduction(
        district=DONGLI, enterprises=13, expected_vocs_reduction_t=big, expected_nox_reduction_t=big
    )
    assert d.model_dump(mode="json")["expected_vocs_reduction_t"] == "1104109.591"


async def test_the_guarantee_list_is_read_a_page_at_a_time(svc: Service) -> None:
    """`GET /supervision/guarantee-list` pages as the service's other lists
    do (limit, then the signed `next_cursor`), in USCC order, each district
    seeing its own. Before, it answered every entry in one array."""
    with clock.using(clock.ManualClock(T0)):
        dongli = [await svc.enterprise(n, name=f"保障企业{n}") for n in range(1, 6)]
        wuqing = await svc.enterprise(9, WUQING)
        for uscc, district in [*((u, DONGLI) for u in dongli), (wuqing, WUQING)]:
            r = await svc.http.put(
                f"/supervision/guarantee-list/{uscc}",
                json={"reason": "livelihood", "allowed_measure": {"kind": "none"}, **YEAR},
                headers=officer(district),
            )
            assert r.status_code == 200, r.text
        # One entry ended: it is on no page.
        r = await svc.http.delete(f"/supervision/guarantee-list/{dongli[2]}", headers=officer())
        assert r.status_code == 204, r.text

        seen: list[str] = []
        pages = 0
        params: dict[str, Any] = {"limit": 2}
        while True:
            r = await svc.http.get("/supervision/guarantee-list", params=params, headers=officer())
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["items"]) <= 2
            seen += [g["uscc"] for g in page["items"]]
            pages += 1
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        live = sorted(u for u in dongli if u != dongli[2])
        assert (seen, pages) == (live, 2)
        names = {g["uscc"]: g["enterprise_name"] for g in page["items"]}
        assert names[live[-1]] == "保障企业5"

        # The default page holds them all; an auditor reads every district.
        r = await svc.http.get("/supervision/guarantee-list", headers=AUDITOR)
        assert r.status_code == 200, r.text
        assert [g["uscc"] for g in r.json()["items"]] == sorted([*live, wuqing])
        assert r.json()["next_cursor"] is None

        # A cursor this list did not give is refused, naming the field.
        r = await svc.http.get(
            "/supervision/guarantee-list",
            params={"cursor": "bm90LWEtY3Vyc29yAAAAAAAAAAA"},
            headers=officer(),
        )
        assert r.status_code == 422, r.text
        assert "cursor" in r.text
