"""API shapes of control units."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema
from svc_common.districts import DistrictCode
from svc_common.industries import PREFIX_PATTERN
from svc_common.types import NameText

from eia_svc.control_units.rules import UnitKind


class ControlUnitFields(BaseModel):
    """What a control unit is written with: the request's fields, and the
    answer's but its code."""

    name: Annotated[str, NameText(200)]
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


class ControlUnitIn(ControlUnitFields):
    # An unknown field is refused, not dropped (a misspelt `banned_industries`
    # would replace the unit's bans with none).
    model_config = ConfigDict(extra="forbid")


class ControlUnitOut(ControlUnitFields):
    code: str
