"""Which districts a caller may see: officers their own, citywide roles all."""

from __future__ import annotations

from svc_common.auth import Principal
from svc_common.districts import DISTRICTS


def visible_districts(principal: Principal, district: str | None) -> list[str] | None:
    """Districts a list is limited to (None: no limit). Asking for a district
    the caller may not act in is a 403, raised by `require_district` (it
    names the district the caller gave); one record of another district is
    not found (`Principal.require_found`)."""
    if district is not None:
        principal.require_district(district)
        return [district]
    if principal.districts:
        return sorted(principal.districts)
    if principal.may_act_in(next(iter(DISTRICTS))):
        return None
    return []
