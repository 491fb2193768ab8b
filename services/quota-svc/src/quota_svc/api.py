"""What every quota router shares: who may read, and checks of path and
query parameters that answer 422 naming the field."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from svc_common.auth import Principal
from svc_common.errors import field_error
from svc_common.types import POLLUTANT_PATTERN

from quota_svc.ledger import rules

_POLLUTANT_DOC = "pollutant name (VOCs is the one whose total is controlled)"
#: A pollutant in a path or a query, as the ledger keeps names.
PollutantPath = Annotated[
    str, Path(pattern=POLLUTANT_PATTERN, max_length=20, description=_POLLUTANT_DOC)
]
PollutantQuery = Annotated[
    str, Query(pattern=POLLUTANT_PATTERN, max_length=20, description=_POLLUTANT_DOC)
]
OptionalPollutant = Annotated[
    str | None, Query(pattern=POLLUTANT_PATTERN, max_length=20, description=_POLLUTANT_DOC)
]

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
