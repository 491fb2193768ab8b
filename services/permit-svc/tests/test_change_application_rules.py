"""Pure rules of change applications (变更申请): the state machine's
`merged`, the amounts a merge leaves, why a merge is refused, and what the
pre-acceptance checks say of a change application."""

from __future__ import annotations

import pytest
from permit_svc.permits import rules
from permit_svc.prechecks import rules as prechecks
from permit_svc.prechecks.rules import Facts
from svc_common import i18n
from svc_common.errors import IllegalTransition


def test_an_application_is_merged_and_that_is_the_end() -> None:
    assert rules.next_status("applied", "merge") == "merged"
    # No caller names `merge`: issuing a change application merges it.
    assert rules.allowed_actions("applied") == ["issue", "reject"]
    assert rules.allowed_actions("merged") == []
    assert "merged" in rules.NEVER_ISSUED and "merged" not in rules.IN_FORCE
    for action in ("issue", "reject", "change", "cancel"):
        with pytest.raises(IllegalTransition):
            rules.next_status("merged", action)
    with pytest.raises(IllegalTransition):
        rules.next_status("issued", "merge")
    assert rules.LABELS_ZH["merged"] == "已并入变更"
    assert (rules.application_kind(None), rules.application_kind("x")) == ("new", "change")


def test_a_merge_adds_the_increments_pollutant_by_pollutant() -> None:
    current = {"VOCs": 2000, "NOx": 1000}
    assert rules.merged_amounts(current, {"VOCs": 1500, "SO2": 300}) == {
        "VOCs": 3500,
        "NOx": 1000,
        "SO2": 300,
    }
    assert current == {"VOCs": 2000, "NOx": 1000}
    assert rules.merged_amounts(current, {}) == current


def test_a_merge_is_refused_into_a_permit_not_in_force_or_suspended() -> None:
    assert rules.merge_refusal("N-1", "issued") is None
    assert "N-1" in (rules.merge_refusal("N-1", "suspended") or "")
    for status in ("revoked", "cancelled", "expired"):
        said = rules.merge_refusal("N-1", status) or ""
        assert "N-1" in said and "no longer in force" in said
    with i18n.use("zh"):
        assert rules.merge_refusal("N-1", "cancelled") == (
            "本申请变更的许可证 N-1 已不在有效状态（已注销），不能核准变更：请不予许可"
        )
        assert rules.merge_refusal("N-1", "suspended") == (
            "本申请变更的许可证 N-1 已暂停，恢复前不能变更"
        )


def test_a_change_application_passes_the_permit_in_force_check_naming_it() -> None:
    f = Facts(
        [("VOCs", 1500)],
        "P-2",
        in_force_permit_no="N-1",
        in_force_vocs_kg=2000,
        allocated_kg=3000,
        drawn_kg=2000,
        changes_permit_no="N-1",
    )
    c = prechecks.permit_in_force(f)
    assert c.passed and c.params == {"changes_permit_no": "N-1"}
    assert "change of permit N-1" in c.message()
    with i18n.use("zh"):
        assert c.message().startswith("变更申请：核发即核准有效许可证 N-1 的变更")
    # Its VOCs are all increase: 1.5 t against 1 t available is 0.5 t short
    # (as a new application's 1.5 t would be below the 2 t in force).
    backing = prechecks.quota_backing(f)
    assert not backing.passed and backing.params["missing_t"] == "0.500"
    assert prechecks.quota_backing(Facts([("VOCs", 1500)], "P-2", in_force_vocs_kg=2000)).passed
