"""A rule across fields names the field to mend (FieldValueError), at any
depth of the body; any other refusal keeps pydantic's own place."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError, model_validator
from svc_common.errors import FieldValueError, validation_errors
from svc_common.i18n import use
from svc_common.types import ID_PATTERN


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


class Ref(BaseModel):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


def test_an_id_that_matches_no_id_is_said_in_words_not_as_its_pattern() -> None:
    """An id in a path or a body (`/supervision/alerts/{id}`, an alert's
    `replaces`) that no id looks like was refused with the regex itself
    ("格式不符合 ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"); it is said in words, in
    the caller's language. A pattern said in no words is still given as is."""
    with pytest.raises(ValidationError) as raised:
        Ref.model_validate({"id": "../../x", "code": "x"})
    with use("zh"):
        said, code = validation_errors(raised.value.errors())
    assert said.message == "不是本接口给出的编号（由字母、数字及 _ . : - 组成，以字母或数字开头）"
    assert "^" not in said.message
    assert code.message == "格式不符合 ^[A-Z]{2}$"
    with use("en"):
        (said, _) = validation_errors(raised.value.errors())
    assert said.message.startswith("is not an id this API gives out"), said.message
    # The document keeps the pattern for clients that check against it.
    assert Ref.model_json_schema()["properties"]["id"]["pattern"] == ID_PATTERN
