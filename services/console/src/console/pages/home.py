"""The console's front page: what each role can do here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.auth.users import from_session
from console.pages.enterprise.router import ROLES as ENTERPRISE_ROLES
from console.pages.investment.router import ROLES as INVESTMENT_ROLES
from console.pages.workbench.router import ROLES as WORKBENCH_ROLES
from console.web import render

#: Who may open each card's page (the pages' own role lists).
CARDS = {
    "investment": INVESTMENT_ROLES,
    "workbench": WORKBENCH_ROLES,
    "enterprise": ENTERPRISE_ROLES,
}

router = APIRouter(prefix="/console")


@router.get("/")
async def home(request: Request) -> Response:
    user = from_session(request)
    # Signed out, every card shows (its page asks to sign in); signed in,
    # only the cards of pages the role may open.
    shown = {k for k, roles in CARDS.items() if user is None or user.role in roles}
    return render(request, "home.html", shown=shown)


@router.get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok", "service": "console"}


async def ready() -> dict[str, str]:
    """The console is ready when it serves pages; a service that is down shows
    as a notice on the pages that need it, so it does not take the console
    out of rotation."""
    return {"status": "ready", "service": "console"}


router.add_api_route("/ready", ready, methods=["GET"], include_in_schema=False)
