"""Filing registration forms: one or ten thousand, by the same path.

Rows are validated in Python first; the rows that pass are filed together:
replays found by row key, a block of filing numbers allocated per district,
multi-row INSERTs in chunks, events written with one emit_many. No per-row
ORM flush, so a bulk upload costs a few statements per thousand rows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import repeat
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.bulk import BulkResult, RowError, TextRules, checked_model
from svc_common.context import new_ids
from svc_common.db import dialect_insert, hold_lock, session_driver
from svc_common.errors import validation_errors
from svc_common.events.schemas.eia import (
    REGISTRATION_BATCH_ROWS,
    REGISTRATION_ROW_FIELDS,
    RegistrationFormFiled,
    RegistrationFormsFiled,
)
from svc_common.i18n import msg
from svc_common.industries import canonical_or_none
from svc_common.outbox import emit_many
from svc_common.types import IncrementTonnes, tonnes_to_kg
from svc_common.uploads import RawRow
from svc_common.uscc import uscc_problem, valid_usccs

from eia_svc.classification.rules import ProjectType
from eia_svc.control_units.rules import ControlUnit
from eia_svc.parks.rules import Park, park_problem
from eia_svc.registrations.models import FilingNumberCounter, RegistrationRow
from eia_svc.registrations.rules import SERIES, filing_year, format_filing_no
from eia_svc.registrations.rules import sampled_for_check as sampled
from eia_svc.registrations.schemas import RegistrationIn
from eia_svc.screening.rules import Issue, ProjectFacts, industry_of, screen_registration

LOOKUP_CHUNK = 1000
_adapter = TypeAdapter(RegistrationIn)
_increment: TypeAdapter[Decimal] = TypeAdapter(IncrementTonnes)


@dataclass
class Checked:
    """One submitted row after validation: either a valid registration or its errors."""

    index: int
    row_key: str | None
    data: RegistrationIn | None = None
    industry_code: str = ""
    errors: list[RowError] | None = None


@dataclass
class Outcome:
    """What became of a valid row: `created` (filed now), `replayed` (its row
    key names a filing of the same content) or `conflict` (of other content:
    `errors` says so); the filing is the one made or named."""

    index: int
    status: BulkResult
    filing_id: str
    filing_no: str
    row_key: str | None = None
    errors: list[RowError] | None = None


def facts_of(r: RegistrationIn) -> ProjectFacts:
    return ProjectFacts(
        r.uscc,
        r.district,
        r.project_type,
        r.industry_code,
        r.control_unit,
        tonnes_to_kg(r.vocs_increment_t),
    )


#: Fields in the order a form lists them: a row's problems are named in it.
FIELD_ORDER = {name: i for i, name in enumerate(("row", *RegistrationIn.model_fields))}


def screen_facts(
    facts: ProjectFacts,
    park_id: str | None,
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    parks: Mapping[str, Park],
    vocs_limit_kg: int,
) -> list[Issue]:
    issues = screen_registration(facts, types, units, vocs_limit_kg)
    if park_id:
        park = parks.get(park_id)
        district_ok = facts.district is not None and not any(i.field == "district" for i in issues)
        if park is None or district_ok:
            problem = park_problem(park, park_id, facts.district or "")
            if problem:
                issues.append(Issue("park_id", problem))
    return issues


def screen(
    r: RegistrationIn,
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    parks: Mapping[str, Park],
    vocs_limit_kg: int,
) -> list[Issue]:
    """Screening of a registration whose shape is valid."""
    return screen_facts(facts_of(r), r.park_id, types, units, parks, vocs_limit_kg)


def _usable(data: Mapping[str, Any], name: str, bad: set[str]) -> str | None:
    """A field's text if it passed its own checks (else None: already reported)."""
    value = data.get(name)
    if name in bad or not isinstance(value, str):
        return None
    return value.strip() or None


