"""OAuth2 bearer JWT (PyJWT): who is calling, in which role, for which districts.

Claims: `sub`, `role` (officer | investment | filer | admin | auditor),
`districts` (GB/T 2260 codes the caller may act in; empty means all, for the
roles that read across districts), `exp`, and for a filer (an enterprise's
own reporting system, 申报单位) an optional `uscc`: the unified social credit
code of the enterprise it acts for (svc_common.uscc; a malformed one is a
401). A filer's token with it acts on that enterprise's records only
(`Principal.found_of_enterprise`); other roles' tokens are not limited by
it. HS256 with JWT_SECRET in the embedded default; RS256 against the
identity provider's JWKS in production.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import jwt
from fastapi import Request

from svc_common.districts import district_named
from svc_common.districts import districts_claim as districts_claim
from svc_common.errors import Conflict, Forbidden, NotFound, Unauthorized, Unavailable
from svc_common.guard import name_key
from svc_common.i18n import msg
from svc_common.names import MAX_SUB_LENGTH as MAX_SUB_LENGTH
from svc_common.names import NAME_DOTS as NAME_DOTS
from svc_common.names import RESERVED_SUBS as RESERVED_SUBS
from svc_common.names import SYSTEM_SUB as SYSTEM_SUB
from svc_common.names import name_ok as name_ok
from svc_common.names import subject_ok as subject_ok
from svc_common.names import subject_problem as subject_problem
from svc_common.settings import ServiceSettings
from svc_common.tokens import ROLES, Role, mint_token
from svc_common.uscc import uscc_problem

#: Roles as people call them (a refusal names them so; the console too).
ROLE_NAMES: dict[str, tuple[str, str]] = {
    "investment": ("investment staff", "招商人员"),
    "officer": ("approval officer", "审批人员"),
    "admin": ("administrator", "管理员"),
    "auditor": ("auditor", "审计人员"),
    "filer": ("filer", "申报单位"),
}


def role_name(role: str) -> str:
    """A role as people call it, in the caller's language (an unknown role as it is)."""
    en, zh = ROLE_NAMES.get(role, (role, role))
    return msg(en, zh)


class InDistrict(Protocol):
    """A record of one district (an enterprise, a permit, a reservation…)."""

    @property
    def district(self) -> str: ...


R = TypeVar("R", bound=InDistrict)


class OfEnterprise(InDistrict, Protocol):
    """A record of one enterprise (a permit, a report…), in its district."""

    @property
    def uscc(self) -> str: ...


E = TypeVar("E", bound=OfEnterprise)


#: Roles whose empty `districts` claim means every district. An officer acts
#: only in the districts its token names (none named: nowhere).
CITYWIDE_WHEN_EMPTY = frozenset({"admin", "auditor", "investment", "filer"})


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    districts: frozenset[str] = field(default_factory=frozenset)
    #: The enterprise a filer's token acts for (its `uscc` claim), or None.
    uscc: str | None = None

    def may_act_in(self, district: str) -> bool:
        if not self.districts:
            return self.role in CITYWIDE_WHEN_EMPTY
        return district in self.districts

    def district_scope(self) -> frozenset[str] | None:
        """The districts a list must be limited to, or None for citywide.
        The one rule of district scope, for every role: a token's `districts`
        bind it; empty means citywide only for the roles that may have that."""
        if not self.districts:
            return None if self.role in CITYWIDE_WHEN_EMPTY else frozenset()
        return self.districts

    def require_found(self, not_found: str, *districts: str | None) -> None:
        """404 `not_found` unless the record is there and the caller's to
        see: `districts` are its district (None: no such record; a trade or
        a swap gives its two, either one enough). Another district's record
        is answered as one that does not exist, byte for byte (the same
        `not_found`): a 403 naming its district would tell anyone who may
        read one district that a code, a permit or a reservation exists,
        and where. A district the request itself names (a list's filter, a
        pool's path, a new record's body) is refused by `require_district`
        instead: that tells nothing the caller did not say."""
        if not any(d is not None and self.may_act_in(d) for d in districts):
            raise NotFound(not_found)

    def found(self, record: R | None, not_found: str) -> R:
        """`record`, when it is there and in one of the caller's districts;
        else 404 `not_found`, as `require_found` says."""
        self.require_found(not_found, None if record is None else record.district)
        assert record is not None
        return record

    def enterprise_scope(self) -> str | None:
        """The enterprise the caller acts for, or None when it is not
        limited to one: a filer acts for the enterprise its token names
        (`uscc`), and a filer's token naming none is refused (403) where
        an enterprise's records are read or written. Other roles are
        limited by their districts only."""
        if self.role != "filer":
            return None
        if self.uscc is None:
            raise Forbidden(
                msg(
                    "the token names no enterprise (uscc): a filer acts for the enterprise "
                    "its token names",
                    "令牌未指明企业（uscc）：申报单位只能以令牌所指明的企业身份操作",
                ),
                required="uscc",
            )
        return self.uscc

    def found_of_enterprise(self, record: E | None, not_found: str) -> E:
        """`found`, and for a filer the record of its own enterprise only
        (`enterprise_scope`): another enterprise's record is answered as
        one that does not exist, byte for byte, as another district's is."""
        scope = self.enterprise_scope()
        if scope is not None and record is not None and record.uscc != scope:
            record = None
        return self.found(record, not_found)

    def require_district(self, district: str) -> None:
        if not self.may_act_in(district):
            # By the names people use (审批人员, 宝坻区), each code beside it.
            place_en, place_zh = district_named(district)
            en, zh = ROLE_NAMES.get(self.role, (self.role, self.role))
            raise Forbidden(
                msg(
                    f"{en} {self.sub} may not act in district {place_en}",
                    f"{zh} {self.sub} 无权在{place_zh}操作",
                ),
                district=district,
            )


