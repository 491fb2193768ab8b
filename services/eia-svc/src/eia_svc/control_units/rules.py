"""Pure screening rule: is an industry banned in a control unit?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from svc_common.i18n import msg
from svc_common.industries import canonical_or_none

UnitKind = Literal["priority_protection", "key_control", "general_control"]
UNIT_KINDS: tuple[str, ...] = get_args(UnitKind)
KIND_NAMES_ZH = {
    "priority_protection": "优先保护单元",
    "key_control": "重点管控单元",
    "general_control": "一般管控单元",
}
KIND_NAMES = {
    "priority_protection": "priority protection unit (优先保护单元)",
    "key_control": "key control unit (重点管控单元)",
    "general_control": "general control unit (一般管控单元)",
}


@dataclass(frozen=True)
class ControlUnit:
    """An environmental control unit (环境管控单元) with its negative list (负面清单)."""

    code: str
    name: str
    district: str
    kind: str
    banned_industries: tuple[str, ...]
    rule: str


def banned_entry(unit: ControlUnit, industry_code: str) -> str | None:
    """The negative-list entry that bans `industry_code` in `unit`, if any.

    An entry is an industry code or a prefix of codes ("C26" bans all of
    chemical manufacturing), the way negative lists name sectors."""
    code = canonical_or_none(industry_code) or industry_code.strip().upper()
    for entry in unit.banned_industries:
        if code.startswith(entry.strip().upper()):
            return entry
    return None


def refusal_message(unit: ControlUnit, industry_code: str, entry: str) -> str:
    return msg(
        (
            f"industry {industry_code} is banned in control unit {unit.code} {unit.name} "
            f"({KIND_NAMES[unit.kind]}) by its negative-list entry {entry}: {unit.rule}"
        ),
        (
            f"行业 {industry_code} 在环境管控单元 {unit.code} {unit.name}"
            f"（{KIND_NAMES_ZH[unit.kind]}）"
            f"的负面清单 {entry} 中被禁止：{unit.rule}"
        ),
    )
