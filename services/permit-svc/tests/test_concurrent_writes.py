"""Writes sent at the same moment end as they would one after the other, on
PostgreSQL where they really run side by side: of requests giving one
enterprise a permit in force, one wins (一企一证); classification tables
replace each other in turn, none is refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from permit_svc.permits import rules
from svc_common import testing

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])


def _import(svc: Service, uscc: str, sequence: int) -> Any:
    row = {
        "uscc": uscc,
        "pollutants": [{"pollutant": "VOCs", "amount_t": "2"}],
        "valid_from": "2024-01-01",
        "valid_to": "2028-12-31",
        "permit_no": rules.permit_number(uscc, sequence),
    }
    return svc.http.post(
        "/permit/permits:import",
        content=json.dumps(row).encode(),
        headers={**OFFICER, "content-type": "application/x-ndjson"},
    )


async def _in_force(svc: Service, uscc: str) -> list[str]:
    r = await svc.http.get(f"/permit/permits?uscc={uscc}&limit=50", headers=OFFICER)
    assert r.status_code == 200, r.text
    return [p["permit_no"] for p in r.json()["items"] if p["status"] in rules.IN_FORCE]


async def test_imports_at_once_give_an_enterprise_one_permit_in_force(svc: Service) -> None:
    for round_ in range(4):
        uscc = await svc.enterprise(7100 + round_)
        answers: list[httpx.Response] = await asyncio.gather(
            *(_import(svc, uscc, k) for k in range(1, 6))
        )
        assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
        created = sum(r.json()["totals"]["created"] for r in answers)
        assert created == 1, [r.json()["results"] for r in answers]
        assert len(await _in_force(svc, uscc)) == 1


async def test_issuing_while_an_import_runs_leaves_one_permit_in_force(svc: Service) -> None:
    for round_ in range(4):
        uscc = await svc.enterprise(7200 + round_)
        r = await svc.http.post(
            "/permit/permits",
            json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]},
            headers=OFFICER,
        )
        assert r.status_code == 201, r.text
        issue = svc.http.post(f"/permit/permits/{r.json()['id']}/issue", headers=OFFICER)
        issued, imported = await asyncio.gather(issue, _import(svc, uscc, 9))
        assert issued.status_code in (200, 409), issued.text
        assert imported.status_code == 200, imported.text
        winners = (issued.status_code == 200) + imported.json()["totals"]["created"]
        assert winners == 1, (issued.text, imported.text)
        assert len(await _in_force(svc, uscc)) == 1


async def test_classification_tables_sent_at_once_replace_it_in_turn(svc: Service) -> None:
    current = (await svc.http.get("/permit/industries", headers=OFFICER)).json()
    lines = [f"{t['industry_code']},{t['name']},{t['category']}" for t in current]
    headers = {**testing.auth("admin"), "content-type": "text/csv"}
    answers = await asyncio.gather(
        *(
            svc.http.post(
                "/permit/industries:import",
                content="\n".join(["industry_code,name,category", *lines, f"1711,棉纺纱{k},key"]),
                headers=headers,
            )
            for k in range(4)
        )
    )
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
