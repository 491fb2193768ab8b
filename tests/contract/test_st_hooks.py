"""The schemathesis hooks (st_hooks.py) build each pattern's strategy once per
run: the class of a visible text takes seconds to build, and schemathesis
generates each batch of operations in new threads, where hypothesis's own
cache (one per thread) starts empty.

Run in a child process: the hooks replace `hypothesis.strategies.from_regex`
for the schemathesis process, and this test session keeps its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_CHILD = r"""
import re
import threading

from hypothesis import strategies as st
import hypothesis.strategies._internal.regex as regex_internals

import st_hooks

builds = []
_build = regex_internals.base_regex_strategy


def counted(*args, **kwargs):
    builds.append(1)
    return _build(*args, **kwargs)


regex_internals.base_regex_strategy = counted

# Any pattern: a visible text's (guard.visible_text_pattern) is the one that
# costs, and takes seconds.
pattern = re.compile(r"^[a-z\u4e00-\u9fff]+$")
built = []


def build(alphabet):
    # As schemathesis does, in a worker thread of its own.
    t = threading.Thread(target=lambda: built.append(st.from_regex(pattern, alphabet=alphabet)))
    t.start()
    t.join()
    return built[-1]


utf8 = build(st.characters(codec="utf-8"))
utf8.validate()
once = len(builds)
assert once == 1, f"built {once} times"
assert build(st.characters(codec="utf-8")) is utf8, "built again in another thread"
# Schemathesis filters what it gets: a filter draws from the built strategy.
build(st.characters(codec="utf-8")).filter(bool).validate()
assert len(builds) == once, f"the pattern was built {len(builds) - once} more times"
assert build(st.characters(codec="ascii")) is not utf8, "another alphabet, another strategy"
filtered = build(st.characters(codec="utf-8").filter(lambda c: c != "a"))
assert filtered is not utf8, "a filtered alphabet is not named by its repr"
assert build(st.characters(codec="utf-8").filter(lambda c: c != "b")) is not filtered
assert st.from_regex(pattern, fullmatch=True) is not st.from_regex(pattern)
value = utf8.example()
assert pattern.search(value), value
print("ok")
"""


def test_a_pattern_strategy_is_built_once_for_every_thread() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


_CLASS_CHILD = r"""
import re

from hypothesis import strategies as st
import hypothesis.strategies._internal.regex as regex_internals

import st_hooks

builders = []


class Counted(regex_internals.CharactersBuilder):
    def __init__(self, **kwargs):
        builders.append(1)
        super().__init__(**kwargs)


regex_internals.CharactersBuilder = Counted

# Two lengths of one field, as schemathesis's coverage phase writes them
# into the pattern: two patterns, one class.
short = re.compile(r"^[a-z\u4e00-\u9fff]{1,5}$")
longer = re.compile(r"^[a-z\u4e00-\u9fff]{1,9}$")
st.from_regex(short, fullmatch=True).validate()
assert len(builders) == 1, f"built {len(builders)} classes"
drawn = st.from_regex(longer, fullmatch=True)
drawn.validate()
assert len(builders) == 1, "the same class was built again for another pattern"
value = drawn.example()
assert longer.fullmatch(value), value
# Another class, or the same one read without regard to case, is another.
st.from_regex(re.compile(r"^[a-y\u4e00-\u9fff]{1,5}$"), fullmatch=True).validate()
assert len(builders) == 2, f"built {len(builders)} classes"
ignoring_case = re.compile(r"^[a-z\u4e00-\u9fff]{1,5}$", re.IGNORECASE)
st.from_regex(ignoring_case, fullmatch=True).validate()
assert len(builders) == 3, f"built {len(builders)} classes"
# Another alphabet: the class's characters within it.
ascii_only = st.from_regex(short, fullmatch=True, alphabet=st.characters(codec="ascii"))
ascii_only.validate()
assert len(builders) == 4, f"built {len(builders)} classes"
assert all(c.isascii() for c in ascii_only.example()), "drawn from the wider alphabet"
print("ok")
"""


def test_a_character_class_is_built_once_for_every_pattern_holding_it() -> None:
    """Schemathesis's coverage phase writes each field's length into its
    pattern: a visible text's classes (some 140,000 characters each) were
    built again for every length, most of the run's CPU."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", _CLASS_CHILD], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


_BULK_CHILD = r"""
import re

from hypothesis import strategies as st
import hypothesis.strategies._internal.regex as regex_internals
from svc_common import guard

import st_hooks

added = []
_add_char = regex_internals.CharactersBuilder.add_char


def counted(self, c):
    added.append(c)
    return _add_char(self, c)


regex_internals.CharactersBuilder.add_char = counted
plain = regex_internals.Context(flags=re.RegexFlag(0))


def members(pattern):
    (code, value), = regex_internals.sre_parse.parse(pattern)
    assert code == regex_internals.sre.IN, pattern
    return list(value)


# Literals, ranges overlapping, touching and out of order, astral ones,
# negated; within a wide alphabet, a narrow one, and one that leaves none.
classes = [
    r"[a-z]",
    r"[zq-tabc]",
    r"[a-fd-kl-m0é-ā一-丐]",
    r"[🌀-🌐　a]",
    r"[^a-z一-鿿]",
    r"[^!-~]",
    r"[-.:_]",
]
alphabets = [
    st.characters(codec="utf-8"),
    st.characters(codec="ascii"),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x4E05),
]
compared = refused = 0
for pattern in classes:
    for alphabet in alphabets:
        try:
            bulk = st_hooks._class_in_bulk(members(pattern), plain, alphabet)
        except regex_internals.IncompatibleWithAlphabet:
            bulk = None
        try:
            own = st_hooks._regex_element(
                (regex_internals.sre.IN, members(pattern)), plain, True, alphabet=alphabet
            )
        except regex_internals.IncompatibleWithAlphabet:
            own = None
        assert (bulk is None) == (own is None), (pattern, alphabet)
        if own is None:
            refused += 1
        else:
            assert bulk.intervals == own.intervals, (pattern, alphabet)
            compared += 1
assert compared >= 15 and refused >= 2, (compared, refused)

# The classes of the documents' patterns (a visible text's, a name's, a
# reference's) are taken range by range, and draw what they match.
added.clear()
for pattern in (
    guard.visible_text_pattern(1),
    guard.visible_text_pattern(1, name=True),
    guard.ref_text_pattern(),
):
    drawn = st.from_regex(re.compile(pattern), fullmatch=True)
    for _ in range(5):
        value = drawn.example()
        assert re.fullmatch(pattern, value), value
assert not added, f"{len(added)} characters added one by one"

# What the bulk build leaves to hypothesis's own: a class read without
# regard to case (each letter's other case is added), or with a category.
ignoring_case = regex_internals.Context(flags=re.IGNORECASE)
assert st_hooks._class_in_bulk(members("[a-z]"), ignoring_case, alphabets[0]) is None
assert st_hooks._class_in_bulk(members(r"[\w-]"), plain, alphabets[0]) is None
print("ok")
"""


def test_a_character_class_is_built_from_its_ranges_to_the_same_characters() -> None:
    """A visible text's classes hold some 140,000 characters in a few
    thousand ranges: hypothesis's builder takes them one by one, seconds a
    class in each schemathesis process; the hooks give it each range whole,
    and the class draws from the same characters."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", _BULK_CHILD], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
