"""Enterprises by name: the services' lists and queues name an enterprise
by its unified social credit code, often only by it (an audit, a
complaint); a page shows the name beside it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from console.api import ApiError, Services, gather_limited

#: At most this many enterprises are looked up for a page; any more show by
#: their code (a district's whole register is never read).
MAX_NAME_LOOKUPS = 40


async def company_names(
    api: Services,
    token: str,
    usccs: Iterable[str],
    known: Iterable[Mapping[str, Any]] = (),
) -> dict[str, str]:
    """The names of the enterprises `usccs`: from what the page read
    already (`known`: records with `uscc` and `enterprise_name`), else one
    read of the enterprise from permit-svc (eight at a time, at most
    `MAX_NAME_LOOKUPS`); one that neither names (or whose read failed) is
    left out, to be shown by its code."""
    names = {
        str(x["uscc"]): str(x["enterprise_name"])
        for x in known
        if x.get("uscc") and x.get("enterprise_name")
    }
    missing = sorted({u for u in usccs if u and u not in names})[:MAX_NAME_LOOKUPS]

    async def one(uscc: str) -> tuple[str, str | None]:
        try:
            company = await api.get("permit", f"/permit/enterprises/{uscc}", token=token)
        except ApiError:
            return uscc, None
        if not isinstance(company, Mapping):
            return uscc, None
        return uscc, str(company.get("name") or "") or None

    for uscc, name in await gather_limited((one(u) for u in missing), limit=8):
        if name:
            names[uscc] = name
    return names
