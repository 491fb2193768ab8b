"""USCC (GB 32100-2015): valid codes pass, any one-character change fails,
and every rejection says why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from svc_common import i18n
from svc_common.uscc import (
    CHARSET,
    WEIGHTS,
    InvalidUSCC,
    check_character,
    is_valid_uscc,
    make_uscc,
    uscc_problem,
    valid_usccs,
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


@pytest.mark.parametrize(
    ("code", "english", "chinese"),
    [
        # A code pasted from a web page or a PDF: 18 characters to the eye.
        (
            "91120\u200b115000000001J",
            "character 6 is an invisible character (U+200B): remove it",
            "第 6 位是不可见字符（U+200B），请删除",
        ),
        (
            "9112 0115 0000 0000 1J",
            "character 5 is a space (U+0020): remove it",
            "第 5 位是空格（U+0020），请删除",
        ),
        (
            "91120115000000001J\u3000",
            "character 19 is a space (U+3000): remove it",
            "第 19 位是空格（U+3000），请删除",
        ),
        (
            "9112011500000000\x001J",
            "character 17 is an invisible character (U+0000): remove it",
            "第 17 位是不可见字符（U+0000），请删除",
        ),
        # Typed in lower case, or in an input method's full-width mode.
        ("91120115000000001j", "write it in capitals", "请改为大写"),
        ("９1120115000000001J", "a full-width character", "全角字符，请改为半角"),
    ],
)
def test_a_code_that_looks_right_is_refused_saying_what_is_hidden_in_it(
    code: str, english: str, chinese: str
) -> None:
    """A code that reads as the right one (a zero-width space inside it,
    spaces between its groups, a lower-case letter, a full-width digit) is
    refused naming that character and what to do, not for a length the
    reader cannot see ("must be 18 characters, got 19")."""
    with i18n.use("en"):
        assert english in str(uscc_problem(code))
    with i18n.use("zh"):
        assert chinese in str(uscc_problem(code))


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


#: Codes as an upload may bring them: valid, one character changed, another
#: length, characters outside the charset (excluded letters, lower case, non-ASCII).
codes = st.one_of(
    bodies.map(lambda b: b + check_character(b)),
    st.tuples(bodies, typos).map(lambda t: t[0] + t[1]),
    st.text(alphabet=CHARSET + "IOSVZaé\u3000", min_size=16, max_size=19),
)


@given(st.lists(codes, max_size=80))
def test_valid_usccs_is_is_valid_uscc_for_each(batch: list[str]) -> None:
    assert valid_usccs(batch) == [is_valid_uscc(c) for c in batch]


@given(st.lists(bodies, min_size=16, max_size=80), st.data())
def test_valid_usccs_finds_each_wrong_code_in_a_batch(
    batch: list[str], data: st.DataObject
) -> None:
    """Mostly valid batches (the bulk path), a few codes spoiled anywhere."""
    full = [b + check_character(b) for b in batch]
    for i in data.draw(st.lists(st.integers(0, len(full) - 1), max_size=4)):
        pos = data.draw(st.integers(0, 17))
        new = data.draw(typos)
        full[i] = full[i][:pos] + new + full[i][pos + 1 :]
    assert valid_usccs(full) == [is_valid_uscc(c) for c in full]


@pytest.mark.parametrize("pos", range(18))
def test_valid_usccs_named_cases(pos: int) -> None:
    good = [make_uscc("120115", n) for n in range(40)]
    assert valid_usccs(good) == [True] * 40
    # Any one position's character changed, in any code of the batch.
    for at in (0, 17, 39):
        batch = list(good)
        c = batch[at]
        batch[at] = c[:pos] + CHARSET[(CHARSET.index(c[pos]) + 1) % 31] + c[pos + 1 :]
        assert valid_usccs(batch) == [i != at for i in range(40)]
    # The largest weighted value (30) in every position: no sum of columns
    # may carry into its neighbour's digit.
    heaviest = "".join(CHARSET[30 * pow(w, -1, 31) % 31] for w in WEIGHTS)
    top = [heaviest + check_character(heaviest)] * 20
    assert valid_usccs(top) == [True] * 20
    assert valid_usccs([*top[:19], _changed_last(top[0])]) == [True] * 19 + [False]
    assert valid_usccs(["Y" * 17 + check_character("Y" * 17)] * 20) == [True] * 20
    # Another length, a character outside the charset, a non-ASCII one.
    assert valid_usccs([*good[:19], good[19][:17]]) == [True] * 19 + [False]
    assert valid_usccs([*good[:19], good[19] + "0"]) == [True] * 19 + [False]
    assert valid_usccs([*good[:19], "I" + good[19][1:]]) == [True] * 19 + [False]
    assert valid_usccs([*good[:19], "é" + good[19][1:]]) == [True] * 19 + [False]
    assert valid_usccs([*good[:19], good[19][:17] + "\u3000"]) == [True] * 19 + [False]


def _changed_last(code: str) -> str:
    return code[:17] + CHARSET[(CHARSET.index(code[17]) + 1) % 31]


@pytest.mark.parametrize("pos", range(17))
def test_valid_usccs_refuses_a_control_character_like_is_valid_uscc(pos: int) -> None:
    """Bytes 0x00-0x1E are the values the charset's characters translate
    to: a tab, a line feed or another control character in a code (pasted
    from a spreadsheet) must not pass as the character of that value."""
    good = [make_uscc("310101", n) for n in range(20)]
    for at in range(20):
        c = good[at]
        spoiled = c[:pos] + chr(CHARSET.index(c[pos])) + c[pos + 1 :]
        batch = [*good[:at], spoiled, *good[at + 1 :]]
        assert valid_usccs(batch) == [is_valid_uscc(x) for x in batch]
        assert valid_usccs(batch) == [i != at for i in range(20)]


#: Valid codes with one character, anywhere, replaced by a byte below 0x20.
with_controls = st.tuples(bodies, st.integers(0, 17), st.integers(0, 0x1F)).map(
    lambda t: (
        (t[0] + check_character(t[0]))[: t[1]]
        + chr(t[2])
        + (t[0] + check_character(t[0]))[t[1] + 1 :]
    )
)


@given(
    st.lists(
        st.one_of(bodies.map(lambda b: b + check_character(b)), with_controls),
        min_size=16,
        max_size=40,
    )
)
def test_valid_usccs_is_is_valid_uscc_with_control_characters(batch: list[str]) -> None:
    assert valid_usccs(batch) == [is_valid_uscc(c) for c in batch]
