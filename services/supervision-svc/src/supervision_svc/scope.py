"""Which districts a caller may see: officers their own, citywide roles all."""

from __future__ import annotations

from svc_common.auth import Principal
from svc_common.districts import DISTRICTS, check_district
from svc_common.errors import field_error

#: Roles that read supervision data.
READERS = ("officer", "admin", "auditor")
#: Roles that change it (officers in their districts; admins citywide).
WRITERS = ("officer", "admin")


def district_param(district: str | None) -> str | None:
    """A `district` query parameter checked against the city's districts."""
    if district is None:
        return None
    try:
        return check_district(district)
    except ValueError as exc:
        raise field_error("district", str(exc)) from exc


def visible_districts(principal: Principal, district: str | None) -> list[str] | None:
    """Districts a read is limited to (None: no limit). Asking for a district
    the caller may not act in is a 403, raised by `require_district`."""
    district = district_param(district)
    if district is not None:
        principal.require_district(district)
        return [district]
    if principal.districts:
        return sorted(principal.districts)
    if principal.may_act_in(next(iter(DISTRICTS))):
        return None
    return []


def sees_personal_data(principal: Principal, district: str) -> bool:
    """Complainants' personal data: only the handling district's officers."""
    return principal.role == "officer" and principal.may_act_in(district)
