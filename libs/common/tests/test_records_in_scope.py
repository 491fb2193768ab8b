"""`Principal.found` / `require_found`: a record of no district of the
caller's is not found, with the body of one that does not exist; the one
mechanism every service's single-record reads and writes use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from svc_common.auth import Principal
from svc_common.errors import NotFound

BAODI, JIZHOU, BINHAI = "120115", "120119", "120116"


@dataclass
class Row:
    district: str


def _refusal(call: Callable[[], object]) -> dict[str, object]:
    with pytest.raises(NotFound) as caught:
        call()
    return caught.value.body(instance="/x/1")


def test_another_districts_record_is_refused_as_one_that_does_not_exist() -> None:
    officer = Principal("li.hua", "officer", frozenset({JIZHOU}))
    assert officer.found(Row(JIZHOU), "no x 1") == Row(JIZHOU)
    absent = _refusal(lambda: officer.found(None, "no x 1"))
    foreign = _refusal(lambda: officer.found(Row(BAODI), "no x 1"))
    assert foreign == absent and absent["status"] == 404 and "district" not in foreign


def test_a_record_of_two_districts_is_seen_by_either() -> None:
    officer = Principal("li.hua", "officer", frozenset({JIZHOU}))
    officer.require_found("no trade", BAODI, JIZHOU)
    assert _refusal(lambda: officer.require_found("no trade", BAODI, BINHAI))["status"] == 404
    assert _refusal(lambda: officer.require_found("no trade"))["detail"] == "no trade"


def test_who_acts_nowhere_finds_nothing_and_citywide_roles_find_everything() -> None:
    nowhere = Principal("li.hua", "officer")
    assert _refusal(lambda: nowhere.found(Row(JIZHOU), "no x 1"))["status"] == 404
    auditor = Principal("sun", "auditor")
    assert auditor.found(Row(BAODI), "no x 1") == Row(BAODI)
