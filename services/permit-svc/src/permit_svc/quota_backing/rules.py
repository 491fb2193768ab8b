"""Pure rules of the quota read model."""

from __future__ import annotations

#: The pollutant whose amounts on permits must be backed by allocated quota.
CONTROLLED_POLLUTANT = "VOCs"


def is_controlled(pollutant: str) -> bool:
    """quota-svc's ledger is pollutant-generic; permits here check VOCs only."""
    return pollutant.lower() == CONTROLLED_POLLUTANT.lower()
