"""USCC (GB 32100-2015): valid codes pass, any one-character change fails,
and every rejection says why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from svc_common.uscc import (
    CHARSET,
    WEIGHTS,
    InvalidUSCC,
    check_character,
    is_valid_uscc,
    make_uscc,
    uscc_problem,
    validate_uscc,
)

#: The worked example printed in GB 32100-2015.
STANDARD_EXAMPLE = "91350100M000100Y43"

bodies = st.text(alphabet=CHARSET, min_size=17, max_size=17)
#: Characters a typo could bring: the charset, the excluded letters, lower case, others.
typos = st.sampled_from(CHARSET + "IOSVZabcxyz-_ .")


def test_weights_and_known_codes() -> None:
    assert WEIGHTS[:6] == (1, 3, 9, 27, 19, 26) and WEIGHTS[-1] == 28
    assert check_character(STANDARD_EXAMPLE[:17]) == "3"
    assert is_valid_uscc(STANDARD_EXAMPLE) and uscc_problem(STANDARD_EXAMPLE) is None
    # A sum ≡ 0 (mod 31) gives 31, which is written as 0.
    assert check_character("0" * 17) == "0"


@given(bodies)
def test_generated_codes_are_valid(body: str) -> None:
    code = body + check_character(body)
    assert validate_uscc(code) == code


@given(bodies, st.integers(0, 17), typos)
def test_any_single_character_change_is_rejected(body: str, pos: int, new: str) -> None:
    code = body + check_character(body)
    if code[pos] == new:
        new = CHARSET[(CHARSET.index(new) + 1) % 31]
    changed = code[:pos] + new + code[pos + 1 :]
    assert changed != code
    assert not is_valid_uscc(changed)
    with pytest.raises(InvalidUSCC):
        validate_uscc(changed)


@given(bodies, st.sampled_from(CHARSET))
def test_exactly_one_check_character_is_accepted(body: str, last: str) -> None:
    assert (uscc_problem(body + last) is None) == (last == check_character(body))


@given(st.integers(0, 31**9 - 1))
def test_make_uscc_gives_valid_distinct_codes(serial: int) -> None:
    code = make_uscc("120115", serial)
    assert is_valid_uscc(code) and code[2:8] == "120115"
    assert make_uscc("120115", (serial + 1) % 31**9) != code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91120115", "must be 18 characters, got 8"),
        ("91350100M000100Y433", "must be 18 characters, got 19"),
        ("91120115I00000001J", "character 'I' at position 9 is not allowed"),
        ("91120115000000001j", "character 'j' at position 18"),
        ("91120115000000001K", "check character is wrong: 'K' given, 'J' expected"),
        ("91350100M000100Y44", "should be 3 for 91350100M000100Y4"),
    ],
)
def test_rejections_say_why(code: str, reason: str) -> None:
    with pytest.raises(InvalidUSCC, match=reason):
        validate_uscc(code)


#: The standard's table, written out here rather than taken from the module:
#: character values 0-9, then A-Y without I, O, S, V, Z; weights 3^(i-1) mod 31.
_STANDARD_VALUES = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_STANDARD_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


@pytest.mark.parametrize("position", range(17))
def test_every_character_in_every_position_weighs_as_the_standard_says(position: int) -> None:
    # The check is a weighted sum: right for each character in each place
    # (the others 0) means right for every body.
    for value, char in enumerate(_STANDARD_VALUES):
        body = "0" * position + char + "0" * (16 - position)
        expected = _STANDARD_VALUES[(31 - value * _STANDARD_WEIGHTS[position] % 31) % 31]
        assert check_character(body) == expected, (position, char)


@pytest.mark.parametrize("body", ["I" + "0" * 16, "0" * 16 + "z", "０" + "0" * 16])
def test_a_body_outside_the_charset_has_no_check_character(body: str) -> None:
    with pytest.raises(InvalidUSCC):
        check_character(body)
