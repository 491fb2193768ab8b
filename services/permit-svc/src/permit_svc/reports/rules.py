"""Pure arithmetic of the reports: exact percentages."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def percent(part: int, whole: int) -> Decimal | None:
    """part/whole as a percentage with one decimal, rounded half up, exactly
    (220/274 → 80.3); None when there is nothing to count."""
    if whole <= 0:
        return None
    if not 0 <= part <= whole:
        raise ValueError(f"part {part} is outside 0..{whole}")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)
