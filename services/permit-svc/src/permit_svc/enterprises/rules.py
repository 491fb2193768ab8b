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


def unknown_here_message() -> str:
    """Why an application names an enterprise not registered here (another
    district's is answered alike: a 403 would tell that it exists, and where)."""
    return msg(
        "no enterprise has this code here; register it first",
        "本系统没有该代码的企业，请先登记企业",
    )


def registration_management_message() -> str:
    """Why an enterprise of a registration-management industry applies for no permit."""
    return msg(
        "the enterprise's industry is under registration management (登记管理): "
        "file a registration, not a permit",
        "该企业所属行业实行登记管理：应填报排污登记，而非申请排污许可证",
    )


def holds_permit_message(permit_no: str) -> str:
    """Why an enterprise holding a permit in force files no registration: it
    is covered by a permit or by a registration, never by both."""
    return msg(
        f"holds permit {permit_no} in force: an enterprise is covered by a permit or "
        "by a registration, not both; cancel the permit (注销) before filing a registration",
        f"持有有效的排污许可证 {permit_no}：企业或持证或排污登记，不能两者兼有；"
        "请先注销该许可证再办理排污登记",
    )


def holds_registration_message(registration_no: str) -> str:
    """Why an enterprise with a registration in force applies for, is issued
    and imports no permit: it is covered by one or the other, never by both."""
    return msg(
        f"has registration {registration_no} in force: an enterprise is covered by a "
        "permit or by a registration, not both; cancel the registration (注销) before "
        "it takes a permit",
        f"已有有效的排污登记 {registration_no}：企业或持证或排污登记，不能两者兼有；"
        "请先注销该排污登记再申领许可证",
    )


#: What an enterprise is registered under and never changed in place: the
#: district (its permit or registration is the district's) and the industry
#: (which decides whether it needs a permit or a registration).
FIXED_FIELDS: tuple[str, ...] = ("district", "industry_code")


def fixed_field_message(field: str, registered: str | None = None) -> str:
    """Why `field` (one of FIXED_FIELDS) of a registered enterprise is not
    changed, by PATCH or by a bulk import row; `registered`, when known, is
    the value on the register. A move is a new registration."""
    en_at = f" (registered: {registered})" if registered else ""
    zh_at = f"（登记为 {registered}）" if registered else ""
    if field == "district":
        return msg(
            f"is not changed in place{en_at}: an enterprise's permit or registration "
            "belongs to its district; one that moves is registered anew there",
            f"不能直接修改{zh_at}：企业的排污许可证或排污登记属其所在区，迁往他区须在该区重新登记",
        )
    return msg(
        f"is not changed in place{en_at}: the industry decides whether the enterprise "
        "holds a permit or a registration; one that changes industry is registered anew",
        f"不能直接修改{zh_at}：所属行业决定企业申领排污许可证还是排污登记，变更行业须重新登记",
    )


@dataclass(frozen=True)
class IndustryClass:
    """One line of the classification table (固定污染源排污许可分类管理名录)."""

    code: str
    name: str
    category: Category
