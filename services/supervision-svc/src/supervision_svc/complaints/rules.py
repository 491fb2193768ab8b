"""Pure rules of complaints: duplicate detection (重复反映), attention of a
cluster, the lifecycle as a table, the closure rate.

Duplicate detection compares Chinese text by character bigrams (Dice
coefficient over the sets of adjacent character pairs, after NFKC folding and
dropping punctuation and spaces). Chinese has no spaces between words and
most words are two characters long, so bigrams catch shared words
("刺鼻", "异味", "化工") in any order and any phrasing around them, with no
segmentation dictionary; whitespace-token scorers (rapidfuzz's token_*
ratios) see one "word" per sentence, and plain edit-distance ratios punish
reordering ("夜间刺鼻气味" / "刺鼻气味夜间").
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from svc_common.errors import IllegalTransition
from svc_common.i18n import msg
from svc_common.rates import completion_percent

Status = str
#: status → {action: next status}
TRANSITIONS: dict[str, dict[str, str]] = {
    "received": {"accept": "accepted", "reject": "rejected"},
    "accepted": {"assign": "assigned"},
    "assigned": {"assign": "assigned", "reply": "replied"},
    "replied": {"reply": "replied", "close": "closed"},
    "closed": {"reopen": "assigned"},
    "rejected": {},
}
#: States and actions in Chinese, for a refused step's message.
LABELS_ZH = {
    "received": "已接收",
    "accepted": "已受理",
    "assigned": "已交办",
    "replied": "已答复",
    "closed": "已办结",
    "rejected": "不予受理",
    "accept": "受理",
    "reject": "不予受理",
    "assign": "交办",
    "reply": "答复",
    "close": "办结",
    "reopen": "重新办理",
}
OPEN = frozenset({"received", "accepted", "assigned", "replied"})
#: Before acceptance the clock is the acceptance deadline; after it, closure's.
AWAITING_ACCEPTANCE = frozenset({"received"})


def allowed_actions(status: str) -> list[str]:
    return list(TRANSITIONS.get(status, {}))


def next_status(status: str, action: str) -> str:
    after = TRANSITIONS.get(status, {}).get(action)
    if after is None:
        raise IllegalTransition(
            msg("complaint", "投诉"), status, action, allowed_actions(status), LABELS_ZH
        )
    return after


def status_after(status: str, action: str, *, assigned_to: str | None) -> str:
    """The status `action` leads a complaint in `status` to (`next_status`),
    given whom it is assigned to. A closed complaint reopened goes back to
    its officer (已交办); one that names none (imported as closed from the
    12369 platform, which exports no officer) goes back to be assigned
    (已受理), not to 已交办 with nobody handling it."""
    after = next_status(status, action)
    if action == "reopen" and assigned_to is None:
        return "accepted"
    return after


def is_overdue(
    status: str, accept_due: dt.datetime, close_due: dt.datetime | None, now: dt.datetime
) -> bool:
    """Undecided past its acceptance deadline, or accepted and open past closure's."""
    if status in AWAITING_ACCEPTANCE:
        return now >= accept_due
    if status in OPEN:
        return close_due is not None and now >= close_due
    return False


# ---------------------------------------------------------------- text


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, letters and digits only (CJK included)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if ch.isalnum())


@lru_cache(maxsize=8192)
def bigrams(text: str) -> frozenset[str]:
    t = normalise(text)
    if len(t) < 2:
        return frozenset({t}) if t else frozenset()
    return frozenset(t[i : i + 2] for i in range(len(t) - 1))


def similarity(a: str, b: str) -> float:
    """Dice coefficient of the character bigrams of `a` and `b`, 0..1."""
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return 2 * len(x & y) / (len(x) + len(y))


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


# ---------------------------------------------------------------- duplicates


@dataclass(frozen=True)
class ComplaintFacts:
    """What duplicate detection looks at in a complaint."""

    id: str
    district: str
    category: str
    received_at: dt.datetime
    description: str
    address: str
    uscc: str | None = None
    lat: float | None = None
    lng: float | None = None
    closed_at: dt.datetime | None = None
    rejected: bool = False
    cluster_id: str | None = None
    case_no: str = ""


