"""API shapes of parks."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from svc_common.districts import DistrictCode
from svc_common.types import CODE_PATTERN, NameText, Tonnes


class ParkFields(BaseModel):
    """What a park is registered with: the request's fields, and the first
    of the answer's."""

    id: str = Field(pattern=CODE_PATTERN)
    name: Annotated[str, NameText(200)]
    district: DistrictCode
    covered_project_types: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, max_length=500
    )
    vocs_subpool_t: Tonnes


class ParkIn(ParkFields):
    # An unknown field is refused, not dropped (a misspelt field would be
    # registered as its default).
    model_config = ConfigDict(extra="forbid")


class ParkOut(ParkFields):
    registered_at: str
    #: Whether quota-svc carved the sub-pool out of the district pool:
    #: pending | funded | unfunded (then `funding_shortfall_t` says by how much).
    funding_status: str = "pending"
    funding_shortfall_t: Tonnes | None = None


class ParkName(BaseModel):
    """A park as the public may read it: its id, name and district (what a
    public register's park sub-pool is shown by), nothing of its funding."""

    id: str
    name: str
    district: str
