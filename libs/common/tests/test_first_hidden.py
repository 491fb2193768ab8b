"""`names.first_hidden`'s fast path (one regular expression for texts of
common characters) says what the definition, `is_hidden` on each
character, says: for every character it covers and for texts mixing them
with hidden ones."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from svc_common.guard import hidden_characters, hidden_in_name, name_key
from svc_common.names import _COMMON_RUNS, BLANK_GLYPHS, first_hidden, is_hidden


def by_definition(text: str) -> int | None:
    return next((i for i, c in enumerate(text) if is_hidden(c)), None)


COMMON = [chr(c) for a, b in _COMMON_RUNS for c in range(a, b + 1)]
#: Hidden characters of each kind: controls, format characters, a private
#: use one, an unassigned one, blank glyphs, a tag character.
HIDDEN = ["\x00", "\x1f", "\x7f", "\x85", "\xad", "\u200b", "\u200d", "\u202e", "\u2066"]
HIDDEN += ["\ufeff", "\ue000", "\U000e0041", "\u3164", "\u2800", "\ufe0f", "\u034f"]
HIDDEN += ["\U0010ffff", "\ufdd0"]


def test_every_common_character_alone() -> None:
    for c in COMMON:
        assert first_hidden(c) == by_definition(c), f"U+{ord(c):04X}"
        assert first_hidden(f"张三{c}路") == by_definition(f"张三{c}路"), f"U+{ord(c):04X}"


def test_hidden_characters_are_found_among_common_ones() -> None:
    assert all(is_hidden(c) for c in HIDDEN)
    for c in HIDDEN:
        text = f"天津市测试企业{c}有限公司"
        assert first_hidden(text) == 7
        assert hidden_in_name(text) == 7
        assert hidden_characters(text)
        assert name_key(text) == "天津市测试企业有限公司"
    assert first_hidden("Hangul filler \u3164") == 14
    assert first_hidden("") is None
    assert not hidden_characters("工业园区12号路 Building 3（北）")


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(COMMON),
            st.sampled_from(HIDDEN + sorted(BLANK_GLYPHS)),
            st.characters(max_codepoint=sys.maxunicode),
        ),
        max_size=40,
    )
)
def test_any_text_as_by_definition(text: str) -> None:
    assert first_hidden(text) == by_definition(text)
