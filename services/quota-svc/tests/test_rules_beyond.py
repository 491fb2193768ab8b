"""Pure rules of the ledger beyond the registries: draws and splits of lots,
movement replay, the register's hash chain, trading and advance checks, the
ratio in force. No database."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from quota_svc.airquality.rules import ratio_in_force
from quota_svc.debts.rules import AdvanceRefused, check_advance, is_overdue
from quota_svc.ledger.service import PoolRef
from quota_svc.lots import rules as lots
from quota_svc.lots.rules import LotShort, Move
from quota_svc.register import rules as register
from quota_svc.trading import rules as trading
from quota_svc.trading.rules import TradeRefused
from svc_common import i18n

T = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def test_draw_oldest_first_and_short() -> None:
    assert lots.draw_oldest_first([(1, 5), (2, 0), (3, 7)], 9) == [(1, 5), (3, 4)]
    assert lots.draw_oldest_first([(1, 5)], 5) == [(1, 5)]
    with pytest.raises(LotShort) as exc:
        lots.draw_oldest_first([(1, 5), (3, 2)], 8)
    assert (exc.value.wanted_kg, exc.value.available_kg) == (8, 7)


def test_lots_short_say_which_in_the_callers_language() -> None:
    """In Chinese the lots were named in English ("the pool's lots 只能提供…")."""
    with i18n.use("zh"):
        assert str(LotShort(5, 8000, 2000)) == "批次 5 只能提供 2000 千克，不足 8000 千克"
        assert str(LotShort(None, 8000, 7000)) == "该总量池的批次只能提供 7000 千克，不足 8000 千克"
    with i18n.use("en"):
        assert str(LotShort(5, 8000, 2000)) == "lot 5 can give 2000 kg, not 8000 kg"
        assert str(LotShort(None, 8000, 7000)) == "the pool's lots can give 7000 kg, not 8000 kg"


def test_a_named_lot_is_the_pools_or_refused_saying_whose_it_is() -> None:
    """A lot of another pool is no shortage: it says whose it is (the other
    district named only to a caller who may act there), or that there is
    no such lot."""
    pool = PoolRef.district_pool("120119", "VOCs")
    ours = (pool.id, pool.district, pool.pollutant)
    park = PoolRef.park("120119", "VOCs", "P-1")
    reserve = PoolRef.reserve("120119", "VOCs")

    def problem(lot: tuple[str, str, str] | None, name_theirs: bool = True) -> str | None:
        return lots.named_lot_problem(7, lot, ours, name_theirs=name_theirs)

    assert problem(ours) is None
    with i18n.use("zh"):
        assert problem(None) == "批次 7 不存在"
        baodi = ("120115:VOCs", "120115", "VOCs")
        assert problem(baodi) == (
            "批次 7 所在区为宝坻区（120115），而非本记录所在的蓟州区（120119）：只能引用本区的记录"
        )
        assert problem(baodi, name_theirs=False) == (
            "批次 7 不属于本记录所在的蓟州区（120119）：只能引用本区的记录"
        )
        assert problem(("120119:NOx", "120119", "NOx")) == (
            "批次 7 属于氮氧化物（NOx）的总量池，而非本预留的挥发性有机物（VOCs）："
            "只能动用本总量池的批次"
        )
        for other in (park, reserve):
            said = problem((other.id, other.district, other.pollutant))
            assert said == (
                f"批次 7 属于总量池 {other.id}，而非本预留动用的总量池 120119:VOCs："
                "只能动用本总量池的批次"
            )
    with i18n.use("en"):
        assert problem(None) == "there is no lot 7"
        said = problem((park.id, park.district, park.pollutant))
        assert said is not None and said.startswith(
            f"lot 7 is of pool {park.id}, not of 120119:VOCs"
        )


@given(
    st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8),
    st.data(),
)
def test_split_keeps_every_kilogram_oldest_first(sizes: list[int], data: st.DataObject) -> None:
    draws = [(i + 1, kg) for i, kg in enumerate(sizes)]
    first = data.draw(st.integers(min_value=0, max_value=sum(sizes)))
    head, tail = lots.split(draws, first)
    assert lots.total(head) == first and lots.total(head) + lots.total(tail) == sum(sizes)
    # The head is the oldest part: no lot in the tail is older than the head's last.
    if head and tail:
        assert tail[0][0] >= head[-1][0]


def test_movements_replay_to_a_lots_columns() -> None:
    moves = [
        (Move.HOLD.value, 600),
        (Move.ALLOCATE.value, 400),
        (Move.RELEASE.value, 200),
        (Move.OUT.value, 100),
        (Move.SOLD_OUT.value, 50),
    ]
    assert lots.replay(moves, 1000) == {
        "available_kg": 500,
        "held_kg": 0,
        "allocated_kg": 350,
        "out_kg": 150,
    }


def _chain(n: int) -> list[dict[str, str]]:
    out, prev = [], register.GENESIS
    for i in range(1, n + 1):
        fields = register.content(i, T, "120119", "VOCs", "reserve", 1000 * i, f"entry=e{i}")
        h = register.entry_hash(prev, fields)
        out.append({**fields, "prev_hash": prev, "hash": h})
        prev = h
    return out


def test_register_chain_verifies_and_names_the_first_break() -> None:
    chain = _chain(5)
    assert register.verify(chain) == (5, None)
    chain[2]["amount_t"] = "9.000"  # rewritten content
    _, broken = register.verify(chain)
    assert broken is not None and (broken.seq, broken.position) == ("3", 3)
    assert "content" in broken.reason
    relinked = _chain(5)
    del relinked[1]  # an entry removed
    _, gap = register.verify(relinked)
    assert gap is not None and gap.seq == "3" and "jumps" in gap.reason
    assert register.refs_text(b="2", a="1", none=None) == "a=1;b=2"
    assert register.fmt_at(T) == "2026-03-01T08:00:00.000000Z"


def test_trade_checks_name_the_reason() -> None:
    ok = trading.check_trade(
        seller="A",
        buyer="B",
        amount_kg=2000,
        seller_valid_kg=6000,
        seller_expired_kg=0,
        buyer_ratio_h=150,
    )
    assert ok == 1333  # 2 t ÷ 1.5, rounded down to the kilogram
    for kwargs, reason in [
        ({"buyer": "A"}, "same_enterprise"),
        ({"seller_valid_kg": 1999, "seller_expired_kg": 500}, "seller_holds_too_little"),
        ({"amount_kg": 1, "buyer_ratio_h": 250}, "buyer_need_not_met"),
    ]:
        args = {
            "seller": "A",
            "buyer": "B",
            "amount_kg": 2000,
            "seller_valid_kg": 6000,
            "seller_expired_kg": 0,
            "buyer_ratio_h": 150,
            **kwargs,
        }
        with pytest.raises(TradeRefused) as exc:
            trading.check_trade(**args)  # type: ignore[arg-type]
        assert exc.value.reason == reason
    assert trading.proportional_rights(2000, 6000, 3000) == 1000
    assert trading.proportional_rights(6000, 6000, 2999) == 2999
    leap = dt.datetime(2028, 2, 29, tzinfo=dt.UTC)
    assert trading.valid_until(leap) == dt.datetime(2033, 2, 28, tzinfo=dt.UTC)


@given(
    amounts=st.lists(st.integers(1, 10**7), min_size=1, max_size=6),
    rights=st.integers(0, 10**7),
)
def test_a_buyers_rights_shared_among_pools_add_up(amounts: list[int], rights: int) -> None:
    """A sale from several pools gives the buyer a holding in each (within a
    district): their rights are shared in proportion and add up exactly."""
    shares = trading.rights_shares(amounts, rights)
    assert sum(shares) == rights and min(shares) >= 0
    assert trading.rights_shares([4000, 1000], 2500) == [2000, 500]
    assert trading.rights_shares([1000], 333) == [333]


def test_a_pool_ref_from_its_id() -> None:
    """The pool a holding names, whichever kind: a trade locks and posts to it."""
    for ref in (
        PoolRef.district_pool("120116", "VOCs"),
        PoolRef.park("120116", "VOCs", "nangang"),
        PoolRef.reserve("120116", "NH3-N"),
    ):
        assert PoolRef.of_id(ref.id) == ref
    for bad in ("120116", "120116:VOCs:elsewhere", "120116:VOCs:park:", ":VOCs"):
        with pytest.raises(ValueError):
            PoolRef.of_id(bad)


def test_advance_checks() -> None:
    common = {
        "is_district_pool": True,
        "shortfall_kg": 3000,
        "outstanding_kg": 0,
        "limit_kg": 5000,
        "overdue_kg": 0,
    }
    check_advance(**common)  # type: ignore[arg-type]
    for change, reason in [
        ({"is_district_pool": False}, "not_district_pool"),
        ({"overdue_kg": 1}, "overdue_debt"),
        ({"outstanding_kg": 2001}, "over_advance_limit"),
    ]:
        with pytest.raises(AdvanceRefused) as exc:
            check_advance(**{**common, **change})  # type: ignore[arg-type]
        assert exc.value.reason == reason
    assert is_overdue(T, 1, T + dt.timedelta(seconds=1))
    assert not is_overdue(T, 0, T + dt.timedelta(days=1))
    assert not is_overdue(T, 1, T)


def test_ratio_in_force_explicit_then_air_quality_then_default() -> None:
    def r(**kw: object) -> tuple[int, str]:
        args = {
            "explicit_h": None,
            "follows_air_quality": False,
            "air_quality_h": None,
            "pollutant_follows_air_quality": True,
            "default_h": 200,
            **kw,
        }
        return ratio_in_force(**args)  # type: ignore[arg-type]

    assert r() == (200, "default")
    assert r(air_quality_h=150) == (150, "air_quality")
    assert r(explicit_h=300, air_quality_h=150) == (300, "explicit")
    assert r(explicit_h=300, follows_air_quality=True, air_quality_h=150) == (150, "air_quality")
    assert r(air_quality_h=150, pollutant_follows_air_quality=False) == (200, "default")


def test_a_closed_plant_retires_everything_a_cut_permit_what_it_gave_up() -> None:
    R = trading.Retirement
    held = [(6000, 3000), (1000, 0), (4000, 4000)]
    assert trading.retirements(held, None) == [R(6000, 3000), R(1000, 0), R(4000, 4000)]
    # 4 t of rights: the oldest holding's 3 t, then 1 t of the third; the
    # holding that backs no rights is left alone.
    assert trading.retirements(held, 4000) == [R(6000, 3000), R(0, 0), R(1000, 1000)]
    assert trading.retirements(held, 1000) == [R(2000, 1000), R(0, 0), R(0, 0)]
    # Rounding that takes the whole quota takes all its rights with it.
    assert trading.retirements([(1, 3)], 2) == [R(1, 3)]


@given(
    st.lists(st.tuples(st.integers(1, 10**7), st.integers(0, 10**7)), max_size=6),
    st.integers(1, 3 * 10**7),
)
def test_retirement_takes_what_is_asked_oldest_first_and_never_more_than_held(
    held: list[tuple[int, int]], rights: int
) -> None:
    plan = trading.retirements(held, rights)
    assert len(plan) == len(held)
    left = rights
    for (amount, backed), part in zip(held, plan, strict=True):
        assert 0 <= part.amount_kg <= amount and 0 <= part.rights_kg <= backed
        if left <= 0 or backed == 0:
            assert part == trading.Retirement(0, 0)
            continue
        assert part.rights_kg >= min(left, backed)
        # A holding is taken whole exactly when all its rights go.
        assert (part.amount_kg == amount) == (part.rights_kg == backed)
        left -= min(left, backed)


def test_a_sale_keeps_each_kilogram_s_term() -> None:
    """The lots a sale takes are grouped by the validity of the holding each
    came from, earliest first: none is renewed, none cut short."""
    early = dt.datetime(2031, 3, 1, 1, 0, tzinfo=dt.UTC)
    late = dt.datetime(2032, 3, 1, 1, 0, tzinfo=dt.UTC)
    draws = [(7, 1000), (3, 500), (7, 200)]
    assert trading.by_term(draws, [late, early, late]) == [
        (early, [(3, 500)]),
        (late, [(7, 1000), (7, 200)]),
    ]
    assert trading.by_term([], []) == []
    with pytest.raises(ValueError):
        trading.by_term(draws, [early])
