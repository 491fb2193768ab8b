"""The bulk import's fast path (`_fast_rows`: field checks with remembered
verdicts on districts and industries, the USCCs' check characters all at
once) gives for every row what the row-by-row checks it replaced gave
(`_reference`, kept here as it was, but for the unknown columns now
refused, and for the optional columns a row leaves out, kept as stored:
KEEP): a row it lets through is one they let through, with the same
values, and a row it refuses goes to the model, which names what is wrong.
Named cases fail if any one check is left out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from permit_svc.enterprises.importing import KEEP, STATUSES, _fast_rows, _Memo, _Validator
from svc_common.auth import Principal
from svc_common.districts import DISTRICTS
from svc_common.guard import visible_text_problem
from svc_common.industries import canonical_or_none
from svc_common.uploads import RawRow
from svc_common.uscc import CHARSET, is_valid_uscc, make_uscc

CATEGORIES = {"C2641": "key", "C2614": "key", "C3130": "simplified", "C2110": "registration"}
PRINCIPALS = [
    Principal("admin", "admin"),
    Principal("officer", "officer", frozenset({"120115", "120119"})),
    Principal("officer", "officer"),  # no districts: acts nowhere
]


def _reference(
    data: dict[str, Any], categories: dict[str, str], principal: Principal
) -> tuple[Any, ...] | None:
    """The row-by-row checks the fast path replaced, as they were; and a
    column the model does not know refuses the row (the model names it);
    an address left out, or no status given, is KEEP (kept as stored)."""
    if set(data) - {"uscc", "name", "district", "industry_code", "address", "operating_status"}:
        return None
    try:
        uscc = data["uscc"].strip()
        name = data["name"].strip()
        district = data["district"].strip()
        industry = data["industry_code"].strip()
        address = (data["address"] or "").strip() if "address" in data else KEEP
        status = data.get("operating_status", "")
        status = KEEP if status is None or status == "" else status.strip()
    except (KeyError, AttributeError):
        return None
    category = categories.get(industry)
    if category is None:
        industry = canonical_or_none(industry) or industry
        category = categories.get(industry)
    if (
        category is None
        or not 0 < len(name) <= 200
        or (address is not KEEP and len(address) > 500)
        or visible_text_problem(name, name=True)
        or (address and visible_text_problem(address))
        or (status is not KEEP and status not in STATUSES)
        or district not in DISTRICTS
        or not principal.may_act_in(district)
        or not is_valid_uscc(uscc)
    ):
        return None
    return (uscc, name, district, industry, category, address, status)


def _good(serial: int, **change: Any) -> dict[str, Any]:
    return {
        "uscc": make_uscc("120115", serial),
        "name": f"企业{serial}",
        "district": "120115",
        "industry_code": "2641",
        "address": "宝坻区某路1号",
        **change,
    }


def _wrong_check(code: str) -> str:
    return code[:17] + CHARSET[(CHARSET.index(code[17]) + 1) % 31]


def _spaced(s: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pad = st.sampled_from(["", " ", "\t", "\u3000", "\n"])
    return st.tuples(pad, s, pad).map("".join)


usccs = st.one_of(
    st.integers(0, 31**9 - 1).map(lambda n: make_uscc("120115", n)),
    st.integers(0, 31**9 - 1).map(lambda n: _wrong_check(make_uscc("120119", n))),
    st.text(alphabet=CHARSET + "IOSVZaé", min_size=16, max_size=19),
)
values = {
    "uscc": _spaced(usccs),
    "name": _spaced(
        st.text(max_size=4)
        | st.just("名" * 200)
        | st.just("名" * 201)
        | st.just("\u3164")
        | st.just("名\u00ad称")
    ),
    "district": _spaced(st.sampled_from([*sorted(DISTRICTS)[:3], "120119", "999999", ""])),
    "industry_code": _spaced(st.sampled_from(["2641", "C2641", "c2614", "3130", "9999", "C", ""])),
    "address": _spaced(
        st.text(max_size=3) | st.just("路" * 500) | st.just("路" * 501) | st.just("\u200b")
    ),
    "operating_status": _spaced(st.sampled_from([*STATUSES, "Closed", "open", ""])),
}
others = st.one_of(st.none(), st.integers(), st.booleans(), st.lists(st.text(), max_size=1))
rows = st.fixed_dictionaries(
    {},
    optional={k: st.one_of(v, v, v, others) for k, v in values.items()} | {"extra": st.text()},
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(rows, st.none()), max_size=24), st.sampled_from(PRINCIPALS))
def test_fast_rows_are_the_row_by_row_checks(datas: list[Any], principal: Principal) -> None:
    got = _fast_rows(datas, _Memo(CATEGORIES, principal))
    want = [None if d is None else _reference(d, CATEGORIES, principal) for d in datas]
    assert got == want


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 31**9 - 1), min_size=16, max_size=40), st.data())
def test_mostly_valid_chunks_agree(serials: list[int], data: st.DataObject) -> None:
    """Chunks like a real upload's: valid rows, a few spoiled in one field."""
    datas: list[Any] = [_good(n) for n in serials]
    for i in data.draw(st.lists(st.integers(0, len(datas) - 1), max_size=5)):
        field = data.draw(st.sampled_from(sorted(values)))
        datas[i] = {**datas[i], field: data.draw(values[field] | others)}
    principal = data.draw(st.sampled_from(PRINCIPALS))
    got = _fast_rows(datas, _Memo(CATEGORIES, principal))
    assert got == [_reference(d, CATEGORIES, principal) for d in datas]


