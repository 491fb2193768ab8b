"""USCC (GB 32100-2015) validation: valid codes pass, any one-character change fails."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from permit_svc.enterprises.rules import (
    USCC_CHARSET,
    InvalidUSCC,
    is_valid_uscc,
    make_uscc,
    uscc_check_char,
    validate_uscc,
)

bodies = st.text(alphabet=USCC_CHARSET, min_size=17, max_size=17)
#: Characters a typo could bring: the charset, the excluded letters, lower case, others.
typos = st.sampled_from(USCC_CHARSET + "IOSVZabcxyz-_ .")


def test_weights_and_known_codes() -> None:
    # The worked example of GB 32100-2015.
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert is_valid_uscc("91350100M000100Y43")
    # A sum ≡ 0 (mod 31) gives 31, which is written as 0.
    assert uscc_check_char("0" * 17) == "0"


@given(bodies)
def test_generated_codes_are_valid(body: str) -> None:
    code = body + uscc_check_char(body)
    assert validate_uscc(code) == code


@given(bodies, st.integers(0, 17), typos)
def test_any_single_character_change_is_rejected(body: str, pos: int, new: str) -> None:
    code = body + uscc_check_char(body)
    if code[pos] == new:
        new = USCC_CHARSET[(USCC_CHARSET.index(new) + 1) % 31]
    changed = code[:pos] + new + code[pos + 1 :]
    assert changed != code
    with pytest.raises(InvalidUSCC):
        validate_uscc(changed)


@given(st.integers(0, 31**9 - 1))
def test_make_uscc_gives_valid_distinct_codes(serial: int) -> None:
    code = make_uscc("120115", serial)
    assert is_valid_uscc(code) and code[2:8] == "120115"
    assert make_uscc("120115", (serial + 1) % 31**9) != code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91120115", "must be 18 characters, got 8"),
        ("91120115I00000001J", "character 'I' at position 9 is not allowed"),
        ("91120115000000001j", "character 'j' at position 18"),
        ("91120115000000001K", "check character is wrong: 'K' given, 'J' expected"),
    ],
)
def test_rejections_say_why(code: str, reason: str) -> None:
    with pytest.raises(InvalidUSCC, match=reason):
        validate_uscc(code)