def screen_unshapely(
    data: Mapping[str, Any],
    shape: list[Issue],
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    parks: Mapping[str, Park],
    vocs_limit_kg: int,
) -> list[Issue]:
    """Screening of a row that failed its shape checks, on the fields that
    passed them: the row's problems are all named at once, not in two rounds."""
    bad = {i.field.split(".", 1)[0] for i in shape}
    uscc = _usable(data, "uscc", bad)
    vocs = None
    if "vocs_increment_t" not in bad and data.get("vocs_increment_t") is not None:
        vocs = tonnes_to_kg(_increment.validate_python(data["vocs_increment_t"]))
    facts = ProjectFacts(
        uscc.upper() if uscc else None,
        _usable(data, "district", bad),
        _usable(data, "project_type", bad),
        canonical_or_none(_usable(data, "industry_code", bad)),
        _usable(data, "control_unit", bad),
        vocs,
    )
    park_id = _usable(data, "park_id", bad)
    return screen_facts(facts, park_id, types, units, parks, vocs_limit_kg)


def check(
    data: Mapping[str, Any],
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    parks: Mapping[str, Park],
    vocs_limit_kg: int,
) -> tuple[RegistrationIn | None, list[Issue]]:
    """A submitted row, validated and screened: the registration, or every
    problem it has (shape and screening), in form order. The single and the
    bulk endpoint both check with this."""
    try:
        body = _adapter.validate_python(data)
    except ValidationError as exc:
        shape = [
            Issue(e.field, e.message, e.type or "invalid") for e in validation_errors(exc.errors())
        ]
        issues = shape + screen_unshapely(data, shape, types, units, parks, vocs_limit_kg)
        return None, sorted(issues, key=lambda i: FIELD_ORDER.get(i.field.split(".")[0], 99))
    issues = screened(body, types, units, parks, vocs_limit_kg)
    return (None, issues) if issues else (body, [])


def screened(
    r: RegistrationIn,
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    parks: Mapping[str, Park],
    vocs_limit_kg: int,
) -> list[Issue]:
    """Every screening problem of a registration of valid shape, in form order."""
    issues = screen(r, types, units, parks, vocs_limit_kg)
    return sorted(issues, key=lambda i: FIELD_ORDER.get(i.field, 99))


def check_rows(
    raw: Sequence[RawRow],
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    parks: Mapping[str, Park],
    vocs_limit_kg: int,
) -> list[Checked]:
    """Every row checked as `check` checks one: a plain row's shape by
    `plain_registration`, any other's by the model; rows of a valid shape
    share their screening (`_screening_but_uscc`); their USCCs' check characters
    are computed all at once (`valid_usccs`), the problem of a failing one
    worked out and listed first as `screen` does. Held to `check` row by
    row by tests/unit/test_bulk_checks.py."""
    out: list[Checked | None] = []
    shared: dict[tuple[object, ...], tuple[list[Issue], str]] = {}
    kg: dict[Decimal, int] = {}
    industries: dict[str, str | None] = {}
    amounts: dict[str, Decimal | None] = {}
    shapely: list[tuple[int, RegistrationIn, list[Issue], str]] = []
    for i, row in enumerate(raw):
        if row.data is None:  # a line that could not be read: the upload says why
            why = RowError(field=row.field, message=row.error or "")
            out.append(Checked(i, None, errors=[why]))
            continue
        body = plain_registration(row.data, industries, amounts)
        if body is None:
            try:
                body = _adapter.validate_python(row.data)
            except ValidationError:  # every problem named, of its shape and its screening
                _, issues = check(row.data, types, units, parks, vocs_limit_kg)
                out.append(_refused(i, row.data, issues))
                continue
        rest, industry = _screening_but_uscc(body, shared, kg, types, units, parks, vocs_limit_kg)
        shapely.append((i, body, rest, industry))
        out.append(None)  # decided below, with its USCC
    verdicts = valid_usccs([body.uscc for _, body, _, _ in shapely])
    for (i, body, rest, industry), ok in zip(shapely, verdicts, strict=True):
        if ok and not rest:
            out[i] = Checked(i, body.row_key, data=body, industry_code=industry)
            continue
        problem = None if ok else uscc_problem(body.uscc)
        issues = sorted(
            ([Issue("uscc", problem)] if problem else []) + rest,
            key=lambda x: FIELD_ORDER.get(x.field, 99),
        )
        data = raw[i].data
        assert data is not None
        out[i] = _refused(i, data, issues)
    return [c for c in out if c is not None]


