"""The OpenAPI document of a service, made to tell the truth (接口契约).

FastAPI generates the document from the routes; one pass here, run once per
app, adds what the framework cannot know but the shared mechanisms decide:

- every error a request can meet, by where it comes from: the front door
  (400 bad bytes, 413 too large, 422 bad JSON), authentication (401 with its
  WWW-Authenticate challenge) and roles (403), validation and
  Idempotency-Key reuse (422), a missing resource named in the path (404), a
  state conflict on a write (409), an unsupported upload type (415) and an
  unavailable database (503 with Retry-After) — all as RFC 9457
  `application/problem+json` with the `errors` list of field errors;
- the `Accept-Language` header on every operation and `Idempotency-Key` on
  every write;
- readable operationIds (the route's function name in camelCase) and
  summaries (the first line of its docstring);
- the roles a route admits (`x-roles`, from `auth.require`) and the bearer
  scheme's description of the token.

A route can still declare more in its decorator (`responses={409: {...}}`);
a declared error without content gets the problem schema here.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, routing
from fastapi._compat.v2 import is_scalar_field
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import compile_path

from svc_common.errors import PROBLEM_JSON, RETRY_AFTER_SECONDS, TYPE_BASE, FieldError
from svc_common.guard import (
    REFUSED,
    WHITE,
    QueryArity,
    length_pattern,
    visible_text_pattern,
)
from svc_common.idempotency import MAX_KEY_LENGTH
from svc_common.tokens import ROLES

WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each field that was refused and why.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {
            "type": "string",
            "description": "what kind of problem: urn:envbureau:problem:<code>",
            "pattern": "^" + re.escape(TYPE_BASE),
            "examples": [TYPE_BASE + "validation-error"],
        },
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/FieldError"},
        },
    },
    "additionalProperties": True,
}

#: The one shape of a field error, in problems and in per-row results alike.
FIELD_ERROR_SCHEMA: dict[str, Any] = FieldError.model_json_schema()

#: Why each error status can occur (descriptions of the documented responses).
WHY: dict[int, str] = {
    400: "The request cannot be read: NUL or non-UTF-8 bytes in the path or query, a bad "
    "Content-Length, or an unusable Idempotency-Key header.",
    401: "No bearer token, or one that is not valid (expired, wrong signature, no subject).",
    403: "The token's role may not do this, or the token's districts do not include the "
    "district concerned.",
    404: "Nothing with this id (or nothing this caller may see).",
    409: "The current state does not allow it (an illegal transition, a duplicate, an overdraft, "
    "or a concurrent request that wrote the same record first).",
    413: "The body is larger than the service accepts (see the API contract).",
    415: "The body's media type is not one this operation accepts: an upload of another "
    "type, a JSON body sent as another media type, declared in another charset than UTF-8, "
    "or compressed (Content-Encoding, or a Transfer-Encoding but chunked).",
    422: "A field is missing or invalid (each is named in `errors`), the JSON is too deep or "
    "holds NUL, control characters, text-direction overrides or absurd numbers, or an "
    "Idempotency-Key was reused for another request.",
    503: "A service this request needs (its database) is unavailable; nothing was written. "
    "Retry after the number of seconds in Retry-After.",
}

ACCEPT_LANGUAGE: dict[str, Any] = {
    "name": "Accept-Language",
    "in": "header",
    "required": False,
    "description": "Language of messages: zh-CN (the default) or en (RFC 9110 preferences).",
    "schema": {"type": "string", "examples": ["zh-CN", "en"]},
}

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the request safe to retry: a repeat with the same key and body gets "
    "the first answer (header Idempotent-Replayed: true); the same key with another body is a "
    "422. Scoped to the token's subject.",
    "schema": {
        "type": "string",
        "pattern": f"^[!-~]{{1,{MAX_KEY_LENGTH}}}$",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
    },
}

BEARER_DESCRIPTION = (
    "A JWT (HS256 in the embedded default, RS256 from the identity provider in production) "
    "with claims `sub` (who, required), `role` (one of: "
    + ", ".join(ROLES)
    + "), `districts` (GB/T 2260 codes the caller may act in; empty means citywide for "
    "admin, auditor, investment and filer, nowhere for an officer), `exp` and, for a filer, "
    "`uscc` (the unified social credit code of the enterprise it acts for)."
)
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": BEARER_DESCRIPTION,
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def api_routes(routes: Iterable[Any]) -> Iterable[Any]:
    """Every API route of an app with its effective path (routers included
    with a prefix are contexts over the original route)."""
    for ctx in routing.iter_route_contexts(list(routes)):
        if isinstance(ctx.original_route, APIRoute):
            yield ctx


def _walk(dependant: Dependant) -> Iterable[Any]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _walk(dep)


def route_roles(route: Any) -> tuple[bool, tuple[str, ...] | None, bool]:
    """(needs a token, the roles it admits or None for any role, citywide
    tokens only)."""
    from svc_common.auth import current_principal

    authenticated = citywide = False
    roles: tuple[str, ...] | None = None
    for call in _walk(route.dependant):
        if call is current_principal:
            authenticated = True
        found = getattr(call, "__roles__", None)
        if found is not None:
            authenticated = True
            roles = tuple(found) or None
        citywide = citywide or bool(getattr(call, "__citywide__", False))
    return authenticated, roles, citywide


def _summary(route: Any) -> tuple[str, str | None]:
    doc = (route.endpoint.__doc__ or "").strip()
    if not doc:
        words = route.name.replace("_", " ")
        return words[:1].upper() + words[1:], None
    first = doc.split("\n\n", 1)[0].replace("\n", " ")
    sentence = re.split(r"(?<=[.;:])\s", first, maxsplit=1)[0].rstrip(".;:")
    return sentence[:120], doc


def _problem_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(existing or {})
    out.setdefault("description", WHY.get(status, "Error"))
    if out.get("description") in ("Validation Error", "Successful Response", ""):
        out["description"] = WHY.get(status, "Error")
    out["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    headers = out.setdefault("headers", {})
    if status == 401:
        headers["WWW-Authenticate"] = {
            "description": 'RFC 6750 challenge: Bearer realm="envbureau" or error="invalid_token"',
            "schema": {"type": "string"},
        }
    if status == 503:
        headers["Retry-After"] = {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 0, "examples": [RETRY_AFTER_SECONDS]},
        }
    if not headers:
        del out["headers"]
    return out


def _declared(resp: dict[str, Any] | None) -> bool:
    """Whether a route declared this response's body itself (a probe's 503
    is its own JSON); FastAPI's generated 422 body is not kept."""
    content = (resp or {}).get("content") or {}
    if PROBLEM_JSON in content:
        return True
    schema = content.get("application/json", {}).get("schema", {})
    return bool(content) and "HTTPValidationError" not in str(schema.get("$ref", ""))