#: Tokens verified recently: a token is verified once per process, not on
#: every request (its expiry is still checked on every use).
CACHE_SIZE = 4096
#: How far ahead of this machine's clock an issuer's may run: before a token
#: it minted for the longest lifetime allowed is refused as too long-lived,
#: and before one it minted just now (`iat`, `nbf` a second or two ahead of
#: this clock) is refused as not yet valid.
LEEWAY_SECONDS = 60


def person_key(sub: str) -> str:
    """What makes two subs one person's: NFKC, case folded, with no space
    nor invisible character (a record made before subs were held to
    `subject_ok` may hold one), the two name dots one (they draw alike):
    a written name's key (`guard.name_key`, which 双人执法 compares
    inspectors by) with no space at all, so the two never disagree."""
    return name_key(sub).replace(" ", "")


def same_person(a: str | None, b: str | None) -> bool:
    """Whether two subs name the same person, for every four-eyes rule of
    every service (a proposer and an approver, a submitter and a decider):
    `Li.Hua` and `li.hua` are one officer. Nothing (None) is no one."""
    if a is None or b is None:
        return False
    return person_key(a) == person_key(b)


def refuse_same_person(
    first: str | None, second: str | None, *, en: str, zh: str, reason: str, **extra: Any
) -> None:
    """Every four-eyes refusal of every service: a 409 conflict when `first`
    and `second` are one person (`same_person`, which errs towards
    refusing), its detail the rule's own words (zh-CN first) and `reason`
    its machine-readable code (`proposer_approves`, `submitter_decides`...),
    with `extra` members (who acted first, say). The request is well-formed
    and the caller may act; it is the record's state, who acted on it
    first, that refuses it, so it is the same status in every service."""
    if same_person(first, second):
        raise Conflict(msg(en, zh), reason=reason, **extra)


#: The claims that are moments: JSON numbers (RFC 7519 NumericDate), not a
#: string of digits PyJWT would read as one.
TIME_CLAIMS = ("exp", "nbf", "iat")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def moment_of(claims: dict[str, Any], name: str) -> float | None:
    """A token's time claim `name` as a moment (seconds since the epoch), or
    None when it is none: a JSON number (not a string of digits, not true)
    that a clock can hold (an integer too large for a float is no moment)."""
    value = claims.get(name)
    if not _is_number(value):
        return None
    try:
        moment = float(value)  # type: ignore[arg-type]
    except OverflowError:
        return None
    return moment if math.isfinite(moment) else None