#: RegistrationIn's fields in order with their defaults, those a row must
#: give, and the model's rules for its texts (the longest each takes; the
#: project's and the enterprise's names a reader must see: VisibleText).
_DEFAULTS = {name: f.default for name, f in RegistrationIn.model_fields.items()}
_REQUIRED = frozenset(n for n, f in RegistrationIn.model_fields.items() if f.is_required())
_TEXT = TextRules(RegistrationIn)
_make = checked_model(RegistrationIn)
#: A value of a verdict memo never stored (compared by identity).
_UNSEEN = object()
K = TypeVar("K")
V = TypeVar("V")


def plain_registration(
    data: Mapping[str, Any],
    industries: dict[str, str | None],
    amounts: dict[str, Decimal | None],
) -> RegistrationIn | None:
    """The registration the model makes of a plain row: one naming no other
    field, every value text with no space around it, of one to the field's
    longest characters, a name one a reader can see (VisibleText's check),
    its industry code and amount ones the model takes.
    None for any other row, which the model then checks and names what is
    wrong with. The verdicts on industry codes and amounts depend on the
    text alone and are kept in `industries` and `amounts` for the upload
    (its rows repeat a few). A machine-filed CSV's rows are plain: checked
    so, one costs a third of what the model's validators do. Held to the
    model by tests/unit/test_bulk_checks.py."""
    if not _REQUIRED.issubset(data) or not _DEFAULTS.keys() >= data.keys():
        return None
    values = dict(_DEFAULTS)
    for name, v in data.items():
        if type(v) is not str or not v or v[0].isspace() or v[-1].isspace():
            return None
        if not _TEXT.plain(name, v):
            return None
        values[name] = v
    values["uscc"] = values["uscc"].upper()  # as RegistrationIn._upper
    if (code := data.get("industry_code")) is not None:
        if (industry := _remembered(industries, code, canonical_or_none)) is None:
            return None
        values["industry_code"] = industry
    if (text := data.get("vocs_increment_t")) is not None:
        if (amount := _remembered(amounts, text, _amount_or_none)) is None:
            return None
        values["vocs_increment_t"] = amount
    return _make(values, set(data))


def _remembered(known: dict[K, V], key: K, verdict: Callable[[K], V]) -> V:
    """`verdict(key)`, worked out once per key for the upload (`known`),
    None verdicts too."""
    found = known.get(key, _UNSEEN)
    if found is _UNSEEN:
        found = known[key] = verdict(key)
    return found  # type: ignore[return-value]


def _amount_or_none(text: str) -> Decimal | None:
    try:
        return _increment.validate_python(text)
    except ValidationError:
        return None


def _refused(i: int, data: Mapping[str, Any], issues: list[Issue]) -> Checked:
    key = data.get("row_key")
    return Checked(
        i,
        key if isinstance(key, str) else None,
        errors=[RowError(field=x.field, message=x.message) for x in issues],
    )


def _screening_but_uscc(
    body: RegistrationIn,
    shared: dict[tuple[object, ...], tuple[list[Issue], str]],
    kg: dict[Decimal, int],
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    parks: Mapping[str, Park],
    vocs_limit_kg: int,
) -> tuple[list[Issue], str]:
    """A valid-shape registration's screening problems but its USCC's own
    check, and its industry code. They depend only on (district, project
    type, industry, control unit, VOCs, park), which an upload repeats over
    many rows: `shared` keeps them per combination, worked out once."""
    vocs = kilograms(body.vocs_increment_t, kg)
    combo = (body.district, body.project_type, body.industry_code, body.control_unit, vocs)
    key = (*combo, body.park_id)
    if (known := shared.get(key)) is None:
        facts = ProjectFacts(None, *combo)
        rest = screen_facts(facts, body.park_id, types, units, parks, vocs_limit_kg)
        industry = industry_of(facts, types.get(body.project_type)) or ""
        known = shared[key] = (rest, industry)
    return known


def kilograms(t: Decimal, known: dict[Decimal, int]) -> int:
    """`tonnes_to_kg(t)`, remembered in `known`: an upload repeats a few
    amounts over many rows (the kilograms depend on the amount alone, not
    on how it is written: 0.075 and 0.0750 are 75 both)."""
    return _remembered(known, t, tonnes_to_kg)


