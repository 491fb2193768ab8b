"""The front door (输入防护): limits every request meets before any route
parses it, so hostile input gets a clear 4xx and never a 500.

- the body is bounded: `MAX_BODY_BYTES` for JSON, `MAX_UPLOAD_BYTES` for
  uploads (CSV, NDJSON, spreadsheets); past it, 413 — the rest is never read;
- a JSON body is checked before it is parsed: nesting depth, NUL characters
  (PostgreSQL cannot store them), control characters and text-direction
  overrides (REFUSED), numbers with absurdly many digits (Python
  refuses ints over 4,300 digits with an error of its own), bytes that are
  not UTF-8;
- a body is not compressed (any Content-Encoding but identity is a 415, and
  so is any transfer coding but chunked: `Transfer-Encoding: gzip, chunked`);
- a JSON body is UTF-8 (RFC 8259): one whose Content-Type declares another
  charset (`charset=utf-16`) is a 415 saying so, not read as UTF-8 bytes
  (where UTF-16's zero bytes would be refused as NUL characters);
- no name appears twice in one object of a JSON body (parsers differ on
  which one they keep);
- a request has one Content-Type (else the JSON checks could be skipped),
  one Authorization and one Idempotency-Key (else the key could be scoped to
  another caller than the route acts for);
- the path must be valid UTF-8 once its escapes are read, with no NUL;
- the query string must be valid UTF-8 with no NUL nor any other character
  of REFUSED, and give a parameter that takes one value at most once.

Headers are read as Latin-1 by the framework, so any bytes decode; the ids a
client may send (X-Request-Id, traceparent) are checked where they are used.

Its refusals are answered by `errors.problem_response`, like every other
problem: with `instance` (the path) and `request_id` (the request-context
middleware, outside this one, has bound it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from svc_common import i18n
from svc_common.errors import (
    FieldError,
    PayloadTooLarge,
    Problem,
    Unprocessable,
    UnsupportedMediaType,
    scope_problem,
)
from svc_common.names import BLANK_GLYPHS as BLANK_GLYPHS
from svc_common.names import DEFAULT_IGNORABLE as DEFAULT_IGNORABLE
from svc_common.names import HIDDEN_CATEGORIES as HIDDEN_CATEGORIES
from svc_common.names import REFUSED as REFUSED
from svc_common.names import first_hidden
from svc_common.names import has_lone_surrogate as has_lone_surrogate
from svc_common.names import is_hidden as is_hidden
from svc_common.names import is_plain_name as is_plain_name

#: Media types of bulk uploads, which may be larger than a JSON request.
UPLOAD_TYPES = (
    "text/csv",
    "application/csv",
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "multipart/form-data",
    "application/zip",
)
MAX_JSON_DEPTH = 32
#: More digits than any amount, id or count here can have.
MAX_NUMBER_DIGITS = 30

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_LONG_NUMBER = re.compile(rb"[0-9]{%d,}" % (MAX_NUMBER_DIGITS + 1))

#: The spaces a text may carry around it, as the inside of a character class:
#: Unicode White_Space (what pydantic strips) but those REFUSED holds
#: (U+000B, U+000C, U+0085). A pattern that allows spaces uses this, not
#: `\s`, which would let a document admit what the door refuses.
SPACES = r"\t\n\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: The same characters written as JSON escapes (`\b` and `\f` among them),
#: found in a text whose escaped backslashes are taken out first
#: (`_unescaped_backslashes`): a backslash left there starts an escape.
_ESCAPED_CONTROL = re.compile(
    r"\\(?:[bf]|u(?:000[1-8bcefBCEF]|001[0-9a-fA-F]|007[fF]"
    r"|00[89][0-9a-fA-F]|202[a-eA-E]|206[6-9]))"
)
_CONTROL = re.compile(f"[{REFUSED}]")
#: REFUSED as one character class: a plain class is searched a dozen times
#: faster than one behind a lookahead. Lines of JSON are split at "\n" alone,
#: so every other character REFUSED holds may be inside a line.
_CONTROL_IN_LINE = re.compile(
    "["
    + "".join(
        re.escape(c)
        for c in map(chr, range(0x2070))  # REFUSED ends at U+2069
        if _CONTROL.match(c)
    )
    + "]"
)


def _unescaped_backslashes(text: str) -> str:
    """`text` with every escaped backslash (two in a row, read in pairs from
    the left as JSON reads them) taken out: a backslash left starts an
    escape, so an escape is found by a plain search instead of a lookbehind
    at every character."""
    return text.replace("\\\\", "") if "\\" in text else text


def control_problem() -> str:
    return i18n.msg(
        "control characters and text-direction overrides are not allowed",
        "不允许包含控制字符或文字方向控制字符",
    )


def has_control_chars(text: str) -> bool:
    """Whether a plain text (a CSV or spreadsheet cell) holds a character of
    REFUSED."""
    return _CONTROL.search(text) is not None


#: The characters pydantic strips around a text (`str_strip_whitespace`:
#: Rust's `trim`, the Unicode White_Space property), as the inside of a
#: character class and as the characters themselves. SPACES is the same
#: less those REFUSED holds.
WHITE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
WHITE_SPACE = "".join(c for c in map(chr, range(0x3001)) if re.match(f"[{WHITE}]", c))


#: What may end a free text though a reader does not see it alone: a
#: variation selector (❤️ is U+2764 U+FE0F) or a tag character (the flags
#: of England, Scotland and Wales end in U+E007F), each drawn as part of
#: the character before it. A name holds none (`hidden_in_name`).
GLYPH_TAILS = frozenset(
    chr(c)
    for a, b in ((0xFE00, 0xFE0F), (0xE0020, 0xE007F), (0xE0100, 0xE01EF))
    for c in range(a, b + 1)
)


def hidden_characters(text: str) -> bool:
    """Whether `text` holds a character a reader cannot see (or a tab, a line
    break: controls): what a person's name may not hold anywhere."""
    return first_hidden(text) is not None


