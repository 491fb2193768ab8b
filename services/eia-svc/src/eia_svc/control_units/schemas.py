"""API shapes of control units."""

from __future__ import annotations

from pydantic import BaseModel, Field

from eia_svc.control_units.rules import UnitKind


class ControlUnitIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(pattern=r"^\d{6}$")
    kind: UnitKind
    banned_industries: list[str] = Field(default_factory=list, max_length=500)
    rule: str = Field(min_length=1, max_length=2000)


class ControlUnitOut(ControlUnitIn):
    code: str