@dataclass(frozen=True)
class DuplicateRules:
    window: dt.timedelta
    radius_m: float
    text_min: float
    address_min: float
    text_alone: float


@dataclass(frozen=True)
class Match:
    earlier: ComplaintFacts
    reason: str
    text_similarity: float
    distance_m: float | None

    @property
    def score(self) -> float:
        return self.text_similarity + (1.0 if self.reason == "same_enterprise" else 0.0)


def open_when(earlier: ComplaintFacts, at: dt.datetime) -> bool:
    """Was `earlier` a valid open complaint at the instant `at`?"""
    return (
        not earlier.rejected
        and earlier.received_at <= at
        and (earlier.closed_at is None or earlier.closed_at > at)
    )


def match(new: ComplaintFacts, earlier: ComplaintFacts, r: DuplicateRules) -> Match | None:
    """Does `earlier` report the same problem as `new`? Same district and
    category, within the window and still open when `new` came; then the same
    enterprise, or the same place (coordinates within the radius or a similar
    address) with similar text, or very similar text alone."""
    if earlier.id == new.id or earlier.district != new.district:
        return None
    if earlier.category != new.category or not open_when(earlier, new.received_at):
        return None
    if new.received_at - earlier.received_at > r.window:
        return None
    text = similarity(new.description, earlier.description)
    dist = None
    if None not in (new.lat, new.lng, earlier.lat, earlier.lng):
        dist = distance_m(new.lat, new.lng, earlier.lat, earlier.lng)  # type: ignore[arg-type]
    if new.uscc and new.uscc == earlier.uscc:
        return Match(earlier, "same_enterprise", text, dist)
    near = dist is not None and dist <= r.radius_m
    if not near and new.address and earlier.address:
        near = similarity(new.address, earlier.address) >= r.address_min
    if near and text >= r.text_min:
        return Match(earlier, "same_place_similar_text", text, dist)
    if text >= r.text_alone:
        return Match(earlier, "very_similar_text", text, dist)
    return None


def duplicates(
    new: ComplaintFacts, candidates: list[ComplaintFacts], r: DuplicateRules
) -> list[Match]:
    """Every earlier open complaint reporting the same problem, best first."""
    found = [m for c in candidates if (m := match(new, c, r)) is not None]
    return sorted(found, key=lambda m: (-m.score, m.earlier.received_at, m.earlier.id))


@dataclass
class _Postings:
    """Complaints (by slot) in order of receipt, to take a window's by bisection."""

    times: list[dt.datetime] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)

    def add(self, at: dt.datetime, slot: int) -> None:
        i = bisect.bisect_right(self.times, at)
        self.times.insert(i, at)
        self.slots.insert(i, slot)

    def within(self, since: dt.datetime, until: dt.datetime) -> list[int]:
        lo = bisect.bisect_left(self.times, since)
        return self.slots[lo : bisect.bisect_right(self.times, until)]


