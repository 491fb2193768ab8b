"""Who may be named: the characters a name may not hold (`is_plain_name`),
those a reader cannot see (`is_hidden`), and the rules for a token's `sub`
(`name_ok`, `subject_ok`, `subject_problem`). Pure functions with no
framework import: the services (svc_common.auth, svc_common.guard) and
`bureau token` ask the same rules, and the CLI does not load FastAPI to
do so."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TypeGuard

#: What no text here may hold, as the inside of a character class: NUL
#: (PostgreSQL cannot store it); the other C0 controls but tab, line feed and
#: carriage return; DEL and the C1 controls; and the bidirectional
#: embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
#: make a name read as another in the registers people check. Visible text
#: never needs them. The OpenAPI documents say the same (openapi.PLAIN_TEXT).
REFUSED = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069"

#: A UTF-16 surrogate code point. In a text read from JSON it is one left
#: alone by a `\ud800` escape (an escaped pair reads as the one character
#: it encodes), which UTF-8 cannot encode: no database, file nor answer can
#: hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether a text holds a lone surrogate (`lone_surrogate_at`)."""
    return _SURROGATE.search(text) is not None


#: What a name may not hold besides REFUSED and lone surrogates: a name (who
#: acted, as a token's `sub` gives it to the audit trail and the logs) is one
#: line with no tab, and holds none of the implicit bidirectional marks
#: (U+061C, U+200E, U+200F), which, unseen like the overrides REFUSED holds,
#: make one name read as another.
_NOT_IN_NAME = re.compile(f"[{REFUSED}\t\n\r\u2028\u2029\u061c\u200e\u200f]")


def is_plain_name(text: str) -> bool:
    """Whether `text` may name someone: no character of REFUSED, no line
    break nor tab, no bidirectional mark, no lone surrogate."""
    return _NOT_IN_NAME.search(text) is None and not has_lone_surrogate(text)


#: The general categories of characters a reader cannot see: controls (Cc),
#: format characters (Cf: the zero-width space U+200B, the word joiner
#: U+2060, the byte-order mark U+FEFF, the direction marks…), surrogates
#: (Cs), private-use characters (Co, drawn as nothing or as anything) and
#: code points not assigned (Cn: unassigned ones, which a font draws as
#: nothing, and the noncharacters U+FDD0–U+FDEF, U+xFFFE, U+xFFFF), as the
#: `unicodedata` of this Python knows them.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
#: Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, which
#: `unicodedata` does not give): what a renderer shows as nothing unless it
#: can draw it otherwise. Most are format characters or unassigned (above);
#: these runs hold the rest, letters and marks by category: the combining
#: grapheme joiner U+034F, the Hangul fillers, the Khmer inherent vowels
#: U+17B4–U+17B5, the Mongolian and other variation selectors.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
#: Letters and symbols every font draws as blank space though they are not
#: spaces: the Hangul fillers and the blank braille pattern, the usual way
#: to send an "empty" name past a check of spaces; with DEFAULT_IGNORABLE,
#: every hidden character whose category is not one of HIDDEN_CATEGORIES.
BLANK_GLYPHS = frozenset(
    "\u2800" + "".join(chr(c) for a, b in DEFAULT_IGNORABLE for c in range(a, b + 1))
)


def is_hidden(c: str) -> bool:
    """Whether the character `c` is one a reader cannot see (HIDDEN_CATEGORIES,
    DEFAULT_IGNORABLE, BLANK_GLYPHS): the one definition, which a `sub`
    (svc_common.auth) is held to as well. Spaces are not hidden: they are
    seen as spaces."""
    return c in BLANK_GLYPHS or unicodedata.category(c) in HIDDEN_CATEGORIES


#: Where a text is most likely written, as runs of code points: printable
#: ASCII, the name dot U+00B7, CJK symbols and punctuation, the CJK Unified
#: Ideographs and the full-width forms. Nearly every name, address and
#: reason here is made of them alone (`first_hidden`).
_COMMON_RUNS = ((0x20, 0x7E), (0xB7, 0xB7), (0x3000, 0x303F), (0x4E00, 0x9FFF), (0xFF01, 0xFF5E))


@functools.cache
def _all_seen() -> re.Pattern[str]:
    """What matches a text made only of characters of _COMMON_RUNS that
    `is_hidden` lets be seen: built from `is_hidden` itself (once, on first
    use: some 21,000 characters, a few milliseconds), so it cannot say
    otherwise than the definition, whatever Unicode version this Python's
    `unicodedata` knows."""
    seen = [chr(c) for a, b in _COMMON_RUNS for c in range(a, b + 1) if not is_hidden(chr(c))]
    runs: list[str] = []
    for c in seen:
        if runs and ord(runs[-1][-1]) + 1 == ord(c):
            runs[-1] = runs[-1][0] + c
        else:
            runs.append(c)
    parts = "".join(re.escape(r[0]) + ("-" + re.escape(r[-1]) if len(r) > 1 else "") for r in runs)
    return re.compile(f"[{parts}]*")


