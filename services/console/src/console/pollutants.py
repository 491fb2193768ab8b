"""The pollutants under total-quantity control, as quota-svc keeps them (its
public `GET /quota/pollutants`): the one list the pages offer and check
against, so a pollutant quota-svc adds is there with no change to the
console. Read by the public register and the 招商 page."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

from svc_common.i18n import msg

from console.api import ApiError, Services


class Pollutant(NamedTuple):
    """A pollutant: its code (what forms and addresses carry, as quota-svc
    writes it) and its name in the reader's language ("" when unknown)."""

    code: str
    name: str

    @property
    def label(self) -> str:
        """The code with its name, as a list or a field shows it:
        VOCs（挥发性有机物）; the code alone when the name is unknown."""
        if not self.name:
            return self.code
        return f"{self.code}{msg(' (', '（')}{self.name}{msg(')', '）')}"


def as_listed(typed: str, codes: Iterable[str]) -> str:
    """A pollutant typed into an address as quota-svc writes it: full-width
    folded (NFKC), spaces around it dropped, and any case of a code quota-svc
    keeps (`vocs`, `ＶＯＣｓ`) that code; anything else as typed (folded), for
    the page or quota-svc to refuse in its words."""
    folded = unicodedata.normalize("NFKC", typed).strip()
    return next((c for c in codes if c.lower() == folded.lower()), folded)


async def quota_pollutants(api: Services) -> list[Pollutant]:
    """quota-svc's list, in its order (VOCs first). Raises `ApiError` when it
    cannot be read: 503 when quota-svc is out, 502 for any other failure;
    an answer that is no list of pollutants is a bad answer (502), not an
    empty list a page would take for "nothing controlled"."""
    try:
        data = await api.get("quota", "/quota/pollutants", token=None)
    except ApiError as exc:
        if 400 <= exc.status < 500:
            # A public read refused (a quota-svc without the list): its
            # failure, not the reader's request; said as a bad answer.
            raise ApiError(502, {}) from exc
        raise
    listed = (
        [
            Pollutant(code, msg(str(p.get("name_en") or ""), str(p.get("name_zh") or "")))
            for p in data
            if isinstance(p, dict) and (code := str(p.get("code") or ""))
        ]
        if isinstance(data, list)
        else []
    )
    if not listed:
        raise ApiError(502, {})
    return listed


async def register_pollutants(api: Services) -> list[Pollutant] | None:
    """quota-svc's list, or None when it cannot be read (a page that can do
    without it then leaves its check to quota-svc)."""
    try:
        return await quota_pollutants(api)
    except ApiError:
        return None