def error_statuses(
    method: str, op: dict[str, Any], authenticated: bool, has_params: bool
) -> set[int]:
    """The error statuses an operation can answer, by what it has."""
    statuses = {400, 503}
    body = op.get("requestBody")
    write = method in WRITE_METHODS
    path_params = any(p.get("in") == "path" for p in op.get("parameters", []))
    if authenticated:
        statuses |= {401, 403}
    if path_params:
        statuses.add(404)
    if write:
        statuses |= {409, 422}
    if body:
        # 415: an upload of a type it does not read, or a JSON body sent as
        # another media type (errors.not_json_body).
        statuses |= {413, 415, 422}
    if has_params:
        statuses.add(422)
    return statuses


#: Any text the front door lets through (guard.REFUSED: NUL, controls,
#: text-direction overrides).
PLAIN_TEXT = f"^[^{REFUSED}]*$"
#: A text with something visible in it, and nothing the front door refuses.
NON_BLANK = rf"^[^{REFUSED}]*[^\s{REFUSED}][^{REFUSED}]*$"


#: Any JSON value with none of REFUSED in its text (what may fill properties
#: a request body's model ignores: the front door still reads them).
JSON_PLAIN: dict[str, Any] = {
    "title": "JsonPlain",
    "anyOf": [
        {"type": "string", "pattern": PLAIN_TEXT},
        {"type": ["number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonPlain"}},
        {
            "type": "object",
            "propertyNames": {"pattern": PLAIN_TEXT},
            "additionalProperties": {"$ref": "#/components/schemas/JsonPlain"},
        },
    ],
}


def _plain_text_only(doc: dict[str, Any], node: Any, seen: set[str]) -> None:
    """Say, on every free-text string a request can carry, what the front
    door refuses (REFUSED)."""
    if isinstance(node, list):
        for item in node:
            _plain_text_only(doc, item, seen)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen:
            seen.add(name)
            _plain_text_only(doc, doc["components"]["schemas"].get(name), seen)
        return
    if node.get("type") == "string" and not any(
        k in node for k in ("pattern", "enum", "const", "format", "contentMediaType")
    ):
        node["pattern"] = PLAIN_TEXT
    if (node.get("type") == "object" or "properties" in node) and node.get(
        "additionalProperties"
    ) in (None, True):
        # Properties the service ignores are still read by the front door.
        node["additionalProperties"] = {"$ref": "#/components/schemas/JsonPlain"}
        node.setdefault("propertyNames", {"pattern": PLAIN_TEXT})
    for key, value in node.items():
        if key in ("properties", "$defs", "patternProperties"):
            for sub in value.values():
                _plain_text_only(doc, sub, seen)
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "not"):
            _plain_text_only(doc, value, seen)


