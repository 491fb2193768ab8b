"""Pure rules about enterprises: the management category of an industry.
The unified social credit code (统一社会信用代码) is checked by svc_common.uscc."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from svc_common.i18n import msg
from svc_common.uscc import make_uscc

Category = Literal["key", "simplified", "registration"]
CATEGORIES: tuple[Category, ...] = ("key", "simplified", "registration")
#: Categories whose sources need a permit certificate (持证管理).
PERMIT_CATEGORIES: frozenset[str] = frozenset({"key", "simplified"})

OperatingStatus = Literal["operating", "suspended", "closed"]
CATEGORY_ZH = {"key": "重点管理", "simplified": "简化管理", "registration": "登记管理"}


def random_uscc(rng: random.Random, district: str = "120115") -> str:
    return make_uscc(district, rng.randrange(31**9))


def needs_permit(category: str) -> bool:
    return category in PERMIT_CATEGORIES


def closed_message() -> str:
    """Why a closed enterprise (关停) gets no registration or permit: it is no
    longer a fixed source, and the reports no longer count it."""
    return msg(
        "the enterprise is closed (operating status closed): a closed source takes "
        "no registration or permit; reopen it first if it operates again",
        "该企业已关停（经营状态为 closed）：关停企业不能排污登记或申领许可证；"
        "如恢复生产，请先将其经营状态改为生产",
    )


@dataclass(frozen=True)
class IndustryClass:
    """One line of the classification table (固定污染源排污许可分类管理名录)."""

    code: str
    name: str
    category: Category
