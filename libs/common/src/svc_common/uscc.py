"""The unified social credit code (统一社会信用代码, GB 32100-2015) that
identifies every enterprise, checked the same way by every service.

18 characters from 0-9 and A-Z without I, O, S, V, Z. The 18th is a check
character: with weights 3^(i-1) mod 31 for positions 1..17 and character
values 0-9 then A..Y (skipping I, O, S, V, Z), check = 31 − (sum mod 31),
where 31 → 0.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from operator import eq, mul
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from svc_common.i18n import msg
from svc_common.names import is_hidden

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


def _hidden_problem(code: str) -> str | None:
    """Why a code that may read as the right one is not: a space or an
    invisible character in it (pasted from a web page or a PDF: a zero-width
    space, spaces between its groups), named by its place, not counted in a
    length the reader cannot see."""
    for pos, c in enumerate(code, start=1):
        if c.isspace():
            return msg(
                f"character {pos} is a space (U+{ord(c):04X}): remove it",
                f"第 {pos} 位是空格（U+{ord(c):04X}），请删除",
            )
        if is_hidden(c):
            return msg(
                f"character {pos} is an invisible character (U+{ord(c):04X}): remove it",
                f"第 {pos} 位是不可见字符（U+{ord(c):04X}），请删除",
            )
    return None


def _what_to_type(c: str) -> tuple[str, str]:
    """What to type instead of a character outside CHARSET, when it is one
    of its characters written otherwise (English, Chinese)."""
    if c.upper() in CHARS:
        return "; write it in capitals", "；请改为大写"
    if unicodedata.normalize("NFKC", c).upper() in CHARS:
        return "; it is a full-width character: type it half-width", "；这是全角字符，请改为半角"
    return "", ""


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid USCC, or None when it is one."""
    # Only a code not all ASCII letters and digits can hide anything.
    if not (code.isascii() and code.isalnum()) and (hidden := _hidden_problem(code)):
        return hidden
    if len(code) != LENGTH:
        return msg(
            f"must be {LENGTH} characters, got {len(code)}",
            f"必须是 {LENGTH} 个字符，实际为 {len(code)} 个",
        )
    if not CHARS.issuperset(code):
        pos, c = next((i, c) for i, c in enumerate(code, start=1) if c not in VALUE)
        en, zh = _what_to_type(c)
        return msg(
            (
                f"character {c!r} at position {pos} is not allowed "
                f"(only 0-9 and capitals A-Z without I, O, S, V, Z){en}"
            ),
            (f"第 {pos} 位字符 {c!r} 不允许（只能是 0-9 和除 I、O、S、V、Z 以外的大写字母）{zh}"),
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


#: The last character of a discharge permit's number (许可证编号) and of a
#: discharge registration's (排污登记编号): the holder's code, a serial, then it.
PERMIT_SUFFIX = "P"
REGISTRATION_SUFFIX = "W"
#: A certificate's number as printed: ASCII digits only (`\d` took full-width
#: and Arabic-Indic ones) and nothing after the P (`$` let a line break
#: through). Matched with `fullmatch`.
PERMIT_NO_RE = re.compile(r"[0-9A-Z]{18}[0-9]{3}P")
#: How long a certificate's number is: the holder's code, a serial, the P.
PERMIT_NO_LENGTH = LENGTH + 3 + 1


def permit_no_problem(number: str) -> str | None:
    """Why `number` is not a certificate's number (许可证编号: the holder's
    unified social credit code, three digits, P), or None when it is one."""
    if len(number) != PERMIT_NO_LENGTH:
        return msg(
            f"must be {PERMIT_NO_LENGTH} characters (the enterprise's code, 3 digits and P), "
            f"got {len(number)}",
            f"必须是 {PERMIT_NO_LENGTH} 个字符（统一社会信用代码 + 3 位数字 + P），"
            f"实际为 {len(number)} 个",
        )
    if problem := uscc_problem(number[:LENGTH]):
        return msg(
            f"the enterprise's code (its first {LENGTH} characters): {problem}",
            f"前 {LENGTH} 位是统一社会信用代码：{problem}",
        )
    serial, last = number[LENGTH:-1], number[-1]
    if not (serial.isascii() and serial.isdigit()):
        return msg(
            f"characters {LENGTH + 1}-{LENGTH + 3} must be digits, got {serial!r}",
            f"第 {LENGTH + 1}-{LENGTH + 3} 位必须是数字，实际为 {serial!r}",
        )
    if last == REGISTRATION_SUFFIX:
        return msg(
            "ends in W: that is a registration's number (排污登记), not a permit's",
            "以 W 结尾：这是排污登记编号，不是许可证编号",
        )
    if last != PERMIT_SUFFIX:
        return msg(f"must end in P, got {last!r}", f"必须以 P 结尾，实际为 {last!r}")
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


#: A character's value times the weight of position i, mod 31, for each of
#: the 17 positions (bytes.translate of a column of values). Bytes beyond 30
#: are never looked up: `valid_usccs` checks the characters first.
_WEIGHTED = tuple(bytes((v * w) % 31 for v in range(256)) for w in WEIGHTS)
#: A sum of at most eight weighted values (≤ 240) mod 31.
_MOD31 = bytes(v % 31 for v in range(256))
#: A sum of three such remainders (≤ 90) to the check character's byte.
_CHECK_BYTE = bytes(ord(CHARSET[(31 - v % 31) % 31]) for v in range(256))
#: The bytes of CHARSET: deleting them from a code's bytes leaves those of
#: characters outside it. (Not the values they translate to: bytes 0–30 of
#: control characters would pass for them.)
_CHARSET_BYTES = CHARSET.encode("ascii")
#: Below this many codes one by one is as quick.
_BULK_FROM = 16


def valid_usccs(codes: Sequence[str]) -> list[bool]:
    """`[is_valid_uscc(c) for c in codes]` for strings, computed for all the
    codes at once (a bulk import checks thousands): the codes' bytes are
    translated to values, each of the 17 positions' column (every 18th
    byte) weighted by a translate table, the columns summed as the base-256
    digits of big integers (at most eight columns a sum, so no digit
    carries: 8 × 30 < 256), reduced mod 31 by translate again, and the
    check characters so computed compared with the 18th ones. Codes that
    are not all 18 ASCII characters of the charset are checked one by one.
    Property tests (test_uscc) hold it to `is_valid_uscc`."""
    n = len(codes)
    if n < _BULK_FROM:
        return [is_valid_uscc(c) for c in codes]
    if set(map(len, codes)) != {LENGTH}:
        # Those of another length are invalid; the others are checked together.
        plain = [i for i, c in enumerate(codes) if len(c) == LENGTH]
        out = [False] * n
        for i, ok in zip(plain, valid_usccs([codes[i] for i in plain]), strict=True):
            out[i] = ok
        return out
    joined = "".join(codes)
    if not joined.isascii():
        return [is_valid_uscc(c) for c in codes]
    given = joined.encode("ascii")
    if given.translate(None, _CHARSET_BYTES):  # a character outside CHARSET
        return [is_valid_uscc(c) for c in codes]
    values = given.translate(_VALUE_BYTES)
    sums = 0
    for group in (range(0, 8), range(8, 16), range(16, 17)):
        total = sum(
            int.from_bytes(values[i::LENGTH].translate(_WEIGHTED[i]), "little") for i in group
        )
        sums += int.from_bytes(total.to_bytes(n, "little").translate(_MOD31), "little")
    expected = sums.to_bytes(n, "little").translate(_CHECK_BYTE)
    return list(map(eq, expected, given[LENGTH - 1 :: LENGTH]))


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
