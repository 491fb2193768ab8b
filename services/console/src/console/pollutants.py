"""The pollutants under total-quantity control, as quota-svc keeps them (its
public `GET /quota/pollutants`): the one list the pages offer and check
against, so a pollutant quota-svc adds is there with no change to the
console. Read by the public register and the 招商 page, through one
`PollutantList` per console process (app.state.pollutants)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, NamedTuple

import structlog
from svc_common.guard import listed_code
from svc_common.i18n import msg
from svc_common.types import utcnow

from console.api import ApiError, Services

log = structlog.get_logger(__name__)


class Pollutant(NamedTuple):
    """A pollutant: its code (what forms and addresses carry, as quota-svc
    writes it) and its names ("" when unknown), both kept: a list read once
    serves readers of either language."""

    code: str
    name_en: str = ""
    name_zh: str = ""

    @property
    def name(self) -> str:
        """Its name in the reader's language ("" when unknown)."""
        return msg(self.name_en, self.name_zh)

    @property
    def label(self) -> str:
        """The code with its name, as a list or a field shows it:
        VOCs（挥发性有机物）; the code alone when the name is unknown."""
        name = self.name
        if not name:
            return self.code
        return f"{self.code}{msg(' (', '（')}{name}{msg(')', '）')}"


def listed_pollutants(data: Any) -> list[Pollutant]:
    """quota-svc's answer as pollutants, in its order (VOCs first); an
    answer that is no list of pollutants is a bad answer (502), not an empty
    list a page would take for "nothing controlled"."""
    listed = (
        [
            Pollutant(code, str(p.get("name_en") or ""), str(p.get("name_zh") or ""))
            for p in data
            if isinstance(p, dict) and (code := str(p.get("code") or ""))
        ]
        if isinstance(data, list)
        else []
    )
    if not listed:
        raise ApiError(502, {})
    return listed


def as_listed(code: str, pollutants: list[Pollutant] | None) -> str:
    """The pollutant `code` names, as quota-svc writes it: `vocs`, `Vocs`
    or the full-width `ＶＯＣｓ` a Chinese IME types into an address is VOCs
    (`svc_common.guard.listed_code`, as quota-svc reads it); a code it does
    not list, or any when its list is unread, is kept as typed (in NFKC
    form, spaces around it dropped), for quota-svc to refuse in its words."""
    return listed_code(code, (p.code for p in pollutants or ()))


class PollutantList:
    """quota-svc's list, read for a process at most once in `fresh` (time
    from the one clock): the pages that offer pollutants read it on every
    request, and quota-svc changes it rarely (a pollutant added by a
    release). A failed read is never kept: the next request asks again.
    While quota-svc is failing or out of reach (a 5xx, a timeout), the last
    list read is used up to `stale_limit` after it was read; an answer that
    is no list (a 4xx, a body without pollutants) is said at once."""

    def __init__(self, fresh: dt.timedelta, stale_limit: dt.timedelta) -> None:
        self.fresh = fresh
        self.stale_limit = stale_limit
        self._listed: tuple[Pollutant, ...] = ()
        self._read_at: dt.datetime | None = None
        # One read at a time: the requests arriving while it is under way
        # take what it read rather than each asking quota-svc.
        self._reading = asyncio.Lock()

    def _kept(self, within: dt.timedelta) -> list[Pollutant] | None:
        """A copy of the list read within `within` of now (a copy: a page
        adds the pollutant it was asked for to its own)."""
        if self._read_at is None:
            return None
        age = utcnow() - self._read_at
        # A clock set back leaves no list taken for fresh until it is reached.
        return list(self._listed) if dt.timedelta(0) <= age < within else None

    async def read(self, api: Services) -> list[Pollutant]:
        """quota-svc's list, in its order (VOCs first). Raises `ApiError`
        when it cannot be read (and no list read lately may stand in): 503
        when quota-svc is out, 502 for any other failure."""
        if (kept := self._kept(self.fresh)) is not None:
            return kept
        async with self._reading:
            if (kept := self._kept(self.fresh)) is not None:
                return kept  # read by the request this one waited for
            try:
                data = await api.get("quota", "/quota/pollutants", token=None)
            except ApiError as exc:
                if 400 <= exc.status < 500:
                    # A public read refused (a quota-svc without the list):
                    # its failure, not the reader's request; said as a bad answer.
                    raise ApiError(502, {}) from exc
                if (kept := self._kept(self.stale_limit)) is not None:
                    log.warning(
                        "quota-svc's pollutant list could not be read: the last one read is used",
                        status=exc.status,
                        read_at=self._read_at.isoformat() if self._read_at else None,
                    )
                    return kept
                raise
            listed = listed_pollutants(data)
            self._listed, self._read_at = tuple(listed), utcnow()
            return listed.copy()

    async def read_or_none(self, api: Services) -> list[Pollutant] | None:
        """quota-svc's list, or None when it cannot be read (a page that can
        do without it then leaves its check to quota-svc)."""
        try:
            return await self.read(api)
        except ApiError:
            return None
