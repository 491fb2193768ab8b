"""OpenID Connect sign-in (authorization-code flow with PKCE) through Authlib.

The identity provider's discovery document gives the endpoints and keys;
Authlib checks the state, the nonce and the ID token's signature. The access
token is what the console then sends to the APIs, which verify it against
the same provider's JWKS (JWT_JWKS_URL); its claims must carry `role` and
`districts` (a claim mapper in the provider)."""

from __future__ import annotations

import warnings
from typing import Any

from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # Authlib 1.9 announces a move of its httpx integration at import; the
    # Starlette client used here is unchanged by it. (authlib.deprecate sets
    # an "always" filter when imported, so ours goes after it.)
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

from console.settings import Settings

PROVIDER = "bureau_idp"


def make_oauth(settings: Settings) -> OAuth | None:
    if not settings.oidc_enabled:
        return None
    assert settings.oidc_issuer is not None
    oauth = OAuth()
    oauth.register(
        PROVIDER,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256"},
    )
    return oauth


def client(oauth: OAuth) -> Any:
    return oauth.create_client(PROVIDER)
