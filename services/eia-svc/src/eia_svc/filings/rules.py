"""Pure rules of a filing's review: the state machines of the three channels
and the statutory clocks (限时办结). `now` is always passed in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from svc_common.auth import refuse_same_person, same_person
from svc_common.calendar import end_of_day, is_working_day, local_date
from svc_common.errors import IllegalTransition
from svc_common.i18n import msg

Channel = Literal["normal", "green", "bundled"]
Action = Literal["accept", "evaluation-done", "review-done", "approve", "reject", "withdraw"]
DECIDED = frozenset({"approved", "rejected", "withdrawn"})
MAJOR_KINDS = ("infrastructure", "livelihood", "industrial_layout")
#: States and actions of a filing's review in Chinese, for a refused step's
#: message (the console's words).
LABELS_ZH = {
    "submitted": "已提交待受理",
    "accepted": "已受理",
    "evaluated": "已评估",
    "reviewed": "已审查",
    "approved": "已批准",
    "rejected": "不予批准",
    "withdrawn": "已撤回",
    "accept": "受理",
    "evaluation-done": "技术评估完成",
    "review-done": "审查完成",
    "approve": "批准",
    "reject": "不予批准",
    "withdraw": "撤回",
    "quota-retry": "重新申请总量",
}


@dataclass(frozen=True)
class ReviewState:
    """Where a filing stands in its review.

    Every channel starts `submitted` and is accepted (受理) by an officer:
    a submitter's own claim (a major project, a park) is a request, never
    an acceptance, and only acceptance asks quota-svc for a hold.
    Normal channel: submitted → accepted → evaluated (技术评估) → reviewed (审查)
    → approved | rejected, strictly in that order.
    Green channel (the officer confirmed the major-project claim on
    accepting it, 即到即受理: at the head of the queue): evaluation starts on
    acceptance and runs in parallel with review (即受理即评估、评估与审查同步),
    in either order; status becomes reviewed once both are done, and only
    then may it be decided.
    Bundled (多评合一): accepted against the park's bundled report, no
    separate evaluation or review; an officer decides it directly.
    Withdrawal is allowed in every channel until the decision."""

    channel: str
    status: str
    evaluation_done: bool = False
    review_done: bool = False


def initial_state(channel: str) -> ReviewState:
    """Every filing arrives submitted, awaiting an officer's acceptance (受理)."""
    return ReviewState(channel, "submitted")


def review_steps(st: ReviewState) -> list[str]:
    """The steps the review's state machine admits, quota aside."""
    if st.status in DECIDED:
        return []
    if st.status == "submitted":
        return ["accept", "withdraw"]
    if st.channel == "normal":
        step = {
            "submitted": ["accept"],
            "accepted": ["evaluation-done"],
            "evaluated": ["review-done"],
            "reviewed": ["approve", "reject"],
        }[st.status]
        return [*step, "withdraw"]
    if st.channel == "bundled":
        return ["approve", "reject", "withdraw"]
    acts = []
    if not st.evaluation_done:
        acts.append("evaluation-done")
    if not st.review_done:
        acts.append("review-done")
    if st.evaluation_done and st.review_done:
        acts += ["approve", "reject"]
    return [*acts, "withdraw"]


def allowed_actions(
    st: ReviewState, approvable: bool = True, quota_retry: bool = False
) -> list[str]:
    """What may be done to the filing now: the review's steps, approve only
    when its quota lets it be approved (`approvable`, the quota rule
    `check_approvable` applies), and quota-retry (重新申请总量) when its
    quota may be asked again (`quota_retry`, the rule `retry` applies).
    The actions check the same rules, so the list and the answers agree."""
    acts = [a for a in review_steps(st) if approvable or a != "approve"]
    if quota_retry:
        acts.insert(len(acts) - (acts[-1:] == ["withdraw"]), "quota-retry")
    return acts


#: The roles that review a filing (受理、评估、审查、批复) and re-ask its quota.
REVIEWERS = frozenset({"officer", "admin"})


#: The actions that decide a filing (批复), which four eyes keep from its
#: submitter.
DECISIONS = frozenset({"approve", "reject"})


def actions_for(
    acts: list[str], role: str, actor: str, submitted_by: str, submitted_role: str
) -> list[str]:
    """Of the filing's actions now (`allowed_actions`), those `actor` of
    `role` may take: a reviewer its review's steps and quota-retry, but
    not the decision of a filing they submitted themselves (`decides_own`),
    and withdraw only if they submitted it; the applicant (a filer)
    withdraw alone; anyone else (an auditor) none. The routes admit by the
    same rules (their roles, `may_withdraw`, `check_four_eyes`)."""
    own = may_withdraw(submitted_by, actor)
    if role in REVIEWERS:
        return [
            a
            for a in acts
            if (a != "withdraw" or own) and not decides_own(a, submitted_by, submitted_role, actor)
        ]
    if role == "filer" and own:
        return [a for a in acts if a == "withdraw"]
    return []