def refine(schema: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Apply the shared truths to a generated document (in place; returned)."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["JsonPlain"] = JSON_PLAIN
    schemas["FieldError"] = FIELD_ERROR_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)

    seen: dict[str, str] = {}
    plain_seen: set[str] = set()
    bearer_used = False
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        path_item = schema.get("paths", {}).get(route.path_format)
        if path_item is None:
            continue
        authenticated, roles, citywide = route_roles(route)
        for method in sorted(m.lower() for m in route.methods or ()):
            op = path_item.get(method)
            if op is None:
                continue
            op_id = camel(route.name)
            if op_id in seen and seen[op_id] != f"{method} {route.path_format}":
                raise ValueError(
                    f"operationId {op_id} is used by two routes ({seen[op_id]} and "
                    f"{method} {route.path_format}): rename one of the functions"
                )
            seen[op_id] = f"{method} {route.path_format}"
            op["operationId"] = op_id
            summary, description = _summary(route)
            op["summary"] = summary
            if description:
                op["description"] = description
            params = op.setdefault("parameters", [])
            has_params = bool(params)
            names = {(p.get("in"), p.get("name", "").lower()) for p in params}
            if ("header", "accept-language") not in names:
                params.append(ACCEPT_LANGUAGE)
            if method in WRITE_METHODS and ("header", "idempotency-key") not in names:
                params.append(IDEMPOTENCY_KEY)
            if authenticated:
                bearer_used = True
                op.setdefault("security", [{"HTTPBearer": []}])
                if roles:
                    op["x-roles"] = list(roles)
                    note = "Roles: " + ", ".join(roles) + "."
                    if citywide:
                        op["x-citywide"] = True
                        note += " A citywide token only (no `districts` claim)."
                    op["description"] = (op.get("description", "") + "\n\n" + note).strip()
            for param in params:
                if param.get("in") in ("query", "path"):
                    _plain_text_only(schema, param.get("schema"), plain_seen)
            body_json = (op.get("requestBody") or {}).get("content", {}).get("application/json")
            if body_json:
                _plain_text_only(schema, body_json.get("schema"), plain_seen)
            responses = op.setdefault("responses", {})
            for status in error_statuses(method, op, authenticated, has_params):
                if not _declared(responses.get(str(status))):
                    responses[str(status)] = _problem_response(status, responses.get(str(status)))
            for code, resp in list(responses.items()):
                if code[:1] in ("4", "5") and not _declared(resp):
                    responses[code] = _problem_response(int(code), resp)
    if bearer_used:
        # Declared here: the token is read by a plain function
        # (svc_common.auth.principal_of), not by FastAPI's HTTPBearer.
        components.setdefault("securitySchemes", {})["HTTPBearer"] = dict(BEARER_SCHEME)
    _link_created(schema)
    _stripped_text(schema, routes)
    return schema


