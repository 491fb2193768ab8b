"""The unified social credit code (统一社会信用代码, GB 32100-2015) that
identifies every enterprise, checked the same way by every service.

18 characters from 0-9 and A-Z without I, O, S, V, Z. The 18th is a check
character: with weights 3^(i-1) mod 31 for positions 1..17 and character
values 0-9 then A..Y (skipping I, O, S, V, Z), check = 31 − (sum mod 31),
where 31 → 0.
"""

from __future__ import annotations

from operator import mul
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from svc_common.i18n import msg

#: The 31 characters a USCC may use: digits, then capitals without I, O, S, V, Z.
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUE = {c: i for i, c in enumerate(CHARSET)}
CHARS = frozenset(CHARSET)
#: Weight of positions 1..17: 3^(i-1) mod 31.
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
LENGTH = 18


class InvalidUSCC(ValueError):
    """A code that is not a valid unified social credit code; the message says why."""


#: Each character's byte to its value (bytes.translate): the check below then
#: runs in C, without a lookup call per character.
_VALUE_BYTES = bytes.maketrans(CHARSET.encode("ascii"), bytes(range(len(CHARSET))))


def check_character(first17: str) -> str:
    """The 18th character for the first 17 (characters of CHARSET):
    31 − (Σ value×weight mod 31), 31 → 0."""
    if not CHARS.issuperset(first17):  # translate would keep such a byte as it is
        raise InvalidUSCC(f"not characters of a USCC: {first17!r}")
    return _check_character(first17)


def _check_character(first17: str) -> str:
    # Runs once per row of a bulk import: kept in C with translate, map and mul.
    values = first17.encode("ascii").translate(_VALUE_BYTES)
    return CHARSET[(31 - sum(map(mul, values, WEIGHTS)) % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid USCC, or None when it is one."""
    if len(code) != LENGTH:
        return msg(
            f"must be {LENGTH} characters, got {len(code)}",
            f"必须是 {LENGTH} 个字符，实际为 {len(code)} 个",
        )
    if not CHARS.issuperset(code):
        pos, c = next((i, c) for i, c in enumerate(code, start=1) if c not in VALUE)
        return msg(
            (
                f"character {c!r} at position {pos} is not allowed "
                "(only 0-9 and capitals A-Z without I, O, S, V, Z)"
            ),
            (f"第 {pos} 位字符 {c!r} 不允许（只能是 0-9 和除 I、O、S、V、Z 以外的大写字母）"),
        )
    expected = _check_character(code[:17])
    if code[17] != expected:
        return msg(
            (
                f"check character is wrong: {code[17]!r} given, {expected!r} expected; the 18th "
                f"character should be {expected} for {code[:17]} (GB 32100-2015 mod-31 check)"
            ),
            (
                f"校验码错误：给出 {code[17]!r}，应为 {expected!r}；按 GB 32100-2015 模 31 校验，"
                f"{code[:17]} 的第 18 位应为 {expected}"
            ),
        )
    return None


def validate_uscc(code: str) -> str:
    """Return `code` if it is a valid USCC, else raise InvalidUSCC saying why
    (usable as a pydantic field validator)."""
    if problem := uscc_problem(code):
        raise InvalidUSCC(problem)
    return code


def is_valid_uscc(code: str) -> bool:
    return (
        len(code) == LENGTH and CHARS.issuperset(code) and _check_character(code[:17]) == code[17]
    )


def make_uscc(district: str, serial: int) -> str:
    """A valid code for a company (91) registered in `district`, numbered by
    `serial`: deterministic, so tests and benchmarks can rebuild it."""
    body = "91" + district
    n, tail = serial, []
    for _ in range(9):
        n, r = divmod(n, 31)
        tail.append(CHARSET[r])
    body += "".join(reversed(tail))
    return body + check_character(body)


#: How a USCC is documented: 18 characters of the code's alphabet; the check
#: character is named by `format: uscc` (a generator must compute it).
USCC_SCHEMA = {
    "type": "string",
    "format": "uscc",
    "pattern": "^[0-9A-HJ-NP-RTUW-Y]{18}$",
    "minLength": LENGTH,
    "maxLength": LENGTH,
    "description": "unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, "
    "the last a mod-31 check character",
    "examples": ["91120119000000005Q"],
}

#: A request field holding a unified social credit code.
USCC = Annotated[str, AfterValidator(validate_uscc), WithJsonSchema(USCC_SCHEMA)]