class DuplicateIndex:
    """The complaints of one district and category a new one is checked
    against (`duplicates`), indexed by what can make two of them duplicates,
    so each is compared only with plausible matches, not with every
    complaint of its window (an import of 50,000 made them by the billion).

    `match` takes the same enterprise; or text whose similarity reaches
    `text_min` at the same place (coordinates, or addresses similar enough);
    or text reaching `text_alone`. While both text thresholds are above 0,
    similar text shares bigrams, and `c` shared bigrams give exactly the
    similarity `similarity` computes, 2c / (|x| + |y|): so the shared
    bigrams of the descriptions, and of the addresses, are counted through
    inverted indexes, and the plausible matches are those of the same
    enterprise, those whose counts reach the thresholds, and those with
    coordinates on both sides and text reaching `text_min` (the distance is
    left to `match`). Only the window's complaints are counted (received in
    the `window` before, as `match` requires). A text threshold of 0 makes
    any text similar enough: then every complaint of the window is compared.
    Either way the matches are those `duplicates` finds among all the
    complaints added."""

    def __init__(self, r: DuplicateRules) -> None:
        self.r = r
        self.indexed = r.text_min > 0 and r.text_alone > 0
        self._facts: list[ComplaintFacts] = []
        self._sizes: list[tuple[int, int]] = []  # bigrams of (description, address)
        self._all = _Postings()
        self._by_text: dict[str, _Postings] = {}
        self._by_address: dict[str, _Postings] = {}
        self._by_uscc: dict[str, _Postings] = {}

    def add(self, f: ComplaintFacts) -> None:
        slot, at = len(self._facts), f.received_at
        text, address = bigrams(f.description), bigrams(f.address)
        self._facts.append(f)
        self._sizes.append((len(text), len(address)))
        self._all.add(at, slot)
        for grams, index in ((text, self._by_text), (address, self._by_address)):
            for g in grams:
                index.setdefault(g, _Postings()).add(at, slot)
        if f.uscc:
            self._by_uscc.setdefault(f.uscc, _Postings()).add(at, slot)

    def candidates(self, new: ComplaintFacts) -> list[ComplaintFacts]:
        """The complaints added that may match `new` (a superset of its matches)."""
        since, until = new.received_at - self.r.window, new.received_at
        if not self.indexed:
            return [self._facts[i] for i in self._all.within(since, until)]
        text, address = bigrams(new.description), bigrams(new.address)
        shared_text = _shared(self._by_text, text, since, until)
        shared_address = _shared(self._by_address, address, since, until)
        r, sizes, n, na = self.r, self._sizes, len(text), len(address)
        located = new.lat is not None and new.lng is not None
        # A complaint has at least the `c` bigrams it shares, so its text is
        # at most 2c / (n + c) similar: below the lower threshold at fewer
        # than `fewest` shared (the same float division, rounded the same way).
        lower = min(r.text_min, r.text_alone)
        fewest = next((c for c in range(1, n + 1) if 2 * c / (n + c) >= lower), n + 1)
        chosen = set()
        for i, c in shared_text.items():
            if c < fewest:
                continue
            similar = 2 * c / (n + sizes[i][0])
            if similar >= r.text_alone:
                chosen.add(i)
            elif similar >= r.text_min:
                f = self._facts[i]
                if located and f.lat is not None and f.lng is not None:
                    chosen.add(i)  # near or not: `match` measures the distance
                elif new.address and f.address:
                    ca = shared_address.get(i, 0)
                    if r.address_min <= 0 or (ca and 2 * ca / (na + sizes[i][1]) >= r.address_min):
                        chosen.add(i)
        if new.uscc and (same := self._by_uscc.get(new.uscc)) is not None:
            chosen.update(same.within(since, until))
        return [self._facts[i] for i in sorted(chosen)]

    def duplicates(self, new: ComplaintFacts) -> list[Match]:
        """`duplicates(new, <every complaint added>, r)`, comparing fewer."""
        return duplicates(new, self.candidates(new), self.r)


def _shared(
    index: dict[str, _Postings], grams: frozenset[str], since: dt.datetime, until: dt.datetime
) -> Counter[int]:
    """How many of `grams` each complaint of the window has (those with none left out)."""
    counts: Counter[int] = Counter()
    for g in grams:
        if (postings := index.get(g)) is not None:
            counts.update(postings.within(since, until))
    return counts


# ---------------------------------------------------------------- attention

RECENCY_POINTS = 10.0
RECENCY_HALF_LIFE_DAYS = 7.0


def attention(reports: int, complainants: int, last_at: dt.datetime, now: dt.datetime) -> float:
    """How much public attention a cluster has (群众关注度): each report counts
    1, each distinct complainant 2 more (many people outweigh one who calls
    often), plus up to 10 for recency, halving every 7 days since the last report."""
    age_days = max(0.0, (now - last_at).total_seconds() / 86400)
    recency = RECENCY_POINTS * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS)
    return round(reports + 2 * complainants + recency, 2)


# ---------------------------------------------------------------- reports


def closure_rate(closed: int, accepted: int) -> Decimal | None:
    """Closed ÷ accepted as a percentage with one decimal (1165 / 1197 →
    97.3), truncated as every completion rate is (`svc_common.rates`): 100.0
    only when all were closed, 0.0 only when none; None when nothing was
    accepted."""
    return completion_percent(closed, accepted)
