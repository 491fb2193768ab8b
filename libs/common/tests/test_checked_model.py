"""`bulk.checked_model` makes a model's instance from values checked
elsewhere: it must be the instance model_validate makes of the same row."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from svc_common.bulk import checked_model


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = None
    name: str = Field(min_length=1)
    amount: Decimal = Decimal(0)


def test_the_instance_is_model_validates() -> None:
    make = checked_model(Row)
    for given in ({"name": "a"}, {"name": "a", "key": "k", "amount": Decimal("1.5")}):
        model = Row.model_validate(given)
        made = make({**{"key": None, "name": None, "amount": Decimal(0)}, **given}, set(given))
        assert type(made) is Row and made == model
        assert made.model_fields_set == model.model_fields_set
        assert made.__pydantic_extra__ == model.__pydantic_extra__
        assert made.__pydantic_private__ == model.__pydantic_private__
        assert made.model_dump_json() == model.model_dump_json()
        assert made.model_dump(exclude_unset=True) == model.model_dump(exclude_unset=True)
        assert made.model_copy(update={"name": "b"}).name == "b"


class Extra(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str


class Private(BaseModel):
    name: str
    _seen: int = PrivateAttr(0)


@pytest.mark.parametrize("cls", [Extra, Private])
def test_a_model_holding_more_than_its_fields_is_refused(cls: type[BaseModel]) -> None:
    with pytest.raises(TypeError):
        checked_model(cls)
