"""Pure rules of the pre-acceptance checks (许可申请受理前自动校验).

Each check is a named rule with a stable code, judged from facts the
service reads (`Facts`). The advisory checks (提示) never refuse an
application: it is accepted, and the officer sees what needs attention
before issuing. The refusal checks are what `POST /permit/permits` refuses
with an error; a dry run reports them as failed checks instead.

A result keeps its code, whether it passed, the request field it concerns
and the parameters of its message, never the text: the message is said in
the reader's language when it is read (`Check.message`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any, Literal

from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes

from permit_svc.enterprises.rules import (
    closed_message,
    holds_registration_message,
    registration_management_message,
    unknown_here_message,
)
from permit_svc.permits.rules import VOCS, quota_missing_kg

RefusalCode = Literal[
    "enterprise_unknown", "enterprise_closed", "registration_management", "holds_registration"
]
AdvisoryCode = Literal[
    "vocs_quota_backing",
    "permit_in_force",
    "pending_application",
    "open_rectification",
    "missed_execution_reports",
    "no_project_eia",
    "zero_amount",
]
CheckCode = Literal[RefusalCode, AdvisoryCode]

#: The refusals of an application, in the order `apply` raises them.
REFUSALS: tuple[RefusalCode, ...] = (
    "enterprise_unknown",
    "enterprise_closed",
    "registration_management",
    "holds_registration",
)
#: The advisory checks, in the order they are reported.
ADVISORY: tuple[AdvisoryCode, ...] = (
    "vocs_quota_backing",
    "permit_in_force",
    "pending_application",
    "open_rectification",
    "missed_execution_reports",
    "no_project_eia",
    "zero_amount",
)


@dataclass(frozen=True)
class Check:
    """One check's result: `params` are what its message says (JSON values)."""

    code: CheckCode
    passed: bool
    field: str | None = None
    params: dict[str, Any] = default(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        """As a permit keeps it (`permits.prechecks`)."""
        return {"code": self.code, "passed": self.passed, "field": self.field, **self.params}

    @classmethod
    def of_stored(cls, row: dict[str, Any]) -> Check:
        params = {k: v for k, v in row.items() if k not in ("code", "passed", "field")}
        return cls(row["code"], bool(row["passed"]), row.get("field"), params)

    def message(self) -> str:
        """What the check found, in the current request's language."""
        return _MESSAGES[self.code](self.passed, self.params)


@dataclass(frozen=True)
class Facts:
    """What the advisory checks judge an application by.

    `pollutants`: the application's amounts (pollutant, kg/a) in the order
    its request listed them; `in_force_vocs_kg`: the VOCs the enterprise's
    permits in force hold; `allocated_kg`/`drawn_kg`: the quota that would
    back it on issue (as `quota_backing.service.backing_kg` counts it,
    the project's unclaimed allocations included) and what its permits drew;
    `project_known`: an allocation of `project_ref` is known for it;
    `changes_permit_no`: the permit in force a change application (变更申请)
    is merged into when issued (its `pollutants` are then increments)."""

    pollutants: list[tuple[str, int]]
    project_ref: str | None
    in_force_permit_no: str | None = None
    in_force_vocs_kg: int = 0
    allocated_kg: int = 0
    drawn_kg: int = 0
    project_known: bool = False
    pending_ids: list[str] = default(default_factory=list)
    open_findings: int = 0
    earliest_deadline: dt.date | None = None
    missed_reports: int = 0
    changes_permit_no: str | None = None

    @property
    def vocs_kg(self) -> int:
        return sum(kg for p, kg in self.pollutants if p == VOCS)


def vocs_field(pollutants: list[tuple[str, int]]) -> str:
    for i, (p, _) in enumerate(pollutants):
        if p == VOCS:
            return f"pollutants.{i}.amount_t"
    return "pollutants"


def quota_backing(f: Facts) -> Check:
    """The VOCs applied for above what the permits in force hold (a change
    application's: all it carries, an increment) must be backed by quota
    allocated to the enterprise (issuing draws it, or 409)."""
    increase = f.vocs_kg if f.changes_permit_no else f.vocs_kg - f.in_force_vocs_kg
    missing = quota_missing_kg(increase, f.allocated_kg, f.drawn_kg)
    if not missing:
        return Check("vocs_quota_backing", True, vocs_field(f.pollutants))
    return Check(
        "vocs_quota_backing",
        False,
        vocs_field(f.pollutants),
        {
            "missing_t": str(kg_to_tonnes(missing)),
            "required_t": str(kg_to_tonnes(increase)),
            "available_t": str(kg_to_tonnes(max(0, f.allocated_kg - f.drawn_kg))),
        },
    )


def permit_in_force(f: Facts) -> Check:
    """One permit per enterprise: an application of an enterprise holding a
    permit in force passes only as a change application of it."""
    if f.changes_permit_no is not None:
        return Check("permit_in_force", True, None, {"changes_permit_no": f.changes_permit_no})
    if f.in_force_permit_no is None:
        return Check("permit_in_force", True)
    return Check("permit_in_force", False, None, {"permit_no": f.in_force_permit_no})


def pending_application(f: Facts) -> Check:
    if not f.pending_ids:
        return Check("pending_application", True)
    return Check(
        "pending_application",
        False,
        None,
        {"permit_id": f.pending_ids[0], "count": len(f.pending_ids)},
    )


def open_rectification(f: Facts) -> Check:
    if not f.open_findings:
        return Check("open_rectification", True)
    deadline = f.earliest_deadline.isoformat() if f.earliest_deadline else None
    return Check(
        "open_rectification",
        False,
        None,
        {"count": f.open_findings, "earliest_deadline": deadline},
    )


def missed_execution_reports(f: Facts) -> Check:
    if not f.missed_reports:
        return Check("missed_execution_reports", True)
    return Check("missed_execution_reports", False, None, {"count": f.missed_reports})


def no_project_eia(f: Facts) -> Check:
    """VOCs applied for needs an approved EIA (环评批复) of its project: a
    `project_ref` of which an allocation is known, or, with none, a permit
    in force the application expands. No VOCs applied for: nothing to say."""
    if f.vocs_kg <= 0:
        return Check("no_project_eia", True, "project_ref")
    if f.project_ref is not None:
        if f.project_known:
            return Check("no_project_eia", True, "project_ref")
        return Check("no_project_eia", False, "project_ref", {"project_ref": f.project_ref})
    if f.in_force_permit_no is not None:
        return Check("no_project_eia", True, "project_ref")
    return Check("no_project_eia", False, "project_ref", {"project_ref": None})


def zero_amount(f: Facts) -> Check:
    zeros = [(i, p) for i, (p, kg) in enumerate(f.pollutants) if kg == 0]
    if not zeros:
        return Check("zero_amount", True, "pollutants")
    return Check(
        "zero_amount",
        False,
        f"pollutants.{zeros[0][0]}.amount_t",
        {"pollutants": [p for _, p in zeros]},
    )


def advisory(f: Facts) -> list[Check]:
    """The advisory checks of an application, in the order of `ADVISORY`."""
    return [
        quota_backing(f),
        permit_in_force(f),
        pending_application(f),
        open_rectification(f),
        missed_execution_reports(f),
        no_project_eia(f),
        zero_amount(f),
    ]


def refusals(
    *, known: bool, closed: bool, needs_permit: bool, registration_no: str | None
) -> list[Check]:
    """The refusals `apply` would raise, each a check (all of them, passed or
    not; an unknown enterprise only that one: the others say nothing then)."""
    if not known:
        return [Check("enterprise_unknown", False, "uscc")]
    return [
        Check("enterprise_unknown", True, "uscc"),
        Check("enterprise_closed", not closed, "uscc"),
        Check("registration_management", needs_permit, "uscc"),
        Check(
            "holds_registration",
            registration_no is None,
            "uscc",
            {} if registration_no is None else {"registration_no": registration_no},
        ),
    ]


def attention(checks: list[Check]) -> int:
    """How many checks did not pass."""
    return sum(1 for c in checks if not c.passed)


# Messages: (passed, params) → the text in the current language.


def _unknown(passed: bool, _: dict[str, Any]) -> str:
    if passed:
        return msg("the enterprise is registered here", "企业已在本系统登记")
    return unknown_here_message()


def _closed(passed: bool, _: dict[str, Any]) -> str:
    if passed:
        return msg("the enterprise is not closed", "企业未关停")
    return closed_message()


def _registration_management(passed: bool, _: dict[str, Any]) -> str:
    if passed:
        return msg(
            "the enterprise's industry is under permit management",
            "企业所属行业实行排污许可管理",
        )
    return registration_management_message()


def _holds_registration(passed: bool, p: dict[str, Any]) -> str:
    if passed:
        return msg("the enterprise holds no registration in force", "企业没有有效的排污登记")
    return holds_registration_message(p["registration_no"])


def _quota(passed: bool, p: dict[str, Any]) -> str:
    if passed:
        return msg(
            "the VOCs applied for are backed by allocated quota",
            "申请的 VOCs 许可量已有已分配的总量指标支撑",
        )
    return msg(
        f"total-quantity control: {p['required_t']} t/a of VOCs above the permits in force "
        f"needs allocated quota; {p['missing_t']} t/a is missing (available "
        f"{p['available_t']} t/a): issuing is refused until it is allocated",
        f"总量控制：VOCs 超出现有许可量 {p['required_t']} 吨/年，需要已分配的总量指标，"
        f"尚缺 {p['missing_t']} 吨/年（可用 {p['available_t']} 吨/年）：指标到位前不能核发",
    )


def _in_force(passed: bool, p: dict[str, Any]) -> str:
    if passed and p.get("changes_permit_no"):
        no = p["changes_permit_no"]
        return msg(
            f"a change application: issuing it approves the change of permit {no} in force "
            "(核准变更), adding the amounts applied for to it",
            f"变更申请：核发即核准有效许可证 {no} 的变更，申请的许可量并入该许可证",
        )
    if passed:
        return msg("the enterprise holds no permit in force", "企业没有有效的排污许可证")
    return msg(
        f"the enterprise already holds permit {p['permit_no']} in force (one permit per "
        "enterprise, 一证式): an expansion is normally a change (变更) of that permit",
        f"企业已持有有效的排污许可证 {p['permit_no']}（一企一证）：扩建通常应变更该许可证",
    )


def _pending(passed: bool, p: dict[str, Any]) -> str:
    if passed:
        return msg(
            "the enterprise has no other application pending", "企业没有其他待处理的许可申请"
        )
    more_en = f" ({p['count']} in all)" if p.get("count", 1) > 1 else ""
    more_zh = f"（共 {p['count']} 件）" if p.get("count", 1) > 1 else ""
    return msg(
        f"another application of the enterprise, {p['permit_id']}, is still pending{more_en}",
        f"该企业另有许可申请 {p['permit_id']} 尚未办结{more_zh}",
    )


def _rectification(passed: bool, p: dict[str, Any]) -> str:
    if passed:
        return msg(
            "the enterprise's permits have no audit finding left to rectify",
            "企业的许可证没有待整改的审核问题",
        )
    deadline = p.get("earliest_deadline")
    return msg(
        f"the enterprise's permits have {p['count']} audit finding(s) not yet rectified"
        + (f", the earliest due by {deadline}" if deadline else ""),
        f"企业的许可证有 {p['count']} 个审核问题尚未整改"
        + (f"，最早整改期限 {deadline}" if deadline else ""),
    )


def _missed(passed: bool, p: dict[str, Any]) -> str:
    if passed:
        return msg(
            "the enterprise's permits have no overdue execution report",
            "企业的许可证没有逾期未报的执行报告",
        )
    return msg(
        f"the enterprise's permits have {p['count']} overdue execution report(s)",
        f"企业的许可证有 {p['count']} 份执行报告逾期未报",
    )


def _no_eia(passed: bool, p: dict[str, Any]) -> str:
    if passed:
        return msg(
            "the VOCs applied for have an approved project or a permit in force",
            "申请的 VOCs 许可量有对应的建设项目或有效许可证",
        )
    if p.get("project_ref") is not None:
        return msg(
            f"no quota allocation of project {p['project_ref']} is known: check its EIA "
            "approval (环评批复)",
            f"未见建设项目 {p['project_ref']} 的总量指标分配：请核实其环评批复",
        )
    return msg(
        "VOCs is applied for with no project while the enterprise holds no permit in "
        "force: a new source needs an EIA approval (环评批复); give its project_ref",
        "申请 VOCs 许可量但未填建设项目，且企业没有有效的许可证：新建污染源须有环评批复，"
        "请填写 project_ref",
    )


def _zero(passed: bool, p: dict[str, Any]) -> str:
    if passed:
        return msg("no pollutant is listed at 0 t", "没有许可量为 0 吨的污染物")
    names = p["pollutants"]
    return msg(
        f"{', '.join(names)} listed at 0 t/a: leave out what is not permitted",
        f"{'、'.join(names)} 的许可量为 0 吨/年：不许可的污染物无需列出",
    )


_MESSAGES = {
    "enterprise_unknown": _unknown,
    "enterprise_closed": _closed,
    "registration_management": _registration_management,
    "holds_registration": _holds_registration,
    "vocs_quota_backing": _quota,
    "permit_in_force": _in_force,
    "pending_application": _pending,
    "open_rectification": _rectification,
    "missed_execution_reports": _missed,
    "no_project_eia": _no_eia,
    "zero_amount": _zero,
}
