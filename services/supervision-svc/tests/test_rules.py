"""The pure rules: duplicate detection on Chinese text, attention, closure
rate, working days, draw weights and reproducibility, the measure table."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from decimal import Decimal

import pytest
from supervision_svc.complaints import rules as complaints
from supervision_svc.grading import rules as grading
from supervision_svc.inspections import rules as inspections
from supervision_svc.registry import rules as registry
from svc_common import guard, i18n

T = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
R = complaints.DuplicateRules(
    window=dt.timedelta(days=30), radius_m=500, text_min=0.2, address_min=0.6, text_alone=0.6
)


def facts(id_: str, text: str, *, days: float = 0, **kw: object) -> complaints.ComplaintFacts:
    base: dict[str, object] = {
        "district": "120110",
        "category": "odor",
        "address": "东丽区金钟街道欢庆路88号",
        "received_at": T + dt.timedelta(days=days),
    }
    base.update(kw)
    return complaints.ComplaintFacts(id=id_, description=text, **base)  # type: ignore[arg-type]


FIRST = "某化工厂夜间排放刺鼻气味，影响居民休息"


def test_the_same_smell_reported_in_other_words_at_the_same_place_is_a_duplicate() -> None:
    later = facts("b", "化工厂晚上排气，味道刺鼻，睡不着觉", days=2)
    (m,) = complaints.duplicates(later, [facts("a", FIRST)], R)
    assert m.reason == "same_place_similar_text" and m.earlier.id == "a"
    assert 0.2 <= m.text_similarity < 0.6


def test_word_order_does_not_hide_a_duplicate() -> None:
    a, b = "夜间刺鼻气味严重", "刺鼻气味严重夜间"
    assert complaints.similarity(a, b) > 0.8
    # Full-width punctuation and spaces are ignored, full-width letters folded.
    assert complaints.similarity("ＶＯＣｓ超标排放！", "vocs 超标排放") == 1.0


def test_different_problems_nearby_are_not_duplicates() -> None:
    noise = facts("n", "工地夜间施工噪声扰民", days=1, category="noise")
    odor = facts("o", "工地夜间施工，焊接烟尘呛人", days=1)
    assert complaints.duplicates(noise, [facts("a", FIRST)], R) == []  # another category
    assert complaints.duplicates(odor, [facts("a", FIRST)], R) == []  # dissimilar text


def test_same_enterprise_needs_no_similar_text_but_closed_rejected_or_old_ones_do_not_count() -> (
    None
):
    a = facts("a", FIRST, uscc="91120110MA05XXXX11")
    b = facts("b", "污水直排进河道", days=3, uscc="91120110MA05XXXX11", address="别处")
    assert [m.reason for m in complaints.duplicates(b, [a], R)] == ["same_enterprise"]
    closed = facts("c", FIRST, closed_at=T + dt.timedelta(days=1))
    rejected = facts("r", FIRST, rejected=True)
    old = facts("o", FIRST, days=-31)
    later = facts("x", FIRST, days=2)
    assert complaints.duplicates(later, [closed, rejected, old], R) == []
    # Still open when the later one came: counts even if closed since.
    open_then = facts("c2", FIRST, closed_at=T + dt.timedelta(days=5))
    assert len(complaints.duplicates(later, [open_then], R)) == 1


def test_coordinates_within_the_radius_make_the_same_place() -> None:
    a = facts("a", FIRST, address="津塘公路", lat=39.1000, lng=117.3500)
    near = facts("b", "化工厂排气味道刺鼻", days=1, address="另一条路", lat=39.1030, lng=117.3500)
    far = facts("c", "化工厂排气味道刺鼻", days=1, address="另一条路", lat=39.1200, lng=117.3500)
    (m,) = complaints.duplicates(near, [a], R)
    assert m.distance_m is not None and 300 < m.distance_m < 350
    assert complaints.duplicates(far, [a], R) == []


def test_attention_prefers_many_people_and_recent_reports() -> None:
    many_people = complaints.attention(4, 4, T, T)
    one_caller = complaints.attention(6, 1, T, T)
    stale = complaints.attention(4, 4, T - dt.timedelta(days=28), T)
    assert many_people > one_caller and many_people > stale
    assert complaints.attention(1, 1, T, T) == 13.0


@pytest.mark.parametrize(
    ("closed", "accepted", "rate"),
    [
        (1165, 1197, Decimal("97.3")),
        (271, 318, Decimal("85.2")),
        (1, 8, Decimal("12.5")),
        # Truncated: not 100.0 with one complaint open, nor 0.0 with one closed.
        (1999, 2000, Decimal("99.9")),
        (2000, 2000, Decimal("100.0")),
        (1, 2000, Decimal("0.1")),
        (0, 2000, Decimal("0.0")),
    ],
)
def test_closure_rate_one_decimal_truncated(closed: int, accepted: int, rate: Decimal) -> None:
    assert complaints.closure_rate(closed, accepted) == rate


def test_closure_rate_of_nothing_is_none() -> None:
    assert complaints.closure_rate(0, 0) is None


def test_more_closed_than_accepted_is_no_closure_rate() -> None:
    """As permit-svc's coverage: a part past the whole is refused (it was
    120.0), by the shared rule (svc_common.rates)."""
    with pytest.raises(ValueError):
        complaints.closure_rate(6, 5)


def test_lifecycle_table() -> None:
    assert complaints.next_status("received", "accept") == "accepted"
    assert complaints.next_status("closed", "reopen") == "assigned"
    with pytest.raises(Exception, match="allowed now"):
        complaints.next_status("rejected", "close")


def draw_facts(uscc: str, **kw: object) -> inspections.DrawFacts:
    base: dict[str, object] = {
        "lawful": True,
        "findings_12m": 0,
        "open_findings": 0,
        "substantiated_complaints_12m": 0,
        "grade": None,
        "benchmark": None,
    }
    base.update(kw)
    return inspections.DrawFacts(uscc=uscc, **base)  # type: ignore[arg-type]


def test_draw_tiers() -> None:
    assert inspections.tier(draw_facts("a", grade="A"))[0] == "low"
    assert inspections.tier(draw_facts("b", benchmark="tianjin", grade="B"))[0] == "low"
    assert inspections.tier(draw_facts("c", grade="A", lawful=False))[0] == "normal"
    assert inspections.tier(draw_facts("d", grade="A", findings_12m=1))[0] == "normal"
    assert inspections.tier(draw_facts("e", grade="B"))[0] == "normal"
    assert inspections.tier(draw_facts("f", grade="A", open_findings=1))[0] == "high"
    assert inspections.tier(draw_facts("g", substantiated_complaints_12m=2))[0] == "high"


def test_draw_is_reproducible_and_follows_the_weights() -> None:
    weights = {f"L{i:03d}": 1 for i in range(100)} | {f"H{i:03d}": 4 for i in range(100)}
    assert inspections.draw(weights, 20, 2026) == inspections.draw(weights, 20, 2026)
    assert inspections.draw(weights, 20, 2026) != inspections.draw(weights, 20, 2027)
    drawn = Counter(u[0] for seed in range(200) for u in inspections.draw(weights, 20, seed))
    # Heavier enterprises are drawn far more often (about 3.2× for 4:1 weights here).
    assert drawn["H"] > 2.5 * drawn["L"]
    assert len(set(inspections.draw(weights, 200, 1))) == 200


def test_tier_counts_and_digests() -> None:
    tiers: dict[str, inspections.Tier] = {"B2": "low", "A1": "high", "C3": "normal", "A0": "high"}
    counts = inspections.tier_counts(tiers, {"low": 1, "normal": 2, "high": 4}, ["A0", "C3"])
    assert [(c.tier, c.weight, c.eligible, c.drawn) for c in counts] == [
        ("high", 4, 2, 1),
        ("normal", 2, 1, 1),
        ("low", 1, 1, 0),
    ]
    # What `printf 'A0\nA1\n' | sha256sum` prints, whatever order they come in.
    assert counts[0].candidates_sha256 == hashlib.sha256(b"A0\nA1\n").hexdigest()
    assert inspections.candidates_digest(["A1", "A0"]) == counts[0].candidates_sha256
    assert inspections.candidates_digest([]) == hashlib.sha256(b"").hexdigest()


def test_redraw_from_the_recorded_inputs_gives_the_same_plan() -> None:
    weights = {f"U{i:03d}": (1, 2, 4)[i % 3] for i in range(60)}
    pool = ("li.hua", "sun.li", "wang.fang")
    inputs = inspections.DrawInputs(seed=2**62, sample_size=7, weights=weights, inspector_pool=pool)
    drawn, assigned = inspections.redraw(inputs)
    assert drawn == inspections.draw(weights, 7, 2**62)
    assert assigned == inspections.assign_inspectors(list(pool), drawn, 2**62)
    assert inspections.redraw(inputs) == (drawn, assigned)
    assert inspections.redraw(inspections.DrawInputs(1, 7, weights))[1] == {}


def test_sample_size_and_inspectors() -> None:
    assert inspections.sample_size(174, None, Decimal("10")) == 18
    assert inspections.sample_size(5, 10, None) == 5
    pool = ["li.hua", "wang.fang", "zhao.lei", "sun.li"]
    a = inspections.assign_inspectors(pool, ["X", "Y"], 7)
    assert a == inspections.assign_inspectors(list(reversed(pool)), ["X", "Y"], 7)
    assert all(len(set(v)) == 2 and set(v) <= set(pool) for v in a.values())


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("2026", "2026", True),
        ("2026", "2026-Q3", True),
        ("2026", "2026-08", True),
        ("2026", "2026-H1", True),
        ("2026-Q3", "2026-H2", True),
        ("2026-Q3", "2026-08", True),
        ("2026-Q3", "2026-09", True),
        ("2026-H1", "2026-06", True),
        ("2026-Q3", "2026-Q4", False),
        ("2026-Q3", "2026-06", False),
        ("2026-Q3", "2026-10", False),
        ("2026-H1", "2026-H2", False),
        ("2026-H1", "2026-Q3", False),
        ("2026-08", "2026-09", False),
        ("2026", "2027", False),
        ("2026", "2027-Q1", False),
        ("2026-12", "2027-01", False),
        # A plan drawn before periods were checked: its year is no calendar's.
        ("0000", "0000", True),
        ("0000", "0000-Q1", False),
        ("0000", "2026", False),
    ],
)
def test_plans_periods_overlap_when_they_share_a_day(a: str, b: str, overlap: bool) -> None:
    assert inspections.periods_overlap(a, b) is overlap
    assert inspections.periods_overlap(b, a) is overlap
    if overlap and "0000" not in a:
        # Two periods that overlap are of one year: the draw's lock.
        assert inspections.period_year(a) == inspections.period_year(b)


def test_a_draw_overlapping_a_plan_is_refused_naming_the_earliest() -> None:
    from svc_common.errors import Conflict

    at = dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)
    drawn = [
        inspections.DrawnPlan("p-q3", "2026-Q3", "li.hua", at),
        inspections.DrawnPlan("p-h2", "2026-H2", "wang.fang", at + dt.timedelta(days=1)),
        inspections.DrawnPlan("p-old", "2025", "li.hua", at),
    ]
    for period in ("2026-Q1", "2026-H1", "2026-06", "2027", "2024"):
        inspections.refuse_second_draw("120117", period, drawn)  # nothing overlaps
    for period, first in (("2026", "p-q3"), ("2026-08", "p-q3"), ("2026-Q4", "p-h2")):
        with pytest.raises(Conflict) as refused:
            inspections.refuse_second_draw("120117", period, drawn)
        extra = refused.value.extra
        assert extra["reason"] == "plan_exists"
        assert extra["existing_plan"]["id"] == first, period
        assert extra["existing_plan"]["period"] == {"p-q3": "2026-Q3", "p-h2": "2026-H2"}[first]
    with i18n.use("zh"), pytest.raises(Conflict) as refused:
        inspections.refuse_second_draw("120117", "2026", drawn)
    said = str(refused.value.detail)
    assert "已有 2026-Q3 的抽查计划 p-q3（li.hua 于北京时间 2026-03-02 09:30 抽取）" in said
    assert "与 2026 重叠" in said
    with i18n.use("en"), pytest.raises(Conflict) as refused:
        inspections.refuse_second_draw("120117", "2026-08", drawn)
    assert "already has inspection plan p-q3 for 2026-Q3, which overlaps 2026-08" in str(
        refused.value.detail
    )


def test_a_refused_draw_names_the_district_as_people_call_it() -> None:
    """The 409 named the district by its code alone ("区 120116"), while a
    403 says "滨海新区（120116）": it names it so, in Chinese and English,
    in the detail and in the field's message."""
    from svc_common.errors import Conflict

    at = dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)
    for period, drawn in (("2026", "2026"), ("2026", "2026-Q3")):
        plans = [inspections.DrawnPlan("p-1", drawn, "li.hua", at)]
        with i18n.use("zh"), pytest.raises(Conflict) as refused:
            inspections.refuse_second_draw("120116", period, plans)
        said = str(refused.value.detail)
        assert said.startswith(f"滨海新区（120116）已有 {drawn} 的抽查计划 p-1"), said
        assert "滨海新区（120116）" in refused.value.errors[0].message
        assert "区 120116" not in said
        with i18n.use("en"), pytest.raises(Conflict) as refused:
            inspections.refuse_second_draw("120116", period, plans)
        said = str(refused.value.detail)
        assert said.startswith("district 滨海新区 (120116) already has inspection plan p-1"), said
        assert "滨海新区 (120116)" in refused.value.errors[0].message