def may_withdraw(submitted_by: str, actor: str) -> bool:
    """Withdrawal (撤回) is the applicant's act: only whoever submitted the
    filing withdraws it (its filer, or the officer who entered it for the
    applicant). An officer who will not approve a filing rejects it and
    states why (行政许可法 §38); a withdrawal would end it with no reason
    and nothing saying an officer did it. A right is granted to the sub
    that submitted, exactly as its token gave it (an identity provider's
    `sub` is case-sensitive: `Li.Hua` is not `li.hua`'s account), as a
    filer sees only what its own sub filed; only refusals (`decides_own`,
    four eyes) read two spellings as one person, so that they err towards
    refusing."""
    return submitted_by == actor


def decides_own(action: str, submitted_by: str, submitted_role: str, actor: str) -> bool:
    """Whether `actor` would decide (approve or reject) a filing they
    submitted as a reviewer, for an applicant: four eyes (四眼原则), one
    officer may not file, accept, review and approve a filing alone. A
    filing its applicant (a filer) submitted is decided by any reviewer."""
    return action in DECISIONS and submitted_role in REVIEWERS and same_person(submitted_by, actor)


def check_four_eyes(
    filing_id: str, action: str, submitted_by: str, submitted_role: str, actor: str
) -> None:
    """409 when `actor` would decide a filing they submitted (`decides_own`)."""
    if action in DECISIONS and submitted_role in REVIEWERS:
        refuse_same_person(
            submitted_by,
            actor,
            en=f"four eyes: filing {filing_id} was submitted by {submitted_by}, who may not "
            "approve or reject it: another officer decides it",
            zh=f"四眼原则：环评文件 {filing_id} 由 {submitted_by} 代为提交，"
            "提交人不得批准或不予批准，须由其他审批人员作出决定",
            reason="submitter_decides",
            submitted_by=submitted_by,
        )


def withdraw_refusal(filing_id: str, may_reject: bool) -> str:
    """Why a reviewer who did not submit the filing may not withdraw it;
    pointing to reject only when the filing may be rejected now."""
    if may_reject:
        return msg(
            f"filing {filing_id} is withdrawn only by its applicant, who submitted it; an "
            "officer who will not approve it rejects it (POST …/reject with the reason, "
            "行政许可法 §38)",
            f"环评文件 {filing_id} 只能由提交它的申请人撤回；审批人员不予批准的，请使用"
            "不予批准（POST …/reject）并说明理由（行政许可法第三十八条）",
        )
    return msg(
        f"filing {filing_id} is withdrawn only by its applicant, who submitted it; it "
        "cannot be rejected at this stage either (reject follows the review)",
        f"环评文件 {filing_id} 只能由提交它的申请人撤回；当前阶段也不能不予批准（审查完成后方可）",
    )


def apply(
    st: ReviewState, action: str, allowed: list[str] | None = None, green: bool = False
) -> ReviewState:
    """The state after `action`, or IllegalTransition naming what is allowed
    (`allowed`, the filing's actions, quota included; else the review's).
    `green`: on acceptance, the officer confirmed the filing's major-project
    claim (`accepted_channel`)."""
    if action not in review_steps(st):
        shown = review_steps(st) if allowed is None else allowed
        raise IllegalTransition(msg("filing", "环评文件"), st.status, action, shown, LABELS_ZH)
    if action == "accept":
        return replace(st, status="accepted", channel=accepted_channel(st.channel, green))
    if action in ("approve", "reject", "withdraw"):
        return replace(
            st, status={"approve": "approved", "reject": "rejected"}.get(action, "withdrawn")
        )
    ev = st.evaluation_done or action == "evaluation-done"
    rv = st.review_done or action == "review-done"
    if st.channel == "normal":
        return replace(
            st, status="evaluated" if not rv else "reviewed", evaluation_done=ev, review_done=rv
        )
    return replace(
        st, status="reviewed" if ev and rv else "accepted", evaluation_done=ev, review_done=rv
    )