def expiry_of(claims: dict[str, Any]) -> float | None:
    """A token's `exp` as a moment, or None (`moment_of`)."""
    return moment_of(claims, "exp")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise jwt.DecodeError("a key is given twice in the token's payload")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise jwt.DecodeError(f"{name} is not a JSON number")


class _StrictJWT(jwt.PyJWT):
    """PyJWT reading the payload strictly, once the signature is verified:
    a key given twice (`"role":"officer","role":"admin"`, which json.loads
    would read as the last) and a moment (`exp`, `nbf`, `iat`) that is not
    a JSON number (PyJWT reads a string of digits with int()) make the
    token invalid. `_decode_payload` is PyJWT's hook for reading a payload
    another way."""

    def _decode_payload(self, decoded: dict[str, Any]) -> dict[str, Any]:
        try:
            payload = json.loads(
                decoded["payload"], object_pairs_hook=_unique_keys, parse_constant=_no_constant
            )
        except (ValueError, RecursionError) as exc:
            raise jwt.DecodeError(f"Invalid payload string: {exc}") from exc
        if not isinstance(payload, dict):
            raise jwt.DecodeError("Invalid payload string: must be a json object")
        for name in TIME_CLAIMS:
            if name in payload and not _is_number(payload[name]):
                raise jwt.DecodeError(f"the {name} claim is not a JSON number")
        return payload


_STRICT_JWT = _StrictJWT()


def _invalid(en: str, zh: str) -> Unauthorized:
    return Unauthorized(msg(en, zh), www_authenticate='Bearer error="invalid_token"')


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def verify(self, token: str) -> Principal:
        hit = self._cache.get(token)
        if hit is not None:
            principal, exp = hit
            if time.time() < exp:
                self._cache.move_to_end(token)
                return principal
            del self._cache[token]
        principal, exp = self._verify(token)
        self._cache[token] = (principal, exp)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    def _decode(self, token: str) -> dict[str, Any]:
        # `iat` and `nbf` are checked by `_verify`, with the issuer's clock
        # allowed to run ahead of this one (PyJWT's leeway would let an
        # expired token in as long).
        options: Any = {"require": ["sub", "exp"], "verify_iat": False, "verify_nbf": False}
        if self._jwks is not None:
            try:
                key = self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as exc:
                raise Unavailable(
                    msg(
                        "the identity provider's keys cannot be fetched; retry shortly",
                        "暂时无法获取身份提供方的公钥，请稍后重试",
                    )
                ) from exc
            return _STRICT_JWT.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options=options,
            )
        return _STRICT_JWT.decode(
            token,
            self.settings.jwt_secret,
            algorithms=[self.settings.jwt_algorithm],
            audience=self.settings.jwt_audience,
            issuer=self.settings.jwt_issuer,
            options=options,
        )

    def _verify(self, token: str) -> tuple[Principal, float]:
        if len(token) > 8192:
            raise _invalid("the token is too long", "令牌过长")
        try:
            claims = self._decode(token)
        except jwt.ExpiredSignatureError as exc:
            raise _invalid("the token has expired", "令牌已过期") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            # The library's own words stay in the log; the caller learns only
            # that the token is not acceptable.
            raise _invalid("the token is not valid", "令牌无效") from exc
        now = time.time()
        for name in ("nbf", "iat"):
            if name not in claims:
                continue
            moment = moment_of(claims, name)
            if moment is None:
                raise _invalid("the token is not valid", "令牌无效")
            if moment > now + LEEWAY_SECONDS:
                raise _invalid(
                    f"the token is not valid yet: its {name} is more than {LEEWAY_SECONDS} s "
                    "ahead of this server's clock (check the issuer's clock)",
                    f"令牌尚未生效：其 {name} 比本服务器时间晚 {LEEWAY_SECONDS} 秒以上"
                    "（请检查签发方的时钟）",
                )
        sub, role = claims.get("sub"), claims.get("role")
        if not isinstance(sub, str) or not sub.strip():
            raise _invalid("the token names no subject (sub)", "令牌缺少主体（sub）")
        if not subject_ok(sub):
            raise _invalid("the token's subject (sub) is not valid", "令牌的主体（sub）无效")
        if role not in ROLES:
            raise _invalid(
                f"the token has no valid role (one of {', '.join(ROLES)})",
                f"令牌的角色无效（应为 {'、'.join(ROLES)} 之一）",
            )
        districts = districts_claim(claims)
        if districts is None:
            raise _invalid(
                "the districts claim must be a list of GB/T 2260 district codes",
                "districts 声明必须是 GB/T 2260 区划代码的列表",
            )
        uscc = claims.get("uscc")
        if "uscc" in claims:
            # Given, it is a code: not read as "no enterprise" when null or blank.
            why = uscc_problem(uscc) if isinstance(uscc, str) else msg("not a string", "不是字符串")
            if why:
                raise _invalid(
                    f"the uscc claim is not a unified social credit code: {why}",
                    f"uscc 声明不是有效的统一社会信用代码：{why}",
                )
        # Required and read by PyJWT; read the same way here, so that the
        # lifetime's bound sees it.
        expires = expiry_of(claims)
        if expires is None:
            raise _invalid("the token is not valid", "令牌无效")
        most = self.settings.jwt_max_lifetime_hours
        if expires > now + most * 3600 + LEEWAY_SECONDS:
            raise _invalid(
                f"the token expires more than {most} hour{'s' if most != 1 else ''} from now: "
                "ask for a shorter-lived one",
                f"令牌的有效期超过 {most} 小时：请申请有效期更短的令牌",
            )
        principal = Principal(sub=sub, role=role, districts=frozenset(districts), uscc=uscc)
        return principal, expires


