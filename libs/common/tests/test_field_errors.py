"""A rule across fields names the field to mend (FieldValueError), at any
depth of the body; any other refusal keeps pydantic's own place."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator
from svc_common.errors import FieldValueError, validation_errors


class Period(BaseModel):
    valid_from: int
    valid_to: int

    @model_validator(mode="after")
    def _order(self) -> Period:
        if self.valid_to < self.valid_from:
            raise FieldValueError("valid_to", "valid_to is before valid_from")
        if self.valid_to - self.valid_from > 10:
            raise ValueError("too long a period")  # no field to blame
        return self


class Plan(BaseModel):
    periods: list[Period]


@pytest.mark.parametrize(
    ("periods", "field", "message"),
    [
        ([{"valid_from": 5, "valid_to": 1}], "periods.0.valid_to", "valid_to is before valid_from"),
        ([{"valid_from": 1, "valid_to": 2}, {"valid_from": 0, "valid_to": 99}], "periods.1", None),
        ([{"valid_from": "x", "valid_to": 1}], "periods.0.valid_from", None),
    ],
)
def test_the_field_to_mend_is_named(periods: list[dict], field: str, message: str | None) -> None:
    with pytest.raises(ValidationError) as raised:
        Plan.model_validate({"periods": periods})
    (error,) = validation_errors(raised.value.errors())
    assert error.field == field
    if message:
        assert error.message == message
