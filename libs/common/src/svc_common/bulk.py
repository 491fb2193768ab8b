"""The one answer of every bulk endpoint (批量处理结果): a result per row of
the upload and totals by result.

Every endpoint that takes an upload of many rows answers 200 with a
`BulkReport`, whatever the service: the rows that could be done are done,
each row says what happened to it. Whole-upload refusals (another media type,
too many rows, not UTF-8) stay problem+json (415, 413, 422).

    {"rows": 3,
     "totals": {"created": 1, "updated": 0, "replayed": 1, "error": 1, "conflict": 0},
     "results": [
       {"row": 1, "row_key": "a-1", "result": "created", "id": "…", "number": "DJB-…",
        "errors": []},
       {"row": 2, "row_key": "a-2", "result": "replayed", "id": "…", "number": "DJB-…",
        "errors": []},
       {"row": 3, "row_key": null, "result": "error", "id": null, "number": null,
        "errors": [{"field": "uscc", "message": "…"}, {"field": "district", "message": "…"}]}]}

Bulk endpoints answer tens of thousands of rows, so `BulkReportBuilder`
writes each row's JSON as it is decided (strings through the json module's
C encoder) and joins them once: the pydantic models below are the documented contract
(OpenAPI, tests), not the serialisation path.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from json.encoder import encode_basestring
from typing import Any, Literal, TypeVar, get_args

from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from svc_common.errors import FieldError
from svc_common.guard import visible_text_problem
from svc_common.types import VisibleText
from svc_common.uploads import RawRow, error_report_response, wants_spreadsheet

M = TypeVar("M", bound=BaseModel)
BulkResult = Literal["created", "updated", "replayed", "error", "conflict"]
RESULTS: tuple[str, ...] = get_args(BulkResult)


class RowError(BaseModel):
    """One reason a row was not done: the field (as the upload names it, or
    `row` for the row as a whole) and why, in the request's language."""

    model_config = ConfigDict(extra="forbid")
    field: str
    message: str


class BulkRow(BaseModel):
    """What happened to one row of an upload."""

    model_config = ConfigDict(extra="forbid")
    row: int = Field(
        description="1-based number of the row in the upload (a CSV header is not a row)"
    )
    row_key: str | None = Field(
        None, description="the key the row is known by (a filer's row_key, an enterprise's USCC)"
    )
    result: BulkResult = Field(
        description="created / updated: done now; replayed: the same row was done before and "
        "nothing changed; error: refused, see errors; conflict: the row's key already names "
        "something else, see errors"
    )
    id: str | None = Field(None, description="id of what the row made, updated or replayed")
    number: str | None = Field(
        None, description="its number (filing, permit, registration, case no.), where it has one"
    )
    errors: list[RowError] = Field(default_factory=list)


class BulkTotals(BaseModel):
    """How many rows ended with each result."""

    model_config = ConfigDict(extra="forbid")
    created: int = 0
    updated: int = 0
    replayed: int = 0
    error: int = 0
    conflict: int = 0


class BulkReport(BaseModel):
    """The answer of every bulk endpoint."""

    model_config = ConfigDict(extra="forbid")
    rows: int = Field(description="rows received")
    totals: BulkTotals
    results: list[BulkRow] = Field(description="one per row received, in the upload's order")


#: A str as a JSON string (the json module's own encoder, in C: it escapes
#: quotes, backslashes and control characters and leaves the rest as it is).
_string: Callable[[str], str] = encode_basestring


def _errors(errors: Iterable[FieldError | RowError | tuple[str, str]]) -> str:
    items = []
    for e in errors:
        field, message = e if isinstance(e, tuple) else (e.field, e.message)
        items.append(f'{{"field":{_string(field)},"message":{_string(message)}}}')
    return f"[{','.join(items)}]"