async def allocate_numbers(s: AsyncSession, district: str, year: int, count: int) -> int:
    """Reserve `count` consecutive numbers; returns the first. The upsert takes
    the counter row's lock until commit, so concurrent filers in one district
    and year queue on it and never get the same number (PostgreSQL and SQLite)."""
    counter = FilingNumberCounter
    ins = dialect_insert(s, counter).values(
        series=SERIES, district=district, year=year, last_value=count
    )
    stmt = ins.on_conflict_do_update(
        index_elements=["series", "district", "year"],
        set_={"last_value": counter.last_value + count},
    ).returning(counter.last_value)
    last = (await s.execute(stmt)).scalar_one()
    return int(last) - count + 1


#: What a row files, in the registrations table's columns: the same row_key
#: with the same content is a replay, with other content a conflict.
CONTENT = (
    "project_name",
    "uscc",
    "enterprise_name",
    "district",
    "project_type",
    "industry_code",
    "vocs_increment_kg",
    "control_unit",
    "park_id",
)
_INDUSTRY = CONTENT.index("industry_code")
#: The name a client knows each content column by.
CONTENT_FIELDS = tuple("vocs_increment_t" if c == "vocs_increment_kg" else c for c in CONTENT)


@dataclass(frozen=True)
class Named:
    """The filing a row key names, and what it filed."""

    filing_id: str
    filing_no: str
    content: tuple[object, ...]


def content_of(r: Checked) -> tuple[object, ...]:
    d = r.data
    assert d is not None
    return (
        d.project_name,
        d.uscc,
        d.enterprise_name,
        d.district,
        d.project_type,
        r.industry_code,
        tonnes_to_kg(d.vocs_increment_t),
        d.control_unit,
        d.park_id,
    )


#: PostgreSQL: one join against the key array, planned well even when the
#: table's statistics are stale after a big upload (an IN list of 1,000 is
#: not); sent through the driver, whose records cost far less per row than
#: the ORM's result rows (a replayed upload reads back every row).
_KEYS_SQL = (
    f"SELECT r.row_key, r.id, r.filing_no, {', '.join('r.' + c for c in CONTENT)} "
    "FROM registrations r JOIN unnest($2::text[]) AS k(key) ON r.row_key = k.key "
    "WHERE r.filer = $1"
)


async def existing_by_key(s: AsyncSession, filer: str, keys: list[str]) -> dict[str, Named]:
    if s.get_bind().dialect.name == "postgresql":
        driver = await session_driver(s)  # after the filer's lock, in its transaction
        records = await driver.fetch(_KEYS_SQL, filer, keys)
        return {r[0]: Named(r[1], r[2], tuple(r[3:])) for r in records}
    found: dict[str, Named] = {}
    columns = [getattr(RegistrationRow, c) for c in CONTENT]
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        rows = await s.execute(
            select(
                RegistrationRow.row_key, RegistrationRow.id, RegistrationRow.filing_no, *columns
            ).where(and_(RegistrationRow.filer == filer, RegistrationRow.row_key.in_(chunk)))
        )
        for key, rid, no, *rest in rows:
            found[str(key)] = Named(rid, no, tuple(rest))
    return found


def _conflict(r: Checked, named: Named, content: tuple[object, ...]) -> Outcome:
    """A row whose key names a filing of other content: nothing is filed."""
    pairs = zip(CONTENT_FIELDS, content, named.content, strict=True)
    fields = ", ".join(f for f, a, b in pairs if a != b)
    why = msg(
        f"already names filing {named.filing_no}, which filed other content ({fields}): "
        "a new project needs a new row_key",
        f"已用于备案 {named.filing_no}，其内容不同（{fields}）：新项目须使用新的 row_key",
    )
    return Outcome(
        r.index,
        "conflict",
        named.filing_id,
        named.filing_no,
        r.row_key,
        [RowError(field="row_key", message=why)],
    )


