"""USCC check character (GB 32100-2015)."""

from __future__ import annotations

import pytest
from eia_svc.screening.uscc import ALPHABET, WEIGHTS, check_character, uscc_problem
from hypothesis import given
from hypothesis import strategies as st

#: The worked example printed in GB 32100-2015.
STANDARD_EXAMPLE = "91350100M000100Y43"


def test_weights_are_powers_of_three_mod_31() -> None:
    assert WEIGHTS[:6] == (1, 3, 9, 27, 19, 26)
    assert WEIGHTS[-1] == 28


def test_standard_example_is_valid() -> None:
    assert uscc_problem(STANDARD_EXAMPLE) is None


def test_wrong_check_character_names_the_right_one() -> None:
    problem = uscc_problem(STANDARD_EXAMPLE[:-1] + "4")
    assert problem is not None
    assert "check character is wrong" in problem and "should be 3" in problem


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y433", "18 characters"),
        ("91350100I000100Y43", "not allowed"),  # I is never used
        ("91350100m000100Y43", "not allowed"),
    ],
)
def test_malformed_codes(code: str, says: str) -> None:
    problem = uscc_problem(code)
    assert problem is not None and says in problem


def test_check_31_maps_to_zero() -> None:
    # Find a body whose weighted sum is ≡ 0 (mod 31): its check character is "0".
    body = "0" * 16
    for c in ALPHABET:
        if check_character(body + c) == "0":
            total = sum(ALPHABET.index(x) * w for x, w in zip(body + c, WEIGHTS, strict=True))
            assert total % 31 == 0
            return
    pytest.fail("no body with check character 0 found")


@given(st.text(alphabet=ALPHABET, min_size=17, max_size=17), st.sampled_from(ALPHABET))
def test_exactly_one_check_character_is_accepted(body: str, last: str) -> None:
    assert (uscc_problem(body + last) is None) == (last == check_character(body))
