"""JSON bodies are read as JSON says, with no coercion (严格解析).

FastAPI validates a parsed body in pydantic's lax Python mode, where "5" is
an integer, "yes" a boolean and 1700000000 a date: more than the document
promises, so a client's mistake passes unnoticed. Every route's JSON body is
validated here in pydantic's strict JSON mode instead: numbers are numbers,
booleans are booleans, and text is accepted only where JSON itself writes the
type as text (dates, times, decimals, enumerations). Query and path
parameters, which are text on the wire, keep the usual conversions; uploads
(CSV rows) are read by their own code.

A write whose document has no request body (`POST …/renew`, `…/confirm`)
takes none: it answered `{"zzz": 1}` as if nothing had been sent, so a
client's field went nowhere unseen. Such a route now refuses a body that
says anything, with a 422 naming each field as a body model does ("不接受此字段");
no body, `{}` or `null` goes through as before. The check is the route's
last dependency, after its token's (a caller with none is told 401 first,
as for a body model); an upload route documents its body and is not
concerned.
"""

from __future__ import annotations

import json
import types
from typing import Any

from fastapi import FastAPI, Request, params
from fastapi._compat import v2
from fastapi.dependencies.utils import get_parameterless_sub_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError

from svc_common import i18n
from svc_common.errors import field_error
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


#: The methods that write: such a route with no body in its document takes none.
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def takes_no_body(route: APIRoute) -> bool:
    """Whether `route` writes and its document has no request body (neither
    a body model nor an upload's `openapi_extra`)."""
    return (
        bool((route.methods or set()) & _WRITES)
        and not route.dependant.body_params
        and "requestBody" not in (route.openapi_extra or {})
    )


def _refuse_what_is_said(body: bytes) -> None:
    """Nothing, `{}` or `null` (spaces around them aside) passes; an object's
    fields are each refused by name; anything else is refused as the body."""
    text = body.strip(b" \t\r\n")
    if not text:
        return
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = ...
    if value is None or value == {}:
        return
    if isinstance(value, dict):
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("body", name), "msg": "", "input": None}
                for name in value
            ]
        )
    raise field_error(
        "body",
        i18n.msg(
            "this operation takes no body (send none, {} or null)",
            "此操作不接受请求体（不发送，或发送 {} 或 null）",
        ),
        "extra_forbidden",
    )


async def _says_nothing(request: Request) -> None:
    """A dependency of a write that takes no body, solved after the route's
    own (its token checked first, as for a body model): the body it does
    not read must say nothing."""
    _refuse_what_is_said(await request.body())


def install(app: FastAPI) -> None:
    """Validate every route's JSON body strictly, and refuse a body that says
    anything to a write that takes none (call after the routers are added)."""
    for route in api_routes(app.routes):
        dependant = route.dependant
        for field in dependant.body_params:
            if isinstance(field, v2.ModelField):
                field.validate = types.MethodType(_strict_validate, field)  # type: ignore[method-assign]
        served = route.original_route
        # Once: a service's routes are shared by every app made of them.
        if takes_no_body(served) and not any(
            d.call is _says_nothing for d in served.dependant.dependencies
        ):
            served.dependant.dependencies.append(
                get_parameterless_sub_dependant(
                    depends=params.Depends(_says_nothing), path=served.path_format
                )
            )
