"""Minting tokens (development and tests), with no web framework to import:
the command line uses it and starts fast. Verification is in `auth`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal, get_args

import jwt

Role = Literal["officer", "investment", "filer", "admin", "auditor"]
ROLES: tuple[str, ...] = get_args(Role)


def mint_token(
    secret: str,
    *,
    sub: str,
    role: str,
    districts: Iterable[str] = (),
    ttl: dt.timedelta = dt.timedelta(hours=12),
    algorithm: str = "HS256",
    uscc: str | None = None,
) -> str:
    """A development token signed with the embedded default's secret. A
    filer's may name the enterprise it acts for (`uscc`, its unified social
    credit code); no other role's token names one."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if uscc is not None:
        # Imported here: a token without one (most) needs no pydantic.
        from svc_common.uscc import uscc_problem

        if role != "filer":
            raise ValueError("only a filer's token names an enterprise (uscc)")
        if why := uscc_problem(uscc):
            raise ValueError(f"uscc is not a unified social credit code: {why}")
    # Tokens live in real time (PyJWT checks `exp` against the wall clock),
    # not on the system's business clock, which a demonstration may move.
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": sub,
        "role": role,
        "districts": sorted(set(districts)),
        "iat": now,
        "exp": now + ttl,
    }
    if uscc is not None:
        claims["uscc"] = uscc
    return jwt.encode(claims, secret, algorithm=algorithm)
