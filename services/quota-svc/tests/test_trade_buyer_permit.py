"""A trade may not sell rights into a plant whose permit was cancelled
(reclaim pending), on SQLite and PostgreSQL. Before, it was proposed,
approved by a second officer and settled: the buyer held rights no permit
in force could take, and the reclaim's confirmation then retired them."""

from __future__ import annotations

from svc_common import testing

from .conftest import ADMIN, ADMIN2, BAODI, Quota
from .test_ledger_beyond import post, uscc
from .test_reclaim_backing import cancelled, issued

SELLER, BUYER = uscc("TBSEL1"), uscc("TBBUY1")


async def test_a_buyer_whose_permit_was_cancelled_cannot_buy(quota: Quota) -> None:
    await quota.baseline(BAODI, "5")
    body = {"district": BAODI, "increment_t": "1", "project_ref": "TB-1", "uscc": SELLER}
    held = await post(quota, "/quota/reservations", body, ADMIN, 201)
    await post(quota, f"/quota/reservations/{held['id']}/allocate", {}, ADMIN)
    for e in (issued("PM-TB", VOCs="1"), cancelled("PM-TB", VOCs="1")):
        await testing.deliver(quota.app, e.model_copy(update={"uscc": BUYER, "district": BAODI}))
    sale = {
        "seller": SELLER,
        "buyer": BUYER,
        "district": BAODI,
        "amount_t": "0.5",
        "price_cny_per_t": "1.00",
        "contract_ref": "C-tb",
    }
    for language, words in (("zh-CN", f"买方 {BUYER} 的许可证 PM-TB 已注销"), ("en", BUYER)):
        r = await quota.client.post(
            "/quota/trades", json=sale, headers={**ADMIN, "accept-language": language}
        )
        assert r.status_code == 409, r.text
        assert r.json()["reason"] == "buyer_permit_cancelled", r.text
        assert r.json()["buyer"] == BUYER and words in r.json()["detail"], r.text
    # Another buyer still may.
    t = await post(quota, "/quota/trades", {**sale, "buyer": uscc("TBBUY2")}, ADMIN, 201)
    assert (await post(quota, f"/quota/trades/{t['id']}/approve", None, ADMIN2))["status"] == (
        "settled"
    )
