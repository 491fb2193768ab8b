"""OAuth2 bearer JWT (PyJWT): who is calling, in which role, for which districts.

Claims: `sub`, `role` (officer | investment | filer | admin | auditor),
`districts` (GB/T 2260 codes the caller may act in; empty means all, for the
roles that read across districts), `exp`. HS256 with JWT_SECRET in the
embedded default; RS256 against the identity provider's JWKS in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from svc_common.errors import Forbidden, Unauthorized
from svc_common.i18n import msg
from svc_common.settings import ServiceSettings
from svc_common.tokens import ROLES, Role, mint_token

#: Roles whose empty `districts` claim means every district. An officer acts
#: only in the districts its token names (none named: nowhere).
CITYWIDE_WHEN_EMPTY = frozenset({"admin", "auditor", "investment", "filer"})


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    districts: frozenset[str] = field(default_factory=frozenset)

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

    def require_district(self, district: str) -> None:
        if not self.may_act_in(district):
            raise Forbidden(
                msg(
                    f"{self.role} {self.sub} may not act in district {district}",
                    f"{self.sub}（{self.role}）无权在辖区 {district} 操作",
                ),
                district=district,
            )


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None

    def verify(self, token: str) -> Principal:
        options: Any = {"require": ["sub", "exp"]}
        try:
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=["RS256"],
                    audience=self.settings.jwt_audience,
                    issuer=self.settings.jwt_issuer,
                    options=options,
                )
            else:
                claims = jwt.decode(
                    token,
                    self.settings.jwt_secret,
                    algorithms=[self.settings.jwt_algorithm],
                    audience=self.settings.jwt_audience,
                    issuer=self.settings.jwt_issuer,
                    options=options,
                )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthorized(f"token has no valid role (one of {', '.join(ROLES)})")
        districts = claims.get("districts") or []
        if not isinstance(districts, list) or not all(isinstance(d, str) for d in districts):
            raise Unauthorized("districts claim must be a list of district codes")
        return Principal(sub=str(claims["sub"]), role=role, districts=frozenset(districts))


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(creds.credentials)
    request.state.principal = principal
    return principal


def require(*roles: str) -> Callable[..., object]:
    """Dependency: the caller must have one of `roles`. District checks are
    made where the district is known, with `principal.require_district`."""

    async def dep(principal: Principal = Depends(current_principal)) -> Principal:
        if roles and principal.role not in roles:
            raise Forbidden(
                f"role {principal.role} may not do this; needs one of: {', '.join(roles)}",
                required_roles=list(roles),
            )
        return principal

    return dep


__all__ = [
    "CITYWIDE_WHEN_EMPTY",
    "ROLES",
    "Principal",
    "Role",
    "TokenVerifier",
    "current_principal",
    "mint_token",
    "require",
]
