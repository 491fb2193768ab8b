"""Unified social credit code (统一社会信用代码), GB 32100-2015.

18 characters from 0-9 and A-Z without I, O, S, V, Z. The 18th is a check
character: with weights 3^(i-1) mod 31 for positions 1..17 and character values
0-9 then A..Y (skipping I, O, S, V, Z), check = 31 - (sum mod 31), where 31 → 0.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUE = {c: i for i, c in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
LENGTH = 18


def check_character(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    total = sum(VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid USCC, or None when it is one."""
    if len(code) != LENGTH:
        return f"must be {LENGTH} characters, got {len(code)}"
    bad = sorted({c for c in code if c not in VALUE})
    if bad:
        return (
            f"contains characters not allowed in a credit code: {''.join(bad)} "
            "(only 0-9 and A-Z without I, O, S, V, Z)"
        )
    expected = check_character(code[:17])
    if code[17] != expected:
        return (
            f"check character is wrong: the 18th character should be {expected} "
            f"for {code[:17]}, not {code[17]} (GB 32100-2015)"
        )
    return None


def is_valid_uscc(code: str) -> bool:
    return uscc_problem(code) is None
