"""Park sub-pools (园区子池) only for parks registered in their district, on
SQLite and PostgreSQL: a transfer, a reservation or a what-if check naming a
park the ledger never saw registered (`eia.park.registered`), or one
registered in another district, is a 422 naming the field, and no pool is
made for it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quota_svc.ledger.rules import park_problem
from svc_common import testing
from svc_common.events.schemas.eia import ParkRegistered

from .conftest import ADMIN, INVESTMENT, Quota

BINHAI = "120116"  # 滨海新区
HEPING = "120101"  # 和平区


async def register(q: Quota, park_id: str, district: str, tonnes: str = "2") -> None:
    await testing.deliver(
        q.app,
        ParkRegistered(
            park_id=park_id,
            district=district,
            name="天津南港工业区",
            vocs_subpool_t=Decimal(tonnes),
            covered_project_types=["C2614"],
        ),
    )


def refused_on(r: Any, field: str) -> str:
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == field
    return str(error["message"])


async def pool_ids(q: Quota, district: str, pollutant: str) -> set[str]:
    r = await q.client.get(
        "/quota/availability",
        params={"district": district, "pollutant": pollutant},
        headers=INVESTMENT,
    )
    assert r.status_code == 200, r.text
    return {p["pool_id"] for p in r.json()}


def test_park_problem_names_unknown_parks_and_other_districts() -> None:
    assert park_problem("nangang", BINHAI, BINHAI) is None
    assert "nope" in (park_problem("nope", HEPING, None) or "")
    assert BINHAI in (park_problem("nangang", HEPING, BINHAI) or "")


async def test_transfer_only_into_a_registered_park_of_the_district(quota: Quota) -> None:
    for d in (HEPING, BINHAI):
        r = await quota.client.post(
            f"/quota/pools/{d}/COD/baseline", json={"amount_t": "5"}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
    await quota.baseline(BINHAI, "10")
    await register(quota, "nangang", BINHAI)
    for target, why in (("park:nope", "nope"), ("park:nangang", BINHAI)):
        r = await quota.client.post(
            f"/quota/pools/{HEPING}/COD/transfers",
            json={"source": "district", "target": target, "amount_t": "0.5"},
            headers=ADMIN,
        )
        assert why in refused_on(r, "target")
    r = await quota.client.post(
        f"/quota/pools/{HEPING}/COD/transfers",
        json={"source": "park:nope", "target": "district", "amount_t": "0.5"},
        headers=ADMIN,
    )
    refused_on(r, "source")
    assert await pool_ids(quota, HEPING, "COD") == {f"{HEPING}:COD"}
    # The park's own district may give it a COD sub-pool.
    r = await quota.client.post(
        f"/quota/pools/{BINHAI}/COD/transfers",
        json={"source": "district", "target": "park:nangang", "amount_t": "0.5"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    assert f"{BINHAI}:COD:park:nangang" in await pool_ids(quota, BINHAI, "COD")


async def test_reservation_and_check_only_in_a_registered_park_of_the_district(
    quota: Quota,
) -> None:
    await quota.baseline(BINHAI, "10")
    await quota.baseline(HEPING, "10")
    await register(quota, "nangang", BINHAI)
    for park in ("nope", "nangang"):
        r = await quota.client.post(
            "/quota/checks",
            json={"district": HEPING, "increment_t": "0.1", "park_id": park},
            headers=INVESTMENT,
        )
        refused_on(r, "park_id")
        r = await quota.client.post(
            "/quota/reservations",
            json={
                "district": HEPING,
                "increment_t": "0.1",
                "project_ref": f"P-{park}",
                "park_id": park,
            },
            headers=ADMIN,
        )
        refused_on(r, "park_id")
    assert await pool_ids(quota, HEPING, "VOCs") == {f"{HEPING}:VOCs"}
    assert not await quota.events("quota.reserved.v1")
    # In its own district the park's sub-pool is drawn on.
    r = await quota.client.post(
        "/quota/checks",
        json={"district": BINHAI, "increment_t": "0.1", "park_id": "nangang"},
        headers=INVESTMENT,
    )
    assert r.status_code == 200, r.text
    assert r.json()["fits"] is True
    r = await quota.client.post(
        "/quota/reservations",
        json={"district": BINHAI, "increment_t": "0.1", "project_ref": "P-1", "park_id": "nangang"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    assert r.json()["pool_id"] == f"{BINHAI}:VOCs:park:nangang"


async def test_a_park_registered_with_no_sub_pool_can_be_funded_later(quota: Quota) -> None:
    """A park registered with 0 t of VOCs made no pool, so the ledger took it
    for a park never registered: the transfer that funds it later, as the
    handler's own docstring says an administrator does, was a 422."""
    await quota.baseline(BINHAI, "10")
    await register(quota, "lingang", BINHAI, tonnes="0")
    assert f"{BINHAI}:VOCs:park:lingang" in await pool_ids(quota, BINHAI, "VOCs")
    r = await quota.client.post(
        f"/quota/pools/{BINHAI}/VOCs/transfers",
        json={"source": "district", "target": "park:lingang", "amount_t": "1.5"},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text


async def test_balance_of_a_park_only_for_a_registered_park_of_the_district(
    quota: Quota,
) -> None:
    """A park's balance read for a park never registered, or one registered
    in another district, answered 200 with a park of 0 t: a mistyped park id
    read as an empty park instead of being refused on `pool`."""
    await quota.baseline(BINHAI, "10")
    await register(quota, "nangang", BINHAI)
    for district, park, why in (
        (BINHAI, "nangnag", "nangnag"),
        (HEPING, "nangang", BINHAI),
    ):
        r = await quota.client.get(
            f"/quota/balances/{district}/VOCs", params={"pool": f"park:{park}"}, headers=ADMIN
        )
        assert why in refused_on(r, "pool")
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await quota.client.get(
        f"/quota/balances/{BINHAI}/VOCs",
        params={"pool": "park:nangang"},
        headers={**ADMIN, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["available_t"] == "2.000"
    r = await quota.client.get(
        f"/quota/balances/{BINHAI}/VOCs",
        params={"pool": "park:nangnag"},
        headers={**ADMIN, "Accept-Language": "zh-CN"},
    )
    assert "不是已登记的园区" in refused_on(r, "pool")
