"""Industry codes of the national classification of economic activities
(国民经济行业分类, GB/T 4754-2017), written one way everywhere.

A class code is a section letter (门类, A–T) and two to four digits: division
(大类), group (中类), class (小类): "C2641" is 涂料制造, in section C
(manufacturing), division 26. The letter follows from the division, so
"2641" names the same class; both are accepted on input, and every service
stores, answers and announces the form with the letter: it reads as an
industry code on its own, and negative lists name whole sections and
divisions by prefix ("C", "C26").
"""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema

from svc_common.guard import SPACES
from svc_common.i18n import msg

#: Sections of GB/T 4754-2017 by their first and last division.
SECTIONS: tuple[tuple[str, int, int], ...] = (
    ("A", 1, 5),
    ("B", 6, 12),
    ("C", 13, 43),
    ("D", 44, 46),
    ("E", 47, 50),
    ("F", 51, 52),
    ("G", 53, 60),
    ("H", 61, 62),
    ("I", 63, 65),
    ("J", 66, 69),
    ("K", 70, 70),
    ("L", 71, 72),
    ("M", 73, 75),
    ("N", 76, 79),
    ("O", 80, 82),
    ("P", 83, 83),
    ("Q", 84, 85),
    ("R", 86, 90),
    ("S", 91, 96),
    ("T", 97, 97),
)
_SECTION_OF = {d: letter for letter, first, last in SECTIONS for d in range(first, last + 1)}
_LETTERS = frozenset(letter for letter, _, _ in SECTIONS)
_CODE = re.compile(r"([A-Za-z]?)([0-9]{2,4})")
_PREFIX = re.compile(r"([A-Za-z]?)([0-9]{0,4})")


def _division_pattern() -> str:
    """A division as a pattern: its two digits alone, or after its own
    section's letter (either case), so the documents say exactly what the
    API accepts: "C26" and "26" but not "A26"."""
    lettered = "|".join(
        f"[{letter}{letter.lower()}](?:{'|'.join(f'{d:02d}' for d in range(first, last + 1))})"
        for letter, first, last in SECTIONS
    )
    return f"(?:{lettered}|0[1-9]|[1-8][0-9]|9[0-7])"


#: What the API documents (exactly what it accepts): the letter is optional on
#: input; a prefix may also be a section alone, or with one more digit.
PATTERN = rf"^[{SPACES}]*{_division_pattern()}[0-9]{{0,2}}[{SPACES}]*$"
PREFIX_PATTERN = rf"^[{SPACES}]*(?:[A-Ta-t][0-9]?|{_division_pattern()}[0-9]{{0,2}})[{SPACES}]*$"


def section_of(division: int) -> str | None:
    """The section letter of a two-digit division (26 → "C"), or None."""
    return _SECTION_OF.get(division)


@functools.lru_cache(maxsize=4096)
def _normalise(text: str, prefix: bool) -> str | tuple[str, str]:
    """The code with its letter, or (English, Chinese) of why not. Cached:
    a bulk upload names the same few hundred codes again and again."""
    m = (_PREFIX if prefix else _CODE).fullmatch(text.strip())
    if m is None or (prefix and not m.group(1) and len(m.group(2)) < 2):
        return (
            "is not a GB/T 4754 industry code: a section letter and 2-4 digits "
            "(C2641), or the digits alone (2641)",
            "不是国民经济行业分类（GB/T 4754）代码：应为门类字母加 2 至 4 位数字"
            "（如 C2641），或仅数字（如 2641）",
        )
    letter, digits = m.group(1).upper(), m.group(2)
    if len(digits) < 2:  # a section, or a section and the first digit of a division
        if letter not in _LETTERS:
            return (f"{letter} is not a section of GB/T 4754", f"{letter} 不是国民经济行业门类")
        return letter + digits
    section = section_of(int(digits[:2]))
    if section is None:
        return (
            f"{digits[:2]} is not a division of GB/T 4754",
            f"{digits[:2]} 不是国民经济行业大类",
        )
    if letter and letter != section:
        return (
            f"division {digits[:2]} is in section {section}, not {letter}",
            f"大类 {digits[:2]} 属于门类 {section}，不是 {letter}",
        )
    return section + digits


def industry_code_problem(value: str, *, prefix: bool = False) -> str | None:
    """Why `value` is not an industry code (or, with `prefix`, a prefix of
    codes as negative lists write them: "C", "C26"), in the request's
    language; None when it is one."""
    out = _normalise(value, prefix)
    return msg(*out) if isinstance(out, tuple) else None


def normalise_industry_code(value: str, *, prefix: bool = False) -> str:
    """The one stored form, with the section letter: "2641" and "c2641" →
    "C2641". ValueError (in the request's language) when it is not a code."""
    out = _normalise(value, prefix)
    if isinstance(out, tuple):
        raise ValueError(msg(*out))
    return out


def canonical_or_none(value: object) -> str | None:
    """The code with its letter, or None when `value` is not a code."""
    if not isinstance(value, str):
        return None
    out = _normalise(value, False)
    return None if isinstance(out, tuple) else out


def _validate(value: object) -> object:
    return normalise_industry_code(value) if isinstance(value, str) else value


#: An industry class code in a model: either form in, the lettered form out.
IndustryCode = Annotated[
    str,
    BeforeValidator(_validate),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": PATTERN,
            "examples": ["C2641"],
            "description": "GB/T 4754-2017 industry code with its section letter (C2641); "
            "the digits alone (2641) are accepted and mean the same class",
        }
    ),
]


def _lenient(value: object) -> object:
    return (canonical_or_none(value) or value) if isinstance(value, str) else value


#: An industry code in an event: the lettered form when the value is a code
#: in either form, else the value as it is. A consumer never dead-letters an
#: event for a code written before codes were checked (a table imported long
#: ago could hold one); producers only announce codes they checked.
EventIndustryCode = Annotated[
    str,
    BeforeValidator(_lenient),
    WithJsonSchema(
        {
            "type": "string",
            "examples": ["C2641"],
            "description": "GB/T 4754-2017 industry code with its section letter (C2641); "
            "consumers also read the digits alone (2641, from producers before the change) "
            "as the same class",
        }
    ),
]
