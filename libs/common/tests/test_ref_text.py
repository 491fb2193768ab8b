"""A reference typed by hand and matched exactly elsewhere (a project's ref,
a contract's): guard.ref_text_problem, the type built on it (types.RefText)
and the pattern the documents state for it."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from svc_common import guard, i18n
from svc_common.types import ProjectRef, RefText


class _Ref(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: Annotated[str, RefText(20)]


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param(" P-1", id="a space before it"),
        pytest.param("P-1\u3000", id="an ideographic space after it"),
        pytest.param("\u00a0", id="a no-break space"),
        pytest.param("P\u200b-1", id="a zero-width space inside"),
        pytest.param("P-1\u2060", id="a word joiner after it"),
        pytest.param("\ufeffP-1", id="a byte-order mark before it"),
        pytest.param("P\u200d1", id="a zero-width joiner inside"),
        pytest.param("P-1\ufe0f", id="a variation selector after it"),
        pytest.param("P\t1", id="a tab inside"),
        pytest.param("\u0301P", id="a combining mark first"),
        pytest.param("", id="empty"),
        pytest.param("x" * 21, id="too long"),
    ],
)
def test_a_ref_that_reads_as_another_is_refused_naming_the_field(ref: str) -> None:
    with pytest.raises(ValidationError) as e:
        _Ref(ref=ref)
    assert [err["loc"] for err in e.value.errors()] == [("ref",)]


@pytest.mark.parametrize("ref", ["P-1", "JZ 2026 扩建", "eia:1", "合同（2026）第3号", "x"])
def test_a_ref_that_shows_what_it_is_is_kept_as_given(ref: str) -> None:
    assert _Ref(ref=ref).ref == ref


def test_the_refusal_names_the_character_in_both_languages() -> None:
    with i18n.use("en"):
        said = guard.ref_text_problem("P\u200b-1")
    assert said is not None and "character 2 (U+200B) cannot be seen" in said
    with i18n.use("zh"):
        said = guard.ref_text_problem(" P-1")
    assert said == "编号首尾不得有空白字符"


@pytest.mark.slow(seconds=24)
def test_the_pattern_agrees_with_the_check_on_every_character() -> None:
    """Every code point (surrogates and what the front door refuses aside)
    alone, at the end of a ref and inside one: the document's pattern takes
    it exactly when the check does."""
    stated = guard.ref_text_pattern()
    assert _Ref.model_json_schema()["properties"]["ref"]["pattern"] == stated
    # `$` as ECMA-262 (JSON Schema) reads it: Python's also matches before a
    # final line feed.
    pattern = re.compile(stated.removesuffix("$") + r"\Z")
    for c in map(chr, range(0x110000)):
        if 0xD800 <= ord(c) <= 0xDFFF or guard.has_control_chars(c):
            continue
        for text in (c, "a" + c, "a" + c + "b"):
            ok = guard.ref_text_problem(text) is None
            assert bool(pattern.match(text)) == ok, (hex(ord(c)), text)


class _Project(BaseModel):
    ref: ProjectRef


def test_a_project_ref_takes_full_width_ascii_as_ascii_and_nothing_else() -> None:
    """The full-width ASCII forms and the ideographic space are what NFKC
    makes of them; other compatibility forms, case and other scripts stay
    as typed. A ref that is no ref in either form is refused as before."""
    wide = "".join(map(chr, range(0xFF01, 0xFF5F))) + "\u3000"
    assert guard.fold_width(wide) == unicodedata.normalize("NFKC", wide)
    assert guard.fold_width(wide) == "".join(map(chr, range(0x21, 0x7F))) + " "
    assert _Project(ref="Ｐ－９").ref == "P-9"
    assert _Project(ref="ｐ－９").ref == "p-9"
    assert _Project(ref="津环审〔２０２６〕１２号　Ａ").ref == "津环审〔2026〕12号 A"
    assert _Project(ref="①ﬁｶ").ref == "①ﬁｶ"
    assert _Ref(ref="Ｐ－９").ref == "Ｐ－９"  # a contract's ref: kept as typed
    with pytest.raises(ValidationError):
        _Project(ref="\u3000Ｐ－９")
