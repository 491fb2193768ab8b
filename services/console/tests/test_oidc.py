"""OpenID Connect sign-in (authorization code with PKCE) against a small
identity provider run here on the loopback, and the access token it issues
accepted by a service that checks the provider's keys (JWT_JWKS_URL)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from svc_common import testing

from .test_console_http import csrf_of


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Provider:
    """Discovery, authorize (signs in 'wu.lei' at once), token, JWKS."""

    def __init__(self) -> None:
        self.port = _port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:8]
        self.codes: dict[str, dict[str, Any]] = {}
        #: Claims the access token is given over the usual ones.
        self.access_claims: dict[str, Any] = {}
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def discovery(self, _: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        assert q["response_type"] == "code" and q["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": q.get("nonce"),
            "challenge": q["code_challenge"],
            "client_id": q["client_id"],
            "redirect_uri": q["redirect_uri"],
        }
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
        return RedirectResponse(target, status_code=302)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    async def token(self, request: Request) -> Response:
        form = await request.form()
        grant = self.codes.pop(str(form["code"]), None)
        if grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = str(form["code_verifier"]).encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if digest.decode() != grant["challenge"] or form["redirect_uri"] != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        common = {"iss": self.issuer, "sub": "wu.lei", "iat": now, "exp": now + 600}
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": 600,
                "access_token": self.sign(
                    common
                    | {"role": "officer", "districts": ["120119"], "name": "吴磊"}
                    | self.access_claims
                ),
                "id_token": self.sign(
                    common | {"aud": grant["client_id"], "nonce": grant["nonce"], "name": "吴磊"}
                ),
            }
        )

    async def jwks(self, _: Request) -> Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return JSONResponse({"keys": [jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}]})


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    server = uvicorn.Server(uvicorn.Config(p.app, port=p.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield p
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def test_oidc_sign_in_and_the_token_works_on_the_api(
    provider: Provider, tmp_path: Path
) -> None:
    from console.app import create
    from console.settings import Settings
    from eia_svc.app import create as create_eia
    from eia_svc.settings import Settings as EiaSettings

    app = create(
        Settings(
            oidc_issuer=provider.issuer, oidc_client_id="envbureau-console", oidc_client_secret="s"
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://console.test") as console,
        httpx.AsyncClient() as idp,
    ):
        login = await console.get("/console/login")
        assert "/console/login/oidc" in login.text and "开发用账号" not in login.text
        start = await console.get("/console/login/oidc", params={"next": "/console/workbench/"})
        assert start.status_code == 302
        authorize = urlparse(start.headers["location"])
        assert f"{authorize.scheme}://{authorize.netloc}" == provider.issuer
        assert parse_qs(authorize.query)["code_challenge_method"] == ["S256"]
        back = await idp.get(start.headers["location"])
        callback = urlparse(back.headers["location"])
        assert callback.path == "/console/auth/callback"
        # A forged state is refused.
        forged = await console.get(
            "/console/auth/callback", params={"code": "x", "state": "forged"}
        )
        assert forged.headers["location"] == "/console/login"
        done = await console.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 303 and done.headers["location"] == "/console/workbench/"
        home = await console.get("/console/")
        assert "吴磊" in home.text and "审批人员" in home.text
        assert csrf_of(home.text)

        # The access token the console keeps is what the APIs verify (JWKS).
        session_token = provider.sign(
            {
                "iss": provider.issuer,
                "sub": "wu.lei",
                "role": "officer",
                "districts": ["120119"],
                "exp": int(time.time()) + 600,
            }
        )
    eia = create_eia(
        EiaSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/eia.db",
            jwt_jwks_url=f"{provider.issuer}/jwks",
            jwt_issuer=provider.issuer,
            log_json=False,
        )
    )
    async with testing.running(eia) as api:
        ok = await api.get("/eia/filings", headers={"Authorization": f"Bearer {session_token}"})
        assert ok.status_code == 200, ok.text
        dev = await api.get("/eia/filings", headers=testing.auth("officer", ["120119"]))
        assert dev.status_code == 401  # a development token means nothing here


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int("9" * 400)},  # no clock holds it: the session's end was an OverflowError
        {"exp": "9" * 400},
        {"sub": "\ud800"},  # no page, log nor database can hold it
        {"sub": "wu\u202elei"},  # reads as another name
        {"sub": "l\u0131.hua"},  # a dotless ı: reads as li.hua
        {"sub": "\u0441\u0430\u043e.\u0443\u0435"},  # Cyrillic, reads as cao.ye
        {"sub": "officer\u0661"},  # an Arabic-Indic digit one
        # Every service refuses a districts claim that is not a list of codes
        # (a blank attribute is not "citywide"): signed in, every page ended.
        {"districts": None},
        {"districts": ""},
        {"districts": "120119"},
    ],
)
async def test_an_access_token_the_services_would_refuse_signs_no_one_in(
    provider: Provider, claims: dict[str, Any]
) -> None:
    """The console reads the access token's claims unverified (the services
    verify it): one whose `exp` or `sub` the services refuse on its face was
    a 500 on the way back from the identity provider, or a session no page
    could show. Sign-in fails, said on the sign-in page, and no one is signed in."""
    from console.app import create
    from console.settings import Settings

    provider.access_claims = claims
    app = create(
        Settings(
            oidc_issuer=provider.issuer, oidc_client_id="envbureau-console", oidc_client_secret="s"
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://console.test") as console,
        httpx.AsyncClient() as idp,
    ):
        start = await console.get("/console/login/oidc", params={"next": "/console/workbench/"})
        back = await idp.get(start.headers["location"])
        callback = urlparse(back.headers["location"])
        done = await console.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 303 and done.headers["location"] == "/console/login"
        login = await console.get("/console/login")
        assert "登录失败" in login.text
        r = await console.get("/console/workbench/")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")


async def test_a_failed_sign_in_is_said_in_the_consoles_words(provider: Provider) -> None:
    """The way back from the identity provider with an error was flashed
    with the library's own words after 登录失败：, in English
    ("mismatching_state: CSRF Warning! State not equal in request and
    response.") and, for an `error_description` in the address, whatever
    the address said: a link to the callback could put its own text on the
    console's sign-in page ("请致电 …"). The page says what happened in the
    console's words, in the user's language; the provider's text stays in
    the log."""
    from console.app import create
    from console.settings import Settings

    app = create(
        Settings(
            oidc_issuer=provider.issuer, oidc_client_id="envbureau-console", oidc_client_secret="s"
        )
    )
    transport = httpx.ASGITransport(app=app)
    planted = "请致电 400-000-0000 找回账号"
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as console:
        for query, said in (
            # An old tab, or another tab's sign-in: the state is not this one's.
            ({"code": "c", "state": "not-this-one"}, "本次登录已失效"),
            ({"error": "access_denied", "error_description": planted, "state": "x"}, "登录未完成"),
            ({"error": "server_error", "error_description": planted}, "登录未完成"),
        ):
            await console.get("/console/login/oidc")
            done = await console.get("/console/auth/callback", params=query)
            assert done.status_code == 303 and done.headers["location"] == "/console/login"
            login = await console.get("/console/login")
            assert "登录失败" in login.text and said in login.text, (query, login.text)
            for foreign in (planted, "CSRF Warning", "mismatching_state", "access_denied"):
                assert foreign not in login.text, (query, foreign)
            assert (await console.get("/console/workbench/")).status_code == 303
        await console.get("/console/login/oidc")
        await console.get(
            "/console/auth/callback", params={"code": "c", "state": "not-this-one", "lang": "en"}
        )
        login = await console.get("/console/login")
        assert "Sign-in failed" in login.text and "CSRF Warning" not in login.text
