"""What every quota router shares: who may read, and checks of path and
query parameters that answer 422 naming the field."""

from __future__ import annotations

from svc_common.auth import Principal
from svc_common.errors import field_error

from quota_svc.ledger import rules

#: Roles that read availability, the journal and balances.
READERS = ("investment", "officer", "auditor", "admin")


def check_district(code: str, field: str = "district") -> str:
    problem = rules.district_problem(code)
    if problem:
        raise field_error(field, problem)
    return code


def check_pollutant(name: str, field: str = "pollutant") -> str:
    problem = rules.pollutant_problem(name)
    if problem:
        raise field_error(field, problem)
    return name


def readable_districts(principal: Principal, district: str | None) -> list[str]:
    """The districts a reader asked for and may see (403 for one they may not)."""
    if district is not None:
        check_district(district)
        principal.require_district(district)
        return [district]
    return [d for d in rules.DISTRICTS if principal.may_act_in(d)]
