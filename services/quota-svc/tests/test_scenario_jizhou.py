"""Seed 002, 蓟州区: a low baseline stock (存量基数低); quota reclaimed from
closed plants (开源做加法); projects approved strictly at the 2.0 offset ratio
(节流做减法), the one that does not fit refused with its shortfall.

Figures by hand (t/a):
  baseline 12.5; reclaimed 3.2 + 1.85 + 0.75 = 5.8 → credited 18.3
  project A 3.0 × 2.0 = 6.0, project B 4.2 × 2.0 = 8.4 → allocated 14.4
  available 18.3 − 14.4 = 3.9; largest project 3.9 / 2.0 = 1.95
  project C 2.5 × 2.0 = 5.0 → refused, short by 5.0 − 3.9 = 1.1
"""

from __future__ import annotations

from decimal import Decimal

from svc_common import testing
from svc_common.events.schemas.eia import FilingApproved

from .conftest import INVESTMENT, JIZHOU, OFFICER, Quota
from .test_events import accepted, cancelled


async def test_jizhou_reclaims_two_projects_fit_the_third_is_short(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "12.5", note="蓟州区 VOCs 存量基数")
    for permit, freed in [("PM-A", "3.2"), ("PM-B", "1.85"), ("PM-C", "0.75")]:
        await testing.deliver(quota.app, cancelled(permit, freed))
    pending = (await quota.client.get("/quota/reclaims?status=pending", headers=OFFICER)).json()
    assert len(pending["items"]) == 3
    for item in pending["items"]:
        r = await quota.client.post(f"/quota/reclaims/{item['id']}/confirm", headers=OFFICER)
        assert r.status_code == 200, r.text

    for filing, increment in [("A", "3.0"), ("B", "4.2")]:
        await testing.deliver(quota.app, accepted(filing, increment))
        ok = accepted(filing, increment)
        await testing.deliver(
            quota.app,
            FilingApproved(
                **ok.model_dump(
                    include={
                        "filing_id",
                        "project_ref",
                        "project_name",
                        "uscc",
                        "enterprise_name",
                        "district",
                        "industry_code",
                        "category",
                        "vocs_increment_t",
                    }
                )
            ),
        )
    check = await quota.client.post(
        "/quota/checks",
        json={"district": JIZHOU, "increment_t": "2.5"},
        headers=INVESTMENT,
    )
    assert check.status_code == 200, check.text
    assert (check.json()["fits"], check.json()["shortfall_t"]) == (False, "1.100")
    await testing.deliver(quota.app, accepted("C", "2.5"))

    a = await quota.availability(JIZHOU)
    assert {k: a[k] for k in a if k.endswith("_t") or k == "offset_ratio"} == {
        "credited_t": "18.300",
        "reserved_t": "0.000",
        "allocated_t": "14.400",
        "available_t": "3.900",
        "reclaimed_t": "5.800",
        "offset_ratio": "2.00",
        "max_project_increment_t": "1.950",
        "debt_t": "0.000",
        "overdue_debt_t": "0.000",
    }
    [refused] = await quota.events("quota.reservation_rejected.v1")
    assert (refused["project_ref"], refused["required_t"], refused["shortfall_t"]) == (
        "proj-C",
        "5.000",
        "1.100",
    )
    assert sorted(Decimal(e["amount_t"]) for e in await quota.events("quota.allocated.v1")) == [
        Decimal("6.000"),
        Decimal("8.400"),
    ]
    page = await quota.client.get("/quota/dashboard", headers=INVESTMENT)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "蓟州区" in page.text and "3.900" in page.text and "1.950" in page.text
    assert page.text.count("<tr") == 17  # header and the 16 districts
