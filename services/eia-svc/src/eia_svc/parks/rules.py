"""Pure rules of bundled EIA (多评合一)."""

from __future__ import annotations

from dataclasses import dataclass

from svc_common.i18n import msg
from svc_common.readable import escaped


@dataclass(frozen=True)
class Park:
    """An industrial park whose single bundled EIA report covers listed project types."""

    id: str
    name: str
    district: str
    covered_project_types: tuple[str, ...]
    vocs_subpool_kg: int


def park_problem(park: Park | None, park_id: str, district: str) -> str | None:
    """Why a project cannot name this park, or None."""
    if park is None:
        # An id holding an invisible character would read as a park that is registered.
        shown = escaped(park_id)
        return msg(f"{shown} is not a registered park", f"{shown} 不是已登记的园区")
    if park.district != district:
        return msg(
            f"park {park.id} {park.name} lies in district {park.district}, not {district}",
            f"园区 {park.id} {park.name} 位于区 {park.district}，而非 {district}",
        )
    return None


def is_covered(park: Park | None, project_type: str) -> bool:
    """A covered project is filed against the park's bundled report: no separate EIA."""
    return park is not None and project_type in park.covered_project_types
