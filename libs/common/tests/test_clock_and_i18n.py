"""The one clock and bilingual messages."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator
from svc_common import clock, i18n
from svc_common.errors import Conflict, IllegalTransition, validation_errors
from svc_common.types import AwareDateTime, utcnow

T0 = dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)


async def test_manual_clock_drives_utcnow_and_runs_listeners() -> None:
    seen: list[dt.datetime] = []

    async def sweeper(at: dt.datetime) -> None:
        seen.append(at)

    with clock.using(clock.ManualClock(T0)) as c:
        assert isinstance(c, clock.ManualClock)
        c.on_advance(sweeper)
        assert utcnow() == T0
        await c.advance(clock.parse_duration("P61D"))
        assert utcnow() == T0 + dt.timedelta(days=61)
        assert seen == [T0 + dt.timedelta(days=61)]
        with pytest.raises(ValueError, match="backwards"):
            await c.set_to(T0)
    assert clock.manual() is None  # the system clock is back
    assert abs(utcnow() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_flowing_clock_moves_on_from_where_it_was_set() -> None:
    c = clock.ManualClock(T0, flowing=True)
    first = c.now()
    assert first >= T0 and c.now() >= first


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("P61D", dt.timedelta(days=61)),
        ("PT5M", dt.timedelta(minutes=5)),
        ("P1DT12H", dt.timedelta(days=1, hours=12)),
        ("P2W", dt.timedelta(weeks=2)),
    ],
)
def test_durations(text: str, delta: dt.timedelta) -> None:
    assert clock.parse_duration(text) == delta


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "61D", "P1Y", "P1M", "P-1D", "P99999D", "x" * 50, "P１D", "PT٥M"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        clock.parse_duration(text)


@pytest.mark.parametrize("text", ["P１D", "P١D", "PT٥M", "P1DT１H"])
def test_a_duration_in_other_digits_is_refused_as_its_pattern_says(text: str) -> None:
    """Python's `\\d` (and the Rust regex pydantic checks a pattern with)
    reads any Unicode digit, a document's (ECMA-262) only 0-9: `P１D` was
    taken as one day where the document says it is no duration."""
    with pytest.raises(ValueError, match="ISO 8601"):
        clock.parse_duration(text)
    assert re.fullmatch(clock.DURATION_PATTERN, text) is None


@pytest.mark.parametrize("text", ["２０２６-03-01T09:30:00+08:00", "2026-03-01T0٩:30:00+08:00"])
def test_a_time_in_other_digits_is_refused_as_not_iso_8601(text: str) -> None:
    """It passed the format's check and was then called no real date."""
    with pytest.raises(ValidationError, match="must be an ISO 8601 date and time"):
        TypeAdapter(AwareDateTime).validate_python(text)


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "zh"),
        ("", "zh"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en;q=0.5,zh;q=0.9", "zh"),
        ("fr-FR", "zh"),
        ("fr,en;q=0.3", "en"),
        ("en;q=abc", "zh"),
    ],
)
def test_accept_language(header: str | None, lang: str) -> None:
    assert i18n.negotiate(header) == lang


class _Form(BaseModel):
    name: str = Field(max_length=3)
    amount: int = Field(ge=1)

    @field_validator("name")
    @classmethod
    def _not_x(cls, v: str) -> str:
        if v == "x":
            raise ValueError(i18n.msg("must not be x", "不能是 x"))
        return v


def _messages(data: dict[str, object]) -> dict[str, str]:
    try:
        _Form.model_validate(data)
    except ValidationError as exc:
        return {e.field: e.message for e in validation_errors(exc.errors())}
    raise AssertionError("expected a validation error")


def test_field_errors_speak_the_request_language() -> None:
    with i18n.use("zh"):
        zh = _messages({"name": "long", "amount": 0})
        own = _messages({"name": "x", "amount": 1})
    with i18n.use("en"):
        en = _messages({"name": "long", "amount": 0})
    assert zh == {"name": "最多 3 个字符", "amount": "不得小于 1"}
    assert en == {"name": "must have at most 3 characters", "amount": "must be at least 1"}
    assert own == {"name": "不能是 x"}


