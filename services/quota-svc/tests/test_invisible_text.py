"""A reason or a note made of characters a reader cannot see (a zero-width
space U+200B, a word joiner, a byte-order mark) says nothing: releasing a
hold, entering, rejecting or correcting an amount, proposing or cancelling
a swap, cancelling a trade with one is a 422 naming the field, in Chinese
and in English, and writes nothing (the shared VisibleText)."""

from __future__ import annotations

from typing import Any

import pytest
from quota_svc.ledger.models import JournalEntry
from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry, OutboxRow

from .conftest import ADMIN, BAODI, JIZHOU, OFFICER, Quota

INVISIBLE = ("\u200b", "\u200b\u2060", "\ufeff", " \u00a0\u200b\u3000 ")
OFFICER2 = testing.auth("officer", [JIZHOU], sub="officer.zhao")


async def _writes(q: Quota) -> tuple[int, int, int]:
    """Journal entries, audit entries and events: a refused request adds none."""
    async with q.app.state.runtime.db.session() as s:
        counts = [
            await s.scalar(select(func.count()).select_from(table))
            for table in (JournalEntry, AuditEntry, OutboxRow)
        ]
    return int(counts[0] or 0), int(counts[1] or 0), int(counts[2] or 0)


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert [e["field"] for e in r.json()["errors"]] == [field], r.text


async def _made(q: Quota, path: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    r = await q.client.post(path, json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def test_an_invisible_reason_or_note_is_refused_everywhere(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "20")
    await quota.baseline(BAODI, "20")
    hold = await _made(
        quota,
        "/quota/reservations",
        {"district": JIZHOU, "increment_t": "1", "project_ref": "JZ-INV-1"},
        OFFICER,
    )
    reclaim = await _made(
        quota,
        "/quota/reclaims",
        {"district": JIZHOU, "amount_t": "1", "note": "关停"},
        OFFICER,
    )
    swap = {"from": JIZHOU, "to": BAODI, "amount_t": "1", "reason": "重点项目调剂"}
    swap_id = await _made(quota, "/quota/swaps", swap, ADMIN)
    adjustments = f"/quota/pools/{JIZHOU}/VOCs/adjustments"
    writes: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
        (f"/quota/reservations/{hold}/release", {}, OFFICER, "reason"),
        ("/quota/reclaims", {"district": JIZHOU, "amount_t": "1"}, OFFICER, "note"),
        (f"/quota/reclaims/{reclaim}/reject", {}, OFFICER2, "reason"),
        (adjustments, {"amount_t": "1"}, ADMIN, "note"),
        ("/quota/swaps", {k: v for k, v in swap.items() if k != "reason"}, ADMIN, "reason"),
        (f"/quota/swaps/{swap_id}/cancel", {}, ADMIN, "reason"),
        (f"/quota/pools/{JIZHOU}/VOCs/baseline", {"amount_t": "1"}, ADMIN, "note"),
        # The body is read before the trade is looked up: no trade is needed.
        ("/quota/trades/1/cancel", {}, OFFICER, "reason"),
    ]
    before = await _writes(quota)
    for path, body, headers, field in writes:
        for text in INVISIBLE:
            r = await quota.client.post(path, json={**body, field: text}, headers=headers)
            _refused(r, field)
    assert await _writes(quota) == before
    path, body, headers, field = writes[0]
    r = await quota.client.post(
        path, json={field: "\u200b"}, headers={**headers, "Accept-Language": "en"}
    )
    assert "visible character" in r.json()["errors"][0]["message"], r.text
    r = await quota.client.post(
        path, json={field: "\u200b"}, headers={**headers, "Accept-Language": "zh-CN"}
    )
    assert "可见字符" in r.json()["errors"][0]["message"], r.text
    hold_now = await quota.client.get(f"/quota/reservations/{hold}", headers=OFFICER)
    assert hold_now.json()["status"] == "held", hold_now.text


@pytest.mark.parametrize("reason", ["  重点项目调剂 ", "重点\u200b项目"])
async def test_a_swap_reason_is_kept_as_sent(quota: Quota, reason: str) -> None:
    """A swap's model never stripped its reason: visible text is kept as it was."""
    await quota.baseline(JIZHOU, "20")
    body = {"from": JIZHOU, "to": BAODI, "amount_t": "1", "reason": reason}
    r = await quota.client.post("/quota/swaps", json=body, headers=ADMIN)
    assert r.status_code == 201 and r.json()["reason"] == reason, r.text


async def test_an_optional_ledger_note_may_still_be_empty_or_left_out(quota: Quota) -> None:
    for extra in ({}, {"note": ""}, {"note": "核定基数"}):
        await quota.baseline(JIZHOU, "1", **extra)
