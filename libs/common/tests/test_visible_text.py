"""The one check of a free text that must say something (a reason, a
required note, a title, a name): guard.visible_text_problem, the type built
on it (types.VisibleText) and the pattern the documents state for it."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from svc_common import guard, i18n
from svc_common.types import NameText, VisibleText

SAYS_NOTHING = [
    pytest.param("\u200b", id="zero-width space"),
    pytest.param("\u200b\u2060", id="zero-width space and word joiner"),
    pytest.param("\ufeff", id="byte-order mark"),
    pytest.param("\u00a0", id="no-break space"),
    pytest.param("\u3000\u3000", id="ideographic spaces"),
    pytest.param(" \u00a0\u200b\u3000 ", id="spaces around a zero-width space"),
    pytest.param("\u00ad\u180e\u2063", id="soft hyphen, vowel separator, invisible separator"),
    pytest.param("\u3164", id="Hangul filler"),
    pytest.param("\u2800", id="blank braille pattern"),
    pytest.param("\u0301", id="a combining mark alone"),
    pytest.param("\ufe0f", id="a variation selector alone"),
    pytest.param("\U000e0041", id="a tag character"),
    pytest.param("\ue000", id="private use"),
    pytest.param("不予受理\u2060", id="ends with a word joiner"),
    pytest.param("\u200b不予受理", id="begins with a zero-width space"),
    # Code points no font draws: unassigned (Cn) or Default_Ignorable_Code_Point.
    pytest.param("\u2065", id="unassigned, default ignorable"),
    pytest.param("\U000e0002", id="an unassigned tag"),
    pytest.param("\ufff0", id="unassigned specials"),
    pytest.param("\U000e0080", id="unassigned past the tags"),
    pytest.param("\U000e01f0", id="unassigned past the variation selectors"),
    pytest.param("\ufdd0", id="a noncharacter"),
    pytest.param("\U0003fffe", id="a noncharacter of plane 3"),
    pytest.param("\U000a0000", id="unassigned plane 10"),
    pytest.param("a\u034f", id="ends with a combining grapheme joiner"),
    pytest.param("a\u17b4", id="ends with a Khmer inherent vowel"),
    pytest.param("a\u180f", id="ends with a Mongolian variation selector"),
]

SAYS_SOMETHING = [
    pytest.param("不予受理", id="Chinese"),
    pytest.param("材料不全，请补正后重新提交。", id="Chinese with punctuation"),
    pytest.param("closure of the site", id="English"),
    pytest.param(" 企业关停 ", id="spaces around it"),
    pytest.param("不予\u200b受理", id="a zero-width space inside"),
    pytest.param("第一行\n第二行", id="two lines"),
    pytest.param("cafe\u0301", id="a combining mark after its letter"),
    pytest.param("\u2764\ufe0f 谢谢", id="an emoji with its variation selector inside"),
    pytest.param("\U00020000\U00030000", id="CJK of planes 2 and 3"),
    pytest.param("x", id="one character"),
]


#: Free texts that end in a character drawn as part of the one before it
#: (GLYPH_TAILS): accepted in a reason or a note, refused in a name.
ENDS_IN_A_GLYPH_TAIL = [
    pytest.param("谢谢\u2764\ufe0f", id="ends with an emoji's variation selector"),
    pytest.param("已整改\u2714\ufe0f", id="a check mark emoji at the end"),
    pytest.param("a\ufe0f", id="ends with a variation selector"),
    pytest.param("a\U000e0100", id="ends with a supplementary variation selector"),
    pytest.param(
        "来自\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
        id="ends with a flag's tag sequence",
    ),
]


@pytest.mark.parametrize("text", ENDS_IN_A_GLYPH_TAIL)
def test_a_free_text_may_end_in_a_glyph_tail_and_a_name_not(text: str) -> None:
    """A reason "谢谢❤️" ends with U+FE0F, which a reader does not see alone: it was
    refused as a text ending with an invisible character."""
    assert guard.visible_text_problem(text) is None
    assert guard.visible_text_problem(text, name=True) is not None
    free = re.compile(guard.visible_text_pattern(1))
    named = re.compile(guard.visible_text_pattern(1, name=True))
    assert free.match(text) and not named.match(text)


@pytest.mark.parametrize("text", SAYS_NOTHING)
def test_a_text_of_nothing_visible_is_refused(text: str) -> None:
    assert guard.visible_text_problem(text) is not None
    assert guard.visible_text_problem(text, name=True) is not None


@pytest.mark.parametrize("text", SAYS_SOMETHING)
def test_a_text_that_shows_something_is_accepted(text: str) -> None:
    assert guard.visible_text_problem(text) is None


def test_a_name_holds_no_hidden_character_anywhere() -> None:
    assert guard.visible_text_problem("李 华", name=True) is None
    assert guard.visible_text_problem(" ZHANG Wei ", name=True) is None
    for name in ("li\u200bhua", "zhang\u202fwei\u2063", "张\t三", "张\u3164三", "张\u2065三"):
        assert guard.visible_text_problem(name, name=True) is not None, name


def test_the_refusal_speaks_both_languages() -> None:
    with i18n.use("en"):
        assert "visible" in (guard.visible_text_problem("\u200b") or "")
        assert "invisible" in (guard.visible_text_problem("a\u200bb", name=True) or "")
    with i18n.use("zh"):
        assert "不可见字符" in (guard.visible_text_problem("\u200b") or "")
        assert "不可见字符" in (guard.visible_text_problem("a\u200bb", name=True) or "")


HIDDEN_INSIDE_A_NAME = [
    pytest.param("天津\u200b化工", id="zero-width space"),
    pytest.param("天津\u200c化工", id="zero-width non-joiner"),
    pytest.param("天津\u200d化工", id="zero-width joiner in Chinese"),
    pytest.param("天津\u2060化工", id="word joiner"),
    pytest.param("天津\ufeff化工", id="byte-order mark"),
    pytest.param("天津\u00ad化工", id="soft hyphen"),
    pytest.param("天津\u200f化工", id="right-to-left mark"),
    pytest.param("天津\ufe0f化工", id="variation selector"),
    pytest.param("绿色\U0001f468\u200d\U0001f469\u200d\U0001f467科技", id="emoji ZWJ sequence"),
]


class _Named(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    name: Annotated[str, NameText(20)]
    reason: Annotated[str, VisibleText(40)] = "ok"


@pytest.mark.parametrize("text", HIDDEN_INSIDE_A_NAME)
def test_a_name_refuses_a_hidden_character_inside_naming_it(text: str) -> None:
    """Free text may hold them (an emoji sequence in a reason is fine); a
    name may not: it would look like the name without it."""
    assert guard.visible_text_problem(text) is None
    assert _Named(name="天津化工", reason=text).reason == text
    with pytest.raises(ValidationError) as refused:
        _Named(name=text)
    (error,) = refused.value.errors()
    assert error["loc"] == ("name",)
    at = guard.hidden_in_name(text)
    assert at is not None and f"U+{ord(text[at]):04X}" in error["msg"]
    assert not re.match(guard.visible_text_pattern(1, 20, name=True, stripped=True), text)


def test_a_name_type_is_a_visible_text_of_names() -> None:
    assert _Named(name=" 天津\U0001f331化工 ").name == "天津\U0001f331化工"  # one-character emoji
    assert _Named(name="Zhang San").name == "Zhang San"
    assert isinstance(NameText(20), VisibleText) and NameText(20).name
    schema = _Named.model_json_schema()["properties"]["name"]
    assert schema["pattern"] == guard.visible_text_pattern(1, name=True)
    assert "zero-width" in schema["description"]
    with i18n.use("zh"):
        problem = guard.visible_text_problem("天津\u200b化工", name=True) or ""
    assert (
        problem.startswith("名称或姓名中不得含有不可见字符") and "第 3 个字符（U+200B）" in problem
    )


class _Stripped(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    reason: Annotated[str, VisibleText(20)]
    note: Annotated[str, VisibleText(20)] | None = None


class _Kept(BaseModel):
    reason: Annotated[str, VisibleText(20)]
    note: Annotated[str, VisibleText(20, min_length=0)] | None = None


@pytest.mark.parametrize("model", [_Stripped, _Kept])
@pytest.mark.parametrize("text", SAYS_NOTHING)
def test_the_type_refuses_naming_the_field(model: type[BaseModel], text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({"reason": text})
    assert [e["loc"] for e in refused.value.errors()] == [("reason",)]
    if model is _Kept and not text.strip(guard.WHITE_SPACE):
        # Blank, where an empty note is allowed and spaces are kept: taken as before.
        assert model.model_validate({"reason": "ok", "note": text}).note == text  # type: ignore[attr-defined]
        return
    with pytest.raises(ValidationError) as refused:
        model.model_validate({"reason": "ok", "note": text})
    assert [e["loc"] for e in refused.value.errors()] == [("note",)]


def test_the_type_keeps_the_value_as_its_model_does() -> None:
    # A model that strips keeps stripping; one that keeps spaces keeps them.
    assert _Stripped(reason=" 企业关停 ").reason == "企业关停"
    assert _Kept(reason=" 企业关停 ").reason == " 企业关停 "
    assert _Kept(reason="ok", note="").note == ""  # an empty note stays allowed
    assert _Kept(reason="ok", note="  ").note == "  "  # so does a blank one, kept as sent
    with pytest.raises(ValidationError):
        _Kept(reason="   ")  # but a required text that is blank says nothing
    assert _Stripped(reason="ok").note is None
    with pytest.raises(ValidationError):
        _Stripped(reason="x" * 21)


def test_the_pattern_says_what_the_check_says() -> None:
    """The document's pattern refuses and accepts the same texts, in a
    model that keeps spaces (length left to maxLength) and, bounded, in
    one that strips them."""
    kept = re.compile(guard.visible_text_pattern(1))
    stripped = re.compile(guard.visible_text_pattern(1, 20, stripped=True))
    name = re.compile(guard.visible_text_pattern(1, 20, name=True, stripped=True))
    for param in SAYS_NOTHING:
        text = param.values[0]
        assert not kept.match(text) and not stripped.match(text), repr(text)
    for param in SAYS_SOMETHING:
        text = param.values[0]
        assert kept.match(text) and stripped.match(text), repr(text)
    assert name.match("李 华") and not name.match("li\u200bhua")
    assert stripped.match(" " + "x" * 20 + "\u3000") and not stripped.match("x" * 21)
    assert re.compile(guard.visible_text_pattern(0, 20, stripped=True)).match("  ")
    schema = _Kept.model_json_schema()["properties"]["reason"]
    assert schema["pattern"] == kept.pattern and schema["maxLength"] == 20
    assert "visible" in schema["description"]


@pytest.mark.slow(seconds=16)
def test_the_pattern_agrees_with_the_check_on_every_character() -> None:
    """Every code point (surrogates aside: no text holds one) as a text of
    its own, at the end of a text and inside a name: the pattern takes it
    exactly when the check does, unassigned ones and default-ignorable ones
    included (the pattern lists the characters taken, from the same
    unicodedata)."""
    kept = re.compile(guard.visible_text_pattern(1))
    name = re.compile(guard.visible_text_pattern(1, name=True))
    for c in map(chr, range(0x110000)):
        if 0xD800 <= ord(c) <= 0xDFFF or guard.has_control_chars(c):
            continue  # the front door refuses these before any check
        for text, pattern, is_name in (
            (c, kept, False),
            ("a" + c, kept, False),
            ("a" + c + "b", name, True),
        ):
            ok = guard.visible_text_problem(text, name=is_name) is None
            assert bool(pattern.match(text)) == ok, (hex(ord(c)), text)


def test_the_classes_are_read_from_the_stored_runs_when_they_are_this_pythons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The patterns' classes cost a pass over every code point (over a second
    in each service's start): they are read from svc_common.shown_runs_data
    when it was written from this Python's unicodedata and today's
    definitions, and are the same as found again; under another fingerprint
    they are found again."""
    from svc_common import shown_runs_data as stored

    found = guard.find_shown_runs()
    if unicodedata.unidata_version == stored.UNIDATA_VERSION:
        assert guard._shown_fingerprint() == stored.FINGERPRINT, (
            "the definitions of hidden, space or glyph tail changed: "
            "`.venv/bin/python -m svc_common.guard` writes the runs again"
        )
        assert guard.shown_runs() == found, "`.venv/bin/python -m svc_common.guard`"

        def not_again() -> None:
            raise AssertionError("found again")

        monkeypatch.setattr(guard, "find_shown_runs", not_again)
        assert guard.shown_runs() == found
        monkeypatch.undo()
    monkeypatch.setattr(stored, "FINGERPRINT", "another Python's")
    monkeypatch.setattr(stored, "RUNS", {"first": "21-7e"})
    assert guard.shown_runs() == found
