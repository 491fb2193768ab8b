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
from collections.abc import Iterable, Mapping
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
