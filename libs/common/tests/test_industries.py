"""GB/T 4754 industry codes: both spellings in, one out, wrong ones named."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError
from svc_common.industries import (
    IndustryCode,
    canonical_or_none,
    industry_code_problem,
    normalise_industry_code,
    section_of,
)


class Row(BaseModel):
    industry_code: IndustryCode


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2641", "C2641"),
        ("C2641", "C2641"),
        ("c2641", "C2641"),
        (" 2641 ", "C2641"),
        ("0111", "A0111"),
        ("4411", "D4411"),
        ("7010", "K7010"),
        ("8411", "Q8411"),
        ("9700", "T9700"),
        ("26", "C26"),
        ("264", "C264"),
    ],
)
def test_either_form_in_the_lettered_form_out(given: str, stored: str) -> None:
    assert normalise_industry_code(given) == stored
    assert Row(industry_code=given).industry_code == stored
    assert canonical_or_none(given) == stored


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("D2641", "division 26 is in section C, not D"),
        ("9841", "98 is not a division"),
        ("0041", "00 is not a division"),
        ("C", "not a GB/T 4754 industry code"),
        ("2", "not a GB/T 4754 industry code"),
        ("C26411", "not a GB/T 4754 industry code"),
        ("C26-41", "not a GB/T 4754 industry code"),
        ("", "not a GB/T 4754 industry code"),
        ("２６４１", "not a GB/T 4754 industry code"),
    ],
)
def test_wrong_codes_say_why(given: str, why: str) -> None:
    problem = industry_code_problem(given)
    assert problem is not None and why in problem
    with pytest.raises(ValidationError, match=why):
        Row(industry_code=given)
    assert canonical_or_none(given) is None


def test_prefixes_as_negative_lists_write_them() -> None:
    assert normalise_industry_code("c", prefix=True) == "C"
    assert normalise_industry_code("C2", prefix=True) == "C2"
    assert normalise_industry_code("26", prefix=True) == "C26"
    assert normalise_industry_code("C2614", prefix=True) == "C2614"
    assert industry_code_problem("U", prefix=True) == "U is not a section of GB/T 4754"
    assert industry_code_problem("2", prefix=True) is not None
    assert industry_code_problem("D26", prefix=True) is not None


def test_every_division_has_one_section() -> None:
    assert [section_of(d) for d in (1, 5, 6, 13, 43, 44, 70, 96, 97)] == list("AABCCDKST")
    assert section_of(0) is None and section_of(98) is None


def test_events_read_either_form_and_keep_what_is_no_code() -> None:
    from svc_common.events.schemas.permit import EnterpriseSnapshot

    def snap(code: str) -> str:
        return EnterpriseSnapshot.model_validate(
            {
                "uscc": "x",
                "name": "n",
                "district": "120115",
                "industry_code": code,
                "category": "key",
                "operating_status": "operating",
                "updated_at": "2026-01-01T00:00:00Z",
            }
        ).industry_code

    assert (snap("2641"), snap("C2641"), snap("12345678")) == ("C2641", "C2641", "12345678")