def first_hidden(text: str) -> int | None:
    """Where the first character of `text` a reader cannot see (`is_hidden`)
    is, or None. A text of common characters alone (_COMMON_RUNS) is told
    by one regular-expression match, not a look at each character: the
    bulk imports check every name and address of their rows."""
    if _all_seen().fullmatch(text) is not None:
        return None
    return next((i for i, c in enumerate(text) if is_hidden(c)), None)


#: The longest `sub` a token may give: two of them and a comma fit where a
#: decision names both its officers (a lot's `confirmed_by`, 400).
MAX_SUB_LENGTH = 199
#: The name the services act under themselves (svc_common.audit.SYSTEM),
#: which four-eyes rules read as "no one" (a reclaim born of an event with
#: no actor may be decided by anyone): no token may give it.
SYSTEM_SUB = "system"
RESERVED_SUBS = frozenset({SYSTEM_SUB})


def name_ok(name: object) -> TypeGuard[str]:
    """Whether a text can be shown as someone's name: 1 to MAX_SUB_LENGTH
    characters, not all spaces, that `guard.is_plain_name` admits (no
    control character, line break, text-direction control nor lone
    surrogate), and not one of RESERVED_SUBS. A display name (the console's
    "李华", "Li Hua") is held to this; a `sub` to `subject_ok`."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_SUB_LENGTH
        and bool(name.strip())
        and name.strip().casefold() not in RESERVED_SUBS
        and is_plain_name(name)
    )


#: The scripts whose letters a `sub` may hold besides printable ASCII
#: (Chinese staff are named in Han characters: 张三, 李华), as the first
#: word(s) of a letter's Unicode name: Han, Hiragana, Katakana, Hangul,
#: Bopomofo. No other script: Cyrillic, Greek, Latin with diacritics or a
#: dotless ı each hold letters that read as ASCII ones ("сао.уе" for
#: cao.ye, "lı.hua" for li.hua), a second name for one person.
_NAME_SCRIPTS = (
    "CJK UNIFIED IDEOGRAPH",
    "CJK COMPATIBILITY IDEOGRAPH",
    "IDEOGRAPHIC ",
    "HIRAGANA ",
    "KATAKANA ",
    "KATAKANA-HIRAGANA ",
    "HANGUL ",
    "BOPOMOFO ",
)
#: The name dots (间隔号) written between the parts of a name in Han
#: letters (阿卜杜拉·买买提), U+00B7 or the katakana one U+30FB: only
#: between two such letters (between Latin ones "li·hua" reads as li.hua).
NAME_DOTS = "\u00b7\u30fb"


def _name_letter(c: str) -> bool:
    """Whether `c` is a letter of _NAME_SCRIPTS (not a blank Hangul filler)."""
    return (
        not c.isascii()
        and unicodedata.category(c).startswith("L")
        and unicodedata.name(c, "").startswith(_NAME_SCRIPTS)
        and not is_hidden(c)
    )


def subject_problem(sub: str) -> str | None:
    """Why `sub` is not in its one canonical form, in English (the CLI says
    it), or None when it is: the same person must not get in under a second
    spelling of their name that a four-eyes rule would read as another
    person's. A sub is printable ASCII with no space (letters, digits and
    the punctuation identity providers use: . _ - @ + ' …) and letters of
    Han, Hiragana, Katakana, Hangul or Bopomofo (with a name dot, NAME_DOTS,
    between two of them), in NFKC form; no combining mark, no digit but
    ASCII's, no letter of another script."""
    if unicodedata.normalize("NFKC", sub) != sub:
        return "it is not in NFKC form (full-width or compatibility characters)"
    if sub != sub.strip():
        return "it has spaces around it"
    for i, c in enumerate(sub):
        if "!" <= c <= "~" or _name_letter(c):
            continue
        if c in NAME_DOTS:
            if 0 < i < len(sub) - 1 and _name_letter(sub[i - 1]) and _name_letter(sub[i + 1]):
                continue
            return f"its name dot U+{ord(c):04X} is not between two Han, kana or Hangul letters"
        if unicodedata.category(c)[0] in "ZC" or is_hidden(c):
            return f"it holds an invisible or space character U+{ord(c):04X}"
        return (
            f"it holds U+{ord(c):04X}, neither printable ASCII nor a Han, kana, "
            "Hangul or Bopomofo letter"
        )
    return None


def subject_ok(sub: object) -> TypeGuard[str]:
    """Whether a token's `sub` can name a caller: a name `name_ok` admits,
    and canonical (`subject_problem`): printable ASCII with no space, and
    Han, kana, Hangul or Bopomofo letters, in NFKC form.
    It is who acts in the audit trail and the logs, and whom the four-eyes
    rules compare (`same_person`): a name that reads as another, or one no
    database, log or answer can hold, is no name. The services, the
    console's sign-in and `bureau token` all ask this."""
    return name_ok(sub) and subject_problem(sub) is None
