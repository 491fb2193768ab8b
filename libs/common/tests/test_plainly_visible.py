"""`guard.visible_text_problem`'s fast path (one regular expression for a
text of common characters beginning with a visible one) says what its
checks say, character by character, and spares them: a bulk import asks it
of a name and an address on every row."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from svc_common import guard
from svc_common.guard import visible_text_problem
from svc_common.names import _COMMON_RUNS

COMMON = [chr(c) for a, b in _COMMON_RUNS for c in range(a, b + 1)]
#: Characters the checks turn on: spaces, a mark, hidden ones, a glyph tail.
ODD = [" ", "\u3000", "\xa0", "\t", "\u302a", "\u0301", "\u200b", "\u200d", "\ufeff"]
ODD += ["\ufe0f", "\u3164", "\u2800", "\x00", "\U000e007f", "😀"]
NEVER = re.compile("(?!)")


def by_checks(text: str, *, name: bool) -> str | None:
    """The answer without the fast path."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(guard, "_plainly_visible", lambda: NEVER)
        return visible_text_problem(text, name=name)


def test_every_common_character_first_middle_and_last() -> None:
    for c in COMMON:
        for text in (c, f"{c}路", f"张{c}", f"张{c}三", f" {c}三"):
            for name in (False, True):
                assert visible_text_problem(text, name=name) == by_checks(text, name=name), (
                    f"U+{ord(c):04X} in {text!r}"
                )


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(COMMON),
            st.sampled_from(ODD),
            st.characters(max_codepoint=sys.maxunicode),
        ),
        max_size=20,
    ),
    st.booleans(),
)
def test_any_text_as_by_the_checks(text: str, name: bool) -> None:
    assert visible_text_problem(text, name=name) == by_checks(text, name=name)


def test_a_common_name_or_address_takes_no_character_by_character_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visible_text_problem("warm-up")  # the pattern is built once, from the checks

    def per_character(c: str) -> bool:
        raise AssertionError(f"looked at {c!r} alone")

    for check in ("is_hidden", "is_mark", "hidden_in_name"):
        monkeypatch.setattr(guard, check, per_character)
    assert visible_text_problem("天津市测试企业0000001有限公司", name=True) is None
    assert visible_text_problem("工业园区12号路 Building 3（北）") is None
