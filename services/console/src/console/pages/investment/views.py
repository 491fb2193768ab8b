"""What the 招商 page shows, computed from the quota API's answers (pure
functions: no I/O, tested on their own)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from svc_common.districts import district_name
from svc_common.guard import typed_code
from svc_common.types import MAX_INCREMENT_TONNES

from console.web import BEIJING, dec

FIGURES = ("credited_t", "reserved_t", "allocated_t", "available_t", "reclaimed_t")


@dataclass
class Pools:
    """The pools of one pollutant: district pools ranked by the largest project
    that fits, and the parks' sub-pools and priority reserves apart."""

    districts: list[dict[str, Any]]
    parks: list[dict[str, Any]]
    reserves: list[dict[str, Any]]

    @property
    def totals(self) -> dict[str, Decimal]:
        return totals(self.districts)

    @property
    def side_totals(self) -> dict[str, Decimal]:
        return totals(self.parks + self.reserves)


def totals(rows: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    out = {f: Decimal(0) for f in FIGURES}
    for r in rows:
        for f in FIGURES:
            out[f] += dec(r.get(f, 0))
    return out


def park_names(parks: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(district, park id) → the park's registered name (园区名称)."""
    return {(str(p["district"]), str(p["id"])): str(p["name"]) for p in parks}


def split(
    pools: Sequence[Mapping[str, Any]], park_names: Mapping[tuple[str, str], str] | None = None
) -> Pools:
    """The pools apart by kind, each park's sub-pool with its name when the
    park register has it (`park_name`)."""
    districts = [dict(p) for p in pools if p.get("kind") == "district"]
    districts.sort(
        key=lambda p: (
            -dec(p.get("max_project_increment_t")),
            -dec(p.get("available_t")),
            p.get("district", ""),
        )
    )
    for rank, p in enumerate(districts, start=1):
        p["rank"] = rank
    by_id = lambda p: (p.get("district", ""), p.get("park_id") or "")  # noqa: E731
    names = park_names or {}
    parks = [
        {**p, "park_name": names.get((str(p.get("district")), str(p.get("park_id"))))}
        for p in pools
        if p.get("kind") == "park"
    ]
    return Pools(
        districts=districts,
        parks=sorted(parks, key=by_id),
        reserves=sorted((dict(p) for p in pools if p.get("kind") == "reserve"), key=by_id),
    )


#: An amount as typed, once full-width characters are made half-width
#: (５．５ is 5.5) and spaces trimmed: digits with an optional fraction.
_AMOUNT = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$")


def parse_project(
    form: Mapping[str, str], pollutants: Iterable[str]
) -> tuple[dict[str, Decimal], list[str], list[str]]:
    """The project's increments by pollutant (`p_VOCs`, one of `pollutants`;
    blank = none), to three places as quota-svc takes them; the pollutants
    whose amount is not a number of tonnes above 0 with at most 3 decimals;
    and those above the largest increment quota-svc accepts for one project
    (MAX_INCREMENT_TONNES)."""
    increments: dict[str, Decimal] = {}
    problems: list[str] = []
    too_large: list[str] = []
    for p in pollutants:
        raw = typed_code(form.get(f"p_{p}") or "")
        if not raw:
            continue
        value = Decimal(raw) if _AMOUNT.match(raw) else None
        if value is None or value <= 0:
            problems.append(p)
        elif value > MAX_INCREMENT_TONNES:  # first: quantize fails past 28 digits
            too_large.append(p)
        elif value != value.quantize(Decimal("0.001")):
            problems.append(p)
        else:
            increments[p] = value.quantize(Decimal("0.001"))
    return increments, problems, too_large


#: A pollutant's code as an amount field's name carries it (`p_<code>`).
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,19}$")


def typed_pollutants(form: Mapping[str, str], listed: Iterable[str] = ()) -> list[str]:
    """The pollutants an amount was typed for (a `p_<code>` field not blank)
    that are not among `listed`: a link made before quota-svc stopped
    keeping one, or typed by hand, or any at all when quota-svc's list could
    not be read. Said to the user, never dropped in silence."""
    known = set(listed)
    return [
        code
        for key, value in form.items()
        if key.startswith("p_")
        and _CODE.match(code := key[2:])
        and code not in known
        and typed_code(value or "")
    ]


@dataclass
class PollutantFit:
    pollutant: str
    increment_t: Decimal
    offset_ratio: Decimal
    required_t: Decimal
    available_t: Decimal
    fits: bool

    @property
    def left_t(self) -> Decimal:
        """What the pool keeps after this project (negative: the shortfall)."""
        return self.available_t - self.required_t


@dataclass
class DistrictFit:
    district: str
    checks: list[PollutantFit] = field(default_factory=list)
    #: The district's check could not be made (quota-svc failed, refused or
    #: did not answer in time): no verdict either way (未能试算).
    failed: bool = False

    @property
    def name(self) -> str:
        return district_name(self.district)

    @property
    def fits(self) -> bool:
        return not self.failed and bool(self.checks) and all(c.fits for c in self.checks)

    @property
    def margin(self) -> Decimal:
        """The tightest pollutant's remainder: how comfortably the project fits."""
        return min((c.left_t for c in self.checks), default=Decimal(0))


def fit_of(check: Mapping[str, Any], pollutant: str) -> PollutantFit:
    return PollutantFit(
        pollutant=pollutant,
        increment_t=dec(check["increment_t"]),
        offset_ratio=dec(check["offset_ratio"]),
        required_t=dec(check["required_t"]),
        available_t=dec(check["available_t"]),
        fits=bool(check["fits"]),
    )


def rank_fits(fits: Iterable[DistrictFit]) -> list[DistrictFit]:
    """Districts that take the project first, the roomiest first; then those
    that do not, the nearest to fitting first; those that could not be
    checked last (no verdict is drawn for them)."""
    return sorted(fits, key=lambda f: (f.failed, not f.fits, -f.margin, f.district))


def trend_points(now: dt.datetime, months: int = 12) -> list[dt.datetime]:
    """The first instant (Beijing time) of each of the last `months` months,
    then now: where the trend chart reads the ledger's past balances."""
    local = now.astimezone(BEIJING)
    year, month = local.year, local.month
    points: list[dt.datetime] = []
    for _ in range(months):
        points.append(dt.datetime(year, month, 1, tzinfo=BEIJING))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    points.reverse()
    return [*points, now]


def by_district_and_moment(
    history: Sequence[Mapping[str, Any]], points: Sequence[dt.datetime]
) -> dict[tuple[str, int], Mapping[str, Any]]:
    """The ledger's balance history keyed as the chart reads it: (district,
    index of the moment among `points`)."""
    index = {p: i for i, p in enumerate(points)}
    out: dict[tuple[str, int], Mapping[str, Any]] = {}
    for row in history:
        i = index.get(dt.datetime.fromisoformat(str(row["at"])))
        if i is not None:
            out[(str(row["district"]), i)] = row
    return out


def trend_series(
    districts: Sequence[str],
    points: Sequence[dt.datetime],
    balances: Mapping[tuple[str, int], Mapping[str, Any] | None],
) -> list[dict[str, Any]]:
    """One series per district that has had quota in the period (available t/a)."""
    out = []
    for d in districts:
        values = [
            float(dec((balances.get((d, i)) or {}).get("available_t", 0)))
            for i in range(len(points))
        ]
        credited = [
            dec((balances.get((d, i)) or {}).get("credited_t", 0)) for i in range(len(points))
        ]
        if any(c > 0 for c in credited):
            out.append({"district": d, "name": district_name(d), "values": values})
    return out
