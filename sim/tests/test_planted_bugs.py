"""The simulator finds faults this system has had or could have: each test
puts one back (monkeypatching the real code, see planted.py) and runs seeds
until the invariant it breaks is reported, within a stated number of seeds.
Where today's code is free of the fault, the same seeds without the plant
show that the violation is the plant's.

The workloads are short and dense (a few weeks of activity) and the fault
mix leans on what exposes each plant: mixes are settings like any other."""

from __future__ import annotations

from typing import Any

import pytest
from bureau_sim.config import SimConfig
from eia_svc.quota_saga import rules as saga_rules
from quota_svc.reservations import service as reservations
from svc_common.inbox import InboxConsumer
from svc_common.outbox import OutboxRelay

from . import planted
from .planted import Hunt, hunt

#: Within how many seeds each plant must be caught.
WITHIN = 12


def dense(**settings: Any) -> SimConfig:
    """A short, busy year: every story within `days`, few of each."""
    base: dict[str, Any] = {
        "faults": "none",
        "days": 30,
        "enterprises": 300,
        "existing_permits": 30,
        "filings": 24,
        "permit_stories": 6,
        "registrations": 2,
        "machine_filings": 2,
        "bulk_uploads": 0,
        "audits": 2,
        "ratio_changes": 1,
        "manual_reclaims": 2,
        "manual_reservations": 2,
        "desk_rounds": 3,
        "reads": 0,
    }
    base.update(settings)
    return SimConfig(**base)


async def test_a_consumer_that_dead_letters_on_a_transient_database_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(InboxConsumer, "process", planted.dead_lettering_process)
    cfg = dense(db_outage=0.03, db_outage_max_seconds=120)
    found = await hunt(
        cfg, range(1, WITHIN + 1), Hunt("no dead letters", "simulated outage"), stop=True
    )
    assert found.found, "the dead-lettering consumer went unnoticed"
    seed, v = found.found[0]
    assert seed <= WITHIN
    assert "dead-lettered" in v.detail


async def test_the_late_refusal_after_a_withdrawal_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(saga_rules, "on_rejected", planted.refusal_ignored_once_decided)
    cfg = dense(quick_withdraw=0.7, delayed_delivery=0.3, filings=30)
    target = Hunt("every saga reaches a final state", r"\(withdrawn, quota pending\)")
    found = await hunt(cfg, range(1, WITHIN + 1), target, stop=True)
    assert found.found, "a filing left pending by an ignored refusal went unnoticed"
    assert found.found[0][0] <= WITHIN


@pytest.mark.pg
async def test_a_reservation_check_without_the_pool_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL, where a row lock is what keeps two reservations of one
    pool apart (on SQLite one writer at a time keeps them apart anyway).
    Officers of a district reserving within the same second (the rushes)
    race for the pool."""
    from svc_common import testing

    cfg = dense(
        db="pg",
        pg_admin_url=testing.pg_admin_url(),
        days=3,
        filings=10,
        manual_reservations=4,
        rushes=6,
        rush_size=8,
        concurrency=0.9,
    )
    target = Hunt("journal replays to every balance", "reserve")
    monkeypatch.setattr(reservations, "_LOCK_POOL_AND_POLICY", planted.pool_read_without_lock())
    found = await hunt(cfg, range(1, WITHIN + 1), target, stop=True)
    assert found.found, "a lost update of a pool went unnoticed"
    last = found.found[0][0]
    monkeypatch.undo()
    control = await hunt(
        cfg.model_copy(update={"stop_at_first": False}),
        range(1, last + 1),
        Hunt(target.invariant, target.detail),
        stop=False,
    )
    assert not control.found, f"the same seeds without the plant: {control.found[:2]}"


async def test_a_relay_that_publishes_a_keys_rows_out_of_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = dense(broker_outage=0.02, quick_withdraw=0.7, filings=30)
    target = Hunt("events of one aggregate in order", "before its earlier event")
    monkeypatch.setattr(OutboxRelay, "_in_key_order", planted.every_claimed_row)
    found = await hunt(cfg, range(1, WITHIN + 1), target, stop=True)
    assert found.found, "events of one filing published out of order went unnoticed"
    last = found.found[0][0]
    monkeypatch.undo()
    control = await hunt(
        cfg.model_copy(update={"stop_at_first": False}),
        range(1, last + 1),
        Hunt(target.invariant, target.detail),
        stop=False,
    )
    assert not control.found, f"the same seeds without the plant: {control.found[:2]}"


async def test_an_inbox_check_then_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dense(concurrent_redelivery=0.3)
    target = Hunt("every event applied once per service", "a second time")
    monkeypatch.setattr(InboxConsumer, "_apply", planted.check_then_insert)
    found = await hunt(cfg, range(1, WITHIN + 1), target, stop=True)
    assert found.found, "an event applied twice went unnoticed"
    last = found.found[0][0]
    monkeypatch.undo()
    control = await hunt(
        cfg.model_copy(update={"stop_at_first": False}),
        range(1, last + 1),
        Hunt(target.invariant, target.detail),
        stop=False,
    )
    assert not control.found, f"the same seeds without the plant: {control.found[:2]}"
