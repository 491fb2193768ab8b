"""JSON bodies are read as JSON says, with no coercion (严格解析).

FastAPI validates a parsed body in pydantic's lax Python mode, where "5" is
an integer, "yes" a boolean and 1700000000 a date: more than the document
promises, so a client's mistake passes unnoticed. Every route's JSON body is
validated here in pydantic's strict JSON mode instead: numbers are numbers,
booleans are booleans, and text is accepted only where JSON itself writes the
type as text (dates, times, decimals, enumerations). Query and path
parameters, which are text on the wire, keep the usual conversions; uploads
(CSV rows) are read by their own code.
"""

from __future__ import annotations

import json
import types
from typing import Any

from fastapi import FastAPI
from fastapi._compat import v2
from pydantic import ValidationError

from svc_common.guard import (
    FINITE_ERROR,
    SURROGATE_ERROR,
    finite_problem,
    has_lone_surrogate,
    lone_surrogate_path,
    non_finite_path,
    surrogate_problem,
)
from svc_common.openapi import api_routes


def _whole_numbers(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; so do we (a float with no
    fraction is its integer, which every numeric field also accepts)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _strict_validate(
    self: v2.ModelField,
    value: Any,
    values: dict[str, Any] | None = None,
    *,
    loc: tuple[int | str, ...] = (),
) -> tuple[Any, list[dict[str, Any]]]:
    try:
        raw = json.dumps(_whole_numbers(value), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        if (where := non_finite_path(value)) is not None:
            # `NaN`, `Infinity` or `1e400`, which json.loads reads as floats:
            # refused at the field, not validated leniently and stored as null.
            error = {"type": FINITE_ERROR, "loc": where, "msg": finite_problem(), "input": ""}
            return None, v2._regenerate_error_with_loc(errors=[error], loc_prefix=loc)
        # Not a parsed JSON document (a form, a default object): as before.
        return v2.ModelField.validate(self, value, values or {}, loc=loc)
    if has_lone_surrogate(raw) and (where := lone_surrogate_path(value)) is not None:
        # pydantic's JSON parser would refuse the whole text (`string_unicode`
        # at no field): the same error, at the field that holds it.
        error = {"type": SURROGATE_ERROR, "loc": where, "msg": surrogate_problem(), "input": ""}
        return None, v2._regenerate_error_with_loc(errors=[error], loc_prefix=loc)
    try:
        return self._type_adapter.validate_json(raw, strict=True), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        return None, v2._regenerate_error_with_loc(errors=errors, loc_prefix=loc)


def install(app: FastAPI) -> None:
    """Validate every route's JSON body strictly (call after the routers are added)."""
    for route in api_routes(app.routes):
        dependant = route.dependant
        for field in dependant.body_params:
            if isinstance(field, v2.ModelField):
                field.validate = types.MethodType(_strict_validate, field)  # type: ignore[method-assign]