@dataclass(frozen=True)
class ClockLimits:
    """Days from acceptance to decision, per channel and category."""

    report: int = 60
    report_form: int = 30
    green_report: int = 20
    green_report_form: int = 10
    bundled: int = 10

    def days(self, channel: str, category: str) -> int:
        if channel == "bundled":
            return self.bundled
        if channel == "green":
            return self.green_report if category == "report" else self.green_report_form
        return self.report if category == "report" else self.report_form


def decision_due(
    accepted_at: dt.datetime,
    channel: str,
    category: str,
    limits: ClockLimits,
    working_day: Callable[[dt.date], bool] = is_working_day,
) -> dt.datetime:
    """The statutory deadline (限时办结): the end of the limit's last day in
    Beijing. A limit in days counts whole calendar days from the day after
    acceptance (the day of acceptance is not counted) and its last day ends
    at 24:00 (民法典 §201, §203), so "within 30 days" of an acceptance on
    2 March at 09:00 is met until 1 April 24:00 Beijing time, not 1 April
    09:00. A last day that is a day off (a weekend or public holiday of the
    mainland calendar) gives way to the next working day (§203). Returned
    as the first instant after the last day, in UTC."""
    last = local_date(accepted_at) + dt.timedelta(days=limits.days(channel, category))
    while not working_day(last):
        last += dt.timedelta(days=1)
    return end_of_day(last)


def last_day(due_at: dt.datetime) -> dt.date:
    """The Beijing date a deadline from `decision_due` falls on (its last day)."""
    return local_date(due_at) - dt.timedelta(days=1)


def is_overdue(status: str, due_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Undecided and past its deadline (`due_at` is the first instant after
    the last day). Not yet accepted means the clock has not started."""
    return status not in DECIDED and due_at is not None and now >= due_at


def channel_for(covered_by_park: bool) -> Channel:
    """The channel a filing is submitted in. A project covered by its park's
    bundled EIA needs no separate one, even when it also claims to be a
    major project. A major-project claim does not choose the green channel:
    the officer who accepts the filing does (`accepted_channel`)."""
    return "bundled" if covered_by_park else "normal"


def accepted_channel(channel: str, green: bool) -> str:
    """The channel a filing is accepted in: green when the accepting officer
    confirms its major-project claim (重大基础设施、民生工程、重大产业布局),
    bundled stays bundled, anything else normal."""
    if channel == "bundled":
        return channel
    return "green" if green else "normal"


def requests_green_channel(major_project: bool, channel: str) -> bool:
    """Whether the applicant asks for the green channel: it claims a major
    project and no park's bundled report covers it."""
    return major_project and channel != "bundled"


GreenChannel = Literal["requested", "confirmed", "declined"]


def green_channel_status(major_project: bool, channel: str, accepted: bool) -> GreenChannel | None:
    """Where a filing's request for the green channel stands: `requested`
    until an officer accepts the filing, then `confirmed` (accepted in the
    green channel) or `declined` (accepted under the normal procedure);
    None when it claims no major project or is bundled."""
    if channel == "green":
        return "confirmed"
    if not requests_green_channel(major_project, channel):
        return None
    return "declined" if accepted else "requested"


def green_channel_problem(major_project: bool, channel: str, green: bool | None) -> str | None:
    """What is wrong with an acceptance's `green_channel`: the officer must
    decide a major-project claim (true: confirmed, green channel; false:
    the normal procedure), and decides nothing for any other filing."""
    if requests_green_channel(major_project, channel) and green is None:
        return msg(
            "is required to accept a filing that claims to be a major project: true "
            "confirms the claim (green channel), false accepts it under the normal procedure",
            "受理申报重大项目的环评文件时必须填写：true 为确认重大项目、走绿色通道，"
            "false 为按常规程序受理",
        )
    if not requests_green_channel(major_project, channel) and green is not None:
        if channel == "bundled":
            return msg(
                "is not taken for a bundled filing: its park's bundled EIA covers it",
                "多评合一的环评文件不适用：已由园区打捆环评覆盖",
            )
        return msg(
            "is only for a filing that claims to be a major project (major_project true)",
            "仅适用于申报重大项目（major_project 为 true）的环评文件",
        )
    return None


def major_kind_problem(major_project: bool, major_kind: str | None) -> str | None:
    """A green-channel project must say which kind of major project it is."""
    if major_project and major_kind is None:
        return msg(
            "is required for a major project: " + ", ".join(MAJOR_KINDS),
            "重大项目必须填写，可选：" + "、".join(MAJOR_KINDS),
        )
    if not major_project and major_kind is not None:
        return msg(
            "is only for a major project (major_project true)",
            "仅适用于重大项目（major_project 为 true）",
        )
    return None
