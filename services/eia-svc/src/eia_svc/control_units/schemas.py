"""API shapes of control units."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from svc_common.districts import DistrictCode

from eia_svc.control_units.rules import UnitKind


class ControlUnitIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    district: DistrictCode
    kind: UnitKind
    banned_industries: list[Annotated[str, Field(pattern=r"^[A-Za-z][0-9]{0,4}$")]] = Field(
        default_factory=list, max_length=500
    )
    rule: str = Field(min_length=1, max_length=2000)


class ControlUnitOut(ControlUnitIn):
    code: str
