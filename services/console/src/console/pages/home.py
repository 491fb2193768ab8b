"""The console's front page: what each role can do here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.web import render

router = APIRouter(prefix="/console")


@router.get("/")
async def home(request: Request) -> Response:
    return render(request, "home.html")