def principal_of(request: Request) -> Principal:
    """The caller of `request`, from its `Authorization: Bearer` header, or
    401. A plain function, not a dependency of its own: every level of
    FastAPI's dependency tree costs each request its solving, and this runs
    on every request with a token (the header is read as HTTPBearer reads
    it; svc_common.openapi declares the scheme)."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if not token or scheme.lower() != "bearer":
        raise Unauthorized(
            msg("a bearer token is required", "需要 Bearer 令牌"),
            www_authenticate='Bearer realm="envbureau"',
        )
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(token)
    request.state.principal = principal
    return principal


async def current_principal(request: Request) -> Principal:
    """Dependency: the caller, any role."""
    return principal_of(request)


def _said(role: str) -> str:
    zh = ROLE_NAMES.get(role, ("", role))[1]
    return f"{zh}（{role}）" if zh != role else role


def _admitted(principal: Principal, roles: tuple[str, ...]) -> Principal:
    if roles and principal.role not in roles:
        raise Forbidden(
            msg(
                f"role {principal.role} may not do this; needs one of: {', '.join(roles)}",
                # In Chinese by the names people use, each with its code.
                f"{_said(principal.role)}无权执行此操作；需要以下角色之一："
                + "、".join(_said(r) for r in roles),
            ),
            required_roles=list(roles),
        )
    return principal


def require(*roles: str) -> Callable[..., object]:
    """Dependency: the caller must have one of `roles`. District checks are
    made where the district is known, with `principal.require_district`."""

    async def dep(request: Request) -> Principal:
        return _admitted(principal_of(request), roles)

    # Read by svc_common.openapi: the roles a route admits, for its document.
    dep.__roles__ = roles  # type: ignore[attr-defined]
    return dep


def require_citywide(*roles: str) -> Callable[..., object]:
    """Dependency for operations on a whole service (its audit trail, its
    clock, dead letters, citywide tables): one of `roles`, with a token that
    names no district. A token scoped to districts acts in those only, so it
    may not change or read what spans every district."""

    async def dep(request: Request) -> Principal:
        principal = _admitted(principal_of(request), roles)
        if principal.districts:
            raise Forbidden(
                msg(
                    "operations on a whole service need a token with no district restriction",
                    "整个服务的运维操作需要不限辖区的令牌",
                ),
                required="citywide",
            )
        return principal

    dep.__roles__ = roles  # type: ignore[attr-defined]
    dep.__citywide__ = True  # type: ignore[attr-defined]
    return dep


__all__ = [
    "CITYWIDE_WHEN_EMPTY",
    "ROLES",
    "Principal",
    "Role",
    "TokenVerifier",
    "current_principal",
    "mint_token",
    "name_ok",
    "principal_of",
    "refuse_same_person",
    "require",
    "require_citywide",
    "same_person",
    "subject_ok",
]
