"""A record names only records of its own district: the shared refusal."""

from __future__ import annotations

from svc_common import i18n
from svc_common.districts import other_district_problem

COMPLAINT = ("complaint", "投诉")


def test_the_same_district_is_no_problem() -> None:
    assert other_district_problem(COMPLAINT, "C-1", "120110", "120110") is None


def test_another_district_is_named_in_both_languages() -> None:
    with i18n.use("zh"):
        zh = other_district_problem(COMPLAINT, "C-1", "120114", "120110")
    with i18n.use("en"):
        en = other_district_problem(COMPLAINT, "C-1", "120114", "120110")
    assert zh is not None and en is not None
    assert zh.startswith("投诉 C-1 所在区为武清区（120114），而非本记录所在的东丽区（120110）")
    assert en.startswith("complaint C-1 is in district 武清区 (120114), not in 东丽区 (120110)")


def test_the_other_district_can_be_left_unnamed() -> None:
    with i18n.use("zh"):
        zh = other_district_problem(COMPLAINT, "C-1", "120114", "120110", name_theirs=False)
    assert zh is not None and "120114" not in zh and "东丽区（120110）" in zh
