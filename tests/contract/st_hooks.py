"""Schemathesis hooks for the bureau's services (loaded by SCHEMATHESIS_HOOKS).

They make generated requests get past the front door the way a real client
would, so the fuzzer reaches the domain code rather than stopping at 401/422:

- `format: uscc` generates codes with a correct GB 32100 check character;
- text/csv and NDJSON upload bodies are generated as tables of rows;
- each operation is called with a token of one of the roles it admits
  (`x-roles` in the document), district-scoped for officers.

And one makes generation affordable: a pattern's strategy is built once per
run, not once per operation (`shared_from_regex`).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import threading
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import schemathesis
from hypothesis import strategies as st
from hypothesis.internal.intervalsets import IntervalSet
from hypothesis.strategies._internal import regex as regex_internals
from hypothesis.strategies._internal.lazy import unwrap_strategies
from svc_common.auth import mint_token
from svc_common.districts import DISTRICTS
from svc_common.settings import DEV_JWT_SECRET
from svc_common.uscc import CHARSET, check_character

_from_regex = st.from_regex
_regex_strategies: dict[tuple[Any, ...], st.SearchStrategy[Any]] = {}
_regex_lock = threading.Lock()
#: An alphabet named by its arguments alone (`characters(codec='utf-8')`):
#: its repr says all it draws. A filtered or mapped one may not (lambdas
#: print alike), so it is never shared.
_PLAIN_ALPHABET = re.compile(r"characters\([^()<]*\)")


def _alphabet_key(alphabet: Any) -> Any:
    if alphabet is None or isinstance(alphabet, str):
        return alphabet
    shown = repr(alphabet)
    if isinstance(alphabet, st.SearchStrategy) and _PLAIN_ALPHABET.fullmatch(shown):
        return ("characters", shown)
    raise TypeError("an alphabet that its repr does not name")


def shared_from_regex(regex: Any, *, fullmatch: bool = False, alphabet: Any = None) -> Any:
    """`st.from_regex`, built once per pattern for the whole run.

    Building a pattern's strategy reads each character of its classes one
    by one: the classes of a visible text (guard._shown: the characters a
    text may begin or end with) hold some 140,000, 3 to 5 seconds a
    pattern. Hypothesis's `from_regex` is lazy and cached per thread:
    schemathesis runs each batch of operations in new worker threads, and
    each `.filter()` it puts on the lazy strategy builds the whole pattern
    again (twice over, for a lazy alphabet: as given, then unwrapped). Every
    operation with a free text paid that, most of the run's time. Here the
    strategy is built once and the built one is shared, across threads
    too: the same pattern and alphabet, the same values drawn. A pattern
    that cannot be built is left lazy, so the error comes where it did."""
    try:
        key = (
            regex if isinstance(regex, re.Pattern) else (type(regex), regex),
            bool(fullmatch),
            _alphabet_key(alphabet),
        )
        hash(key)
    except TypeError:
        return _from_regex(regex, fullmatch=fullmatch, alphabet=alphabet)
    with _regex_lock:
        found = _regex_strategies.get(key)
    if found is None:
        # A lazy alphabet would have hypothesis build the pattern twice:
        # once with it as given, once unwrapped.
        alphabet = getattr(alphabet, "wrapped_strategy", alphabet)
        lazy = _from_regex(regex, fullmatch=fullmatch, alphabet=alphabet)
        try:
            found = lazy.wrapped_strategy
        except Exception:
            return lazy
        with _regex_lock:
            found = _regex_strategies.setdefault(key, found)
    return found


# Schemathesis calls it as `st.from_regex`, looked up at each call.
st.from_regex = shared_from_regex  # type: ignore[assignment]

_regex_element = regex_internals._strategy
_class_strategies: dict[tuple[Any, ...], st.SearchStrategy[str]] = {}


def shared_class(codes: Any, context: Any, is_unicode: bool, alphabet: Any) -> Any:
    """Hypothesis's strategy for one element of a parsed pattern, with a
    character class (`[...]`) built once per run, not once per pattern.

    Schemathesis's coverage phase writes a field's length into its pattern
    (`{0,19}` for a maxLength of 20), so every length of a visible text is
    a pattern of its own, and `shared_from_regex` builds each of them: the
    same three classes of some 140,000 characters each time, read one
    character at a time (most of the CPU of the run). A class's strategy
    is the characters it matches within the alphabet, nothing else: the
    class (its members and the flags that read them) and the alphabet's
    characters name it, so the built one is shared, the same characters
    drawn the same way."""
    chars = getattr(unwrap_strategies(alphabet), "intervals", None) if is_unicode else None
    if chars is None or not (isinstance(codes, tuple) and codes[0] == regex_internals.sre.IN):
        return _regex_element(codes, context, is_unicode, alphabet=alphabet)
    key = (tuple(codes[1]), int(context.flags), chars)
    with _regex_lock:
        found = _class_strategies.get(key)
    if found is None:
        found = _class_in_bulk(codes[1], context, alphabet)
        if found is None:
            found = _regex_element(codes, context, is_unicode, alphabet=alphabet)
        with _regex_lock:
            found = _class_strategies.setdefault(key, found)
    return found


def _class_in_bulk(members: Any, context: Any, alphabet: Any) -> Any:
    """A character class's strategy as hypothesis builds it (its
    CharactersBuilder, negation and alphabet), with each range given as one
    interval instead of character by character: a visible text's class,
    some 140,000 characters in a few thousand ranges, in milliseconds
    instead of seconds (in each schemathesis process). The same characters
    (`IntervalSet`), so the same strategy and the same values drawn. None
    where the builder does more than take the characters: a class read
    without regard to case (each letter's other case is added), or holding
    a category (`\\w`)."""
    if context.flags & re.IGNORECASE:
        return None
    # As hypothesis reads a class: negated when it begins with NEGATE.
    negate = bool(members) and members[0][0] == regex_internals.sre.NEGATE
    runs = []
    for code, value in members:
        if code == regex_internals.sre.NEGATE:
            continue
        elif code == regex_internals.sre.LITERAL:
            runs.append((value, value))
        elif code == regex_internals.sre.RANGE:
            runs.append(value)
        else:
            return None
    builder = regex_internals.CharactersBuilder(
        flags=context.flags, negate=negate, alphabet=alphabet
    )
    taken = IntervalSet(sorted(runs))
    builder._intervals = taken.union(taken)
    return builder.strategy


# Hypothesis looks it up by name at each element (its `recurse`).
regex_internals._strategy = shared_class

ALL_DISTRICTS = sorted(DISTRICTS)
#: Registration-authority codes (1..9, A, N, Y) and entity kinds the USCC uses.
_AUTHORITY = st.sampled_from("123456789ANY")
_KIND = st.sampled_from("12359")


@st.composite
def usccs(draw: st.DrawFn) -> str:
    head = draw(_AUTHORITY) + draw(_KIND) + draw(st.sampled_from(ALL_DISTRICTS))
    tail = "".join(draw(st.lists(st.sampled_from(CHARSET), min_size=9, max_size=9)))
    body = head + tail
    return body + check_character(body)


schemathesis.openapi.format("uscc", usccs())
#: A certificate's number (许可证编号): a code, three digits, P.
schemathesis.openapi.format(
    "permit-no",
    st.builds(lambda code, serial: f"{code}{serial:03d}P", usccs(), st.integers(0, 999)),
)

#: Column names the bulk endpoints read, so generated tables touch real fields.
_COLUMNS = (
    "uscc",
    "name",
    "district",
    "industry_code",
    "category",
    "address",
    "operating_status",
    "row_key",
    "project_name",
    "project_type",
    "vocs_t",
    "permit_no",
    "valid_from",
    "valid_until",
    "pollutants",
    "content",
    "received_at",
    "channel",
    "title",
    "due_on",
)
_CELL = st.one_of(
    st.text(max_size=30),
    st.sampled_from(ALL_DISTRICTS),
    usccs(),
    st.decimals(min_value=0, max_value=10_000, places=3).map(str),
    st.dates().map(str),
)


@st.composite
def _table(draw: st.DrawFn) -> tuple[list[str], list[dict[str, str]]]:
    """A table whose every row has a value (a row of empty cells is no row)."""
    columns = ["uscc", *draw(st.lists(st.sampled_from(_COLUMNS[1:]), max_size=7, unique=True))]
    cells = {c: _CELL for c in columns} | {"uscc": usccs()}
    rows = draw(st.lists(st.fixed_dictionaries(cells), min_size=1, max_size=5))
    return columns, rows


def _csv(table: tuple[list[str], list[dict[str, str]]]) -> bytes:
    import csv
    import io

    columns, rows = table
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _ndjson(table: tuple[list[str], list[dict[str, str]]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in table[1]).encode() + b"\n"


schemathesis.openapi.media_type("text/csv", _table().map(_csv), aliases=["application/csv"])
schemathesis.openapi.media_type(
    "application/x-ndjson",
    _table().map(_ndjson),
    aliases=["application/jsonl", "application/json-lines"],
)


def _when(value: Any) -> dt.datetime | dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        timed = "T" in value or " " in value.strip()
        return dt.datetime.fromisoformat(value) if timed else dt.date.fromisoformat(value)
    except ValueError:
        return None


def _consistent(node: Any) -> Any:
    """Relations between fields that JSON Schema cannot state, made to hold:
    a period ends after it starts (alerts: within 31 days), a list names each
    pollutant or checklist item once, a transfer's pools differ, a setting
    starts now or later."""
    if isinstance(node, list):
        for item in node:
            _consistent(item)
        seen: dict[str, set[Any]] = {}
        keep = []
        for item in node:
            key = next(
                (k for k in ("pollutant", "item") if isinstance(item, dict) and k in item), None
            )
            if key is not None:
                if item[key] in seen.setdefault(key, set()):
                    continue
                seen[key].add(item[key])
            keep.append(item)
        node[:] = keep
        return node
    if not isinstance(node, dict):
        return node
    for value in node.values():
        _consistent(value)
    for start, end in (("from", "to"), ("valid_from", "valid_to"), ("starts_on", "ends_on")):
        a, b = _when(node.get(start)), _when(node.get(end))
        if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
            if (a.tzinfo is not None and (b <= a if b.tzinfo else True)) or b - a > dt.timedelta(
                days=31
            ):
                if (a + dt.timedelta(days=1)).year > 2099:  # times of records end with 2099
                    a = a - dt.timedelta(days=2)
                    node[start] = a.isoformat()
                node[end] = (a + dt.timedelta(days=1)).isoformat()
        elif isinstance(a, dt.date) != isinstance(b, dt.date) and start == "from":
            # One bound only: the other defaults near today; keep within ten years.
            today = dt.date.today()
            for name, day in ((start, a), (end, b)):
                recent = isinstance(day, dt.date) and not isinstance(day, dt.datetime)
                if recent and not today - dt.timedelta(days=3000) <= day <= today:  # type: ignore[operator]
                    node[name] = str(today - dt.timedelta(days=30))
        elif isinstance(a, dt.date) and isinstance(b, dt.date):
            # A period runs forwards and lasts at most ten years.
            if b < a:
                node[start], node[end] = node[end], node[start]
                a, b = b, a
            if (b - a).days > 3650:
                node[end] = (a + dt.timedelta(days=365)).isoformat()
    now = dt.datetime.now(dt.UTC)
    for name in ("received_at", "inspected_at"):
        at = _when(node.get(name))
        if isinstance(at, dt.datetime) and at.tzinfo and at > now:
            node[name] = (now - dt.timedelta(hours=1)).isoformat()
    # A district setting starts now or later (quota-svc's effective_from,
    # an instant); the emergency table takes effect today or later (a day
    # in Beijing).
    start = _when(node.get("effective_from"))
    if isinstance(start, dt.datetime) and start.tzinfo is not None and start < now:
        node["effective_from"] = (now + dt.timedelta(days=1)).isoformat()
    elif isinstance(start, dt.date) and not isinstance(start, dt.datetime):
        today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
        if start < today and today.year < 2099:
            node["effective_from"] = (today + dt.timedelta(days=1)).isoformat()
    for name in ("rectification_deadline", "rectify_by", "deadline"):
        day = _when(node.get(name))
        # Deadlines set now are not before today, a day in Beijing, which
        # runs up to a day ahead of UTC.
        today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
        if isinstance(day, dt.date) and day <= today:
            node[name] = (today + dt.timedelta(days=30)).isoformat()
    if "source" in node and node.get("source") == node.get("target"):
        node["target"] = "reserve" if node["source"] != "reserve" else "district"
    return node


def _well_behaved(case: schemathesis.Case) -> schemathesis.Case:
    if case.query:
        query = {k: v for k, v in case.query.items() if k != "cursor"}
        case.query = _consistent(query)
    if isinstance(case.body, dict | list):
        _consistent(case.body)
    return case


def _xlsx(table: tuple[list[str], list[dict[str, str]]]) -> bytes:
    """The table as a workbook's first sheet, as a spreadsheet program saves it."""
    import io

    from openpyxl import Workbook

    columns, rows = table
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(columns)
    for row in rows:
        # A sheet cell holds no control characters (openpyxl refuses them).
        ws.append([_CONTROL.sub("", row.get(c, "")) for c in columns])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

# Uploads read a workbook's first sheet; a ledger import reads the ledger's
# own export (a ZIP of CSVs or a workbook): random bytes and a generated
# sheet stand for it and are refused as not an export, with a 422.
schemathesis.openapi.media_type("application/zip", st.binary(max_size=256))
schemathesis.openapi.media_type(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _table().map(_xlsx)
)


@schemathesis.hook
def before_add_examples(
    context: schemathesis.HookContext, examples: list[schemathesis.Case]
) -> None:
    """The examples phase builds cases from the document's examples; they get
    the same consistency as generated ones."""
    for case in examples:
        _well_behaved(case)


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """What a well-behaved client does and a schema cannot say: a cursor only
    as the API returned it (the stateful phase follows `next_cursor`; a
    made-up one is refused with 422, as documented), and bodies whose fields
    agree with each other (see `_consistent`)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    return _well_behaved(case)


_rng = random.Random(20260301)
_VALID_KEY = re.compile(r"^[!-~]{1,255}$")


def token_for(role: str) -> str:
    districts = ALL_DISTRICTS if role == "officer" else []
    return mint_token(DEV_JWT_SECRET, sub=f"{role}.fuzz", role=role, districts=districts)


_TOKENS = {role: token_for(role) for role in ("officer", "investment", "filer", "admin", "auditor")}


#: The console's development users, one per role, and no one (public pages,
#: and the redirect to sign in).
CONSOLE_USERS = ("investment", "officer-jizhou", "admin", "auditor", None)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_sessions: dict[str, tuple[str, str]] = {}


def console_session(user: str) -> tuple[str, str]:
    """A signed-in console session as a browser holds it: the session cookie
    and the CSRF token of its forms (by the development sign-in form)."""
    if user not in _sessions:
        import os

        import httpx

        with httpx.Client(base_url=os.environ["BUREAU_FUZZ_BASE"], timeout=30) as c:
            page = c.get("/console/login")
            csrf = _CSRF.search(page.text)
            assert csrf, "no CSRF token on the sign-in page"
            c.post("/console/login/dev", data={"user": user, "csrf_token": csrf.group(1)})
            # Signing in starts a new session: its forms carry a new token.
            csrf = _CSRF.search(c.get("/console/login").text)
            assert csrf, "no CSRF token after signing in"
            _sessions[user] = (c.cookies["envbureau_console"], csrf.group(1))
    return _sessions[user]


@schemathesis.auth(refresh_interval=None)
class RoleTokens:
    """A token of one of the roles the operation admits (any role when it says
    none); on the console, a signed-in session of a development user."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        if context.operation.path.startswith("/console"):
            return "console:" + str(_rng.choice(CONSOLE_USERS))
        roles = context.operation.definition.raw.get("x-roles") or sorted(_TOKENS)
        return _TOKENS[_rng.choice(roles)]

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        if data.startswith("console:"):
            user = data.removeprefix("console:")
            if user != "None":
                cookie, csrf = console_session(user)
                case.headers = {
                    **(case.headers or {}),
                    "Cookie": f"envbureau_console={cookie}",
                    "X-CSRF-Token": csrf,
                }
            return
        headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
        # A well-behaved client uses a new key for each new request; a valid
        # key is replaced by a fresh one (an invalid one is kept: it is a
        # negative test of the header).
        for name, value in list(headers.items()):
            if name.lower() == "idempotency-key" and _VALID_KEY.match(str(value)):
                headers[name] = uuid.uuid4().hex
        case.headers = headers
