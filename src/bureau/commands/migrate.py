"""`bureau migrate`: apply each service's Alembic migrations to its database
(no API has this: it runs before the services do)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

from bureau.commands.common import console, folder
from bureau.services import PACKAGES


def migrate(
    service: Annotated[str, typer.Option(help=" | ".join((*PACKAGES, "all")))] = "all",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="the embedded default's SQLite files (else QUOTA_DATABASE_URL and the like)"
        ),
    ] = None,
) -> None:
    """Apply the migrations. Each service's URL comes from PERMIT_DATABASE_URL,
    QUOTA_DATABASE_URL, EIA_DATABASE_URL, SUPERVISION_DATABASE_URL (or
    DATABASE_URL for one service), or from --data-dir for the embedded
    default's SQLite files."""
    import importlib

    from svc_common.migrate import upgrade_async
    from svc_common.settings import ServiceSettings

    chosen = list(PACKAGES) if service == "all" else [service]
    if any(s not in PACKAGES for s in chosen):
        raise typer.BadParameter(f"service must be one of {', '.join(PACKAGES)} or all")
    if data_dir is not None:
        folder(data_dir, "--data-dir")
    for name in chosen:
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite+aiosqlite:///{(data_dir / f'{name}.db').resolve()}"
        else:
            raw = os.environ.get(f"{name.upper()}_DATABASE_URL") or (
                os.environ.get("DATABASE_URL") if len(chosen) == 1 else None
            )
            if not raw:
                raise typer.BadParameter(f"set {name.upper()}_DATABASE_URL or --data-dir")
            url = ServiceSettings(database_url=raw).database_url
        package = importlib.import_module(PACKAGES[name])
        migrations = Path(package.__file__ or "").parent / "migrations"
        asyncio.run(upgrade_async(migrations, url))
        console.print(f"{name}-svc: migrated ({url.split('@')[-1]})")