ADMIN = PRINCIPALS[0]
OFFICER = PRINCIPALS[1]


@pytest.mark.parametrize(
    ("change", "principal"),
    [
        ({"uscc": _wrong_check(make_uscc("120115", 7))}, ADMIN),  # the check character
        ({"uscc": make_uscc("120115", 7)[:17]}, ADMIN),  # its length
        ({"uscc": make_uscc("120115", 31**9 - 1).lower()}, ADMIN),  # its characters
        ({"uscc": make_uscc("120115", 7)[:10] + "I" + make_uscc("120115", 7)[11:]}, ADMIN),
        ({"district": "999999"}, ADMIN),  # not a district
        ({"district": "120101"}, OFFICER),  # not the officer's
        ({"industry_code": "9999"}, ADMIN),  # not in the classification table
        ({"name": ""}, ADMIN),
        ({"name": "   "}, ADMIN),
        ({"name": "名" * 201}, ADMIN),
        ({"address": "路" * 501}, ADMIN),
        # A name or an address no one can see: the model's VisibleText says so.
        ({"name": "\u200b"}, ADMIN),
        ({"name": "\u3164"}, ADMIN),
        ({"name": "企业\u200b"}, ADMIN),
        ({"name": "天津\u200b某企业"}, ADMIN),  # hidden inside: NameText
        ({"name": "天津\u200d某企业"}, ADMIN),
        ({"address": "\u200b"}, ADMIN),
        ({"address": " \u3164 "}, ADMIN),
        ({"operating_status": "open"}, ADMIN),
        ({"name": 5}, ADMIN),
        ({"uscc": None}, ADMIN),
        ({"adress": "宝坻区某路1号"}, ADMIN),  # a column the model does not know
        ({"category": "key"}, ADMIN),  # derived from the industry, not taken
    ],
)
def test_each_check_refuses_its_row(change: dict[str, Any], principal: Principal) -> None:
    """Among valid rows (enough for the USCCs to be checked all at once),
    the row failing one check alone is refused, whichever place it has."""
    for at in (0, 9, 19):
        datas: list[Any] = [_good(n) for n in range(20)]
        datas[at] = {**datas[at], **change}
        got = _fast_rows(datas, _Memo(CATEGORIES, principal))
        assert got[at] is None
        assert all(r is not None for i, r in enumerate(got) if i != at)


def test_what_is_let_through_is_cleaned() -> None:
    datas: list[Any] = [
        _good(n, name=f" 企业{n}\u3000", district="120115 ", industry_code=" 2641")
        for n in range(20)
    ]
    datas[3] = {k: v for k, v in datas[3].items() if k != "address"}
    datas[4] = {**datas[4], "operating_status": "", "address": None}
    datas[5] = {**datas[5], "operating_status": " closed"}
    got = _fast_rows(datas, _Memo(CATEGORIES, ADMIN))
    first = (
        make_uscc("120115", 0),
        "企业0",
        "120115",
        "C2641",
        "key",
        "宝坻区某路1号",
        KEEP,  # no status given: kept as stored, "operating" for a new enterprise
    )
    assert got[0] == first
    # Left out: kept as stored. A null address is empty; an empty status is none given.
    assert got[3] is not None and got[3][5] is KEEP and got[3][6] is KEEP
    assert got[4] is not None and got[4][5] == "" and got[4][6] is KEEP
    assert got[5] is not None and got[5][6] == "closed"


def test_refused_rows_still_get_the_models_errors() -> None:
    """A row the fast path refuses is reported field by field, and a USCC
    repeated is reported against its first row."""
    validator = _Validator(CATEGORIES, OFFICER)
    datas = [_good(n) for n in range(20)]
    datas[4] = {**datas[4], "uscc": _wrong_check(datas[4]["uscc"])}
    datas[6] = {**datas[6], "district": "120101"}
    datas[8] = dict(datas[2])
    datas[10] = {**datas[10], "adress": "宝坻区某路2号"}
    valid = validator.chunk([RawRow(i, d) for i, d in enumerate(datas, 1)])
    assert [row for row, _ in valid] == [i for i in range(1, 21) if i not in (5, 7, 9, 11)]
    assert [e.field for e in validator.errors[5][1]] == ["uscc"]
    why = validator.errors[5][1][0].message
    assert "校验码" in why or "check character" in why
    assert [e.field for e in validator.errors[7][1]] == ["district"]
    assert validator.errors[9][1][0].field == "uscc" and "3" in validator.errors[9][1][0].message
    assert [(e.field, e.type) for e in validator.errors[11][1]] == [("adress", "extra_forbidden")]
