"""Bulk filing checks rows with a shared screening per combination of
district, type, industry, unit, VOCs and park: each row must get exactly
what checking it alone gives (its registration, or every problem in order)."""

from __future__ import annotations

from eia_svc.parks.rules import Park
from eia_svc.registrations.schemas import RegistrationIn
from eia_svc.registrations.service import check, check_rows, plain_registration
from hypothesis import given, settings
from hypothesis import strategies as st
from svc_common.bulk import RowError
from svc_common.uploads import RawRow

from .test_screening_rules import TYPES, UNITS, VALID

PARKS = {"P1": Park("P1", "某园区", "120115", ("Q8412",), 1000)}
LIMIT_KG = 100

row_data = st.fixed_dictionaries(
    {
        "project_name": st.sampled_from(["项目", "项目", " 项目 ", "", "\u3164", "项\u200b"]),
        "uscc": st.sampled_from([VALID, VALID, VALID.lower(), "91350100M000100Y44", "X"]),
        "enterprise_name": st.sampled_from(
            ["某公司", "某公司", "\u200b", "某\u034f", "某\u2060公司"]
        ),
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


#: Texts near every edge the model checks: spaces of all kinds around a value,
#: lengths at and past the limits, empties, other types, amounts and
#: industry codes the model takes or refuses.
_texts = st.one_of(
    st.sampled_from(["项目", "Q8412", "120115", VALID, VALID.lower(), "ß" * 20, "k1"]),
    st.sampled_from(["", " ", " a", "a ", "\u3000a", "a\u00a0", "\x1ca", "a\x85", "a\u2028"]),
    st.sampled_from(["x" * 20, "x" * 21, "x" * 40, "x" * 41, "x" * 100, "x" * 101]),
    st.sampled_from(["x" * 200, "x" * 201]),
    st.text(max_size=8),
    st.integers(-2, 2),
    st.none(),
)
_amounts = st.one_of(
    st.sampled_from(["0", "0.075", "0.0750", "-0", "-1", "1e3", "0.0001", "100000", "100000.001"]),
    st.sampled_from(["1.5 ", "１", "0.10", "99999.999", "NaN", ""]),
    st.decimals(allow_nan=False, places=4, min_value=-1, max_value=200000).map(str),
    st.integers(0, 3),
)
_industries = st.sampled_from(
    ["Q8412", "8412", "q8412", "C2614", "2614", "bad", "", " C2614", "Z9"]
)
_field_values = {
    "row_key": _texts,
    "project_name": _texts,
    "uscc": _texts,
    "enterprise_name": _texts,
    "district": _texts,
    "project_type": _texts,
    "industry_code": st.one_of(_industries, _texts),
    "vocs_increment_t": _amounts,
    "control_unit": _texts,
    "park_id": _texts,
}
_plain_data = st.fixed_dictionaries(
    {
        "project_name": st.just("登记表项目 1"),
        "uscc": st.just(VALID),
        "enterprise_name": st.just("天津某企业有限公司"),
        "district": st.just("120115"),
        "project_type": st.just("Q8412"),
    },
    optional={
        "row_key": st.just("k-1"),
        "industry_code": _industries,
        "vocs_increment_t": _amounts,
        "control_unit": st.just("BD-YB-01"),
        "park_id": st.just("P1"),
    },
)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        _plain_data,
        st.fixed_dictionaries({}, optional=_field_values),
        st.tuples(_plain_data, st.sampled_from(sorted(_field_values)), st.data()).map(
            lambda t: {**t[0], t[1]: t[2].draw(_field_values[t[1]])}
        ),
        _plain_data.map(lambda d: {**d, "vocs_increment": "1"}),
    )
)
def test_a_plain_row_is_what_the_model_makes_of_it(data: dict[str, object]) -> None:
    fast = plain_registration(data, {}, {})
    if fast is None:
        return  # the model checks it
    model = RegistrationIn.model_validate(data)
    assert fast == model
    assert fast.model_fields_set == model.model_fields_set
    assert fast.model_dump_json() == model.model_dump_json()
    assert [(type(v), str(v)) for v in fast.__dict__.values()] == [
        (type(v), str(v)) for v in model.__dict__.values()
    ]
    # what a memo keeps is what the model takes again
    industries: dict[str, str | None] = {}
    amounts: dict[str, object] = {}
    assert plain_registration(data, industries, amounts) == model  # type: ignore[arg-type]
    assert plain_registration(data, industries, amounts) == model  # type: ignore[arg-type]


def test_machine_filed_rows_take_the_plain_path() -> None:
    row = {
        "row_key": "bench-1",
        "project_name": "登记表项目 1",
        "uscc": VALID,
        "enterprise_name": "天津某企业 1 有限公司",
        "district": "120115",
        "project_type": "Q8412",
        "vocs_increment_t": "0.075",
    }
    assert plain_registration(row, {}, {}) == RegistrationIn.model_validate(row)
    assert plain_registration({**row, "row_key": " bench-1"}, {}, {}) is None
