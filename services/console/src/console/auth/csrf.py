"""CSRF protection of every form (synchronizer token): a random token kept in
the session, sent back by each form as a hidden field or, for htmx, in the
X-CSRF-Token header. With the SameSite=Lax cookie this stops a foreign site
from posting on a signed-in user's behalf."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from console.errors import CsrfRejected

FIELD = "csrf_token"
HEADER = "x-csrf-token"


def token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    t = request.session.get("csrf")
    if not isinstance(t, str) or len(t) < 20:
        t = secrets.token_urlsafe(32)
        request.session["csrf"] = t
    return t


def _bytes(text: str) -> bytes:
    # A form field may hold a lone surrogate; it matches no token either way.
    return text.encode("utf-8", "surrogatepass")


async def verify(request: Request) -> None:
    """Dependency of every state-changing route: 403 unless the request
    carries the session's token. Compared as UTF-8 bytes: `compare_digest`
    refuses a str past ASCII with a TypeError (a 500), and a header or a
    form field may hold anything (`X-CSRF-Token: é`, `csrf_token=中`)."""
    expected = request.session.get("csrf")
    given = request.headers.get(HEADER)
    if given is None:
        form = await request.form()
        value = form.get(FIELD)
        given = value if isinstance(value, str) else None
    if not (
        isinstance(expected, str) and given and hmac.compare_digest(_bytes(expected), _bytes(given))
    ):
        raise CsrfRejected()
