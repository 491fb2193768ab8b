"""The console's front page: what each role can do here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.web import render

router = APIRouter(prefix="/console")


@router.get("/")
async def home(request: Request) -> Response:
    return render(request, "home.html")


@router.get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok", "service": "console"}


async def ready() -> dict[str, str]:
    """The console is ready when it serves pages; a service that is down shows
    as a notice on the pages that need it, so it does not take the console
    out of rotation."""
    return {"status": "ready", "service": "console"}


router.add_api_route("/ready", ready, methods=["GET"], include_in_schema=False)