TABLE = grading.policy_table(grading.default_rules())


def test_measure_table_benchmarks_keep_producing_and_tianjin_cuts_less() -> None:
    national = grading.required_measure("red", "A", "national", TABLE)
    assert national.measure.kind == "none" and national.tier == "benchmark_national"
    tianjin = grading.required_measure("red", "B", "tianjin", TABLE)
    plain_b = grading.required_measure("red", "B", "none", TABLE)
    assert tianjin.measure.share_percent(50) < plain_b.measure.share_percent(50)
    assert grading.required_measure("orange", "D", None, TABLE).measure.kind == "stop"
    assert grading.required_measure("yellow", None, None, TABLE).tier == "ungraded"


def test_plant_plan_replaces_and_guarantee_caps_but_never_tightens() -> None:
    plan = grading.Measure("stop_processes", 30, ("喷涂",))
    r = grading.required_measure("red", "C", None, TABLE, plan=plan)
    assert r.measure == plan and any("一厂一策" in w for w in r.why)
    cap = ("livelihood", grading.Measure("reduce", 10))
    r = grading.required_measure("red", "D", None, TABLE, guarantee=cap)
    assert r.measure == grading.Measure("reduce", 10) and "guarantee list" in r.why[-1]
    r = grading.required_measure("yellow", "A", None, TABLE, guarantee=cap)
    assert r.measure.kind == "none"  # the cap does not make it stricter


