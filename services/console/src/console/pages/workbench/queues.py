"""The officer's queues, from the services' answers (pure functions)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from svc_common.auth import SYSTEM_SUB
from svc_common.events.schemas.permit import CANCEL_REASON_WORDS
from svc_common.guard import visible_text_problem
from svc_common.i18n import msg
from svc_common.types import utcnow

from console.web import days_until, in_beijing, parse_time, today_beijing

UNDECIDED = ("submitted", "accepted", "evaluated", "reviewed")
#: What an officer does next to a filing, by the action's API name.
OFFICER_ACTIONS = ("accept", "evaluation-done", "review-done", "approve", "reject", "quota-retry")
#: Accepting a filing that claims to be a major project decides the claim:
#: the workbench offers it as two actions, each eia-svc's `accept` with
#: `green_channel` (true: claim confirmed, 绿色通道; false: 按常规程序受理).
ACCEPT_DECISIONS = {"accept-green": True, "accept-normal": False}
#: The kinds of major project (重大项目) a filing may claim.
MAJOR_KINDS = {
    "infrastructure": msg("major infrastructure", "重大基础设施"),
    "livelihood": msg("livelihood project", "民生工程"),
    "industrial_layout": msg("major industrial layout", "重大产业布局"),
}
#: A permit in force (permit-svc's `IN_FORCE`): a suspended permit still
#: holds its amounts, and a change or a renewal leaves a permit `issued`.
PERMITS_IN_FORCE = ("issued", "suspended")
RETRYABLE_QUOTA = ("blocked", "lapsed", "lapsed_short")
#: The quota state of an approved filing whose hold lapsed before the
#: allocation and whose district was short: the officer of the district
#: re-drives it (重新申请总量) once quota is reclaimed, as eia-svc allows.
LAPSED_SHORT = "lapsed_short"
#: A quota request quota-svc has left unanswered this long is stuck (the
#: QuotaSagaStuck alert's threshold): the officer may ask again, as eia-svc
#: allows for a pending filing and tells an officer who tries to approve it.
QUOTA_STUCK_AFTER = dt.timedelta(minutes=5)


def quota_stuck(filing: Mapping[str, Any]) -> bool:
    """Whether quota-svc has left the filing's request unanswered for longer
    than `QUOTA_STUCK_AFTER` since it was last asked."""
    if filing.get("quota_status") != "pending":
        return False
    asked = parse_time(filing.get("quota_asked_at"))
    return asked is not None and utcnow() - asked > QUOTA_STUCK_AFTER


#: The most characters an action's reason (or note) may have: the maximum of
#: the service field it goes to (eia-svc's decisions and revocation, quota-
#: svc's rejection, permit-svc's rectification note; their `VisibleText`,
#: which the console's tests hold these to: the console reads the services
#: only through their APIs, not their code).
REASON_MAX = {
    "filing": 2000,
    "check-revoke": 2000,
    "reclaim-reject": 1000,
    "finding-rectify": 1000,
    "permit-reject": 500,
}


def reason_problem(op: str, reason: str, *, required: bool) -> str | None:
    """Why the services would refuse an action's reason, said on its form
    before it is sent (a 422 from them said it with their field's name): one
    left blank where required, one no reader can see (zero-width spaces…,
    `visible_text_problem`, the services' own check), or one longer than its
    field's maximum. Spaces around it are not counted (the console and the
    services strip them)."""
    return text_problem(
        reason, required=required, most=REASON_MAX.get(op, min(REASON_MAX.values()))
    )


#: A form's reason: what `text_problem` calls it, and asks for when blank.
REASON_WORDS = (("reason", "原因"), ("give a reason", "请填写原因"))


def text_problem(
    text: str,
    *,
    required: bool,
    most: int,
    words: tuple[tuple[str, str], tuple[str, str]] = REASON_WORDS,
) -> str | None:
    """`reason_problem` for any text of an action's form (a reason, an
    officer's name, a reply): `words` names it, and asks for it when blank."""
    (en, zh), ask = words
    text = text.strip()
    if not text:
        return msg(*ask) if required else None
    if problem := visible_text_problem(text):
        return msg(f"{en}: ", f"{zh}：") + problem
    if len(text) > most:
        return msg(
            f"the {en} is {len(text)} characters long: at most {most} are allowed",
            f"{zh}共 {len(text)} 个字符，最多 {most} 个",
        )
    return None


def api_action(action: str) -> str:
    """eia-svc's action for a workbench action (both accept decisions are
    `accept`)."""
    return "accept" if action in ACCEPT_DECISIONS else action


def action_label(action: str) -> str:
    return {
        "accept": msg("Accept", "受理"),
        "accept-green": msg(
            "Accept, major project confirmed (green channel)", "受理并确认重大项目（绿色通道）"
        ),
        "accept-normal": msg("Accept under the normal procedure", "按常规程序受理"),
        "evaluation-done": msg("Evaluation done", "技术评估完成"),
        "review-done": msg("Review done", "审查完成"),
        "approve": msg("Approve", "批准"),
        "reject": msg("Reject", "不予批准"),
        "quota-retry": msg("Retry quota", "重新申请总量"),
    }.get(action, action)


#: Why a permit was cancelled (注销), by permit-svc's `reason` (and a
#: reclaim candidate's, quota-svc's code of it): only a closure is 企业关停.
CANCEL_REASONS = CANCEL_REASON_WORDS


def cancel_reason_label(reason: str | None) -> str:
    """A permit's cancellation reason in words (the code itself if unknown,
    rather than a reason it was not)."""
    words = CANCEL_REASONS.get(str(reason or ""))
    return msg(*words) if words else str(reason or "")


def reclaim_source_label(reclaim: Mapping[str, Any]) -> str:
    """Where a reclaim candidate comes from, in words: a cancelled permit by
    its reason (关停 only for a closure: a permit revoked and then cancelled
    for another reason is no closure), else `status_label` of its source.
    The reason is quota-svc's code (`reason`), never read from the note:
    `unknown` (a candidate from before the code was kept whose note named
    none) or a code the console does not know says the source alone."""
    source = str(reclaim.get("source") or "")
    reason = str(reclaim.get("reason") or "")
    if source != "permit_cancelled" or reason not in CANCEL_REASONS:
        return status_label(source)
    return msg("permit cancelled (", "许可证注销（") + cancel_reason_label(reason) + msg(")", "）")


#: Where a reclaim candidate's quota comes from (quota-svc's `source`), in
#: words: the workbench's queue and the public register's references both.
RECLAIM_SOURCES = {
    "permit_cancelled": ("permit cancelled", "许可证注销"),
    "permit_changed": ("permit reduced", "许可量核减"),
    "manual": ("entered by hand", "人工录入"),
    "reduction": ("verified reduction (deep treatment)", "深度治理减排"),
}


def status_label(status: str) -> str:
    return {
        "submitted": msg("submitted", "已提交待受理"),
        "accepted": msg("accepted", "已受理"),
        "evaluated": msg("evaluated", "已评估"),
        "reviewed": msg("reviewed", "已审查"),
        "approved": msg("approved", "已批准"),
        "rejected": msg("rejected", "不予批准"),
        "withdrawn": msg("withdrawn", "已撤回"),
        "filed": msg("filed", "已备案"),
        "revoked": msg("revoked", "已撤销"),
        "issued": msg("issued", "已核发"),
        "changed": msg("changed", "已变更"),
        "renewed": msg("renewed", "已延续"),
        "suspended": msg("suspended", "已暂停"),
        "cancelled": msg("cancelled", "已注销"),
        "expired": msg("expired", "已过期"),
        "applied": msg("applied", "申请中"),
        "merged": msg("merged into a change", "已并入变更"),
        "pending": msg("pending", "待确认"),
        "confirmed": msg("confirmed", "已确认"),
        "secured": msg("quota secured", "总量已落实"),
        "blocked": msg("quota short", "总量不足"),
        "lapsed": msg("hold lapsed", "预留已过期"),
        "lapsed_short": msg(
            "approved, hold lapsed and quota short", "已批准，预留过期且总量不足，尚未分配"
        ),
        "not_required": msg("no quota needed", "无需总量"),
        "not_requested": msg("not requested yet", "尚未申请"),
        "requested": msg("requested", "申请中"),
        "allocated": msg("allocated", "已分配"),
        "released": msg("released", "已释放"),
        "open": msg("open", "待整改"),
        "rectified": msg("rectified", "已整改"),
        # Any reason: a candidate's own reason is `reclaim_source_label`'s.
        **{source: msg(*words) for source, words in RECLAIM_SOURCES.items()},
    }.get(status, status)


def quota_label(status: str) -> str:
    """A filing's quota state: `pending` there is quota-svc not having
    answered yet (总量确认中), not a reclaim waiting for a second officer."""
    if status == "pending":
        return msg("quota being confirmed", "总量确认中")
    return status_label(status)


def filing_quota_label(filing: Mapping[str, Any]) -> str:
    """`quota_label`, and a request left unanswered too long said so: the
    officer may ask again (重新申请总量) rather than wait without end."""
    if quota_stuck(filing):
        return msg(
            "quota unanswered for over 5 minutes; you may retry",
            "总量确认超时（逾 5 分钟未答复），可重新申请",
        )
    return quota_label(str(filing.get("quota_status") or ""))


def entered_by(sub: str | None, names: Mapping[str, str] | None = None) -> str:
    """Who entered a record: the services' own actions are 系统; a person by
    the name the console knows them by (`names`, login id → name), else by
    their login id."""
    if sub in (None, "", SYSTEM_SUB):
        return msg("system", "系统")
    return (names or {}).get(str(sub)) or str(sub)


def outcome(op: str, action: str, result: Any) -> str | None:
    """What an action's answer says of its object, in the action's words. A
    quota retry is answered with where the quota stands (it may still be
    short, and by how much), not with the filing's unchanged status."""
    if not isinstance(result, dict):
        return None
    if op == "parked-redrive":
        return redrive_outcome(result)
    if op in APPLICATION_OPS:
        return application_said(result)
    if action == "quota-retry":
        said = quota_label(str(result.get("quota_status") or ""))
        short = result.get("quota_shortfall_t")
        if result.get("quota_status") in ("blocked", LAPSED_SHORT) and short:
            said += msg(f" (short by {short} t)", f"（缺口 {short} 吨）")
        return said
    status = result.get("status")
    return result_label(op, str(status)) if status else None


def stale(problem: Mapping[str, Any], action: str, op: str = "filing") -> bool:
    """Whether a service refused an action because its object is no longer
    where the page showed it (someone acted on it since the page was drawn):
    the service's illegal transition for that action (a filing, a reclaim
    candidate, a registration form's post-hoc check, an audit finding, a
    permit); for a renewal, permit-svc's
    "not yet" too (暂不能延续：延续申请自…起可办理), which a permit the page
    listed as expiring gives only once someone has renewed it."""
    kind = str(problem.get("type") or "")
    if kind.endswith(":illegal-transition") and problem.get("action") in (None, action):
        return True
    return op == "permit-renew" and kind.endswith(":conflict") and "valid_to" in problem


#: What each queue's stale refusal calls its object (该文件已由其他人办理).
STALE_NOUNS = {
    "filing": ("this filing", "该文件"),
    "reclaim": ("this reclaim candidate", "该收回候选"),
    "check": ("this registration form filing", "该登记表备案"),
    "permit": ("this permit", "该许可证"),
    "application": ("this permit application", "该许可申请"),
    "finding": ("this audit finding", "该审核问题"),
    "complaint": ("this complaint", "该投诉"),
    "case": ("this case", "该案件"),
    "demand": ("this demand item", "该诉求事项"),
}


def stale_said(state: str, *, redrawn: bool, queue: str = "filing") -> str:
    """A stale action said plainly: handled by someone else, where its object
    stands now (`state`, in words, never a code); the row or the page shows it
    already when `redrawn`, else the page is to be reloaded."""
    en_noun, zh_noun = STALE_NOUNS.get(queue, STALE_NOUNS["filing"])
    if redrawn and state:
        return msg(
            f"Someone else has already handled {en_noun} (now: {state}); it is shown as it is now.",
            f"{zh_noun}已由其他人办理（当前：{state}），已按最新状态显示。",
        )
    if state:
        return msg(
            f"Someone else has already handled {en_noun} (now: {state}); "
            "reload the page to see it.",
            f"{zh_noun}已由其他人办理（当前：{state}），请刷新后查看。",
        )
    return msg(
        f"Someone else has already handled {en_noun}; reload the page to see it.",
        f"{zh_noun}已由其他人办理，请刷新后查看。",
    )


#: Where a registration form filing's post-hoc check stands (eia-svc's
#: `review_status`), and the filing itself once revoked.
CHECK_STATES = {
    "pending": ("sampled, being checked", "已抽中，事后抽查中"),
    "cleared": ("checked and found true", "抽查属实，已通过"),
    "revoked": ("found false, filing revoked", "抽查不实，已撤销备案"),
    "not sampled": ("not sampled", "未抽中"),
}


def check_label(state: str) -> str:
    words = CHECK_STATES.get(state)
    return msg(*words) if words else status_label(state)


def result_label(op: str, status: str) -> str:
    """The state an action left its object in, in the action's own words: a
    rejected reclaim is 已驳回 (不予批准 is the EIA decision), a renewed permit
    已延续 (its status stays issued)."""
    if op == "permit-renew":
        return msg("renewed", "已延续")
    if op.startswith("reclaim") and status == "rejected":
        return msg("rejected", "已驳回")
    return status_label(status)


def channel_label(channel: str) -> str:
    return {
        "normal": msg("normal", "常规"),
        "green": msg("green channel", "绿色通道"),
        "bundled": msg("bundled EIA", "多评合一"),
    }.get(channel, channel)


def green_channel_label(filing: Mapping[str, Any]) -> str | None:
    """What the filing's claim to be a major project stands at: asked for
    (the officer decides it on accepting the filing), confirmed, or not
    confirmed (accepted under the normal procedure); None without a claim."""
    kind = MAJOR_KINDS.get(str(filing.get("major_kind")), str(filing.get("major_kind") or ""))
    return {
        "requested": msg(
            f"claims a major project ({kind}), asks for the green channel: "
            "confirm or decline on accepting",
            f"申报重大项目（{kind}），申请绿色通道：受理时确认或按常规程序办理",
        ),
        "confirmed": msg(f"major project confirmed ({kind})", f"已确认重大项目（{kind}）"),
        "declined": msg(
            f"claimed a major project ({kind}), not confirmed: normal procedure",
            f"申报重大项目（{kind}）未予确认，按常规程序办理",
        ),
    }.get(str(filing.get("green_channel")))


def next_actions(filing: Mapping[str, Any]) -> list[str]:
    # eia-svc lists quota-retry wherever it is allowed (a request just sent
    # too); the workbench offers it as below, once, where it needs doing.
    acts = [
        a for a in filing.get("allowed_actions", []) if a in OFFICER_ACTIONS and a != "quota-retry"
    ]
    if "accept" in acts and filing.get("green_channel") == "requested":
        # The officer decides the major-project claim on accepting it.
        at = acts.index("accept")
        acts[at : at + 1] = list(ACCEPT_DECISIONS)
    if filing.get("status") == "approved":
        # Decided: only a quota that lapsed short is re-driven (eia-svc
        # refuses a retry in any other approved state).
        # (An approved filing is pending only while such a re-drive waits.)
        if filing.get("quota_status") == LAPSED_SHORT or quota_stuck(filing):
            acts.append("quota-retry")
        return acts
    if filing.get("quota_status") in RETRYABLE_QUOTA or quota_stuck(filing):
        acts.append("quota-retry")
    return acts


def quota_blocked(
    undecided: Iterable[Mapping[str, Any]], lapsed_short: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The workbench's "blocked for lack of quota" list: undecided filings
    blocked or lapsed, then approved filings whose quota lapsed short (not
    in the undecided queue, yet the officer must re-drive them), each once."""
    out = [dict(f) for f in undecided if f.get("quota_status") in RETRYABLE_QUOTA]
    seen = {f.get("id") for f in out}
    for f in lapsed_short:
        if f.get("quota_status") == LAPSED_SHORT and f.get("id") not in seen:
            seen.add(f.get("id"))
            out.append(dict(f))
    return out


def by_deadline(filings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Filings asking for the green channel, not yet accepted, first (即到即
    受理: accepted on arrival, their claim decided), oldest first; then the
    soonest statutory deadline first (限时办结); filings with no clock yet
    (not accepted) after them, oldest first."""

    def key(f: Mapping[str, Any]) -> tuple[int, int, str]:
        n = days_until(f.get("due_on") or f.get("due_at"))
        rank = 0 if f.get("green_channel") == "requested" else 1 if n is not None else 2
        return (rank, n if n is not None else 0, str(f.get("created_at")))

    return [dict(f) for f in sorted(filings, key=key)]


@dataclass
class Finding:
    audit_id: str
    permit_id: str
    uscc: str
    district: str
    finding: dict[str, Any]

    @property
    def days_left(self) -> int | None:
        return days_until(self.finding.get("rectification_deadline"))


def open_findings(audits: Sequence[Mapping[str, Any]], within_days: int = 30) -> list[Finding]:
    """Findings still open whose rectification deadline is past or within
    `within_days`, the most urgent first."""
    out = []
    for a in audits:
        for f in a.get("findings", []):
            if f.get("status") != "open":
                continue
            item = Finding(a["id"], a["permit_id"], a["uscc"], a["district"], dict(f))
            n = item.days_left
            if n is not None and n <= within_days:
                out.append(item)
    out.sort(key=lambda x: (x.days_left or 0, x.audit_id))
    return out


def days_waiting(received_at: Any) -> int | None:
    """Whole Beijing calendar days since a parked filing arrived, or a permit
    application was made (0: today)."""
    t = parse_time(received_at)
    if t is None:
        return None
    return (today_beijing() - in_beijing(t).date()).days


def waiting_said(received_at: Any) -> str:
    """How long a parked filing or a permit application has waited, in
    Beijing days."""
    n = days_waiting(received_at)
    if n is None:
        return ""
    if n <= 0:
        return msg("arrived today", "今日收到")
    return msg(f"waiting {n} days", f"已等待 {n} 天")


#: The decisions on a permit application (核发, 不予许可): the workbench's
#: operations of the applications queue.
APPLICATION_OPS = ("permit-issue", "permit-reject")
#: A permit's management category (permit-svc's `category`), in words.
PERMIT_CATEGORIES = {
    "key": ("Key management", "重点管理"),
    "simplified": ("Simplified management", "简化管理"),
}


def permit_category_label(category: str | None) -> str:
    words = PERMIT_CATEGORIES.get(str(category or ""))
    return msg(*words) if words else str(category or "")


def application_said(permit: Mapping[str, Any]) -> str:
    """Where a permit application stands, in the decision's words: issued
    with its number (已核发，许可证编号 …), a change application merged
    into the permit it changes (已并入许可证 …), refused (已不予许可),
    else its status in words."""
    status = str(permit.get("status") or "")
    if status == "issued" and permit.get("permit_no"):
        no = permit["permit_no"]
        return msg(f"issued, permit number {no}", f"已核发，许可证编号 {no}")
    if status == "merged" and permit.get("changes_permit_no"):
        no = permit["changes_permit_no"]
        return msg(f"merged into permit {no}", f"已并入许可证 {no}")
    if status == "rejected":
        return msg("refused", "已不予许可")
    return status_label(status)


def changes_permit(permit: Mapping[str, Any]) -> str | None:
    """The number of the permit in force a change application (变更申请,
    permit-svc's `kind` change) changes; None for any other application."""
    no = permit.get("changes_permit_no")
    return str(no) if permit.get("kind") == "change" and no else None


def issue_label(permit: Mapping[str, Any]) -> str:
    """The issue button of an application: a change application's approves
    the change (核准变更), any other's issues a permit (核发)."""
    if changes_permit(permit):
        return msg("Approve change", "核准变更")
    return msg("Issue", "核发")


def by_waiting(permits: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Permit applications still awaiting a decision (`applied`), the
    longest waiting (the earliest applied) first."""
    waiting = [dict(p) for p in permits if p.get("status") == "applied"]
    return sorted(waiting, key=lambda p: (str(p.get("created_at") or ""), str(p.get("id"))))


def failed_prechecks(permit: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The checks permit-svc ran on an application (`prechecks`) that did
    not pass, each with its message (permit-svc's, in the reader's
    language); None when the application carries no checks (a permit-svc
    that does not run them), so the page says nothing of them."""
    checks = permit.get("prechecks")
    if not isinstance(checks, list):
        return None
    return [dict(c) for c in checks if isinstance(c, dict) and c.get("passed") is not True]


def attention_count(permit: Mapping[str, Any]) -> int:
    """How many points of an application need the officer's attention
    (permit-svc's `attention`; 0 when it says none or nothing)."""
    n = permit.get("attention")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 0


def redrive_outcome(parked: Mapping[str, Any]) -> str | None:
    """What a re-drive of a parked filing did: permit-svc drafts the permit
    application, or, for an industry the table manages by registration,
    only registers the enterprise (it files the registration itself)."""
    if parked.get("state") != "drafted":
        return None
    if parked.get("permit_id"):
        return msg("permit application drafted", "已起草排污许可申请")
    return msg(
        "enterprise registered; it is managed by registration and files it itself",
        "企业已登记，属登记管理，由企业自行填报排污登记表",
    )


#: Matched whole (fullmatch): `$` let a final line break through, into a
#: service's address, which cannot hold one (a 500).
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,100}")


def valid_id(value: str | None) -> bool:
    return bool(value) and bool(_ID.fullmatch(value or ""))
