"""What every quota router shares: who may read, and checks of path and
query parameters that answer 422 naming the field."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator
from svc_common.auth import Principal
from svc_common.errors import field_error
from svc_common.guard import listed_code

from quota_svc.ledger import rules
from quota_svc.pollutants.rules import POLLUTANTS

_POLLUTANT_DOC = (
    "a pollutant under total-quantity control (read in any letter case, full-width "
    "letters and digits as ASCII ones, spaces around it ignored: `ｖｏｃｓ` is VOCs)"
)
#: The pollutants the ledger keeps, as every path and query documents them.
_POLLUTANTS = {"enum": list(POLLUTANTS)}


def _as_listed(value: object) -> object:
    """A pollutant as typed (`vocs`, `ＶＯＣｓ`, as the console reads one) is
    the one the ledger keeps; one it does not keep goes on to be refused
    naming it (`check_pollutant`)."""
    return listed_code(value, POLLUTANTS) if isinstance(value, str) else value


#: A pollutant in a path or a query.
PollutantPath = Annotated[
    str,
    Path(max_length=20, description=_POLLUTANT_DOC, json_schema_extra=_POLLUTANTS),
    BeforeValidator(_as_listed),
]
PollutantQuery = Annotated[
    str,
    Query(max_length=20, description=_POLLUTANT_DOC, json_schema_extra=_POLLUTANTS),
    BeforeValidator(_as_listed),
]
OptionalPollutant = Annotated[
    str | None,
    Query(max_length=20, description=_POLLUTANT_DOC, json_schema_extra=_POLLUTANTS),
    BeforeValidator(_as_listed),
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
