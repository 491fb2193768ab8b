"""Text an operator can read, whatever bytes a message carried.

A dead letter's event type (its `ce_type` header) may be bytes that are not
UTF-8, or text of characters that print as nothing; decoded with U+FFFD it
was listed as `���`, which says neither that it could not be read nor what
it was. Shown here as `（无法解码）` and an escaped preview of what it holds:
printable characters as they are, bytes that are not UTF-8 as `\\xff`, other
characters as `\\u200b`, U+FFFD (a byte already lost) as `\\ufffd`.
"""

from __future__ import annotations

#: What an unreadable text is shown as, before its escaped preview.
UNDECODABLE = "（无法解码）"
#: The longest preview of an unreadable text, in characters.
PREVIEW_CHARS = 120


def readable(text: str) -> bool:
    """Text that prints as itself: no U+FFFD (bytes lost in decoding) and
    nothing unprintable (control, format or unassigned characters)."""
    return text.isprintable() and "\ufffd" not in text


def escaped(text: str) -> str:
    """`text` with each character that prints as nothing (a zero-width
    space, a line break, a control) written as its escape (`\\u200b`,
    `\\n`): how a message quotes a code or id a person sent, so that
    `nan\\u200bgang` is not read as `nangang`, a code that exists."""
    return "".join(
        c if c.isprintable() and c != "\ufffd" else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def _marked(preview: str) -> str:
    if len(preview) > PREVIEW_CHARS:
        preview = preview[:PREVIEW_CHARS] + "…"
    return f"{UNDECODABLE} {preview}"


def shown(text: str | None) -> str | None:
    """`text` as is if it is readable, else marked unreadable with an escaped preview."""
    if text is None or readable(text):
        return text
    return _marked(escaped(text))


def shown_bytes(raw: bytes) -> str:
    """Bytes as their UTF-8 text if that is readable, else marked unreadable
    with a preview that keeps each byte that is not UTF-8 (`\\xff`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _marked(escaped(raw.decode("utf-8", "backslashreplace")))
    return text if readable(text) else _marked(escaped(text))


def header_shown(headers: list[tuple[str, bytes]], name: str) -> str | None:
    """The header `name` as `shown_bytes` shows it, or None if it is absent."""
    for k, v in headers:
        if k == name:
            return shown_bytes(v)
    return None