async def file_rows(
    s: AsyncSession,
    filer: str,
    rows: list[Checked],
    now: dt.datetime,
    sample_rate: float,
    *,
    batch_id: str | None = None,
) -> list[Outcome]:
    """File every valid row whose row key names no filing yet; in the caller's
    transaction. A row whose key names a filing already is `replayed` when it
    files the same content, a `conflict` when not (nothing is filed for it).
    The filings are announced one event each, or, given the `batch_id` of a
    bulk upload, one RegistrationFormsFiled per 2,000 filings.

    Work per row is kept to building the column arrays of one statement: a
    row's content tuple is made only when a second row names its key."""
    # The filer's uploads (and single filings) take turns from here to the
    # commit: the keys looked up below stay free, so the rows can be copied
    # in with no conflict handling.
    await hold_lock(s, FILER_LOCK, filer)
    keys = sorted({r.row_key for r in rows if r.row_key})
    named = await existing_by_key(s, filer, keys) if keys else {}
    first_of: dict[str, Checked] = {}  # a key's first row in this upload, to be filed
    by_district: dict[str, list[Checked]] = defaultdict(list)
    for r in rows:
        key = r.row_key
        if key is None or (key not in named and key not in first_of):
            if key is not None:
                first_of[key] = r  # a second row with this key is judged below
            assert r.data is not None
            by_district[r.data.district].append(r)
    year = filing_year(now)
    fresh: list[Checked] = []
    numbers: list[str] = []
    for district, group in sorted(by_district.items()):
        first = await allocate_numbers(s, district, year, len(group))
        fresh += group
        numbers += [format_filing_no(district, year, first + k) for k in range(len(group))]
    ids = new_ids(len(fresh))
    columns = _columns(fresh, ids, numbers, sample_rate)
    inserted = await _insert_rows(s, columns, filer, now)
    outcomes: dict[int, Outcome] = {}
    lost: list[str] = []
    for r, rid, no in zip(fresh, ids, numbers, strict=True):
        if rid in inserted:
            outcomes[r.index] = Outcome(r.index, "created", rid, no, r.row_key)
        else:  # another request filed this key meanwhile: its filing is what it names
            assert r.row_key is not None
            lost.append(r.row_key)
            del first_of[r.row_key]
    if lost:
        named.update(await existing_by_key(s, filer, lost))
    for r in rows:
        if r.index in outcomes:
            continue
        assert r.row_key is not None  # a row without a key is always filed
        n = named.get(r.row_key)
        if n is None:  # named by a row of this upload, filed just now
            made = outcomes[first_of[r.row_key].index]
            n = Named(made.filing_id, made.filing_no, content_of(first_of[r.row_key]))
        content = content_of(r)
        if r.data is not None and r.data.industry_code is None:
            # Not stated but taken from the type table, which may have changed
            # since: the row said nothing else than the first time.
            content = (*content[:_INDUSTRY], n.content[_INDUSTRY], *content[_INDUSTRY + 1 :])
        outcomes[r.index] = (
            Outcome(r.index, "replayed", n.filing_id, n.filing_no, r.row_key)
            if content == n.content
            else _conflict(r, n, content)
        )
    filed = [i for i, rid in enumerate(ids) if rid in inserted]
    if batch_id is None:
        await emit_many(s, [_event(columns, i, filer) for i in filed])
    else:
        await emit_many(s, batch_events(batch_id, filer, columns, filed))
    return [outcomes[i] for i in sorted(outcomes)]


def _columns(
    rows: list[Checked], ids: list[str], numbers: list[str], rate: float
) -> dict[str, list[object]]:
    """The rows as the registrations table's per-row columns (UNNEST_COLUMNS)."""
    data = [r.data for r in rows if r.data is not None]
    assert len(data) == len(rows)  # only valid rows are filed
    kg: dict[Decimal, int] = {}
    return {
        "id": list(ids),
        "filing_no": list(numbers),
        "row_key": [d.row_key for d in data],
        "project_name": [d.project_name for d in data],
        "uscc": [d.uscc for d in data],
        "enterprise_name": [d.enterprise_name for d in data],
        "district": [d.district for d in data],
        "project_type": [d.project_type for d in data],
        "industry_code": [r.industry_code for r in rows],
        "vocs_increment_kg": [kilograms(d.vocs_increment_t, kg) for d in data],
        "control_unit": [d.control_unit for d in data],
        "park_id": [d.park_id for d in data],
        "review_status": ["pending" if sampled(rid, rate) else None for rid in ids],
    }


