"""The duplicate index finds exactly the matches the pairwise comparison
does (`rules.duplicates` of a new complaint against every earlier one), on
random complaints and rules, thresholds of 0 included, whatever the order
the complaints were added in. An import compared each of its rows with
every complaint of its window; the index compares it with those that share
its enterprise or enough of its text."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from supervision_svc.complaints import rules

T = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
#: Few characters, so that texts share bigrams often and match sometimes.
TEXT = st.text(alphabet="化工厂刺鼻气味夜间噪音工地扬尘ab1，。 ", max_size=14)
ADDRESS = st.sampled_from(["", "东丽区欢庆路88号", "东丽区欢庆路86号", "武清区京津路1号"])
THRESHOLD = st.sampled_from([0.0, 0.2, 0.35, 0.6, 1.0])


@st.composite
def complaint(draw: Any, serial: int) -> rules.ComplaintFacts:
    received = T + dt.timedelta(hours=draw(st.integers(0, 24 * 90)))
    closed = draw(st.none() | st.integers(0, 24 * 60))
    near = draw(st.booleans())
    return rules.ComplaintFacts(
        id=f"c{serial}",
        district=draw(st.sampled_from(["120110", "120114"])),
        category=draw(st.sampled_from(["odor", "noise"])),
        received_at=received,
        description=draw(TEXT),
        address=draw(ADDRESS),
        uscc=draw(st.sampled_from([None, "", "91120110MA05JY8X4A", "91120110MA05JY8X5B"])),
        lat=39.1 + draw(st.integers(0, 3)) * 0.003 if near else None,
        lng=117.3 if near else None,
        closed_at=None if closed is None else received + dt.timedelta(hours=closed),
        rejected=draw(st.booleans()),
    )


@st.composite
def cases(draw: Any) -> tuple[rules.DuplicateRules, list[rules.ComplaintFacts]]:
    r = rules.DuplicateRules(
        window=dt.timedelta(days=draw(st.sampled_from([1, 7, 30]))),
        radius_m=draw(st.sampled_from([1.0, 500.0])),
        text_min=draw(THRESHOLD),
        address_min=draw(THRESHOLD),
        text_alone=draw(THRESHOLD),
    )
    n = draw(st.integers(1, 40))
    return r, [draw(complaint(i)) for i in range(n)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.randoms(use_true_random=False))
def test_the_index_finds_what_comparing_every_pair_finds(
    case: tuple[rules.DuplicateRules, list[rules.ComplaintFacts]], rnd: Any
) -> None:
    r, complaints = case
    index = rules.DuplicateIndex(r)
    added: list[rules.ComplaintFacts] = []
    rnd.shuffle(complaints)  # an import's rows come after what the database holds
    for new in complaints:
        assert index.duplicates(new) == rules.duplicates(new, added, r)
        index.add(new)
        added.append(new)
    for new in complaints:  # each again, against all (itself never matches)
        assert index.duplicates(new) == rules.duplicates(new, added, r)


def test_the_index_compares_only_plausible_matches() -> None:
    """With the service's thresholds, a complaint sharing nothing with the
    others of its window (no enterprise, no text) is compared with none."""
    r = rules.DuplicateRules(
        window=dt.timedelta(days=30),
        radius_m=500,
        text_min=0.2,
        address_min=0.6,
        text_alone=0.6,
    )
    index = rules.DuplicateIndex(r)
    for i in range(50):
        index.add(
            rules.ComplaintFacts(
                id=f"c{i}",
                district="120110",
                category="odor",
                received_at=T + dt.timedelta(hours=i),
                description="化工厂夜间刺鼻气味",
                address="东丽区欢庆路88号",
            )
        )
    other = rules.ComplaintFacts(
        id="new",
        district="120110",
        category="odor",
        received_at=T + dt.timedelta(days=1),
        description="工地扬尘严重",
        address="东丽区欢庆路88号",
    )
    assert index.candidates(other) == []
    same = rules.ComplaintFacts(**{**vars(other), "description": "夜间化工厂刺鼻气味"})
    assert len(index.candidates(same)) == 25  # those of the day before it
    assert len(index.duplicates(same)) == 25
