"""quota-svc's own figures on /quota/metrics: available quota per district
and pollutant, holds lapsing within 7 days, pools that disagree with their
journal."""

from __future__ import annotations

from sqlalchemy import text
from svc_common import testing

from .conftest import ADMIN, BAODI, JIZHOU, OFFICER, Quota


async def test_available_quota_expiring_holds_and_ledger_agreement(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "10")
    await quota.baseline(BAODI, "4")
    r = await quota.client.put(
        f"/quota/settings/{JIZHOU}/VOCs",
        json={"offset_ratio": "2.0", "hold_days": 5},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    r = await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "1.5", "project_ref": "JZ-1"},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text

    samples = await testing.figures(quota.app, quota.client)
    pool = await quota.availability(JIZHOU)
    assert pool["available_t"] == "7.000"
    kind = {"pollutant": "VOCs", "pool_kind": "district"}
    assert testing.figure(samples, "quota_available_tonnes", district=JIZHOU, **kind) == 7.0
    assert testing.figure(samples, "quota_reserved_tonnes", district=JIZHOU, **kind) == 3.0
    assert testing.figure(samples, "quota_available_tonnes", district=BAODI, **kind) == 4.0
    # The 5-day hold lapses within 7 days; BAODI has none but is reported.
    assert (
        testing.figure(samples, "quota_holds_expiring_7d", district=JIZHOU, pollutant="VOCs") == 1
    )
    assert (
        testing.figure(samples, "quota_holds_expiring_7d_tonnes", district=JIZHOU, pollutant="VOCs")
        == 3.0
    )
    assert testing.figure(samples, "quota_holds_expiring_7d", district=BAODI, pollutant="VOCs") == 0
    assert testing.figure(samples, "quota_ledger_mismatched_pools") == 0
    # Only quota-svc's series on quota-svc's /metrics.
    assert {dict(labels).get("service") for _n, labels in samples} <= {None, "quota-svc"}

    # A pool row changed behind the journal's back is seen at the next refresh.
    async with quota.app.state.runtime.db.transaction() as s:
        await s.execute(
            text("UPDATE pools SET credited_kg = credited_kg + 1 WHERE id = :id"),
            {"id": f"{BAODI}:VOCs"},
        )
    samples = await testing.figures(quota.app, quota.client)
    assert testing.figure(samples, "quota_ledger_mismatched_pools") == 1
