"""A reservation, swap, trade or lot of districts the caller may not act in
reads as one that does not exist: the same 404, byte for byte but the
request id (a 403 naming the district told an officer of another district
that a reservation existed, and where). A write to one is the same 404
and changes nothing; a role that may not act at all is still refused (403)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from svc_common import testing
from svc_common.tables import AuditEntry
from svc_common.testing import as_not_found

from .conftest import BAODI, INVESTMENT, JIZHOU, OFFICER, Quota

ELSEWHERE = testing.auth("officer", [BAODI], sub="officer.baodi")
PROJECT = {"district": JIZHOU, "increment_t": "2.5", "project_ref": "JZ-2026-404"}


async def _audited(quota: Quota) -> int:
    async with quota.app.state.runtime.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def test_another_districts_records_read_and_write_as_ones_that_do_not_exist(
    quota: Quota,
) -> None:
    await quota.baseline(JIZHOU, "20")
    r = await quota.client.post("/quota/reservations", json=PROJECT, headers=OFFICER)
    assert r.status_code == 201, r.text
    made = r.json()
    rid, nobody = made["id"], "no-such-id"
    url = "/quota/reservations/{}"

    def alike(theirs: httpx.Response, none: httpx.Response) -> None:
        assert as_not_found(theirs, (rid, "ID")) == as_not_found(none, (nobody, "ID"))

    for tail in ("", "/lineage"):
        for lang in ("zh-CN", "en"):
            said = {**ELSEWHERE, "Accept-Language": lang}
            alike(
                await quota.client.get(url.format(rid) + tail, headers=said),
                await quota.client.get(url.format(nobody) + tail, headers=said),
            )
    available = await quota.availability(JIZHOU)
    audited = await _audited(quota)
    for action, body in (("allocate", {}), ("release", {"reason": "x"})):
        alike(
            await quota.client.post(f"{url.format(rid)}/{action}", json=body, headers=ELSEWHERE),
            await quota.client.post(f"{url.format(nobody)}/{action}", json=body, headers=ELSEWHERE),
        )
    # Nothing was written: the reservation is held, the pool as it was.
    got = await quota.client.get(url.format(rid), headers=OFFICER)
    assert got.json()["status"] == "held"
    assert await quota.availability(JIZHOU) == available
    assert await _audited(quota) == audited

    lot = made["lots"][0][0]
    theirs = await quota.client.get(f"/quota/lots/{lot}", headers=ELSEWHERE)
    none = await quota.client.get("/quota/lots/999999", headers=ELSEWHERE)
    assert as_not_found(theirs, (str(lot), "ID")) == as_not_found(none, ("999999", "ID"))

    # A swap between two districts neither of which is the caller's.
    swap = {"from": JIZHOU, "to": "120116", "amount_t": "1", "reason": "重点项目调剂"}
    r = await quota.client.post("/quota/swaps", json=swap, headers=OFFICER)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    for method, tail, body in (("GET", "", None), ("POST", "/cancel", {"reason": "x"})):
        theirs = await quota.client.request(
            method, f"/quota/swaps/{sid}{tail}", json=body, headers=ELSEWHERE
        )
        none = await quota.client.request(
            method, f"/quota/swaps/{nobody}{tail}", json=body, headers=ELSEWHERE
        )
        assert as_not_found(theirs, (sid, "ID")) == as_not_found(none, (nobody, "ID")), tail
    assert (await quota.client.get(f"/quota/swaps/{sid}", headers=OFFICER)).json()[
        "status"
    ] == "proposed"

    # A role that may not act at all: still 403 (it tells nothing of the record).
    r = await quota.client.post(
        f"{url.format(rid)}/release", json={"reason": "x"}, headers=INVESTMENT
    )
    assert r.status_code == 403
