"""API shapes of control units."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema
from svc_common.districts import DistrictCode
from svc_common.industries import PREFIX_PATTERN

from eia_svc.control_units.rules import UnitKind


class ControlUnitIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    district: DistrictCode
    kind: UnitKind
    #: GB/T 4754 codes or prefixes (C26, C2614; 26 is read as C26), checked
    #: by the route (which names the entry and why); documented by pattern.
    banned_industries: list[
        Annotated[
            str,
            StringConstraints(max_length=10),
            WithJsonSchema({"type": "string", "maxLength": 10, "pattern": PREFIX_PATTERN}),
        ]
    ] = Field(default_factory=list, max_length=500)
    rule: str = Field(min_length=1, max_length=2000)


class ControlUnitOut(ControlUnitIn):
    code: str
