"""The register's hash chain, pure: how an entry's content is written down
and hashed, and how a chain is verified. Anyone can re-implement this from
the description in docs/quota-svc.md; `bureau register verify` uses it.

hash(n) = SHA-256( prev_hash(n) + "\\n" + canonical JSON of the content of n )
where the content is {seq, at, district, pollutant, kind, amount_t, refs}
with every value a string (empty where absent), keys sorted, no spaces, UTF-8;
`at` is UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ; prev_hash(1) is 64 zeros."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

GENESIS = "0" * 64
#: The fields of an entry's content, in the order CSV columns show them.
CONTENT_FIELDS = ("seq", "at", "district", "pollutant", "kind", "amount_t", "refs")
CSV_FIELDS = (*CONTENT_FIELDS, "prev_hash", "hash")


def fmt_at(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fmt_amount(kg: int | None) -> str:
    if kg is None:
        return ""
    return format((Decimal(kg) / 1000).quantize(Decimal("0.001")), "f")


def content(
    seq: int,
    at: dt.datetime,
    district: str | None,
    pollutant: str | None,
    kind: str,
    amount_kg: int | None,
    refs: str,
) -> dict[str, str]:
    return {
        "seq": str(seq),
        "at": fmt_at(at),
        "district": district or "",
        "pollutant": pollutant or "",
        "kind": kind,
        "amount_t": fmt_amount(amount_kg),
        "refs": refs,
    }


def entry_hash(prev_hash: str, fields: Mapping[str, str]) -> str:
    body = json.dumps(
        {k: str(fields.get(k, "")) for k in CONTENT_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


#: What a reference's value may not show as itself: the pair and field
#: separators, and the escape's own sign (percent-encoded as in a URL).
_REF_ESCAPES = {ord("%"): "%25", ord(";"): "%3B", ord("="): "%3D"}


def ref_value(value: object) -> str:
    """A reference's value as the register writes it: `%`, `;` and `=`
    percent-encoded, so no value (a contract's reference, typed by hand)
    reads as more pairs (`HT-1;buyer=…` would name another buyer)."""
    text = str(value)
    if "%" in text or ";" in text or "=" in text:
        return text.translate(_REF_ESCAPES)
    return text


def refs_text(**refs: object) -> str:
    """Public references as `key=value` pairs joined by `;` (sorted, no
    personal data: ids, serials, enterprise codes, project references), each
    value escaped (`ref_value`)."""
    return ";".join(f"{k}={ref_value(v)}" for k, v in sorted(refs.items()) if v not in (None, ""))


def text_digest(text: str) -> str:
    """The SHA-256 of a text typed by hand (UTF-8, hex): what the register
    shows of it, so that whoever holds the text can match it, and nothing
    typed in it (a name, a telephone number) is published."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Break:
    """Where a chain stops being intact, and why."""

    seq: str
    position: int
    reason: str


def verify(
    entries: Iterable[Mapping[str, str]], start_prev: str = GENESIS
) -> tuple[int, Break | None]:
    """Recompute a chain given in order: (entries checked, first break or None).
    Each entry must follow the previous one (seq + 1, prev_hash = its hash)
    and its hash must be that of its content."""
    prev = start_prev
    prev_seq: int | None = None
    n = 0
    for n, e in enumerate(entries, start=1):
        seq = str(e.get("seq", ""))
        if prev_seq is not None and seq != str(prev_seq + 1):
            return n, Break(seq, n, f"sequence jumps from {prev_seq} to {seq}")
        if e.get("prev_hash") != prev:
            return n, Break(seq, n, "prev_hash is not the previous entry's hash")
        if entry_hash(prev, e) != e.get("hash"):
            return n, Break(seq, n, "hash does not match the entry's content")
        prev = str(e["hash"])
        try:
            prev_seq = int(seq)
        except ValueError:
            return n, Break(seq, n, "seq is not a number")
    return n, None


# A filtered CSV (`district`, `pollutant`) is an extract: its entries'
# `prev_hash` are those of entries it leaves out, so it is no chain to
# verify alone. It says so in its first lines, with its filter and the head
# it was cut at, and is verified against the full register: the full chain
# intact, reaching that head, and the extract exactly its entries of the
# filter up to it.
EXTRACT_MARK = "#"
_EXTRACT_TITLE = (
    "# 公开登记簿筛选摘录，不是完整登记簿 (a filtered extract of the public register: "
    "not the full register)"
)
_EXTRACT_HOW = (
    "# 核验：bureau register verify 本文件 --against 完整登记簿（其 CSV 或网址）"
    " (verify: bureau register verify FILE --against the full register's CSV or URL)"
)
#: The filters an extract is cut by, as its `# filter:` line names them.
EXTRACT_FILTERS = ("district", "pollutant", "after")


@dataclass(frozen=True)
class Extract:
    """What a filtered CSV states in its first lines: its filter (district,
    pollutant, and the cursor's `after` seq, each where given) and the
    register's head when it was cut (entries after it are not in it)."""

    filters: Mapping[str, str]
    head_seq: int
    head_hash: str

    def lines(self) -> str:
        """The lines before the CSV's header (no comma in them: a
        spreadsheet shows each whole in its first cell)."""
        kept = ";".join(f"{k}={v}" for k, v in self.filters.items() if v)
        return "\r\n".join(
            (
                _EXTRACT_TITLE,
                f"# filter: {kept}",
                f"# head: seq={self.head_seq};hash={self.head_hash}",
                _EXTRACT_HOW,
                "",
            )
        )

    def keeps(self, entry: Mapping[str, str]) -> bool:
        """Whether the full register's `entry` belongs in this extract."""
        seq = _seq(entry)
        if seq < 1 or seq > self.head_seq or seq <= int(self.filters.get("after") or 0):
            return False
        return all(entry.get(k) == v for k, v in self.filters.items() if k != "after" and v)


def _seq(entry: Mapping[str, str]) -> int:
    try:
        return int(str(entry.get("seq", "")))
    except ValueError:
        return -1


def _pairs(text: str) -> dict[str, str]:
    return dict(p.partition("=")[::2] for p in text.split(";") if "=" in p)


def split_extract(text: str) -> tuple[Extract | None, str]:
    """A CSV's statement that it is an extract (its `#` lines), read, and
    the CSV after it; (None, text) for a CSV without one."""
    lines = text.splitlines(keepends=True)
    said = 0
    while said < len(lines) and lines[said].startswith(EXTRACT_MARK):
        said += 1
    if not said:
        return None, text
    fields: dict[str, str] = {}
    for line in lines[:said]:
        key, _, value = line[1:].strip().partition(": ")
        if key in ("filter", "head"):
            fields |= {f"{key}.{k}": v for k, v in _pairs(value).items()}
    try:
        extract = Extract(
            filters={k: fields[f"filter.{k}"] for k in EXTRACT_FILTERS if f"filter.{k}" in fields},
            head_seq=int(fields["head.seq"]),
            head_hash=fields["head.hash"],
        )
    except (KeyError, ValueError):
        raise ValueError("its first lines do not state its filter and head") from None
    # As the service writes them: a seq a number (an edited `after=abc`
    # would otherwise stop the check with a traceback), a hash 64 hex digits.
    if not _NUMBER.fullmatch(fields["head.seq"]) or not _HASH.fullmatch(extract.head_hash):
        raise ValueError("its head is not seq=<number>;hash=<64 hex digits>")
    if not _NUMBER.fullmatch(extract.filters.get("after") or "0"):
        raise ValueError("its filter's after is not a number")
    return extract, "".join(lines[said:])


def page_extract(entries: Sequence[Mapping[str, str]]) -> Extract | None:
    """A JSON page of the register read after a cursor, as the extract it is
    without saying so: the register's entries after the one before its
    first (`after`: a JSON page carries its first entry's seq and that
    entry's `prev_hash`, which the full register must have as the hash of
    entry `after`) up to its last (its head). None for a page from the
    start (seq 1), verified alone as a chain from 64 zeros, and for one
    whose seqs are not first, first + 1, … last (a filtered page, which
    does not say its filter, or entries removed): verified as a copy, its
    gap is said as broken."""
    if not entries:
        return None
    first, last = _seq(entries[0]), _seq(entries[-1])
    head_hash = str(entries[-1].get("hash", ""))
    span = first > 1 and last - first + 1 == len(entries)
    if not span or not _HASH.fullmatch(head_hash):
        return None
    return Extract({"after": str(first - 1)}, last, head_hash)


_NUMBER = re.compile(r"[0-9]{1,18}")
_HASH = re.compile(r"[0-9a-f]{64}")


def verify_extract(
    extract: Extract,
    rows: Sequence[Mapping[str, str]],
    full: Sequence[Mapping[str, str]],
) -> Break | None:
    """An extract's rows against the full register (`full`, its chain
    verified by the caller): the full register reaches the extract's head,
    and the extract is its entries of the filter up to that head, each the
    same in every field, none missing, none added."""
    if extract.head_seq == 0 and extract.head_hash != GENESIS:
        # Cut before the first entry: its head is the chain's start, nothing
        # to find in the register (any other hash there is not one it had).
        return Break("0", 0, "an empty register's head is 64 zeros, not this hash")
    at_head = next((e for e in full if str(e.get("seq")) == str(extract.head_seq)), None)
    if extract.head_seq and at_head is None:
        return Break(str(extract.head_seq), 0, "the full register does not reach the head")
    if at_head is not None and at_head.get("hash") != extract.head_hash:
        return Break(str(extract.head_seq), 0, "the full register's entry there has another hash")
    expected = [e for e in full if extract.keeps(e)]
    for n, (got, want) in enumerate(zip(rows, expected, strict=False), start=1):
        if str(got.get("seq")) != str(want.get("seq")):
            if _seq(got) < _seq(want):
                return Break(str(got.get("seq")), n, "is not one of the filter's entries")
            return Break(str(want.get("seq")), n, "the register's entry is missing")
        if any(str(got.get(k, "")) != str(want.get(k, "")) for k in CSV_FIELDS):
            return Break(str(got.get("seq")), n, "differs from the full register's entry")
    if len(rows) > len(expected):
        extra = rows[len(expected)]
        return Break(str(extra.get("seq")), len(expected) + 1, "is not in the register's entries")
    if len(rows) < len(expected):
        gone = expected[len(rows)]
        return Break(str(gone.get("seq")), len(rows) + 1, "the register's entry is missing")
    return None
