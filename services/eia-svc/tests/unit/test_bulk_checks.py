"""Bulk filing checks rows with a shared screening per combination of
district, type, industry, unit, VOCs and park: each row must get exactly
what checking it alone gives (its registration, or every problem in order)."""

from __future__ import annotations

from eia_svc.parks.rules import Park
from eia_svc.registrations.service import check, check_rows
from hypothesis import given, settings
from hypothesis import strategies as st
from svc_common.bulk import RowError
from svc_common.uploads import RawRow

from .test_screening_rules import TYPES, UNITS, VALID

PARKS = {"P1": Park("P1", "某园区", "120115", ("Q8412",), 1000)}
LIMIT_KG = 100

row_data = st.fixed_dictionaries(
    {
        "project_name": st.sampled_from(["项目", "项目", " 项目 ", ""]),
        "uscc": st.sampled_from([VALID, VALID, VALID.lower(), "91350100M000100Y44", "X"]),
        "enterprise_name": st.just("某公司"),
        "district": st.sampled_from(["120115", "120115", "120119", "110101", ""]),
        "project_type": st.sampled_from(["Q8412", "Q8412", "G5960", "C2614", "X9999"]),
    },
    optional={
        "row_key": st.sampled_from(["k1", "k2", ""]),
        "industry_code": st.sampled_from(["Q8412", "C2614", "bad"]),
        "control_unit": st.sampled_from(["BD-YB-01", "NOPE"]),
        "vocs_increment_t": st.sampled_from(["0", "0.05", "0.1", "-1", "0.0001", "x"]),
        "park_id": st.sampled_from(["P1", "P2"]),
    },
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(row_data, st.none()), min_size=1, max_size=12))
def test_each_row_is_checked_as_if_alone(datas: list[dict[str, object] | None]) -> None:
    _checked_as_if_alone(datas)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(row_data, row_data, st.none()), min_size=40, max_size=80))
def test_each_row_of_a_large_upload_is_checked_as_if_alone(
    datas: list[dict[str, object] | None],
) -> None:
    """Uploads of 16 rows and more have their USCCs checked all at once."""
    _checked_as_if_alone(datas)


def _checked_as_if_alone(datas: list[dict[str, object] | None]) -> None:
    raw = [
        RawRow(n, d) if d is not None else RawRow(n, None, "unreadable")
        for n, d in enumerate(datas, start=1)
    ]
    checked = check_rows(raw, TYPES, UNITS, PARKS, LIMIT_KG)
    assert [c.index for c in checked] == list(range(len(raw)))
    for c, r in zip(checked, raw, strict=True):
        if r.data is None:
            assert c.errors == [RowError(field="row", message="unreadable")]
            continue
        body, issues = check(r.data, TYPES, UNITS, PARKS, LIMIT_KG)
        assert c.data == body
        if body is None:
            assert c.errors == [RowError(field=i.field, message=i.message) for i in issues]
        else:
            assert c.errors is None
            assert c.industry_code == (body.industry_code or TYPES[body.project_type].industry_code)


def test_rows_sharing_a_screening_keep_their_own_uscc_verdict() -> None:
    good = {
        "project_name": "项目",
        "uscc": VALID,
        "enterprise_name": "某公司",
        "district": "120115",
        "project_type": "Q8412",
        "park_id": "P1",
    }
    bad = {**good, "uscc": "91350100M000100Y44"}
    a, b, c = check_rows(
        [RawRow(1, good), RawRow(2, bad), RawRow(3, good)], TYPES, UNITS, PARKS, LIMIT_KG
    )
    assert a.data is not None and c.data is not None and a.industry_code == "Q8412"
    assert b.data is None and b.errors is not None and [e.field for e in b.errors] == ["uscc"]
