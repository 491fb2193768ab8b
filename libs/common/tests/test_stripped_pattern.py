"""The OpenAPI pattern of a stripped text field says exactly what pydantic
accepts: the same characters are stripped (Unicode White_Space, as Rust's
`trim`), not Python's `\\s` (which adds U+001C–U+001F) nor ECMA-262's (which
adds U+FEFF). Otherwise a fuzzer finds a schema-valid value refused, or a
schema-invalid one accepted."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from svc_common.guard import has_control_chars
from svc_common.openapi import stripped_length_pattern


class _Reason(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=5)


def _accepted(text: str) -> bool:
    try:
        _Reason(reason=text)
    except ValidationError:
        return False
    return not has_control_chars(text)  # the front door refuses these in any text


@pytest.mark.parametrize("block", range(0, 0x3100, 0x400))
def test_the_pattern_accepts_what_pydantic_accepts(block: int) -> None:
    pattern = re.compile(stripped_length_pattern(1, 5))
    differ = []
    for cp in [*range(block, min(block + 0x400, 0x3100)), 0xFEFF]:
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        for text in (ch, ch + "a", "a" + ch, ch * 2 + "abcd", "ab" + ch + "cd"):
            if _accepted(text) != bool(pattern.search(text)):
                differ.append((hex(cp), text))
    assert differ == []