def models_in(annotation: Any, seen: set[type[BaseModel]]) -> Iterable[type[BaseModel]]:
    """Every pydantic model a body annotation can hold, nested ones too."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        yield annotation
        for field in annotation.model_fields.values():
            yield from models_in(field.annotation, seen)
        return
    for arg in typing.get_args(annotation):
        yield from models_in(arg, seen)


def _stripped_text(schema: dict[str, Any], routes: Iterable[Any]) -> None:
    """A body model with `str_strip_whitespace` strips a text before it
    checks its length: "  a  " has length 1, and a text of spaces only is
    empty. Its text fields say so with a pattern of the stripped length (a
    run from a non-space to a non-space, with any spaces around it) in place
    of `minLength`/`maxLength`, so the document accepts what the API does."""
    seen: set[type[BaseModel]] = set()
    stripped = {
        model.__name__
        for route in api_routes(routes)
        for param in route.original_route.dependant.body_params
        for model in models_in(param.field_info.annotation, seen)
        if model.model_config.get("str_strip_whitespace")
    }
    for component in schema.get("components", {}).get("schemas", {}).values():
        if component.get("title") not in stripped:
            continue
        for prop in component.get("properties", {}).values():
            for text in [prop, *prop.get("anyOf", [])]:
                low, high = text.get("minLength", 0), text.get("maxLength")
                if text.get("type") != "string" or (low < 1 and high is None):
                    continue
                pattern = text.get("pattern", PLAIN_TEXT)
                visible = [n for n in (False, True) if pattern == visible_text_pattern(low, name=n)]
                if visible:  # types.VisibleText: its rule, with the stripped length
                    pattern = visible_text_pattern(low, high, name=visible[0], stripped=True)
                elif pattern == PLAIN_TEXT:
                    pattern = stripped_length_pattern(low, high)
                else:
                    continue  # a field's own pattern says what it takes
                text["pattern"] = pattern
                text.pop("minLength", None)
                text.pop("maxLength", None)


def stripped_length_pattern(low: int, high: int | None) -> str:
    """A text the front door lets through (none of REFUSED) whose length once
    stripped of spaces (guard.WHITE, what pydantic strips) is low..high."""
    edge = f"[^{WHITE}{REFUSED}]"
    return length_pattern(edge, f"[^{REFUSED}]", edge, low, high)


_ITEM = re.compile(r"^/\{([A-Za-z_][A-Za-z0-9_]*)\}(/|$)")


def _link_created(schema: dict[str, Any]) -> None:
    """OpenAPI links from each creation to what can be done with the record it
    made: `POST /x` answering a record with `id` (or the key itself, such as
    `uscc`) links to every operation on `/x/{key}…`, with that value as the
    key. A route whose answer holds the key elsewhere names it by a JSON
    pointer in `openapi_extra={"x-record-key": "/complaint/id"}`. Clients,
    and the stateful fuzzing, follow the links."""
    paths = schema.get("paths", {})
    records = schema.get("components", {}).get("schemas", {})
    for collection, item in paths.items():
        create = item.get("post")
        if create is None or "{" in collection:
            continue
        pointer = create.pop("x-record-key", None)
        for status in ("201", "200"):
            answer = (create.get("responses") or {}).get(status)
            body = ((answer or {}).get("content") or {}).get("application/json", {})
            ref = str((body.get("schema") or {}).get("$ref", ""))
            fields = records.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}) if ref else {}
            if fields:
                break
        else:
            continue
        links: dict[str, Any] = {}
        for path, target in paths.items():
            m = _ITEM.match(path[len(collection) :]) if path.startswith(collection) else None
            if m is None:
                continue
            key = m.group(1)
            field = (
                key if key in fields else "id" if key.endswith("_id") and "id" in fields else None
            )
            if pointer is not None:
                field = str(pointer).lstrip("/")
            if field is None:
                continue
            for op in target.values():
                if isinstance(op, dict) and "operationId" in op:
                    links[op["operationId"]] = {
                        "operationId": op["operationId"],
                        "parameters": {f"path.{key}": f"$response.body#/{field}"},
                    }
        if links and answer is not None:
            answer.setdefault("links", {}).update(links)


def install(app: FastAPI) -> None:
    """Serve the refined document as the app's OpenAPI (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = refine(doc, app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def single_query_params(app: FastAPI) -> QueryArity:
    """The query parameters a route reads as one value (`QueryArity`). The
    framework keeps the last of two values silently, so a caller who sent
    two would not know which one was acted on; a name another route reads
    as a list (`?at=` … `&at=`) is refused twice only where it is one value
    (before, it was let through everywhere: `?at=A&at=B` on a route reading
    one moment answered for B). With them, the names each route reads at
    all (`QueryArity.read_on`): one it does not read is refused, not
    ignored."""
    single: set[str] = set()
    listed: dict[str, list[tuple[frozenset[str], re.Pattern[str]]]] = {}
    read_on: list[tuple[frozenset[str], re.Pattern[str], frozenset[str]]] = []

    def visit(
        dependant: Dependant, route: tuple[frozenset[str], re.Pattern[str]], read: set[str]
    ) -> None:
        for param in dependant.query_params:
            read.add(param.alias)
            if is_scalar_field(param):
                single.add(param.alias)
            else:
                listed.setdefault(param.alias, []).append(route)
        for dep in dependant.dependencies:
            visit(dep, route, read)

    for ctx in api_routes(app.routes):
        regex, _, _ = compile_path(str(ctx.path))
        route = (frozenset(ctx.methods or ()), regex)
        read: set[str] = set()
        visit(ctx.original_route.dependant, route, read)
        # And those the route reads itself and documents (an upload's `report`).
        extra = getattr(ctx.original_route, "openapi_extra", None) or {}
        read.update(p["name"] for p in extra.get("parameters", ()) if p.get("in") == "query")
        read_on.append((*route, frozenset(read)))
    return QueryArity(
        single=frozenset(single - listed.keys()),
        listed_on={name: tuple(routes) for name, routes in listed.items() if name in single},
        read_on=tuple(read_on),
    )
