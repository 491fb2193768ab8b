"""The console's pure computations, with no server: ranking and totals, the
project form, fitting order, the trend's moments, queue order and countdowns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from console.pages.enterprise.history import quota_held
from console.pages.investment import views
from console.pages.workbench import queues
from svc_common import clock
from svc_common.i18n import use
from svc_common.types import utcnow

#: The pollutants quota-svc keeps (its `GET /quota/pollutants` codes).
QUOTA_CODES = ("VOCs", "NOx", "COD", "NH3-N")


def pool(district: str, kind: str = "district", **f: str) -> dict[str, object]:
    base = {
        "credited_t": "0",
        "reserved_t": "0",
        "allocated_t": "0",
        "available_t": "0",
        "reclaimed_t": "0",
        "max_project_increment_t": "0",
        "park_id": None,
    }
    return {"district": district, "kind": kind, **base, **f}


def test_split_ranks_district_pools_and_keeps_parks_and_reserves_apart() -> None:
    pools = views.split(
        [
            pool("120119", credited_t="12", available_t="4", max_project_increment_t="2"),
            pool("120116", credited_t="1770", available_t="1770", max_project_increment_t="1180"),
            pool("120116", "reserve", credited_t="80", available_t="80"),
            pool("120111", "park", park_id="xiqing-auto", credited_t="30", available_t="30"),
            pool("120101", credited_t="6", available_t="6", max_project_increment_t="3"),
        ]
    )
    assert [(p["district"], p["rank"]) for p in pools.districts] == [
        ("120116", 1),
        ("120101", 2),
        ("120119", 3),
    ]
    assert pools.totals["available_t"] == Decimal("1780")
    assert pools.side_totals["credited_t"] == Decimal("110")
    assert [p["kind"] for p in pools.parks + pools.reserves] == ["park", "reserve"]


@pytest.mark.parametrize(
    ("typed", "problems"),
    [
        ("5", []),
        ("0.125", []),
        ("0", ["VOCs"]),
        ("-1", ["VOCs"]),
        ("1.2345", ["VOCs"]),
        ("abc", ["VOCs"]),
        ("NaN", ["VOCs"]),
        ("1e9", ["VOCs"]),
        ("+3", ["VOCs"]),
    ],
)
def test_project_amounts_are_positive_tonnes_with_three_decimals(
    typed: str, problems: list[str]
) -> None:
    increments, found, too_large = views.parse_project({"p_VOCs": typed, "p_NOx": ""}, QUOTA_CODES)
    assert found == problems and too_large == []
    assert ("VOCs" in increments) is (not problems)
    assert "NOx" not in increments


@pytest.mark.parametrize(
    ("typed", "sent", "too_large"),
    [
        (" 3 ", "3.000", []),
        ("５", "5.000", []),
        ("１２．５", "12.500", []),
        ("1.5000", "1.500", []),
        ("100000", "100000.000", []),
        ("100000.001", None, ["VOCs"]),
        ("99999999999999999999", None, ["VOCs"]),
        # Past Decimal's 28 digits of precision, where quantize would fail.
        ("9" * 40, None, ["VOCs"]),
        ("1" * 26 + ".5", None, ["VOCs"]),
    ],
)
def test_project_amounts_as_people_type_them_and_quota_svcs_upper_bound(
    typed: str, sent: str | None, too_large: list[str]
) -> None:
    """Spaces and full-width digits (an IME's) are taken, as the amount
    quota-svc takes; above its largest increment of one project is said as
    that, not as a badly written number."""
    increments, problems, large = views.parse_project({"p_VOCs": typed}, QUOTA_CODES)
    assert problems == [] and large == too_large
    assert (str(increments["VOCs"]) if increments else None) == sent


def test_fitting_districts_first_the_roomiest_first() -> None:
    def fit(d: str, required: str, available: str) -> views.DistrictFit:
        f = views.DistrictFit(d)
        f.checks.append(
            views.fit_of(
                {
                    "increment_t": "5",
                    "offset_ratio": "2",
                    "required_t": required,
                    "available_t": available,
                    "fits": Decimal(required) <= Decimal(available),
                },
                "VOCs",
            )
        )
        return f

    ranked = views.rank_fits(
        [
            fit("120119", "10", "4"),
            fit("120116", "7.5", "1770"),
            fit("120101", "10", "6"),
            fit("120113", "10", "289"),
        ]
    )
    assert [f.district for f in ranked] == ["120116", "120113", "120101", "120119"]
    assert ranked[-1].margin == Decimal("-6") and not ranked[-1].fits
    # A district whose check could not be made has no verdict: after those
    # that do not fit (its margin 0 is no nearness to fitting).
    unchecked = views.DistrictFit("120102", failed=True)
    assert not unchecked.fits
    again = views.rank_fits([unchecked, *ranked])
    assert [f.district for f in again][-2:] == ["120119", "120102"]


def test_trend_points_are_month_starts_in_beijing_then_now() -> None:
    now = dt.datetime(2026, 1, 15, 3, 0, tzinfo=dt.UTC)
    points = views.trend_points(now, 12)
    assert len(points) == 13 and points[-1] == now
    assert points[0].isoformat() == "2025-02-01T00:00:00+08:00"
    assert points[-2].isoformat() == "2026-01-01T00:00:00+08:00"
    # Just after midnight in Beijing on the 1st, it is still the 31st in UTC.
    edge = dt.datetime(2026, 2, 28, 16, 30, tzinfo=dt.UTC)  # 2026-03-01 00:30 Beijing
    assert views.trend_points(edge, 1)[0].isoformat() == "2026-03-01T00:00:00+08:00"


def test_trend_reads_the_ledger_history_by_district_and_moment() -> None:
    now = dt.datetime(2026, 3, 15, 3, 0, tzinfo=dt.UTC)
    points = views.trend_points(now, 2)  # 02-01, 03-01 (Beijing), now
    # The ledger answers its moments in UTC.
    history = [
        {"district": "120119", "at": "2026-01-31T16:00:00Z", "available_t": "1", "credited_t": "1"},
        {"district": "120119", "at": "2026-02-28T16:00:00Z", "available_t": "2", "credited_t": "2"},
        {"district": "120119", "at": "2026-03-15T03:00:00Z", "available_t": "3", "credited_t": "3"},
        {"district": "120115", "at": "2026-03-15T03:00:00Z", "available_t": "0", "credited_t": "0"},
        {"district": "120101", "at": "2025-01-01T00:00:00Z", "available_t": "9", "credited_t": "9"},
    ]
    keyed = views.by_district_and_moment(history, points)
    assert sorted(keyed) == [("120115", 2), ("120119", 0), ("120119", 1), ("120119", 2)]
    with use("zh"):
        series = views.trend_series(["120101", "120115", "120119"], points, keyed)
    assert series == [{"district": "120119", "name": "蓟州区", "values": [1.0, 2.0, 3.0]}]
    with use("en"):
        series = views.trend_series(["120119"], points, keyed)
    assert series[0]["name"] == "Jizhou District"


def test_queues_order_by_deadline_and_countdown_in_beijing_days() -> None:
    with clock.using(clock.ManualClock(dt.datetime(2026, 3, 10, 17, 0, tzinfo=dt.UTC))):
        # 2026-03-11 01:00 in Beijing.
        filings = [
            {"id": "a", "due_at": None, "created_at": "2026-03-01T00:00:00+00:00"},
            {"id": "b", "due_at": "2026-04-01T00:00:00+00:00", "created_at": "x"},
            {"id": "c", "due_at": "2026-03-10T15:00:00+00:00", "created_at": "x"},  # 3-10 23:00
        ]
        assert [f["id"] for f in queues.by_deadline(filings)] == ["c", "b", "a"]
        with use("zh"):
            from console.web import countdown

            assert countdown("2026-03-10T15:00:00+00:00") == "已超期 1 天"
            assert countdown("2026-03-11") == "今日到期"
        audits = [
            {
                "id": "x",
                "permit_id": "p",
                "uscc": "u",
                "district": "120115",
                "findings": [
                    {"id": "1", "status": "open", "rectification_deadline": "2026-03-20"},
                    {"id": "2", "status": "rectified", "rectification_deadline": "2026-03-12"},
                    {"id": "3", "status": "open", "rectification_deadline": "2026-06-01"},
                    {"id": "4", "status": "open", "rectification_deadline": "2026-03-09"},
                ],
            }
        ]
        assert [f.finding["id"] for f in queues.open_findings(audits)] == ["4", "1"]


def test_a_parked_filing_waits_in_beijing_days() -> None:
    """How long a parked filing has waited counts Beijing calendar days: it
    arrived 12-01 17:30 UTC, 12-02 in Beijing; at 12-04 16:30 UTC (12-05
    00:30 in Beijing) it has waited three days, not two."""
    arrived = "2026-12-01T17:30:00+00:00"
    with clock.using(clock.ManualClock(dt.datetime(2026, 12, 4, 16, 30, tzinfo=dt.UTC))):
        assert queues.days_waiting(arrived) == 3
        with use("zh"):
            assert queues.waiting_said(arrived) == "已等待 3 天"
    with clock.using(clock.ManualClock(dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC))):
        assert queues.days_waiting(arrived) == 0
        with use("zh"):
            assert queues.waiting_said(arrived) == "今日收到"
    assert queues.days_waiting(None) is None and queues.waiting_said("x") == ""
    with use("zh"):
        drafted = {"state": "drafted", "permit_id": "p1"}
        assert queues.outcome("parked-redrive", "", drafted) == "已起草排污许可申请"
        registered = {"state": "drafted", "permit_id": None}
        assert "登记管理" in (queues.outcome("parked-redrive", "", registered) or "")


def test_next_actions_add_the_quota_retry_when_blocked() -> None:
    f = {"allowed_actions": ["approve", "reject", "withdraw"], "quota_status": "blocked"}
    assert queues.next_actions(f) == ["approve", "reject", "quota-retry"]
    assert queues.valid_id("0f1e-aa:3") and not queues.valid_id("../x") and not queues.valid_id("")


def test_a_quota_request_left_unanswered_may_be_retried_from_the_workbench() -> None:
    """eia-svc takes quota-retry for a pending filing and tells an officer
    who tries to approve one to use it, but the workbench offered it only
    when blocked or lapsed: a filing whose request quota-svc never answered
    showed 总量确认中 for ever, with nothing to press."""
    now = utcnow()
    f = {
        "allowed_actions": ["approve", "reject", "withdraw"],
        "quota_status": "pending",
        "quota_asked_at": (now - dt.timedelta(minutes=6)).isoformat(),
    }
    assert queues.next_actions(f) == ["approve", "reject", "quota-retry"]
    assert "5 minutes" in queues.filing_quota_label(f)
    with use("zh"):
        assert "总量确认超时" in queues.filing_quota_label(f)
    just_asked = {**f, "quota_asked_at": (now - dt.timedelta(seconds=30)).isoformat()}
    assert queues.next_actions(just_asked) == ["approve", "reject"]
    assert queues.filing_quota_label(just_asked) == queues.quota_label("pending")
    assert queues.next_actions({**f, "quota_asked_at": None}) == ["approve", "reject"]


def test_quota_held_by_an_enterprise() -> None:
    held = quota_held(
        [
            {
                "status": "accepted",
                "quota_status": "secured",
                "vocs_increment_t": "1.5",
                "reservation_id": "res-1",
            },
            {
                "status": "approved",
                "quota_status": "allocated",
                "vocs_increment_t": "2.5",
                "quota_allocated_t": "5.000",
            },
        ],
        [
            {"status": "issued", "vocs_t": "0.600", "quota_drawn_t": "0"},
            {"status": "cancelled", "vocs_t": "9", "quota_drawn_t": "0"},
        ],
        # The ledger holds the increment times the offset ratio.
        {"res-1": {"status": "held", "required_t": "3.000", "allocated_t": "0"}},
    )
    assert (held.reserved_t, held.allocated_t, held.permitted_t) == (
        Decimal("3.000"),
        Decimal("5.000"),
        Decimal("0.600"),
    )


def test_a_suspended_permit_is_in_force_on_the_enterprise_page() -> None:
    """A suspended permit (暂停) still holds its amounts: the enterprise page
    left it out of the permits in force, which it counts as the workbench
    and permit-svc do."""
    from permit_svc.permits.rules import IN_FORCE

    assert queues.PERMITS_IN_FORCE == IN_FORCE
    held = quota_held(
        [],
        [
            {"status": "issued", "vocs_t": "0.600", "quota_drawn_t": "0.600"},
            {"status": "suspended", "vocs_t": "1.000", "quota_drawn_t": "1.000"},
            {"status": "revoked", "vocs_t": "9", "quota_drawn_t": "9"},
        ],
    )
    assert (held.permitted_t, held.drawn_t) == (Decimal("1.600"), Decimal("1.600"))


def test_a_cancellation_reason_is_said_by_the_one_table_quota_svc_writes_by() -> None:
    """The reasons a permit is cancelled for have their words once, beside
    `CancelReason`: quota-svc writes a candidate's note by them and keeps
    the reason as a code of its own (`ReclaimReason`: every `CancelReason`,
    and `unknown`), which the workbench says by the same words."""
    from typing import get_args

    from quota_svc.events import cancel_note
    from quota_svc.reclaims.rules import ReclaimReason, cancel_reason, reason_of_note
    from svc_common.events.schemas.permit import (
        CANCEL_REASON_WORDS,
        CancelReason,
        PermitCancelled,
    )

    assert CANCEL_REASON_WORDS.keys() == set(get_args(CancelReason))
    assert {m.value for m in ReclaimReason} == {*get_args(CancelReason), "unknown"}
    assert queues.CANCEL_REASONS is CANCEL_REASON_WORDS
    for reason, (en, zh) in CANCEL_REASON_WORDS.items():
        e = PermitCancelled(
            permit_id="p-1",
            permit_no="91120119000000001C001P",
            uscc="91120119000000001C",
            enterprise_name="天津某厂",
            district="120119",
            reason=reason,  # type: ignore[arg-type]
            note="另有说明",
            pollutants_freed=[],
            vocs_freed_t=Decimal("1"),
        )
        assert cancel_reason(reason) == reason
        # What migration 0010 and an older export's import read back.
        assert reason_of_note("permit_cancelled", cancel_note(e)) == reason
        candidate = {"source": "permit_cancelled", "reason": reason, "note": "说明"}
        with use("zh"):
            assert queues.cancel_reason_label(reason) == zh
            assert queues.reclaim_source_label(candidate) == f"许可证注销（{zh}）"
        with use("en"):
            assert queues.cancel_reason_label(reason) == en


def test_an_approved_filing_is_offered_the_quota_retry_only_when_lapsed_short() -> None:
    """eia-svc re-drives an approved filing whose quota lapsed short; any
    other approved state is refused, so the workbench offers nothing there."""
    approved = {"status": "approved", "allowed_actions": [], "quota_status": "lapsed_short"}
    assert queues.next_actions(approved) == ["quota-retry"]
    for other in ("allocated", "lapsed", "secured", "blocked"):
        assert queues.next_actions({**approved, "quota_status": other}) == []
    undecided = {"id": "a", "status": "reviewed", "quota_status": "blocked"}
    blocked = queues.quota_blocked(
        [undecided, {"id": "b", "status": "reviewed", "quota_status": "secured"}],
        [
            {**approved, "id": "c"},
            {**approved, "id": "c"},
            {**approved, "id": "d", "quota_status": "allocated"},
        ],
    )
    assert [f["id"] for f in blocked] == ["a", "c"]
    with use("zh"):
        assert queues.quota_label("lapsed_short") == "已批准，预留过期且总量不足，尚未分配"


def test_register_refs_decode_values_and_name_the_contract_digest() -> None:
    """quota-svc writes a reference's value with `%`, `;` and `=`
    percent-encoded, and a settled trade's contract as its SHA-256: the page
    shows the values as typed and the digest under a label of its own."""
    from console.pages.public.router import register_refs

    digest = "ab" * 32
    text = f"contract_sha256={digest};reason=HT-1%3Bbuyer%3DX 50%25;to=120115"
    with use("zh"):
        assert [(r.label, r.text) for r in register_refs(text)] == [
            ("合同编号摘要 (SHA-256)", digest),
            ("原因", "HT-1;buyer=X 50%"),
            ("调入区", "宝坻区（120115）"),
        ]
    with use("en"):
        assert [(r.label, r.text) for r in register_refs(text)[:2]] == [
            ("contract reference digest (SHA-256)", digest),
            ("reason", "HT-1;buyer=X 50%"),
        ]


def test_next_actions_offer_a_retry_once_where_it_needs_doing() -> None:
    """eia-svc lists quota-retry wherever it is allowed (and no approve
    while quota is not secured): the workbench shows it once, and not for a
    request sent a moment ago."""
    blocked = {"allowed_actions": ["reject", "quota-retry", "withdraw"], "quota_status": "blocked"}
    assert queues.next_actions(blocked) == ["reject", "quota-retry"]
    just_asked = {
        **blocked,
        "quota_status": "pending",
        "quota_asked_at": utcnow().isoformat(),
    }
    assert queues.next_actions(just_asked) == ["reject"]
    approved = {"status": "approved", "allowed_actions": ["quota-retry"]}
    assert queues.next_actions({**approved, "quota_status": "lapsed_short"}) == ["quota-retry"]


def test_quota_held_is_not_available_where_its_lists_were_not_read() -> None:
    """A list the role may not read (or that failed) leaves the figures drawn
    from it None, never 0."""
    permits = [{"status": "issued", "vocs_t": "0.600", "quota_drawn_t": "0.100"}]
    held = quota_held(None, permits, {})
    assert (held.reserved_t, held.allocated_t) == (None, None)
    assert (held.permitted_t, held.drawn_t) == (Decimal("0.600"), Decimal("0.100"))
    filings = [{"status": "approved", "quota_allocated_t": "5.000"}]
    held = quota_held(filings, None, reservations_read=False)
    assert (held.reserved_t, held.allocated_t, held.permitted_t) == (None, Decimal("5.000"), None)


def test_a_major_claim_is_accepted_by_deciding_it_and_comes_first() -> None:
    claim = {
        "id": "g",
        "status": "submitted",
        "due_at": None,
        "created_at": "2026-03-09T00:00:00+00:00",
        "green_channel": "requested",
        "major_kind": "infrastructure",
        "allowed_actions": ["accept", "withdraw"],
    }
    assert queues.next_actions(claim) == ["accept-green", "accept-normal"]
    assert queues.api_action("accept-green") == queues.api_action("accept-normal") == "accept"
    plain = {**claim, "id": "p", "green_channel": None, "created_at": "2026-03-01T00:00:00+00:00"}
    assert queues.next_actions(plain) == ["accept"]
    with use("zh"):
        assert "重大基础设施" in (queues.green_channel_label(claim) or "")
        assert queues.green_channel_label(plain) is None
    soon = {"id": "s", "due_at": "2026-03-10T15:00:00+00:00", "created_at": "x"}
    with clock.using(clock.ManualClock(dt.datetime(2026, 3, 10, 17, 0, tzinfo=dt.UTC))):
        assert [f["id"] for f in queues.by_deadline([plain, soon, claim])] == ["g", "s", "p"]


def test_an_instant_at_the_calendars_end_is_shown_not_a_failed_page() -> None:
    """A service may send 9999-12-31T23:59:59Z for "never": it has no Beijing
    time (past year 9999), so it is shown in UTC where the page shows it."""
    from console.web import beijing, beijing_date, days_until, tonnes

    end = "9999-12-31T23:59:59Z"
    assert beijing(end) == "9999-12-31 23:59"
    assert beijing_date(end) == "9999-12-31"
    assert (days_until(end) or 0) > 2_000_000
    assert (queues.days_waiting(end) or 0) < -2_000_000
    assert beijing("2026-12-01T16:00:00Z") == "2026-12-02 00:00"  # Beijing time otherwise
    assert tonnes("Infinity") == tonnes("NaN") == "0.000"
    assert tonnes("1234.5") == "1,234.500"