def test_the_guarantee_cap_is_judged_by_the_share_cut_not_the_kind() -> None:
    """保障类清单 caps a measure at its allowed one and never makes it
    stricter: stopping 喷涂 (30 %) stands against "at most reduce 60 %",
    although stopping processes is a harder kind of measure."""
    plan = grading.Measure("stop_processes", 30, ("喷涂",))
    cap = ("livelihood", grading.Measure("reduce", 60))
    r = grading.required_measure("red", "D", None, TABLE, plan=plan, guarantee=cap)
    assert r.measure == plan and r.measure.share_percent(50) == 30
    assert r.why[-1] == "guarantee list (livelihood): allows reduce 60%, no easing needed"
    # Stopping processes of unknown share cuts the default (50 %): a cap of
    # 40 % eases it, one of 60 % does not.
    unknown = grading.Measure("stop_processes", None, ("喷涂",))
    at_most_40 = ("livelihood", grading.Measure("reduce", 40))
    eased = grading.required_measure("red", "D", None, TABLE, plan=unknown, guarantee=at_most_40)
    assert eased.measure == grading.Measure("reduce", 40)
    kept = grading.required_measure("red", "D", None, TABLE, plan=unknown, guarantee=cap)
    assert kept.measure == unknown
    # The same share: the allowed measure's milder kind is taken.
    same = grading.Measure("stop_processes", 60, ("喷涂",))
    r = grading.required_measure("red", "D", None, TABLE, plan=same, guarantee=cap)
    assert r.measure == grading.Measure("reduce", 60)
    # Severity orders by the share cut first, then by the kind.
    assert grading.Measure("reduce", 60).severity(50) > plan.severity(50)
    every_process = grading.Measure("stop_processes", 100, ("喷涂", "烘干"))
    assert grading.Measure("stop").severity(50) > every_process.severity(50)
    assert grading.Measure("none").severity(50) < grading.Measure("reduce", 1).severity(50)


