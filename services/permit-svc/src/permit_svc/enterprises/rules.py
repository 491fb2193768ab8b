"""Pure rules about enterprises: the unified social credit code (统一社会信用代码,
GB 32100-2015) and the management category of an industry."""

from __future__ import annotations

import random
from dataclasses import dataclass
from operator import mul
from typing import Literal

#: The 31 characters a USCC may use: digits, then capitals without I, O, S, V, Z.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
USCC_CHARS = frozenset(USCC_CHARSET)
#: Weight of positions 1..17: 3^(i-1) mod 31.
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
USCC_LENGTH = 18

Category = Literal["key", "simplified", "registration"]
CATEGORIES: tuple[Category, ...] = ("key", "simplified", "registration")
#: Categories whose sources need a permit certificate (持证管理).
PERMIT_CATEGORIES: frozenset[str] = frozenset({"key", "simplified"})

OperatingStatus = Literal["operating", "suspended", "closed"]


class InvalidUSCC(ValueError):
    """A code that is not a valid unified social credit code; the message says why."""


def uscc_check_char(body: str) -> str:
    """The 18th character for the first 17: check = 31 − (Σ value×weight mod 31), 31 → 0."""
    # map/mul keep the loop in C: this runs once per row of a bulk import.
    total = sum(map(mul, map(USCC_VALUE.__getitem__, body), USCC_WEIGHTS))
    check = 31 - total % 31
    return USCC_CHARSET[0 if check == 31 else check]


def validate_uscc(code: str) -> str:
    """Return `code` if it is a valid USCC, else raise InvalidUSCC saying why."""
    if len(code) != USCC_LENGTH:
        raise InvalidUSCC(f"must be {USCC_LENGTH} characters, got {len(code)}")
    if not USCC_CHARS.issuperset(code):
        _reject_character(code)
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise InvalidUSCC(
            f"check character is wrong: {code[17]!r} given, {expected!r} expected "
            "(GB 32100-2015 mod-31 check)"
        )
    return code


def _reject_character(code: str) -> None:
    for pos, c in enumerate(code, start=1):
        if c not in USCC_VALUE:
            raise InvalidUSCC(
                f"character {c!r} at position {pos} is not allowed "
                "(only 0-9 and capitals A-Z without I, O, S, V, Z)"
            )


def is_valid_uscc(code: str) -> bool:
    return (
        len(code) == USCC_LENGTH
        and USCC_CHARS.issuperset(code)
        and uscc_check_char(code[:17]) == code[17]
    )


def make_uscc(district: str, serial: int) -> str:
    """A valid code for a company (91) registered in `district`, numbered by
    `serial`: deterministic, so tests and benchmarks can rebuild it."""
    body = "91" + district
    n, tail = serial, []
    for _ in range(9):
        n, r = divmod(n, 31)
        tail.append(USCC_CHARSET[r])
    body += "".join(reversed(tail))
    return body + uscc_check_char(body)


def random_uscc(rng: random.Random, district: str = "120115") -> str:
    return make_uscc(district, rng.randrange(31**9))


def needs_permit(category: str) -> bool:
    return category in PERMIT_CATEGORIES


@dataclass(frozen=True)
class IndustryClass:
    """One line of the classification table (固定污染源排污许可分类管理名录)."""

    code: str
    name: str
    category: Category
