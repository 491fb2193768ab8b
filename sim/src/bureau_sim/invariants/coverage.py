"""What a city-year did, from the services' own records."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bureau_sim.invariants import Invariants


async def coverage(inv: Invariants) -> Counter[str]:
    """What the city-year did, from the services' own records."""
    out: Counter[str] = Counter()
    for node in sorted(inv.sim.nodes):
        for action, n in await inv.sim.read(
            node, "SELECT action, COUNT(*) FROM audit_log GROUP BY action"
        ):
            out[f"{node}: {action}"] += int(n)
    for channel, status, q, n in await inv.sim.read(
        "eia",
        "SELECT channel, status, quota_status, COUNT(*) FROM filings"
        " GROUP BY channel, status, quota_status",
    ):
        out[f"filings {channel} {status}, quota {q}"] += int(n)
    for status, reason, n in await inv.sim.read(
        "quota",
        "SELECT status, release_reason, COUNT(*) FROM reservations GROUP BY status, release_reason",
    ):
        out[f"reservations {status}" + (f" ({reason})" if reason else "")] += int(n)
    return out
