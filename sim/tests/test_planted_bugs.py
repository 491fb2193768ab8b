"""The simulator finds faults this system has had or could have: each test
puts one back (monkeypatching the real code, see planted.py) and runs seeds
until the invariant it breaks is reported, within a stated number of seeds.
Where today's code is free of the fault, the same seeds without the plant
show that the violation is the plant's.

The workloads are short and dense (a few weeks of activity) and the fault
mix leans on what exposes each plant: mixes are settings like any other.
`python sim/tests/planted.py --seeds 100` counts how many seeds catch each."""

from __future__ import annotations

import pytest

from .planted import CASES, hunt

#: Within how many seeds each plant must be caught.
WITHIN = 12


async def _caught(monkeypatch: pytest.MonkeyPatch, name: str, *, control: bool) -> str:
    """Runs seeds with the plant until it is reported; then, when `control`,
    the same seeds without it, which must not report it. The first
    violation's detail."""
    case = CASES[name]
    cfg = case.cfg()
    monkeypatch.setattr(*case.patch())
    found = await hunt(cfg, range(1, WITHIN + 1), case.target(), stop=True)
    assert found.found, f"{case.name}: went unnoticed in {WITHIN} seeds"
    seed, v = found.found[0]
    assert seed <= WITHIN
    monkeypatch.undo()
    if control:
        without = await hunt(
            cfg.model_copy(update={"stop_at_first": False}),
            range(1, seed + 1),
            case.target(),
            stop=False,
        )
        assert not without.found, f"the same seeds without the plant: {without.found[:2]}"
    return v.detail


async def test_a_consumer_that_dead_letters_on_a_transient_database_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    detail = await _caught(monkeypatch, "dead-letters", control=False)
    assert "dead-lettered" in detail


async def test_the_late_refusal_after_a_withdrawal_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _caught(monkeypatch, "late-refusal", control=False)


@pytest.mark.pg
@pytest.mark.slow(seconds=18)
async def test_a_reservation_check_without_the_pool_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL, where a row lock is what keeps two reservations of one
    pool apart (on SQLite one writer at a time keeps them apart anyway).
    Officers of a district reserving within the same second (the rushes)
    race for the pool."""
    await _caught(monkeypatch, "pool-lock", control=True)


@pytest.mark.slow(seconds=56)
async def test_a_relay_that_publishes_a_keys_rows_out_of_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _caught(monkeypatch, "relay-order", control=True)


async def test_an_inbox_check_then_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    await _caught(monkeypatch, "inbox-race", control=True)
