"""Coverage and completion rates: truncated to one decimal, so 100.0 and 0.0
are said only of all and of none."""

from __future__ import annotations

from decimal import Decimal

import pytest
from svc_common.rates import completion_percent


@pytest.mark.parametrize(
    ("part", "whole", "shown"),
    [
        (4549, 4551, "99.9"),  # was 100.0, rounded half up: 100%全覆盖 with 2 uncovered
        (4551, 4551, "100.0"),
        (220, 274, "80.2"),
        (1165, 1197, "97.3"),
        (1, 8, "12.5"),
        (1, 4551, "0.1"),  # more than none is not 0.0
        (0, 4551, "0.0"),
    ],
)
def test_a_rate_is_truncated_and_100_or_0_only_when_all_or_none(
    part: int, whole: int, shown: str
) -> None:
    assert completion_percent(part, whole) == Decimal(shown)
    assert format(completion_percent(part, whole), "f") == shown


def test_nothing_to_count_has_no_rate() -> None:
    assert completion_percent(0, 0) is None
    with pytest.raises(ValueError):
        completion_percent(-1, 5)


def test_a_part_past_the_whole_is_no_rate() -> None:
    """More closed than accepted is a counting error: refused, as permit-svc's
    coverage refused it, not published as 120.0 (supervision-svc's closure
    rate did)."""
    with pytest.raises(ValueError, match=r"outside 0\.\.5"):
        completion_percent(6, 5)
    assert completion_percent(5, 5) == Decimal("100.0")