def test_the_reasons_are_in_the_callers_language_chinese_first() -> None:
    plan = grading.Measure("stop_processes", 30, ("喷涂",))
    cap = ("livelihood", grading.Measure("reduce", 10))

    def why(lang: i18n.Lang) -> tuple[list[str], ...]:
        with i18n.use(lang):
            return (
                grading.required_measure("red", "C", None, TABLE, plan=plan).why,
                grading.required_measure("red", "D", None, TABLE, guarantee=cap).why,
                grading.required_measure("yellow", "A", "national", TABLE, guarantee=cap).why,
                [*grading.required_measure("red", None, None, TABLE).why, grading.no_permit()],
            )

    assert why("zh") == (
        [
            "绩效分级 C级 → 适用C级档，红色预警时按政策表：减排 50%",
            "一厂一策（红色预警）：停止喷涂",
        ],
        [
            "绩效分级 D级 → 适用D级档，红色预警时按政策表：停产",
            "保障类清单（民生保障）：至多减排 10%",
        ],
        [
            "绩效分级 A级，国家标杆 → 适用国家标杆档，黄色预警时按政策表：无减排要求",
            "保障类清单（民生保障）：允许减排 10%，无需放宽",
        ],
        [
            "未评级 → 适用未评级档，红色预警时按政策表：停止涉VOCs排放工序",
            "无有效排污许可证：没有可削减的许可排放量",
        ],
    )
    # English as it always was.
    assert why("en") == (
        [
            "grade C → tier C: policy at red requires reduce 50%",
            "per-plant plan (一厂一策) at red: stop 喷涂",
        ],
        [
            "grade D → tier D: policy at red requires stop",
            "guarantee list (livelihood): at most reduce 10%",
        ],
        [
            "grade A, national benchmark → tier benchmark_national: policy at yellow requires none",
            "guarantee list (livelihood): allows reduce 10%, no easing needed",
        ],
        [
            "no grade → tier ungraded: policy at red requires stop 涉VOCs排放工序",
            "no permit in force: no permitted amounts to reduce",
        ],
    )


