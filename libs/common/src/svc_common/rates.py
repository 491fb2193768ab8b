"""Coverage and completion rates as the bureau publishes them (覆盖率,
审核完成率, 办结率): a percentage with one decimal.

Truncated, not rounded half up: 4549 of 4551 fixed sources covered is
99.95… %, which rounds up to 100.0 — the "100%全覆盖" the bureau publishes
must mean every source is covered. So 100.0 only when the part is the whole,
and, the other way, 0.0 only when the part is none: a rate strictly between
shows at least 0.1 (1 of 2,000 closed is not "nothing closed")."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

#: The published figure's step: one decimal.
STEP = Decimal("0.1")


def completion_percent(part: int, whole: int) -> Decimal | None:
    """part/whole as a percentage with one decimal, truncated (220/274 →
    80.2, 4549/4551 → 99.9, 4551/4551 → 100.0), at least 0.1 when part is
    more than 0; None when there is nothing to count (whole 0). A part
    below 0 or above the whole is a counting error, not a rate: raised
    rather than published as 105.0 or -0.1."""
    if whole <= 0:
        return None
    if not 0 <= part <= whole:
        raise ValueError(f"part {part} is outside 0..{whole}")
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(STEP, ROUND_DOWN)
    if part > 0 and value == 0:
        return STEP
    return value
