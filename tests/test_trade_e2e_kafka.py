"""排污权交易 end to end on Kafka: quota-svc and permit-svc as separate
processes with their own PostgreSQL databases. A trade between two
enterprises is settled in quota-svc; `quota.trade.settled` makes permit-svc
amend both permits (seller down, buyer up, both audited), and the seller's
decrease is not mistaken for a reclaim."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from svc_common import testing
from typer.testing import CliRunner

from bureau.register_cli import app as register_cli
from bureau.stack import Stack

from .test_saga_e2e_kafka import eventually, uscc

pytestmark = [pytest.mark.kafka, pytest.mark.pg, pytest.mark.slow]

JIZHOU = "120119"
# The distributed mode refuses the development secret: the stack and these
# tokens share the tests' own.
SECRET = testing.DISTRIBUTED_SECRET
ADMIN = testing.auth("admin", sub="admin.city", secret=SECRET)
OFFICER = testing.auth("officer", [JIZHOU], sub="zhang.wei", secret=SECRET)
OFFICER2 = testing.auth("officer", [JIZHOU], sub="li.na", secret=SECRET)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(
        pg_admin_url=testing.pg_admin_url(),
        kafka_bootstrap=testing.kafka_bootstrap(),
        log_dir=tmp_path / "logs",
        db_prefix=f"trade{uuid.uuid4().hex[:6]}",
        jwt_secret=SECRET,
    )
    try:
        await s.start()
        yield s
    finally:
        s.stop()


async def _permit(permit: httpx.AsyncClient, code: str, name: str, vocs: str) -> str:
    r = await permit.post(
        "/permit/enterprises",
        json={"uscc": code, "name": name, "district": JIZHOU, "industry_code": "2641"},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    line = {
        "uscc": code,
        "pollutants": [{"pollutant": "VOCs", "amount_t": vocs}],
        "valid_from": "2024-01-01",
        "valid_to": "2028-12-31",
    }
    r = await permit.post(
        "/permit/permits:import",
        content=json.dumps(line).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["created"] == 1, r.text
    return str(r.json()["results"][0]["id"])


async def test_trade_amends_both_permits_over_kafka(stack: Stack) -> None:
    permit = httpx.AsyncClient(base_url=stack.url("permit"), timeout=30)
    quota = httpx.AsyncClient(base_url=stack.url("quota"), timeout=30)
    try:
        seller, buyer = uscc("TRADESELL1"), uscc("TRADEBUY22")
        seller_permit = await _permit(permit, seller, "天津蓟州某化工厂", "5")
        buyer_permit = await _permit(permit, buyer, "天津蓟州某家具厂", "2")

        # The seller's rights: a project of 3 t/a allocated 6 t of quota at 2.0.
        r = await quota.post(
            f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "10"}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        r = await quota.post(
            "/quota/reservations",
            json={
                "district": JIZHOU,
                "increment_t": "3",
                "project_ref": "seller-1",
                "uscc": seller,
            },
            headers=OFFICER,
        )
        assert r.status_code == 201, r.text
        r = await quota.post(f"/quota/reservations/{r.json()['id']}/allocate", headers=OFFICER)
        assert r.status_code == 200, r.text

        trade = {
            "seller": seller,
            "buyer": buyer,
            "district": JIZHOU,
            "amount_t": "2",
            "price_cny_per_t": "15000",
            "contract_ref": "TJ-PWQ-2026-0001",
        }
        r = await quota.post("/quota/trades", json=trade, headers=OFFICER)
        assert r.status_code == 201, r.text
        r = await quota.post(f"/quota/trades/{r.json()['id']}/approve", headers=OFFICER2)
        assert r.status_code == 200 and r.json()["status"] == "settled", r.text
        settled = r.json()
        assert (settled["seller_rights_t"], settled["buyer_rights_t"]) == ("1.000", "1.000")

        async def permits() -> dict[str, dict[str, Any]]:
            out = {}
            for pid in (seller_permit, buyer_permit):
                got = await permit.get(f"/permit/permits/{pid}", headers=OFFICER)
                assert got.status_code == 200, got.text
                out[pid] = got.json()
            return out

        amended = await eventually(
            permits,
            lambda ps: (
                ps[seller_permit]["vocs_t"] == "4.000" and ps[buyer_permit]["vocs_t"] == "3.000"
            ),
            "both permits amended",
        )
        for pid in (seller_permit, buyer_permit):
            assert amended[pid]["last_action"] == "change"
            assert settled["id"] in (amended[pid]["status_reason"] or "")
            audit = await permit.get(
                "/permit/audit",
                params={"target_id": pid, "action": "permit.change"},
                headers=ADMIN,
            )
            assert audit.status_code == 200, audit.text
            (entry,) = audit.json()["items"]
            assert entry["detail"]["trade_id"] == settled["id"]

        # The seller's decrease is the buyer's now, not a reclaim for the pool.
        async def reclaims() -> list[dict[str, Any]]:
            r = await quota.get(f"/quota/reclaims?district={JIZHOU}", headers=OFFICER)
            return list(r.json()["items"])

        assert await reclaims() == []
        holdings = await quota.get(f"/quota/holdings?uscc={buyer}", headers=OFFICER)
        assert [h["rights_t"] for h in holdings.json()["items"]] == ["1.000"]

        # The public register (baseline, hold, allocation, the settled trade),
        # chained by its periodic job, verifies from its URL.
        async def head() -> dict[str, Any]:
            return dict((await quota.get("/quota/public/head")).json())

        await eventually(head, lambda h: h["seq"] >= 4, "the register to be chained")
        result = await asyncio.to_thread(
            CliRunner().invoke, register_cli, ["verify", stack.url("quota")]
        )
        assert result.exit_code == 0, result.output
        assert "intact" in result.output
    finally:
        await permit.aclose()
        await quota.aclose()
