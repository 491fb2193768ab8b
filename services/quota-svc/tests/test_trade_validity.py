"""A sold holding keeps the validity of what was sold (排污权有效期), on SQLite
and PostgreSQL, with the manual clock: a holding is valid five years from
its allocation, and a trade passes that term on; it does not start a new
one. Before, the buyer's holding got five years from the sale, so two firms
selling quota back and forth kept it valid for ever."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from quota_svc.app import create
from quota_svc.settings import Settings
from svc_common import clock, testing

from .conftest import ADMIN, ADMIN2, BAODI, INVESTMENT, JIZHOU, OFFICER, OFFICER2, Quota
from .test_ledger_beyond import allocate_to, post, reconciled, uscc

T0 = dt.datetime(2026, 3, 1, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def manual() -> Iterator[clock.ManualClock]:
    with clock.using(clock.ManualClock(T0, flowing=True)) as c:
        assert isinstance(c, clock.ManualClock)
        yield c


@pytest.fixture
async def q(db_url: str, manual: clock.ManualClock) -> AsyncIterator[Quota]:
    app = create(Settings(database_url=db_url, log_json=False, hold_sweep_seconds=3600))
    async with testing.running(app) as client:
        yield Quota(app, client)


async def holdings(q: Quota, owner: str) -> list[dict[str, Any]]:
    r = await q.client.get(f"/quota/holdings?uscc={owner}", headers=INVESTMENT)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return sorted(r.json()["items"], key=lambda h: (h["valid_until"], h["amount_t"]))


async def sell(q: Quota, seller: str, buyer: str, amount: str, **extra: str) -> dict[str, Any]:
    body = {
        "seller": seller,
        "buyer": buyer,
        "district": JIZHOU,
        "amount_t": amount,
        "price_cny_per_t": "100.00",
        "contract_ref": "TJ-VALID-1",
        **extra,
    }
    t = await post(q, "/quota/trades", body, ADMIN, 201)
    done = await post(q, f"/quota/trades/{t['id']}/approve", None, ADMIN2)
    assert done["status"] == "settled", done
    return dict(done)


def move_to(manual: clock.ManualClock, at: dt.datetime) -> None:
    manual.advance_now(at - manual.now())


def until(h: dict[str, Any]) -> str:
    return str(h["valid_until"])[:10]


async def test_selling_back_and_forth_does_not_renew_the_validity(
    q: Quota, manual: clock.ManualClock
) -> None:
    s, b = uscc("VALSEL1"), uscc("VALBUY1")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-valid-1", "2", s)  # 4 t of quota, valid to 2031-03-01
    (h,) = await holdings(q, s)
    assert until(h) == "2031-03-01"
    manual.advance_now(dt.timedelta(days=365))
    await sell(q, s, b, "4")
    (bh,) = await holdings(q, b)
    assert (bh["amount_t"], until(bh), bh["valid"]) == ("4.000", "2031-03-01", True)
    # Just before it expires, the buyer sells it back: still 2031, not 2036.
    move_to(manual, dt.datetime(2031, 2, 27, 1, 0, tzinfo=dt.UTC))
    await sell(q, b, s, "4")
    back = [h for h in await holdings(q, s) if h["amount_t"] != "0.000"]
    assert [(h["amount_t"], until(h)) for h in back] == [("4.000", "2031-03-01")]
    # Once the term is over it is no longer tradable: the quota was not renewed.
    move_to(manual, dt.datetime(2031, 3, 2, 1, 0, tzinfo=dt.UTC))
    body = {
        "seller": s,
        "buyer": b,
        "district": JIZHOU,
        "amount_t": "1",
        "price_cny_per_t": "100.00",
        "contract_ref": "TJ-VALID-2",
    }
    r = await q.client.post("/quota/trades", json=body, headers=OFFICER)
    assert r.status_code == 409 and r.json()["reason"] == "seller_holds_too_little", r.text
    await reconciled(q)


@pytest.mark.parametrize("cross", [False, True], ids=["same-district", "cross-district"])
async def test_a_sale_of_holdings_of_different_terms_keeps_each_term(
    q: Quota, manual: clock.ManualClock, cross: bool
) -> None:
    """The sale takes the oldest holding first and then the next: the buyer
    gets one holding per term sold, each kilogram keeping its own validity
    (neither the later term for all, which would lengthen some, nor the
    earliest, which would shorten the rest)."""
    s, b = uscc("VALSEL2"), uscc("VALBUY2")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-valid-2a", "1", s)  # 2 t, valid to 2031-03-01
    manual.advance_now(dt.timedelta(days=365))
    await allocate_to(q, "proj-valid-2b", "1", s)  # 2 t, valid to 2032-03-01
    manual.advance_now(dt.timedelta(days=30))
    extra = {}
    if cross:
        await q.client.put(
            f"/quota/air-quality/{BAODI}", json={"status": "attained"}, headers=ADMIN
        )
        extra = {"buyer_district": BAODI}
    done = await sell(q, s, b, "3", **extra)
    bought = await holdings(q, b)
    assert [(h["amount_t"], until(h)) for h in bought] == [
        ("2.000", "2031-03-01"),
        ("1.000", "2032-03-01"),
    ]
    # The rights bought are shared among the parts, adding up exactly.
    rights = sum(int(h["rights_t"].replace(".", "")) for h in bought)
    assert rights == int(done["buyer_rights_t"].replace(".", ""))
    left = [h for h in await holdings(q, s) if h["amount_t"] != "0.000"]
    assert [(h["amount_t"], until(h)) for h in left] == [("1.000", "2032-03-01")]
    await reconciled(q)


async def test_same_district_officers_settle_with_the_terms_kept(
    q: Quota, manual: clock.ManualClock
) -> None:
    """The officers' path (four eyes within the district) keeps the term too."""
    s, b = uscc("VALSEL3"), uscc("VALBUY3")
    await q.baseline(JIZHOU, "20")
    await allocate_to(q, "proj-valid-3", "1", s)
    manual.advance_now(dt.timedelta(days=700))
    body = {
        "seller": s,
        "buyer": b,
        "district": JIZHOU,
        "amount_t": "1",
        "price_cny_per_t": "100.00",
        "contract_ref": "TJ-VALID-3",
    }
    t = await post(q, "/quota/trades", body, OFFICER, 201)
    await post(q, f"/quota/trades/{t['id']}/approve", None, OFFICER2)
    (bh,) = await holdings(q, b)
    assert until(bh) == "2031-03-01"