def test_expected_reduction_is_exact_kilograms() -> None:
    week = (T, T + dt.timedelta(days=7))
    # 36.5 t/a cut by 20 % for 7 days: 36500 × 0.2 × 7 / 365 = 140 kg.
    assert grading.expected_reduction_kg(36_500, 20, *week) == 140
    assert grading.expected_reduction_kg(36_500, 0, *week) == 0
    assert grading.expected_reduction_kg(1, 50, T, T + dt.timedelta(days=365)) == 1  # 0.5 → 1


def test_the_shipped_table_is_complete() -> None:
    assert grading.missing_rules(grading.default_rules()) == []
    assert grading.missing_rules(grading.default_rules()[1:]) == ["yellow/benchmark_national"]


def test_a_persons_name_in_the_one_form() -> None:
    assert inspections.person_name(" ＺＨＡＮＧ ") == "ZHANG"
    assert inspections.person_name("张三") == "张三"
    assert inspections.person_key("Li.Hua") == inspections.person_key("li.hua")
    assert inspections.person_key("Zhang  San") == inspections.person_key("zhang\u3000san")
    assert inspections.person_key("张\u2065三") == inspections.person_key("张三")
    assert guard.hidden_characters("张三\u200b") and guard.hidden_characters("a\tb")
    assert not guard.hidden_characters("李 华")


def test_a_permit_is_valid_from_its_first_day_to_its_last() -> None:
    """A certificate counts only from valid_from to valid_to, both included;
    a permit learned before its start was kept (None) has no lower bound."""
    start, end = dt.date(2030, 1, 1), dt.date(2034, 12, 31)
    assert not registry.permit_valid_on("issued", start, end, dt.date(2029, 12, 31))
    assert registry.permit_valid_on("issued", start, end, start)
    assert registry.permit_valid_on("issued", start, end, end)
    assert not registry.permit_valid_on("issued", start, end, end + dt.timedelta(days=1))
    assert registry.permit_valid_on("issued", None, end, dt.date(2000, 1, 1))
    assert registry.permit_valid_on("issued", None, None, dt.date(2099, 1, 1))
    assert not registry.permit_valid_on("suspended", start, end, start)


def test_a_case_s_proposer_under_another_case_of_their_sub_does_not_decide_it() -> None:
    from supervision_svc.cases import rules as case_rules
    from svc_common.errors import Conflict

    for other in ("Li.Hua", "LI.HUA", "\uff4ci.hua", "li.hua\u200b"):
        # The same 409 as every service's four-eyes refusal (it was a 403).
        with pytest.raises(Conflict) as refused:
            case_rules.check_four_eyes("li.hua", other)
        assert refused.value.status == 409
        assert refused.value.extra["reason"] == "proposer_decides"
    case_rules.check_four_eyes("li.hua", "chen.jing")


def test_inspectors_and_subs_are_one_person_by_the_same_rule() -> None:
    """The four-eyes rules (`auth.person_key`) read 阿卜杜拉・买买提 and
    阿卜杜拉·买买提 as one person; 双人执法 (`guard.name_key`) read them as
    two, so one inspector under both dots passed as a pair. One rule now:
    a sub's key is a written name's key with no space."""
    from svc_common.auth import person_key as sub_key
    from svc_common.guard import name_key

    for a, b in [("阿卜杜拉・买买提", "阿卜杜拉·买买提"), ("阿卜杜拉･买买提", "阿卜杜拉·买买提")]:
        assert sub_key(a) == sub_key(b)
        assert name_key(a) == name_key(b)
    for name in ["Zhang  San", "ＺＨＡＮＧ san", "张\u200b三", "阿卜杜拉・买买提"]:
        assert sub_key(name) == name_key(name).replace(" ", "")