def _event(columns: dict[str, list[object]], i: int, filer: str) -> RegistrationFormFiled:
    return RegistrationFormFiled(
        filing_id=str(columns["id"][i]),
        filing_no=str(columns["filing_no"][i]),
        uscc=str(columns["uscc"][i]),
        district=str(columns["district"][i]),
        project_type=str(columns["project_type"][i]),
        filer=filer,
        sampled_for_check=columns["review_status"][i] == "pending",
    )


def batch_events(
    batch_id: str, filer: str, columns: dict[str, list[object]], filed: list[int]
) -> list[RegistrationFormsFiled]:
    """The filings of a bulk upload, 2,000 to an event. The values were
    validated already: the payloads are constructed, not checked again."""
    cols = [columns[c] for c in _BATCH_COLUMNS]
    ids, review = columns["id"], columns["review_status"]
    out = []
    for start in range(0, len(filed), REGISTRATION_BATCH_ROWS):
        chunk = filed[start : start + REGISTRATION_BATCH_ROWS]
        out.append(
            RegistrationFormsFiled.model_construct(
                batch_id=f"{batch_id}:{start // REGISTRATION_BATCH_ROWS}",
                filer=filer,
                fields=list(REGISTRATION_ROW_FIELDS),
                rows=[[str(c[i]) for c in cols] for i in chunk],
                sampled_for_check=[str(ids[i]) for i in chunk if review[i] == "pending"],
            )
        )
    return out


#: The registrations columns of REGISTRATION_ROW_FIELDS, in order.
_BATCH_COLUMNS = tuple("id" if f == "filing_id" else f for f in REGISTRATION_ROW_FIELDS)


#: Per-row columns of a bulk insert (their PostgreSQL types); filer, status
#: and filed_at are the same for every row of one request.
UNNEST_COLUMNS = {
    "id": "TEXT[]",
    "filing_no": "TEXT[]",
    "row_key": "TEXT[]",
    "project_name": "TEXT[]",
    "uscc": "TEXT[]",
    "enterprise_name": "TEXT[]",
    "district": "TEXT[]",
    "project_type": "TEXT[]",
    "industry_code": "TEXT[]",
    "vocs_increment_kg": "BIGINT[]",
    "control_unit": "TEXT[]",
    "park_id": "TEXT[]",
    "review_status": "TEXT[]",
}


#: The lock `file_rows` holds per filer until the commit: one filer's
#: filings are made one request at a time (other filers' go on beside them).
FILER_LOCK = "eia.registrations"


async def _insert_rows(
    s: AsyncSession, columns: dict[str, list[object]], filer: str, now: dt.datetime
) -> set[str]:
    """Insert the rows; returns the ids inserted.

    PostgreSQL: COPY straight into the table, as fast as the server takes
    rows. No row can clash: the filer's lock (`FILER_LOCK`) is held since
    the row keys were looked up, and any clash would fail the whole request.
    SQLite: one executemany of a single-row INSERT (SQLAlchemy sends it as
    multi-row statements from one compiled form); a row whose (filer,
    row_key) is taken meanwhile is skipped, not an error."""
    n = len(columns["id"])
    if not n:
        return set()
    names = list(UNNEST_COLUMNS)
    if s.get_bind().dialect.name == "postgresql":
        driver = await session_driver(s)
        records = zip(
            *(columns[c] for c in names), repeat(filer), repeat("filed"), repeat(now), strict=False
        )
        await driver.copy_records_to_table(
            "registrations", records=records, columns=[*names, "filer", "status", "filed_at"]
        )
        return {str(x) for x in columns["id"]}
    common = {"filer": filer, "status": "filed", "filed_at": now}
    values = [
        {**dict(zip(names, row, strict=True)), **common}
        for row in zip(*(columns[c] for c in names), strict=True)
    ]
    stmt = dialect_insert(s, RegistrationRow).on_conflict_do_nothing().returning(RegistrationRow.id)
    return {str(x) for x in (await s.execute(stmt, values)).scalars()}


def industry_of_row(r: RegistrationIn, types: dict[str, ProjectType]) -> str:
    return industry_of(facts_of(r), types.get(r.project_type)) or ""
