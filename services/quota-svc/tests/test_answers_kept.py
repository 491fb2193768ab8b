"""An Idempotency-Key answer commits with its effect (应答随效果提交): a
reservation or an allocation made in a group commit of its own writes the
request's answer in the same statement, so no effect is ever committed
without its answer, and two requests under one key never both take effect."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from quota_svc.reservations.models import Reservation
from sqlalchemy import func, select
from svc_common import idempotency
from svc_common.failures import TransientFailure
from svc_common.tables import IdempotencyRecord

from .conftest import JIZHOU, OFFICER, Quota


@pytest.fixture
def no_store_after(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """On PostgreSQL: storing an answer after the effect's commit fails, as
    a crash or a lost connection there would. Yields the paths it failed for."""
    if not db_url.startswith("postgresql"):
        pytest.skip("on SQLite the answer is stored in the request's own transaction")
    failed: list[str] = []

    async def store(db: Any, unit: Any, owner: str, key: str, scope: Any, *args: Any) -> None:
        failed.append(scope["path"])
        raise TransientFailure("the database went away after the commit")

    monkeypatch.setattr(idempotency, "_store", store)
    yield failed


async def _allocate(client: Any, rid: str, key: str) -> Any:
    return await client.post(
        f"/quota/reservations/{rid}/allocate",
        json={},
        headers={**OFFICER, "Idempotency-Key": key},
    )


async def _holds(quota: Quota, refs_like: str) -> int:
    """The reservations of the projects whose refs are like `refs_like`."""
    async with quota.app.state.runtime.db.session() as s:
        found = await s.scalar(
            select(func.count())
            .select_from(Reservation)
            .where(Reservation.project_ref.like(refs_like))
        )
    return int(found or 0)


async def _reserve(quota: Quota, ref: str, key: str) -> Any:
    return await quota.client.post(
        "/quota/reservations",
        json={"district": JIZHOU, "increment_t": "1.5", "project_ref": ref},
        headers={**OFFICER, "Idempotency-Key": key},
    )


async def _held_then_allocated(quota: Quota, ref: str, keys: tuple[str, str]) -> tuple[Any, Any]:
    """A project reserved and its hold allocated, under the two keys; the
    two answers (each asserted a success)."""
    await quota.baseline(JIZHOU, "30")
    made = await _reserve(quota, ref, keys[0])
    assert made.status_code == 201, made.text
    done = await _allocate(quota.client, made.json()["id"], keys[1])
    assert done.status_code == 200, done.text
    return made, done


async def test_a_reservation_and_its_allocation_commit_with_their_answers(
    quota: Quota, no_store_after: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made, done = await _held_then_allocated(quota, "KEPT-1", ("kept-r1", "kept-a1"))
    rid = made.json()["id"]
    # Nothing was stored after the commit, and nothing needed to be.
    assert no_store_after == []
    monkeypatch.undo()
    # A retry is given the first answer, as it was sent.
    again = await _reserve(quota, "KEPT-1", "kept-r1")
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert again.content == made.content
    redone = await _allocate(quota.client, rid, "kept-a1")
    assert (redone.status_code, redone.headers.get("idempotent-replayed")) == (200, "true")
    assert redone.content == done.content


async def test_answers_of_a_batch_commit_with_it(quota: Quota, no_store_after: list[str]) -> None:
    """Reservations queued together on one pool go in batches: each
    operation's answer is written with the batch's writes."""
    from quota_svc.reservations.router import pool_batches

    await quota.baseline(JIZHOU, "90")  # 3 t a project: 30 fit
    made = await asyncio.gather(*(_reserve(quota, f"KB-{i:02d}", f"kb-{i:02d}") for i in range(24)))
    assert Counter(r.status_code for r in made) == {201: 24}
    assert pool_batches(quota.app.state.runtime).batches >= 1
    assert no_store_after == []
    async with quota.app.state.runtime.db.session() as s:
        keys = await s.scalar(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.key.like("kb-%"))
        )
    assert keys == 24


async def test_retries_queued_among_new_reservations_keep_their_batch(
    quota: Quota, db_url: str
) -> None:
    """Retries of reservations that took effect (their answers lost on the
    way), queued on a busy pool among new ones: each retry is given its
    first answer, each new one its hold, and their batches are kept, run
    again as one with the retries' holds found (not undone into one
    transaction a request, as a retry storm would otherwise make them)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("on SQLite every request is its own transaction")
    from quota_svc.reservations.router import pool_batches

    await quota.baseline(JIZHOU, "90")  # 3 t a project: 30 fit
    first = [await _reserve(quota, f"RS-{i}", f"rs-{i}") for i in range(6)]
    assert [r.status_code for r in first] == [201] * 6
    batches = pool_batches(quota.app.state.runtime)
    fallbacks = batches.fallbacks
    answers = await asyncio.gather(
        *(_reserve(quota, f"RS-{i}", f"rs-{i}") for i in range(6)),
        *(_reserve(quota, f"RN-{i:02d}", f"rn-{i:02d}") for i in range(12)),
    )
    retried, new = answers[:6], answers[6:]
    assert [(r.status_code, r.headers.get("idempotent-replayed")) for r in retried] == [
        (201, "true")
    ] * 6
    assert [r.content for r in retried] == [r.content for r in first]
    assert Counter(r.status_code for r in new) == {201: 12}
    assert batches.run_again >= 1 and batches.fallbacks == fallbacks
    assert await _holds(quota, "R%") == 18


