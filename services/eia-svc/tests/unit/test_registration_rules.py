"""Filing numbers and post-hoc sampling."""

from __future__ import annotations

import datetime as dt

from eia_svc.registrations.rules import filing_year, format_filing_no, sampled_for_check


def test_filing_number_format() -> None:
    assert format_filing_no("120115", 2026, 123) == "DJB-120115-2026-000123"


def test_year_follows_china_standard_time() -> None:
    # 31 Dec 2025 17:00 UTC is already 1 Jan 2026 in Tianjin.
    assert filing_year(dt.datetime(2025, 12, 31, 17, 0, tzinfo=dt.UTC)) == 2026
    assert filing_year(dt.datetime(2025, 12, 31, 15, 0, tzinfo=dt.UTC)) == 2025


def test_sampling_is_deterministic_and_near_the_rate() -> None:
    ids = [f"id-{i}" for i in range(20_000)]
    picked = [i for i in ids if sampled_for_check(i, 0.05)]
    assert 0.04 < len(picked) / len(ids) < 0.06
    assert picked == [i for i in ids if sampled_for_check(i, 0.05)]
    assert not any(sampled_for_check(i, 0.0) for i in ids[:100])
    assert all(sampled_for_check(i, 1.0) for i in ids[:100])
