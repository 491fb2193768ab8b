"""Who is signed in, as the session keeps it, and the development users."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import jwt
from fastapi import Request
from svc_common.auth import (
    districts_claim,
    expiry_of,
    mint_token,
    name_ok,
    role_name,
    subject_ok,
)
from svc_common.districts import district_name
from svc_common.i18n import msg

#: Roles the console serves and what each sees first.
HOME_OF_ROLE = {
    "investment": "/console/investment/",
    "officer": "/console/workbench/",
    "admin": "/console/workbench/",
    "auditor": "/console/enterprise/",
    "filer": "/console/",
}


@dataclass
class User:
    sub: str
    role: str
    name: str
    token: str
    exp: int
    districts: list[str] = field(default_factory=list)
    via: str = "dev"

    @property
    def district_names(self) -> list[str]:
        return [district_name(d) for d in self.districts]

    def may_act_in(self, district: str) -> bool:
        if not self.districts:
            return self.role in ("admin", "auditor", "investment")
        return district in self.districts

    @property
    def home(self) -> str:
        return HOME_OF_ROLE.get(self.role, "/console/")


#: Where the session middleware leaves the user record of the request's session.
SCOPE_KEY = "console_user"


def from_session(request: Request) -> User | None:
    """The user of the request's server-side session (loaded by
    `SessionCookies` from the store under the cookie's session id)."""
    raw = request.scope.get(SCOPE_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        user = User(**raw)
    except TypeError:
        return None
    if user.exp <= time.time():
        return None
    return user


async def sign_in(request: Request, user: User) -> None:
    """A new session on sign-in (no fixation of a session made before it):
    the user and the token stay on the server; the cookie gets a random id."""
    await sign_out(request)
    sid = secrets.token_urlsafe(32)
    settings = request.app.state.settings
    expires = min(float(user.exp), time.time() + settings.session_max_age_seconds)
    await request.app.state.sessions.put(sid, asdict(user), expires)
    request.session["sid"] = sid
    request.scope[SCOPE_KEY] = asdict(user)


async def sign_out(request: Request) -> None:
    """End the session on the server: its cookie, replayed, is nobody's.
    The cookie is cleared even if the store cannot be reached (then
    SessionStoreDown: the record ends when it expires)."""
    sid = request.session.get("sid")
    request.session.clear()
    request.scope[SCOPE_KEY] = None
    if isinstance(sid, str):
        await request.app.state.sessions.delete(sid)


class UnusableToken(ValueError):
    """An access token no one can be signed in with: not a JWT, or a `sub`
    or `exp` the services refuse whatever its signature."""


def from_token(token: str, *, via: str, name: str | None = None) -> User:
    """A user from an access token's claims. Read without verification: only
    for display and menus; every API call verifies the token itself. A
    token whose `sub` or `exp` the services would refuse on its face, by
    their own checks (svc_common.auth), is UnusableToken: the session
    would name a user no page can show, or end at no moment a clock holds."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise UnusableToken("the access token is not a JWT") from exc
    sub = claims.get("sub")
    exp = expiry_of(claims) if "exp" in claims else time.time() + 3600
    if not subject_ok(sub) or exp is None:
        raise UnusableToken("the access token's sub or exp is not valid")
    districts = districts_claim(claims)
    if districts is None:
        # Every service refuses it (401): signed in, every page would end
        # the session again.
        raise UnusableToken("the access token's districts claim is not a list of codes")
    shown = name or claims.get("name") or claims.get("preferred_username")
    return User(
        sub=sub,
        role=str(claims.get("role", "")),
        # A name that could not be shown as it is (name_ok's rule) is the sub.
        name=shown if name_ok(shown) else sub,
        token=token,
        exp=int(exp),
        districts=[str(d) for d in districts],
        via=via,
    )


@dataclass(frozen=True)
class DevUser:
    """A development user of the embedded default (开发用账号)."""

    key: str
    sub: str
    name: str
    role: str
    districts: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def note(self) -> str:
        """What the user is, in the reader's language: 审批人员（蓟州区）,
        approval officer (Jizhou District)."""
        where = (
            "、".join(district_name(d) for d in self.districts)
            if self.districts
            else msg("citywide", "全市")
        )
        if self.read_only:
            where += msg(", read only", "，只读")
        return msg(f"{role_name(self.role)} ({where})", f"{role_name(self.role)}（{where}）")


DEV_USERS: tuple[DevUser, ...] = (
    DevUser("investment", "wang.fang", "王芳", "investment"),
    DevUser("officer-jizhou", "li.hua", "李华", "officer", ("120119",)),
    DevUser("officer-jizhou-2", "chen.jing", "陈静", "officer", ("120119",)),
    DevUser("officer-baodi", "zhang.min", "张敏", "officer", ("120115",)),
    DevUser("admin", "admin.zhao", "赵强", "admin"),
    DevUser("auditor", "sun.li", "孙丽", "auditor", read_only=True),
)


def dev_user(key: str) -> DevUser | None:
    return next((u for u in DEV_USERS if u.key == key), None)


def sign_dev_token(u: DevUser, secret: str, hours: int = 8) -> str:
    return mint_token(
        secret, sub=u.sub, role=u.role, districts=u.districts, ttl=dt.timedelta(hours=hours)
    )