def hidden_in_name(text: str) -> int | None:
    """Where the first character a reader cannot see (`is_hidden`) is in
    `text`, or None: a name may hold none, anywhere. The joiners too — the
    zero-width joiner U+200D of emoji sequences (👨‍👩‍👧) and the non-joiner
    U+200C of Persian and Indic spelling — and the variation selector
    U+FE0F: names here are registered names and people's names, in
    standard characters (规范汉字, Latin letters), where none of them is
    written, while each makes "张三" and "张\u200d三" two names. An emoji
    that is one character (🌱) is visible and may be in a name; free texts
    (reasons, notes) keep every sequence."""
    return first_hidden(text)


def name_key(name: str) -> str:
    """What makes two written names (not subs: svc_common.auth.person_key)
    one person's: NFKC (full-width letters as ASCII ones), case folded, with
    no hidden character (`is_hidden`), the two name dots (U+30FB, U+00B7:
    they draw alike) one, and every run of spaces one space, none around
    it. "Zhang  San" and "zhang san", "张三" and "张\u200b三",
    "阿卜杜拉・买买提" and "阿卜杜拉·买买提" are one."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    folded = folded.replace("\u30fb", "\u00b7")
    if first_hidden(folded) is not None:
        folded = "".join(c for c in folded if not is_hidden(c))
    return " ".join(folded.split())


def is_mark(c: str) -> bool:
    """Whether `c` is a combining mark (Mn, Mc, Me: an accent, a variation
    selector U+FE0F): drawn on the character before it, so a text cannot
    begin with one (marks alone draw nothing, or a dotted circle)."""
    return unicodedata.category(c).startswith("M")


def visible_text_problem(text: str, *, name: bool = False) -> str | None:
    """Why `text` says nothing a reader can see, or None. The pure check of
    every required free text (a reason, a note, a title, a name; see
    `types.VisibleText`): spaces around it aside (not taken off the value),
    it begins with a visible character that is no combining mark and ends
    with a visible one, so a text of zero-width spaces, word joiners,
    byte-order marks, no-break or ideographic spaces, Hangul fillers or
    marks alone is refused, and so is one trailing a hidden character. A
    name (`name`) holds no hidden character anywhere (`hidden_in_name`):
    one would make it look like another name. An empty text is the caller's
    to allow or not (a blank one is refused: it is empty once stripped)."""
    core = text.strip(WHITE_SPACE)
    if not core:
        return None if not text else _nothing_visible()
    if name and (at := hidden_in_name(core)) is not None:
        code = f"U+{ord(core[at]):04X}"
        return i18n.msg(
            f"a name may hold no invisible or control character: character {at + 1} "
            f"({code}) cannot be seen, and would make two names that look the same differ",
            f"名称或姓名中不得含有不可见字符或控制字符：第 {at + 1} 个字符（{code}）看不见，"
            "会使看起来相同的两个名称不同",
        )
    if is_hidden(core[0]) or is_mark(core[0]):
        return _nothing_visible()
    if is_hidden(core[-1]) and core[-1] not in GLYPH_TAILS:
        return _nothing_visible()
    return None


def ref_text_problem(text: str) -> str | None:
    """Why `text` cannot be a reference typed by hand (`types.RefText`: a
    project's ref, a contract's), or None: it has no spaces around it, holds
    no hidden character anywhere (`hidden_in_name`) and does not begin with
    a combining mark. A reference is matched exactly elsewhere (a permit's
    project ref against quota-svc's allocations, a contract's against the
    public register's digest): " P-1", "P-1 " and "P\u200b-1" look like
    "P-1" and match nothing, or make a second project of the same one."""
    if text != text.strip(WHITE_SPACE):
        return i18n.msg("a reference may not begin or end with a space", "编号首尾不得有空白字符")
    if (at := hidden_in_name(text)) is not None:
        code = f"U+{ord(text[at]):04X}"
        return i18n.msg(
            f"a reference may hold no invisible or control character: character {at + 1} "
            f"({code}) cannot be seen, and would make two references that look the same differ",
            f"编号中不得含有不可见字符或控制字符：第 {at + 1} 个字符（{code}）看不见，"
            "会使看起来相同的两个编号不同",
        )
    if text and is_mark(text[0]):
        return _nothing_visible()
    return None


#: Full-width ASCII forms (U+FF01–U+FF5E) and the ideographic space (U+3000)
#: as the ASCII characters NFKC makes of them: U+FF01 is "!", U+FF5E "~".
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold_width(text: str) -> str:
    """`text` with its full-width ASCII forms as the ASCII characters they
    are, and nothing else changed: "Ｐ－９" (a Chinese IME in full-width
    mode types these) is "P-9", an ideographic space inside is a space.
    Letter case is kept. Other compatibility forms NFKC would change ("①",
    "ﬁ", half-width katakana) are kept too: nobody types one of them for
    an ASCII character, and what a reference says is not reinterpreted."""
    return text.translate(_FULL_WIDTH)


def typed_code(text: str) -> str:
    """A code or number (a pollutant's, a district's, a filing's) as a user
    typed it, read as the ASCII it stands for: NFKC (the full-width letters
    and digits a Chinese IME types, "ＶＯＣｓ", as ASCII ones), spaces around
    it dropped. The console reads every such field through it."""
    return unicodedata.normalize("NFKC", text).strip()


def listed_code(text: str, codes: Iterable[str]) -> str:
    """The one of `codes` that `text` names as a user types it: in NFKC form,
    spaces around it aside, in any letter case ("ｖｏｃｓ " and "vocs" are
    VOCs: the codes of a closed list differ by more than these). One it
    names none of is returned as `typed_code` reads it, for its reader to
    refuse in its words. The console's pages and quota-svc's paths and
    queries read a pollutant so."""
    typed = typed_code(text)
    folded = typed.casefold()
    return next((c for c in codes if c.casefold() == folded), typed)


def ref_text_pattern() -> str:
    """The JSON-schema pattern of what `ref_text_problem` accepts (one
    character at least: the length is minLength/maxLength's)."""
    return f"^[{_shown('first')}](?:[{_shown('name')}]*[{_shown('last')}])?$"


def _nothing_visible() -> str:
    return i18n.msg(
        "must begin and end with a visible character: blank, invisible or control "
        "characters (such as a zero-width space) or combining marks alone say nothing",
        "首尾须为可见字符：空白、不可见字符或控制字符（如零宽空格）、单独的组合符号均无内容",
    )


def _runs(codes: Iterable[int]) -> list[tuple[int, int]]:
    """Ascending code points as runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for c in codes:
        if runs and runs[-1][1] == c - 1:
            runs[-1] = (runs[-1][0], c)
        else:
            runs.append((c, c))
    return runs


def _class_char(c: int) -> str:
    # Outside the BMP a character is written as itself (Python's `re` reads it).
    return f"\\u{c:04x}" if c <= 0xFFFF else chr(c)


def _shown(kind: str) -> str:
    """The characters a visible text may begin with (`kind` "first": visible,
    no space, no combining mark), end with when it is a name ("last":
    visible, no space) or a free text ("end": those and GLYPH_TAILS), or
    hold anywhere when it is a name ("name": visible or a space), as the
    inside of a regex character class, from the same unicodedata the checks
    use (this Python's: another Python may know more characters, and say
    so in its documents). Written as the characters taken, not as those
    left out: hidden characters (unassigned code points above all) are on
    every plane, nearly a million, where those taken are some 140,000 —
    and a generator of examples (hypothesis, for schemathesis) reads each
    character of a class's ranges one by one. Surrogates are never taken:
    no text holds one (the front door refuses a lone surrogate), and regex
    engines that read patterns by code point (Rust's, which schemathesis's
    validator uses) refuse `\\ud800` in one."""
    return _shown_classes()[kind]


@functools.cache
def _shown_classes() -> dict[str, str]:
    """`_shown`'s four classes, from their runs of code points (`shown_runs`)."""
    return {
        kind: "".join(
            _class_char(a) if a == b else f"{_class_char(a)}-{_class_char(b)}" for a, b in runs
        )
        for kind, runs in shown_runs().items()
    }


def shown_runs() -> dict[str, list[tuple[int, int]]]:
    """The code points of `_shown`'s four classes, as runs. Finding them
    reads every code point's category, over a second of CPU in each process
    that builds a document or a model with a visible text (every service,
    at start); so they are kept in `svc_common.shown_runs_data`, written by
    `python -m svc_common.guard`, and read from there when they were
    written from the same unicodedata version and the same definitions
    (`_shown_fingerprint`). Under another Python they are found again.
    A test finds them again and compares."""
    from svc_common import shown_runs_data as stored

    if _shown_fingerprint() == stored.FINGERPRINT:
        return {
            kind: [
                (int(a, 16), int(b or a, 16))
                for a, _, b in (run.partition("-") for run in text.split())
            ]
            for kind, text in stored.RUNS.items()
        }
    return find_shown_runs()


def _shown_fingerprint() -> str:
    """What `find_shown_runs` reads, hashed: this Python's unicodedata
    version and the sets that say what is hidden, a space, a glyph's tail."""
    parts = [
        unicodedata.unidata_version,
        ",".join(sorted(HIDDEN_CATEGORIES)),
        "".join(sorted(BLANK_GLYPHS)),
        "".join(sorted(GLYPH_TAILS)),
        "".join(sorted(WHITE_SPACE)),
    ]
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def find_shown_runs() -> dict[str, list[tuple[int, int]]]:
    """`shown_runs` from this Python's unicodedata: one pass over the code points."""
    category, blank = unicodedata.category, BLANK_GLYPHS
    white = frozenset(WHITE_SPACE)
    taken: dict[str, list[int]] = {"first": [], "last": [], "end": [], "name": []}
    for c in range(0x110000):
        ch = chr(c)
        cat = category(ch)
        if ch in blank or cat in HIDDEN_CATEGORIES:  # is_hidden, inlined
            if ch in GLYPH_TAILS:
                taken["end"].append(c)
            continue
        taken["name"].append(c)
        if ch in white:
            continue
        taken["last"].append(c)
        taken["end"].append(c)
        if not cat.startswith("M"):  # is_mark
            taken["first"].append(c)
    return {kind: _runs(codes) for kind, codes in taken.items()}


def write_shown_runs(path: Path) -> None:
    """Write `svc_common.shown_runs_data` from this Python's unicodedata."""
    lines = [
        '"""The runs of code points of guard._shown\'s classes, written by',
        "`python -m svc_common.guard` (guard.shown_runs): read when FINGERPRINT is",
        'this Python\'s (guard._shown_fingerprint), else they are found again."""',
        "",
        f"UNIDATA_VERSION = {json.dumps(unicodedata.unidata_version)}",
        f"FINGERPRINT = {json.dumps(_shown_fingerprint())}",
        "RUNS = {",
    ]
    for kind, runs in find_shown_runs().items():
        words = [f"{a:x}" if a == b else f"{a:x}-{b:x}" for a, b in runs]
        lines.append(f"    {json.dumps(kind)}: (")
        line = ""
        for word in words:
            if len(line) + len(word) + 1 > 84:
                lines.append(f'        "{line}"')
                line = ""
            line += word + " "
        lines.append(f'        "{line}"')
        lines.append("    ),")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def visible_text_pattern(
    low: int = 1, high: int | None = None, *, name: bool = False, stripped: bool = False
) -> str:
    """The JSON-schema pattern of a text `visible_text_problem` accepts and
    the front door lets through: spaces around it (SPACES), then a text
    beginning with a visible character that is no combining mark and ending
    with a visible one, holding inside anything the door lets through (a
    name: no hidden character); `low` 0: an empty text too. A field that
    keeps its spaces leaves its length to minLength/maxLength; one of a
    model that strips them (`stripped`) has its length once stripped,
    `low`..`high`, in the pattern instead (as openapi.stripped_length_pattern)."""
    first, last = f"[{_shown('first')}]", f"[{_shown('last' if name else 'end')}]"
    mid = f"[{_shown('name')}]" if name else f"[^{REFUSED}]"
    if not stripped:
        low, high = min(low, 1), None  # its length is minLength/maxLength's
    return length_pattern(first, mid, last, low, high)


def length_pattern(first: str, mid: str, last: str, low: int, high: int | None) -> str:
    """The pattern of a text of `low`..`high` characters once the spaces
    around it (SPACES) are stripped, beginning with a character of class
    `first`, ending with one of `last`, holding `mid` between (`low` 0: an
    empty text too): what a model that strips its texts takes, written so
    that a JSON-schema validator, which strips nothing, checks the length."""
    if high is None:
        core = f"{first}(?:{mid}*{last})?" if low <= 1 else f"{first}{mid}{{{low - 2},}}{last}"
    elif high == 1:
        core = first
    elif low <= 1:
        core = f"{first}(?:{mid}{{0,{high - 2}}}{last})?"
    else:
        core = f"{first}{mid}{{{low - 2},{high - 2}}}{last}"
    return f"^[{SPACES}]*(?:{core}){'?' if low == 0 else ''}[{SPACES}]*$"


#: The error type of a text with a lone surrogate, as pydantic names it.
SURROGATE_ERROR = "string_unicode"


def surrogate_problem() -> str:
    """Why a text with a lone surrogate is refused: the words of a JSON
    body's refusal (pydantic's `string_unicode`, i18n), wherever it is found."""
    return i18n.pydantic_message(SURROGATE_ERROR, None, "")


def _escaped(name: str) -> str:
    """`name` with each character no answer may carry (a lone surrogate, a
    character of REFUSED) written as its escape (`\\ud800`, `\\x07`)."""
    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if has_lone_surrogate(c) or has_control_chars(c)
        else c
        for c in name
    )


def _path_where(
    value: Any,
    leaf: Callable[[Any], bool],
    name: Callable[[str], bool] | None = None,
    path: tuple[str | int, ...] = (),
) -> tuple[str | int, ...] | None:
    """Where in a parsed JSON value the first value that is no object or
    array and for which `leaf` is true is, or the first name for which
    `name` is true; a name is given with its unwritable characters escaped
    (`\\ud800`, `\\x07`), so the answer naming it can be written and read."""
    if isinstance(value, dict):
        for key, inner in value.items():
            text = str(key)
            if name is not None and name(text):
                return (*path, _escaped(text))
            if (hit := _path_where(inner, leaf, name, (*path, text))) is not None:
                return hit
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            if (hit := _path_where(inner, leaf, name, (*path, i))) is not None:
                return hit
    elif leaf(value):
        return path
    return None


def _text_path(
    value: Any, holds: Callable[[str], bool], path: tuple[str | int, ...] = ()
) -> tuple[str | int, ...] | None:
    """Where the first text of a parsed JSON value, as a name or as a value,
    for which `holds` is true is (see `_path_where`)."""
    return _path_where(value, lambda v: isinstance(v, str) and holds(v), holds, path)


class _LongNumber(str):
    """A number of a JSON document written with more than MAX_NUMBER_DIGITS
    digits in a run, kept as it is written (never converted: Python refuses
    an int of more than 4,300 digits, and spends itself on one just under)."""


def _number_read(written: str) -> Any:
    """What `refused_text_at` reads a JSON number as: a `_LongNumber` if it
    is one json_problem refuses, else 0 (its value is never needed)."""
    return _LongNumber(written) if _LONG_NUMBER.search(written.encode("ascii")) else 0


def refused_text_at(body: bytes) -> str | None:
    """Where the first text of a JSON document that holds a character of
    REFUSED (NUL included), raw or escaped, is, or else its first number of
    more digits than MAX_NUMBER_DIGITS, as the field a problem names
    (`complainant.name`; `body` for the document itself), or None when it
    cannot be told (the document does not parse). Read only once the
    document is refused (`json_problem`): the refusal then names the field
    to mend, not the whole body."""
    try:
        # strict=False: a raw control character inside a text is what is looked for.
        value = json.loads(
            body.decode("utf-8"), strict=False, parse_int=_number_read, parse_float=_number_read
        )
    except (ValueError, RecursionError):
        return None
    path = _text_path(value, has_control_chars)
    if path is None and not _too_deep(_JSON_STRING.sub(b'""', body), MAX_JSON_DEPTH):
        # Refused for no text and not for its depth: for a number (json_problem's order).
        path = _path_where(value, lambda v: type(v) is _LongNumber)
    return None if path is None else ".".join(map(str, path)) or "body"


def lone_surrogate_path(
    value: Any, path: tuple[str | int, ...] = ()
) -> tuple[str | int, ...] | None:
    """Where the first text of a parsed JSON value that holds a lone
    surrogate, as a name or as a value, is (`("pollutants", 0, "name")`; `()`
    for the value itself), or None. json.loads reads such a text without
    complaint and pydantic's JSON parser refuses the whole document, naming
    no field: this is the one check of it, for a JSON body (strict_bodies),
    the rows of an upload, a cursor, and whatever else reads JSON itself.
    A name that holds one is given with it escaped (`\\ud800`), so the
    answer naming it can be written."""
    return _text_path(value, has_lone_surrogate, path)


def lone_surrogate_at(value: Any) -> str | None:
    """`lone_surrogate_path` as the field a problem names (`pollutants.0.name`;
    `body` for the value itself), or None."""
    path = lone_surrogate_path(value)
    return None if path is None else ".".join(map(str, path)) or "body"


#: pydantic's type for a number that is not finite, and the answer's words.
FINITE_ERROR = "finite_number"


def finite_problem() -> str:
    return i18n.pydantic_message(FINITE_ERROR, None, "")


def non_finite_path(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where the first number of a parsed JSON value that is NaN or infinite
    is, or None. json.loads reads `NaN`, `Infinity` (not JSON at all) and
    `1e400` (beyond a double) into such floats without complaint, and they
    would be stored as null: a body or an upload's row holding one is
    refused naming the field."""
    return _path_where(value, lambda v: type(v) is float and not math.isfinite(v), path=path)


#: What a JSON text holding a non-finite number has (`NaN`, `Infinity` or an
#: exponent of three digits or more): a text without it needs no walk.
MAY_BE_NON_FINITE = re.compile(r"NaN|Infinity|[0-9][eE][+-]?[0-9]{3}")


class _TooLarge(Exception):
    pass


def _too_deep(outside: bytes, max_depth: int) -> bool:
    """Whether a JSON document, its texts taken out, nests deeper than `max_depth`."""
    depth = 0
    for m in _BRACKETS.finditer(outside):
        depth += 1 if m.group() in (b"[", b"{") else -1
        if depth > max_depth:
            return True
    return False


def json_problem(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a JSON body must be refused before parsing, or None."""
    # Read as text (bytes that are not UTF-8 kept as lone surrogates, which
    # nothing here matches; the caller refuses them after): one search of a
    # character class instead of a byte pattern with alternatives.
    text = body.decode("utf-8", "surrogateescape")
    escapes = _unescaped_backslashes(text)
    if "\x00" in text or "\\u0000" in escapes or "\\U0000" in escapes:
        return i18n.msg("NUL characters are not allowed", "不允许包含 NUL 字符")
    if _CONTROL.search(text) or _ESCAPED_CONTROL.search(escapes):
        return control_problem()
    outside = _JSON_STRING.sub(b'""', body)
    if _too_deep(outside, max_depth):
        return i18n.msg(
            f"the JSON is nested more than {max_depth} levels deep",
            f"JSON 嵌套超过 {max_depth} 层",
        )
    if _LONG_NUMBER.search(outside):
        return i18n.msg(
            f"a number has more than {MAX_NUMBER_DIGITS} digits",
            f"数字位数超过 {MAX_NUMBER_DIGITS} 位",
        )
    return None


#: Every ASCII digit to "0", every other byte to " ": a run of digits longer
#: than the limit is then a plain substring search, far cheaper than a regex
#: over a whole upload (UTF-8 keeps every byte of a non-ASCII character ≥ 0x80).
#: The bytes that can begin a character of _CONTROL_IN_LINE in UTF-8 (C0 but
#: tab, "\n" and "\r"; DEL; 0xC2 for C1; 0xE2 for U+202A… and U+2066…) go to
#: "!": a text without one has none of those characters, and the regex over
#: it is left out (Chinese text has no 0xC2 nor, unless punctuated with
#: dashes or curly quotes, 0xE2).
_SUSPECT = frozenset([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xC2, 0xE2])
_DIGITS_AND_SUSPECTS = bytes(
    0x30 if 0x30 <= b <= 0x39 else 0x21 if b in _SUSPECT else 0x20 for b in range(256)
)
_LONG_RUN = b"0" * (MAX_NUMBER_DIGITS + 1)


def json_plainly_safe(text: str) -> bool:
    """True when `json_problem` cannot object to `text`, found by cheaper
    tests (the full check costs more than parsing a short line). Beside
    `json_problem` on purpose: a check added there needs its cheap
    counterpart here."""
    return json_free_of_hazards(text) and json_shallow(text)


def json_free_of_hazards(text: str, utf8: bytes | None = None) -> bool:
    """No NUL nor its escape, no other character of REFUSED raw or escaped,
    and no run of digits longer than the limit
    (taking strings out cannot join two runs). True of a text means true of
    every part of it: an upload checked whole needs only `json_shallow` per line.
    `utf8`, if given, is `text` in UTF-8 already (an upload's own bytes):
    not encoded again. In UTF-8 a NUL byte or an ASCII run is only ever
    that character or those characters, so the searches run on the bytes."""
    data = text.encode("utf-8", "surrogatepass") if utf8 is None else utf8
    if b"\x00" in data or b"\\u0000" in data or b"\\U0000" in data:
        return False
    marked = data.translate(_DIGITS_AND_SUSPECTS)
    return (
        _LONG_RUN not in marked
        and (b"!" not in marked or _CONTROL_IN_LINE.search(text) is None)
        and _ESCAPED_CONTROL.search(_unescaped_backslashes(text)) is None
    )


def json_shallow(text: str) -> bool:
    """No more opening brackets than the depth limit (the depth never exceeds their count)."""
    return text.count("{") + text.count("[") <= MAX_JSON_DEPTH


#: Headers a request may send once: each is read by more than one layer.
_ONCE = (
    (b"content-type", "Content-Type"),
    (b"authorization", "Authorization"),
    (b"idempotency-key", "Idempotency-Key"),
)


class BadPath(Problem):
    code = "bad-path"


class BadQuery(Problem):
    code = "bad-query"


async def _refuse(scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
    await scope_problem(problem, scope)(scope, receive, send)


@dataclass(frozen=True)
class QueryArity:
    """Which query parameters take one value, for the front door
    (`guard.InputGuardMiddleware`), which refuses one given twice before
    any route is chosen: `single`, the names every route that reads them
    reads as one value (`?limit=`, `?cursor=`); `listed_on`, the names some
    route reads as one value and another as a list (quota-svc's `at`: one
    moment on `/balances/{district}/{pollutant}`, many on `/balances`),
    with the routes (methods, path pattern) that take them as a list, where
    alone they may repeat."""

    single: frozenset[str] = frozenset()
    listed_on: Mapping[str, tuple[tuple[frozenset[str], re.Pattern[str]], ...]] = field(
        default_factory=dict
    )
    #: Every route (methods, path pattern) with the names of the query
    #: parameters it reads: a name none of a request's routes reads is
    #: refused (`?distrct=` listed every district, `?a=` for `?at=` answered
    #: now's balance for a past one), as a body's unknown field is.
    read_on: tuple[tuple[frozenset[str], re.Pattern[str], frozenset[str]], ...] = ()

    def once_only(self, name: str, method: str, path: str) -> bool:
        """Whether `name` given twice in a request `method path` is refused."""
        if name in self.single:
            return True
        routes = self.listed_on.get(name)
        if routes is None:
            return False  # a list wherever it is read, or read nowhere
        method = "GET" if method == "HEAD" else method  # HEAD is answered as GET
        return not any(method in methods and regex.match(path) for methods, regex in routes)

    def read_by(self, method: str, path: str) -> frozenset[str] | None:
        """The query parameters the routes answering `method path` read, or
        None when no route answers it (a 404 or 405 says so, not this)."""
        method = "GET" if method == "HEAD" else method
        found = [names for ms, regex, names in self.read_on if method in ms and regex.match(path)]
        return frozenset().union(*found) if found else None


class InputGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        single_params: QueryArity | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        #: Query parameters that take one value (`openapi.single_query_params`):
        #: given twice where the route reads one, a request is refused.
        self.single_params = single_params or QueryArity()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if problem := _path_problem(scope):
            await _refuse(scope, receive, send, BadPath(problem))
            return
        query: bytes = scope.get("query_string", b"")
        if query and (refused := _query_problem(query)):
            await _refuse(scope, receive, send, refused)
            return
        if query and (twice := _given_twice(query, self.single_params, scope)):
            await _refuse(scope, receive, send, _twice_problem(twice))
            return
        if query and (unknown := _not_read(query, self.single_params, scope)):
            await _refuse(scope, receive, send, unknown)
            return
        headers = dict(scope["headers"])
        # One of each header read in two places, or the two could read
        # different ones (this dict keeps the last, Starlette the first): a
        # JSON body would pass unchecked as "text/plain", or the
        # Idempotency-Key be scoped to another token than the route acts
        # for (or dropped, the last token being invalid) and a retry write twice.
        for name, shown in _ONCE:
            if sum(1 for n, _ in scope["headers"] if n == name) > 1:
                once = i18n.msg(f"a request has one {shown} header", f"请求只能有一个 {shown} 头")
                errors = [FieldError(field=shown, message=once, type="repeated_header")]
                await _refuse(scope, receive, send, Problem(once, errors=errors))
                return
        media = (
            headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower().decode("latin-1")
        )
        limit = self.max_upload if media in UPLOAD_TYPES else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                bad = i18n.msg("bad Content-Length", "Content-Length 无效")
                errors = [FieldError(field="Content-Length", message=bad, type="bad_header")]
                await _refuse(scope, receive, send, Problem(bad, errors=errors))
                return
            if too_big:
                await _refuse(scope, receive, send, _too_large(limit))
                return
        if scope["method"] in ("GET", "HEAD", "OPTIONS") and declared in (None, b"0"):
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_bounded(receive, limit)
        except _TooLarge:
            await _refuse(scope, receive, send, _too_large(limit))
            return
        # A compressed body would be checked (and parsed) as its compressed
        # bytes: a 422 about NUL characters for a gzip'd JSON body.
        coding = headers.get(b"content-encoding", b"").strip().lower()
        if body and coding not in (b"identity", b""):
            await _refuse(scope, receive, send, _encoded())
            return
        # The HTTP server takes a chunked body apart and leaves any other
        # transfer coding (`gzip, chunked`) to the application: unread, the
        # body would be checked as its compressed bytes too.
        if body and _transfer_coded(scope["headers"]):
            await _refuse(scope, receive, send, _encoded("Transfer-Encoding"))
            return
        is_json = media == "application/json" or media.endswith("+json")
        if body and is_json and (charset := _declared_charset(headers)) is not None:
            await _refuse(scope, receive, send, _not_utf8_declared(charset))
            return
        if body and is_json and _wide(body):
            # UTF-16 or UTF-32 sent with no charset: its zero bytes would be
            # refused as NUL characters, which names the wrong fault.
            await _refuse(scope, receive, send, _not_utf8_declared(b""))
            return
        if body and is_json and (problem := json_problem(body) or _not_utf8(body)):
            # A character no text may hold is refused at the field holding it.
            field = refused_text_at(body) or "body"
            errors = [FieldError(field=field, message=problem, type="json_invalid")]
            shown = problem if field == "body" else f"{field}: {problem}"
            await _refuse(scope, receive, send, Unprocessable(shown, errors=errors))
            return
        if body and is_json and (twice := duplicate_key(body)) is not None:
            problem = duplicate_key_problem()
            errors = [FieldError(field=twice, message=problem, type="duplicate_key")]
            await _refuse(scope, receive, send, Unprocessable(f"{twice}: {problem}", errors=errors))
            return
        await self.app(scope, replayed(body, receive), send)


def replayed(body: bytes, receive: Receive) -> Receive:
    """`receive` with a body already read given back first: for the app
    behind a middleware (or a route) that read it (the guard, the
    Idempotency-Key's lookup, a direct route handing a request to FastAPI)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


class _Twice(dict[str, Any]):
    """An object in which `name` appeared more than once."""

    name = ""


def duplicate_key_problem() -> str:
    return i18n.msg(
        "this name appears twice in one JSON object",
        "同一 JSON 对象中此字段出现了两次",
    )


def duplicate_key(body: bytes | str) -> str | None:
    """The path (`rules.0.level`) of a name written twice in one object of a
    JSON body, or None (also when it is not JSON: the framework says why).
    JSON parsers differ on which of the two they keep (Python the last), so
    a reader upstream could have seen another amount than the one acted on."""
    found = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        found = True
        twice = _Twice(obj)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                twice.name = key
                break
            seen.add(key)
        return twice

    try:
        doc = json.loads(body, object_pairs_hook=pairs_hook)
    except ValueError:
        return None
    return _path_to_twice(doc, ()) if found else None


def _path_to_twice(value: Any, path: tuple[str, ...]) -> str | None:
    if isinstance(value, _Twice):
        return ".".join((*path, value.name))
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        if (hit := _path_to_twice(inner, (*path, str(key)))) is not None:
            return hit
    return None


def _not_utf8(body: bytes) -> str | None:
    """JSON is UTF-8 (RFC 8259); other bytes would fail in the framework's
    parser with an English 400 that names no field."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return i18n.msg("the JSON body is not UTF-8", "JSON 请求内容不是 UTF-8 编码")
    return None


#: The charsets a JSON body may declare: UTF-8 (RFC 8259), by its name or
#: the alias many clients write, and US-ASCII, whose every text is UTF-8
#: (a body that is not ASCII is then refused as not UTF-8, if it is not).
_UTF8_NAMES = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
#: A charset as it may be shown back in an answer (a name, not any bytes).
_CHARSET_NAME = re.compile(rb"[A-Za-z0-9._:+-]{1,40}")


def _declared_charset(headers: dict[bytes, bytes]) -> bytes | None:
    """The charset a JSON body's Content-Type declares when it is not UTF-8
    (case-insensitive, quoted or not), or None: none declared, or UTF-8."""
    for param in headers.get(b"content-type", b"").split(b";")[1:]:
        name, _, value = param.partition(b"=")
        if name.strip().lower() != b"charset":
            continue
        charset = value.strip().strip(b'"').strip()
        if charset.lower() not in _UTF8_NAMES:
            return charset
    return None


def _wide(body: bytes) -> bool:
    """Whether a JSON body is UTF-16 or UTF-32 (RFC 4627's detection): a
    byte-order mark, or a zero among its first two bytes, where a JSON text
    in UTF-8 begins with an ASCII character."""
    return body.startswith((b"\xff\xfe", b"\xfe\xff")) or (
        len(body) >= 2 and (body[0] == 0 or body[1] == 0)
    )


def _not_utf8_declared(charset: bytes) -> UnsupportedMediaType:
    """A JSON body declared in another charset than UTF-8: refused as such,
    not read as UTF-8 bytes (UTF-16's zero bytes would be called NUL
    characters, another charset's bytes "not UTF-8")."""
    named = charset.decode("ascii") if _CHARSET_NAME.fullmatch(charset) else ""
    return UnsupportedMediaType(
        i18n.msg(
            "a JSON body must be UTF-8"
            + (f" (Content-Type declares charset={named})" if named else "")
            + "; send it in UTF-8, with charset=utf-8 or no charset",
            "JSON 正文必须是 UTF-8 编码"
            + (f"（Content-Type 声明的字符集为 {named}）" if named else "")
            + "；请以 UTF-8 编码发送，charset 为 utf-8 或不声明",
        )
    )


def _transfer_coded(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request's Transfer-Encoding names a coding but chunked."""
    return any(
        coding.strip().lower() not in (b"chunked", b"")
        for name, value in headers
        if name.lower() == b"transfer-encoding"
        for coding in value.split(b",")
    )


def _encoded(header: str = "Content-Encoding") -> UnsupportedMediaType:
    if header == "Content-Encoding":
        said = i18n.msg(
            "the request body must be sent uncompressed (no Content-Encoding)",
            "请求内容须以未压缩形式发送（不带 Content-Encoding）",
        )
    else:
        said = i18n.msg(
            "the request body must be sent uncompressed (Transfer-Encoding: chunked at most)",
            "请求内容须以未压缩形式发送（Transfer-Encoding 只接受 chunked）",
        )
    return UnsupportedMediaType(said, header=header)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        i18n.msg(
            f"the request body may have at most {limit} bytes",
            f"请求内容不得超过 {limit} 字节",
        ),
        max_bytes=limit,
    )


def _path_problem(scope: Scope) -> str | None:
    """Why the path cannot be read: NUL, or escapes of bytes that are not
    UTF-8 (`%FF`, `%C0%AF`). The server decodes those to U+FFFD, which a
    route would refuse as a malformed id (422) or not find (404); the path
    itself is what is wrong. Read from `raw_path` (some clients send the
    query in it too), which only a path with an escape or a byte past ASCII
    can make other than UTF-8."""
    if "\x00" in scope.get("path", ""):
        return i18n.msg("NUL characters are not allowed", "不允许包含 NUL 字符")
    raw = scope.get("raw_path")
    if raw and (b"%" in raw or not raw.isascii()):
        try:
            unquote_to_bytes(raw.split(b"?", 1)[0]).decode("utf-8")
        except UnicodeDecodeError:
            return i18n.msg("the path is not UTF-8", "路径不是 UTF-8 编码")
    return None


def _text_problem(raw: bytes) -> str | None:
    """Why an unescaped query name or value is no text a route may read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return i18n.msg("is not UTF-8", "不是 UTF-8 编码")
    if b"\x00" in raw:
        return i18n.msg("NUL characters are not allowed", "不允许包含 NUL 字符")
    if has_control_chars(text):
        return control_problem()
    return None


def _query_problem(query: bytes) -> BadQuery | None:
    """The first query parameter that is no text (not UTF-8, a NUL, control
    characters), named as every refused field is, or None. A name that is
    itself no text is named `query`."""
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        name, value = (unquote_to_bytes(x.replace(b"+", b" ")) for x in (name, value))
        field, why = "query", _text_problem(name)
        if why is None:
            field, why = name.decode("utf-8") or "query", _text_problem(value)
        if why is not None:
            errors = [FieldError(field=field, message=why, type="bad_query")]
            return BadQuery(f"{field}: {why}", errors=errors)
    return None


def _given_twice(query: bytes, arity: QueryArity, scope: Scope) -> str | None:
    """The first parameter the query string gives twice where the request's
    route reads it as one value (`arity`), or None."""
    if b"&" not in query:
        return None
    seen: set[str] = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen and arity.once_only(name, scope["method"], scope["path"]):
            return name
        seen.add(name)
    return None


def _not_read(query: bytes, arity: QueryArity, scope: Scope) -> Unprocessable | None:
    """A 422 naming each query parameter the request's route does not read
    (with those it does), or None."""
    read = arity.read_by(scope["method"], scope["path"])
    if read is None:
        return None
    given = dict.fromkeys(n for n, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    unknown = [n for n in given if n not in read]
    if not unknown:
        return None
    takes = sorted(read)
    why = (
        i18n.msg(
            f"is not a query parameter of this operation (it takes {', '.join(takes)})",
            f"不是此操作的查询参数（可用：{'、'.join(takes)}）",
        )
        if takes
        else i18n.msg(
            "is not a query parameter of this operation (it takes none)",
            "不是此操作的查询参数（此操作不接受查询参数）",
        )
    )
    errors = [FieldError(field=n, message=why, type="unknown_parameter") for n in unknown]
    return Unprocessable("; ".join(f"{n}: {why}" for n in unknown), errors=errors)


def _twice_problem(name: str) -> Unprocessable:
    why = i18n.msg("may be given once", "只能给出一次")
    errors = [FieldError(field=name, message=why, type="repeated_parameter")]
    return Unprocessable(f"{name}: {why}", errors=errors)


async def _read_bounded(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


if __name__ == "__main__":
    write_shown_runs(Path(__file__).with_name("shown_runs_data.py"))
