"""`bureau demo`: load the demonstration data set through the API."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from bureau.commands.common import ApiOption, TokenOption, api, console


def demo(
    baodi_permits: Annotated[
        int, typer.Option(min=8, max=5000, help="宝坻区 enterprises holding a permit (report: 274)")
    ] = 274,
    baodi_registrations: Annotated[
        int, typer.Option(min=0, max=50_000, help="宝坻区 enterprises under registration (4,275)")
    ] = 4275,
    base: ApiOption = None,
    token: TokenOption = None,
) -> None:
    """A realistic Tianjin: quota of the 16 districts, 宝坻区's permits and
    registrations, 蓟州区's tight VOCs pool and closed plants, EIA filings in
    every state, registration forms, 12369 complaints. Safe to run again
    (replayed)."""
    from rich.markup import escape

    from bureau.client import UNAVAILABLE, ApiFailed
    from bureau.demo import Demo

    client = api(base, token)
    started = time.monotonic()
    d = Demo(
        client,
        baodi_permits=baodi_permits,
        baodi_registrations=baodi_registrations,
        say=lambda s: console.print(f"[bold]·[/bold] {s}"),
    )
    try:
        with console.status("loading…"):
            counts = d.run()
    except ApiFailed as exc:
        console.print(f"[red]demo stopped:[/red] {escape(str(exc))}")
        raise typer.Exit(code=exc.exit_code) from exc
    except TimeoutError as exc:  # the saga's events do not flow: retry later
        console.print(f"[red]demo stopped:[/red] {escape(str(exc))} — {UNAVAILABLE}")
        raise typer.Exit(code=3) from exc
    finally:
        client.close()
    summary = ", ".join(f"{n} {what}" for what, n in counts.done.items())
    console.print(f"loaded in {time.monotonic() - started:.1f} s: {summary}")
    console.print(f"open {client.base_url}/console/ and sign in as a development user")