class _Choice(BaseModel):
    action: Literal["accept", "review-done", "quota-retry"]


def test_the_choices_of_an_enum_are_listed_in_the_request_language() -> None:
    """The Chinese message ended "… 'review-done' or 'quota-retry'"."""
    with i18n.use("zh"):
        try:
            _Choice.model_validate({"action": "nope"})
        except ValidationError as exc:
            (zh,) = validation_errors(exc.errors())
    with i18n.use("en"):
        try:
            _Choice.model_validate({"action": "nope"})
        except ValidationError as exc:
            (en,) = validation_errors(exc.errors())
    assert zh.message == "必须是以下之一：'accept'、'review-done'、'quota-retry'"
    assert en.message == "must be one of: 'accept', 'review-done' or 'quota-retry'"


def test_problem_titles_and_details_are_localised() -> None:
    with i18n.use("zh"):
        body = IllegalTransition("filing", "approved", "withdraw", []).body()
        plain = Conflict("x").body()
    assert body["title"] == "当前状态不允许此操作" and "不能执行 withdraw" in body["detail"]
    assert plain["title"] == "状态冲突"
    with i18n.use("en"):
        assert Conflict("x").body()["title"] == "Conflict"


@pytest.mark.parametrize(
    ("entity", "state", "action"),
    [
        ("demand", "done", "done"),
        ("filing", "reviewed with quota secured", "quota-retry"),
        ("filing", "accepted", "evaluation-done"),
        ("adjustment", "rejected", "approve"),
        ("registration check", "not sampled", "clear"),
    ],
)
def test_a_refused_step_reads_as_english_whatever_its_code(
    entity: str, state: str, action: str
) -> None:
    """The action's code was pasted in as a verb ("cannot done a demand
    that is done", "cannot evaluation-done a filing", "a adjustment"): the
    codes are the API's words, not all of them verbs, nor every entity
    taking "a"."""
    with i18n.use("en"):
        detail = IllegalTransition(entity, state, action, ["cancel"]).body()["detail"]
    assert detail == (
        f"the action '{action}' is not allowed while the {entity} is {state}; allowed now: cancel"
    )


def test_a_step_named_like_a_state_has_its_own_chinese_name() -> None:
    labels = {"open": "办理中", "done": "已办结"}
    with i18n.use("zh"):
        refused = IllegalTransition(
            "诉求",
            "done",
            "done",
            ["progress"],
            labels,
            actions_zh={"done": "办结", "progress": "更新进展"},
        )
    assert (
        refused.detail
        == "诉求当前为 已办结（done），不能执行 办结（done）；现在可执行：更新进展（progress）"
    )


def test_a_refused_role_is_named_as_people_call_it() -> None:
    from svc_common.auth import Principal, _admitted
    from svc_common.errors import Forbidden

    with i18n.use("zh"), pytest.raises(Forbidden) as refused:
        _admitted(Principal("wang.fang", "investment"), ("officer", "admin"))
    assert str(refused.value.detail) == (
        "招商人员（investment）无权执行此操作；需要以下角色之一：审批人员（officer）、管理员（admin）"
    )
    with i18n.use("en"), pytest.raises(Forbidden) as refused:
        _admitted(Principal("wang.fang", "investment"), ("officer",))
    assert "role investment may not do this; needs one of: officer" in str(refused.value.detail)


def test_a_refused_district_is_named_as_people_call_it() -> None:
    """The officer reads 宝坻区 and 审批人员, not 120115 and officer alone."""
    from svc_common.auth import Principal
    from svc_common.errors import Forbidden

    li_hua = Principal("li.hua", "officer", frozenset({"120119"}))
    with i18n.use("zh"), pytest.raises(Forbidden) as refused:
        li_hua.require_district("120115")
    assert str(refused.value.detail) == "审批人员 li.hua 无权在宝坻区（120115）操作"
    with i18n.use("en"), pytest.raises(Forbidden) as refused:
        li_hua.require_district("120115")
    assert str(refused.value.detail) == (
        "approval officer li.hua may not act in district 宝坻区 (120115)"
    )
