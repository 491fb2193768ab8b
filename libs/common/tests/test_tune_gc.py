"""`service.tune_gc`: a served process freezes what it made before serving
and collects its young generation less often; both can be turned off."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from svc_common.service import tune_gc
from svc_common.settings import ServiceSettings


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector")
def test_what_exists_is_frozen_and_the_young_generation_waits() -> None:
    gc.unfreeze()
    made = [[i] for i in range(1000)]  # objects the collector tracks
    before = gc.get_threshold()
    tune_gc(ServiceSettings(gc_young_threshold=12_345))
    assert gc.get_freeze_count() >= len(made)
    assert gc.get_threshold() == (12_345, before[1], before[2])  # the older ones as they were


@pytest.mark.usefixtures("collector")
def test_each_can_be_turned_off() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    tune_gc(ServiceSettings(gc_freeze=False, gc_young_threshold=700))
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == (700, 10, 10)


def test_the_threshold_is_bounded() -> None:
    with pytest.raises(ValueError, match="gc_young_threshold"):
        ServiceSettings(gc_young_threshold=0)
