"""What the bureau's users know of their city: the classification tables,
the register they built, the permits and parks they have seen."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources

from svc_common.districts import DISTRICTS

CST = dt.timezone(dt.timedelta(hours=8))
Story = AsyncIterator[float]
DISTRICT_CODES = sorted(DISTRICTS)


def _table(package: str, name: str) -> list[dict[str, str]]:
    text = (resources.files(package) / "data" / name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    name: str
    district: str
    industry: str  # GB/T 4754 class, as the permit table writes it
    category: str  # key | simplified | registration


@dataclass
class KnownPermit:
    id: str
    uscc: str
    district: str
    pollutants: dict[str, str]
    valid_to: dt.date
    status: str = "issued"


@dataclass
class City:
    """What the users know: the register as they built it."""

    industries: dict[str, str]  # industry class -> category
    project_types: dict[str, tuple[str, str]]  # eia code -> (industry code, category)
    enterprises: list[Enterprise] = field(default_factory=list)
    permits: list[KnownPermit] = field(default_factory=list)
    parks: list[tuple[str, str, list[str]]] = field(default_factory=list)
    ready: bool = False

    @classmethod
    def load(cls) -> City:
        industries = {
            r["industry_code"]: r["category"] for r in _table("permit_svc", "industries.csv")
        }
        types = {
            r["code"]: (r["industry_code"], r["category"])
            for r in _table("eia_svc", "project_types.csv")
        }
        return cls(industries, types)

    def filing_types(self) -> list[str]:
        return sorted(
            c for c, (_, cat) in self.project_types.items() if cat in ("report", "report_form")
        )

    def form_types(self) -> list[str]:
        return sorted(c for c, (_, cat) in self.project_types.items() if cat == "registration_form")
