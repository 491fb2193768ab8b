"""Sign-in and sign-out pages: development users (embedded default) and
OpenID Connect (production)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import structlog
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from svc_common.i18n import msg

from console.auth import csrf, oidc
from console.auth.users import (
    DEV_USERS,
    UnusableToken,
    dev_user,
    from_token,
    sign_dev_token,
    sign_in,
    sign_out,
)
from console.web import flash, render

router = APIRouter(prefix="/console")
log = structlog.get_logger(__name__)


def _safe_next(target: str | None) -> str | None:
    """Only a path of the console: never an open redirect, nor a path that
    leaves /console/ once the browser resolves it (`/console/..//host/`,
    `%2e%2e`, a backslash)."""
    if not target or not target.startswith("/console/") or target.startswith("//"):
        return None
    path = unquote(target.split("?", 1)[0])
    if "\\" in path or any(part in (".", "..") for part in path.split("/")):
        return None
    return target


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    settings = request.app.state.settings
    return render(
        request,
        "login.html",
        dev_users=DEV_USERS if settings.dev_login else [],
        oidc=settings.oidc_enabled,
        next=_safe_next(next) or "",
    )


@router.post("/login/dev", dependencies=[Depends(csrf.verify)])
async def dev_login(request: Request, user: str = Form(...), next: str = Form("")) -> Response:
    settings = request.app.state.settings
    chosen = dev_user(user)
    if not settings.dev_login or chosen is None:
        flash(request, msg("no such development user", "没有这个开发用账号"), "error")
        return RedirectResponse("/console/login", status_code=303)
    token = sign_dev_token(chosen, settings.jwt_secret)
    signed = from_token(token, via="dev", name=chosen.name)
    await sign_in(request, signed)
    return RedirectResponse(_safe_next(next) or signed.home, status_code=303)


@router.get("/login/oidc")
async def oidc_start(request: Request, next: str | None = None) -> Response:
    oauth = request.app.state.oauth
    if oauth is None:
        return RedirectResponse("/console/login", status_code=303)
    request.session["after_login"] = _safe_next(next) or ""
    redirect_uri = str(request.url_for("oidc_callback"))
    result: Response = await oidc.client(oauth).authorize_redirect(request, redirect_uri)
    return result


@router.get("/auth/callback", name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    oauth = request.app.state.oauth
    if oauth is None:
        return RedirectResponse("/console/login", status_code=303)
    try:
        token: dict[str, Any] = await oidc.client(oauth).authorize_access_token(request)
    except Exception as exc:  # authlib's errors: state, code or token refused
        # The library's words (English, and for an `error_description` in
        # the address whatever the address says) go to the log, not the page.
        log.warning("oidc sign-in failed", error=type(exc).__name__, said=str(exc)[:500])
        flash(request, _sign_in_failed(exc), "error")
        return RedirectResponse("/console/login", status_code=303)
    info = token.get("userinfo") or {}
    name = info.get("name") or info.get("preferred_username")
    after = request.session.get("after_login") or ""
    try:
        user = from_token(str(token["access_token"]), via="oidc", name=name)
    except UnusableToken:
        flash(
            request,
            msg(
                "sign-in failed: the identity provider's access token is not usable",
                "登录失败：身份提供方签发的访问令牌不可用",
            ),
            "error",
        )
        return RedirectResponse("/console/login", status_code=303)
    await sign_in(request, user)
    return RedirectResponse(_safe_next(after) or user.home, status_code=303)


def _sign_in_failed(exc: Exception) -> str:
    """Why the way back from the identity provider signed no one in, in
    the console's words and the user's language."""
    if isinstance(exc, MismatchingStateError):
        # An old tab, a sign-in finished in another tab, or a session ended.
        return msg(
            "Sign-in failed: this sign-in has expired (it may have been finished in another "
            "window). Please sign in again.",
            "登录失败：本次登录已失效（可能已在其他窗口完成或已超时），请重新登录。",
        )
    if isinstance(exc, OAuthError) and exc.error == "access_denied":
        return msg(
            "Sign-in failed: sign-in was not completed (cancelled, or refused by the "
            "identity provider).",
            "登录失败：登录未完成（已取消，或被身份提供方拒绝）。",
        )
    return msg(
        "Sign-in failed: the identity provider did not complete the sign-in. "
        "Please try again shortly.",
        "登录失败：登录未完成，身份提供方未能完成登录，请稍后重试。",
    )


@router.post("/logout", dependencies=[Depends(csrf.verify)])
async def logout(request: Request) -> Response:
    await sign_out(request)
    flash(request, msg("signed out", "已退出登录"))
    return RedirectResponse("/console/", status_code=303)