class BulkReportBuilder:
    """Collects each row's result, in any order, and answers a BulkReport in
    the upload's row order. A row given twice keeps its last result.

    Rows are kept as strings in two dicts, no object per row: a tuple per
    row would survive until the answer and make the garbage collector walk
    the whole heap again and again during a 100,000-row import."""

    __slots__ = ("_failures", "_results", "_rows")

    def __init__(self) -> None:
        self._rows: dict[int, str] = {}  # row → its JSON
        self._results: dict[int, str] = {}  # row → its result
        self._failures: dict[int, list[tuple[str, str]]] = {}  # row → (field, message)s

    def add(
        self,
        row: int,
        result: BulkResult,
        row_key: str | None = None,
        id: str | None = None,
        number: str | None = None,
        errors: Iterable[FieldError | RowError | tuple[str, str]] = (),
    ) -> None:
        enc = _string
        self._results[row] = result
        if errors:
            pairs = [e if isinstance(e, tuple) else (e.field, e.message) for e in errors]
            self._failures[row] = errors = pairs
        else:
            self._failures.pop(row, None)
        self._rows[row] = (
            f'{{"row":{row:d},'
            f'"row_key":{"null" if row_key is None else enc(row_key)},'
            f'"result":"{result}",'
            f'"id":{"null" if id is None else enc(id)},'
            f'"number":{"null" if number is None else enc(number)},'
            f'"errors":{_errors(errors) if errors else "[]"}}}'
        )

    def add_many(
        self, items: Iterable[tuple[int, BulkResult, str | None, str | None, str | None]]
    ) -> None:
        """Rows done without errors, as (row, result, row_key, id, number): the
        same as `add` for each, in one pass (an import of 100,000 rows)."""
        enc, rows, results = _string, self._rows, self._results
        failures = self._failures
        for row, result, key, id_, number in items:
            results[row] = result
            if failures:
                failures.pop(row, None)
            rows[row] = (
                f'{{"row":{row:d},'
                f'"row_key":{"null" if key is None else enc(key)},'
                f'"result":"{result}",'
                f'"id":{"null" if id_ is None else enc(id_)},'
                f'"number":{"null" if number is None else enc(number)},'
                '"errors":[]}'
            )

    def error(
        self,
        row: int,
        errors: Iterable[FieldError | RowError | tuple[str, str]],
        *,
        row_key: str | None = None,
    ) -> None:
        self.add(row, "error", row_key, None, None, errors)

    def __contains__(self, row: int) -> bool:
        return row in self._rows

    def totals(self) -> dict[str, int]:
        return {**dict.fromkeys(RESULTS, 0), **Counter(self._results.values())}

    def to_json(self) -> bytes:
        """The BulkReport as JSON bytes, rows in ascending row number."""
        rows = self._rows
        body = ",".join([rows[r] for r in sorted(rows)])
        totals = ",".join(f'"{k}":{v}' for k, v in self.totals().items())
        return f'{{"rows":{len(rows)},"totals":{{{totals}}},"results":[{body}]}}'.encode()

    def report(self) -> BulkReport:
        """The BulkReport as a model (for callers that need the values)."""
        return BulkReport.model_validate_json(self.to_json())

    def response(self) -> Response:
        return Response(self.to_json(), media_type="application/json")

    def respond(self, request: Request, raw: Sequence[RawRow], name: str) -> Response:
        """The report as the client asked: JSON, or (Accept: the .xlsx type, or
        ?report=xlsx) a spreadsheet of the rows not done, their cells and why."""
        if wants_spreadsheet(request):
            response: Response = error_report_response(raw, self._failures, name)
            return response
        return self.response()


_gc_pauses = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a bulk request runs (it may
    span awaits; overlapping requests keep it paused until the last ends).

    A bulk request keeps tens of thousands of rows alive until it answers;
    every collection of the oldest generation walks all of them again (a
    fifth of the CPU of a 10,000-row upload). Reference counting still frees
    what is not cyclic; the collector runs again afterwards. Left alone when
    something else had paused it."""
    global _gc_pauses
    if _gc_pauses == 0 and not gc.isenabled():
        yield
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0:
            gc.enable()


class TextRules:
    """A model's rules for its text fields, for a bulk path that checks a
    plain row without the model (a fast path): the longest text each field
    takes (its `max_length` metadata) and those that must say something a
    reader can see (VisibleText), read from the model's fields so the fast
    path cannot drift from what the model takes."""

    def __init__(self, model: type[BaseModel]) -> None:
        fields = model.model_fields.items()
        self.max_length: dict[str, int] = {
            name: m.max_length
            for name, f in fields
            for m in f.metadata
            if isinstance(getattr(m, "max_length", None), int)
        }
        self.visible: dict[str, VisibleText] = {
            name: m for name, f in fields for m in f.metadata if isinstance(m, VisibleText)
        }

    def plain(self, name: str, value: str) -> bool:
        """Whether the model takes `value` (spaces around it already
        stripped) for field `name` as far as its length and visibility go;
        False leaves the row to the model, which says what is wrong."""
        if len(value) > self.max_length.get(name, len(value)):
            return False
        visible = self.visible.get(name)
        if visible is None:
            return True
        if not value:
            return visible.min_length == 0
        return len(value) >= visible.min_length and not visible_text_problem(
            value, name=visible.name
        )


def checked_model(cls: type[M]) -> Callable[[dict[str, Any], set[str]], M]:
    """A maker of `cls` instances from values a bulk path has checked itself
    (a plain row's fast path): given every field's value in field order (the
    defaults too) and the names the row gave, the instance `cls.model_validate`
    makes of that row. What model_construct does, without its walk over the
    fields and their aliases per instance (5 µs a row; this, under 1).

    Only for models with no private attributes and without extra="allow"
    (refused here, once): their instances hold nothing else. Tests
    (test_checked_model) hold what it makes to model_validate's."""
    if cls.model_config.get("extra") == "allow" or cls.__private_attributes__:
        raise TypeError(f"{cls.__name__} keeps extra fields or private attributes")
    new, set_ = cls.__new__, object.__setattr__

    def make(values: dict[str, Any], fields_set: set[str]) -> M:
        m = new(cls)
        set_(m, "__dict__", values)
        set_(m, "__pydantic_fields_set__", fields_set)
        set_(m, "__pydantic_extra__", None)
        set_(m, "__pydantic_private__", None)
        return m

    return make