async def test_one_key_racing_for_two_projects_takes_effect_once(quota: Quota) -> None:
    """The same key sent at once for two different requests: one takes
    effect, the other is refused as a reused key, with nothing of it kept
    (its hold would otherwise stay, answered by a 422)."""
    await quota.baseline(JIZHOU, "300")
    answers = []
    for i in range(8):
        pair = await asyncio.gather(
            _reserve(quota, f"RACE-{i}-A", f"race-{i}"), _reserve(quota, f"RACE-{i}-B", f"race-{i}")
        )
        answers.append(sorted(r.status_code for r in pair))
    assert answers == [[201, 422]] * 8
    assert await _holds(quota, "RACE-%") == 8


async def test_twins_under_one_key_get_one_effect_and_the_same_answer(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "300")
    for i in range(6):
        pair = await asyncio.gather(
            _reserve(quota, f"TWIN-{i}", f"twin-{i}"), _reserve(quota, f"TWIN-{i}", f"twin-{i}")
        )
        assert [r.status_code for r in pair] == [201, 201], [r.text for r in pair]
        assert pair[0].content == pair[1].content
        assert sorted(r.headers.get("idempotent-replayed", "") for r in pair) == ["", "true"]
        rid = pair[0].json()["id"]
        allocated = await asyncio.gather(
            *(_allocate(quota.client, rid, f"twin-a{i}") for _ in range(2))
        )
        assert [r.status_code for r in allocated] == [200, 200]
        assert allocated[0].content == allocated[1].content
    assert await _holds(quota, "TWIN-%") == 6
    allocated_events = await quota.events("quota.allocated.v1")
    assert len(allocated_events) == 6


async def test_a_route_that_keeps_its_answer_does_not_look_the_key_up_first(
    quota: Quota, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the key of a new reservation or allocation is not
    looked up before the route runs; a key used before is found where the
    route's write meets it: a retry is given the first answer, and a key
    reused for another request is a 422 with nothing of it kept."""
    if not db_url.startswith("postgresql"):
        pytest.skip("on SQLite the answer is stored in the request's own transaction")
    lookups: list[str] = []
    stored = idempotency._stored

    async def counted(db: Any, unit: Any, scope: Any, *args: Any) -> Any:
        lookups.append(scope["path"])
        return await stored(db, unit, scope, *args)

    monkeypatch.setattr(idempotency, "_stored", counted)
    first, _ = await _held_then_allocated(quota, "LOOK-1", ("look-1", "look-a"))
    assert lookups == []
    # A retry: found when its answer is stored, and replayed.
    again = await _reserve(quota, "LOOK-1", "look-1")
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert again.content == first.content
    # The key reused for another project, and on another reservation's
    # allocation: refused, nothing of either kept.
    reused = await _reserve(quota, "LOOK-2", "look-1")
    assert reused.status_code == 422, reused.text
    other = await _reserve(quota, "LOOK-3", "look-3")
    assert other.status_code == 201, other.text
    moved = await _allocate(quota.client, other.json()["id"], "look-a")
    assert moved.status_code == 422, moved.text
    async with quota.app.state.runtime.db.session() as s:
        rows = (
            await s.execute(
                select(Reservation.project_ref, Reservation.status).where(
                    Reservation.project_ref.like("LOOK-%")
                )
            )
        ).all()
    assert sorted(rows) == [("LOOK-1", "allocated"), ("LOOK-3", "held")]


async def test_with_group_commits_off_the_answer_is_stored_in_the_request_s_unit(
    db_url: str,
) -> None:
    """POOL_BATCH_MAX=1: an operation runs in the request's own unit of
    work, which stores its answer with it; a retry is given that answer."""
    from quota_svc.app import create
    from quota_svc.settings import Settings
    from svc_common import testing

    from .conftest import ADMIN

    settings = Settings(
        database_url=db_url, log_json=False, hold_sweep_seconds=3600, pool_batch_max=1
    )
    async with testing.running(create(settings)) as client:
        base = await client.post(
            f"/quota/pools/{JIZHOU}/VOCs/baseline", json={"amount_t": "30"}, headers=ADMIN
        )
        assert base.status_code == 201, base.text
        body = {"district": JIZHOU, "increment_t": "1.5", "project_ref": "ONE-1"}
        answers = []
        for _ in range(2):
            answers.append(
                await client.post(
                    "/quota/reservations",
                    json=body,
                    headers={**OFFICER, "Idempotency-Key": "one-r"},
                )
            )
        assert [(r.status_code, r.headers.get("idempotent-replayed")) for r in answers] == [
            (201, None),
            (201, "true"),
        ], answers[-1].text
        rid = answers[0].json()["id"]
        done = []
        for _ in range(2):
            done.append(await _allocate(client, rid, "one-a"))
        assert [(r.status_code, r.headers.get("idempotent-replayed")) for r in done] == [
            (200, None),
            (200, "true"),
        ], done[-1].text
        assert done[0].content == done[1].content
