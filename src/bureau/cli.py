"""`bureau`: run the system, mint development tokens, export event schemas,
and the administrator's work (import, export, quota, alert, complaint,
migrate, demo).

Typer + Rich: typed options with --help for free, readable output. Each of
the administrator's commands lives in its own module under bureau.commands
and is registered at the end of this file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from svc_common.districts import DISTRICTS
from svc_common.names import MAX_SUB_LENGTH, RESERVED_SUBS, name_ok, subject_ok, subject_problem
from svc_common.settings import DEV_JWT_SECRET
from svc_common.tokens import ROLES, mint_token

from bureau import ops
from bureau.client import ApiFailed, Unreachable
from bureau.commands.common import folder, new_file
from bureau.services import PACKAGES, SERVICES

console = Console(stderr=True)


class _Bureau(typer.Typer):
    """The command line as a person runs it: a service that refuses (ApiFailed,
    exit code 1) or cannot be reached (Unreachable, exit code 3) ends the
    command with one line saying so, not a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except (ApiFailed, Unreachable) as exc:
            console.print(f"[red]{escape(str(exc))}[/red]")
            raise SystemExit(exc.exit_code) from None


app = _Bureau(
    help="Permits, VOCs quota, fast-track EIA and supervision for a city environment bureau.",
    rich_markup_mode="markdown",
)


from bureau.register_cli import app as register_app  # noqa: E402

app.add_typer(register_app, name="register")


@app.command()
def run(
    port: Annotated[int, typer.Option(envvar="PORT", min=1, max=65535, help="HTTP port")] = 8000,
    host: Annotated[str, typer.Option(envvar="HOST")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option(envvar="DATA_DIR", help="SQLite files")] = Path("data"),
) -> None:
    """The embedded default: all four services in one process, SQLite, in-process events.
    Logs are JSON lines on stdout (LOG_JSON=false: a coloured console)."""
    import sys

    from svc_common.service import serve as serve_app
    from svc_common.settings import ServiceSettings

    from bureau.embedded import OWED_FROM_VAR, Embedded, demonstration_owed_from

    folder(data_dir, "--data-dir")
    secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
    base = os.environ.get("PUBLIC_URL") or f"http://{host}:{port}"
    # The demonstration's 逾期未报 list starts last year, not at its permits'
    # first years (the user's own setting stands).
    owed_from = demonstration_owed_from(os.environ)
    embedded = Embedded(data_dir, jwt_secret=secret, public_url=base)
    if sys.stderr.isatty():  # the welcome is for a person at a terminal, not a log
        table = Table(title="Environment bureau — embedded default", show_lines=False)
        table.add_column("service", no_wrap=True)
        table.add_column("address", overflow="fold")
        table.add_row("console", f"{base}/console/")
        for name in SERVICES:
            table.add_row(f"{name}-svc", f"{base}/{name}/docs")
        console.print(table)
        console.print(f"SQLite files under [bold]{data_dir.resolve()}[/bold]; events in-process.")
        if owed_from is not None:
            console.print(
                f"逾期未报 follows reports from {owed_from.isoformat()} "
                f"({OWED_FROM_VAR}; set it to choose another day)."
            )
        console.print(
            f"Open [bold]{base}/console/[/bold] and sign in as a development user; "
            "load the demonstration data with [bold]make demo[/bold]."
        )
        console.print(
            "For the API, a token: [bold]make token ROLE=officer DISTRICT=120119 "
            "SUB=li.hua[/bold] then send [italic]Authorization: Bearer <token>[/italic]."
        )
    serve_app(embedded, ServiceSettings(host=host, port=port))


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="permit | quota | eia | supervision")],
) -> None:
    """Run one service alone, configured by env (DATABASE_URL, EVENT_TRANSPORT, PORT…)."""
    if service not in SERVICES:
        raise typer.BadParameter(f"service must be one of {', '.join(SERVICES)}")
    import importlib

    importlib.import_module(f"{PACKAGES[service]}.__main__").main()


@app.command()
def token(
    role: Annotated[str, typer.Option(help=" | ".join(ROLES))] = "officer",
    district: Annotated[
        str, typer.Option(help="comma-separated GB/T 2260 codes; empty = all (read roles)")
    ] = "",
    sub: Annotated[str, typer.Option(help="subject; defaults to a name of the role")] = "",
    hours: Annotated[int, typer.Option(help="validity in hours (1 to 720)")] = 12,
    uscc: Annotated[
        str | None,
        typer.Option(
            help="filer only: the unified social credit code of the enterprise it acts for"
        ),
    ] = None,
) -> None:
    """Print a development JWT signed with the embedded default's secret."""
    import datetime as dt

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    if not 0 < hours <= 720:
        raise typer.BadParameter("must be between 1 and 720 hours", param_hint="--hours")
    districts = [d.strip() for d in district.split(",") if d.strip()]
    bad = [d for d in districts if d not in DISTRICTS]
    if bad:
        raise typer.BadParameter(
            f"not districts of the city: {', '.join(bad)} (e.g. 120119 蓟州区)",
            param_hint="--district",
        )
    if sub and not subject_ok(sub):
        # The services' own rule (svc_common.auth): a token they would all
        # answer 401 令牌的主体（sub）无效 is not printed.
        why = subject_problem(sub) if name_ok(sub) else None
        raise typer.BadParameter(
            f"主体无效：须为 1 至 {MAX_SUB_LENGTH} 个字符，只含不带空格的可打印 ASCII 字符"
            "或汉字、假名、谚文、注音字母（其间可有间隔号·），为 NFKC 规范形式，"
            f"且不能是保留名 {', '.join(sorted(RESERVED_SUBS))} "
            f"(not a subject the services accept: 1 to {MAX_SUB_LENGTH} characters, "
            "printable ASCII with no space or Han, kana, Hangul or Bopomofo letters "
            "(a name dot · between them), in NFKC form, not a reserved name"
            + (f"; {why}" if why else "")
            + ")",
            param_hint="--sub",
        )
    if not districts and role == "officer":
        # An officer's empty claim grants nothing (only admin, auditor and
        # investment read citywide): a token that can do nothing is a mistake.
        raise typer.BadParameter(
            "an officer acts in named districts: give --district",
            param_hint="--district",
        )
    if uscc is not None:
        # The services' own check (svc_common.uscc): a code they would answer
        # 401 for is not printed, nor one on a token that cannot use it. An
        # empty one (an unset variable) is such a code, not "no enterprise":
        # a filer's token naming none is refused wherever it files.
        from svc_common.i18n import use
        from svc_common.uscc import uscc_problem

        if role != "filer":
            raise typer.BadParameter(
                "只有申报单位（filer）的令牌指明企业 (only a filer's token names an enterprise)",
                param_hint="--uscc",
            )
        if uscc_problem(uscc):
            with use("zh"):
                zh = uscc_problem(uscc)
            with use("en"):
                en = uscc_problem(uscc)
            raise typer.BadParameter(
                f"不是有效的统一社会信用代码：{zh} (not a unified social credit code: {en})",
                param_hint="--uscc",
            )
    secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
    print(
        mint_token(
            secret,
            sub=sub or f"{role}.dev",
            role=role,
            districts=districts,
            ttl=dt.timedelta(hours=hours),
            uscc=uscc,
        )
    )


@app.command()
def schemas(
    out: Annotated[Path, typer.Option(help="folder for the JSON Schemas and AsyncAPI")] = Path(
        "docs/events"
    ),
    force: Annotated[
        bool,
        typer.Option("--force", help="replace the files already in --out (as `make schemas` does)"),
    ] = False,
) -> None:
    """Export every event payload's JSON Schema and the AsyncAPI document.
    A file of them already in --out is refused (exit 2, nothing written)
    unless --force, as every --out of the CLI does."""
    from bureau.contracts import event_documents

    folder(out, "--out")
    files = event_documents()
    if out.is_dir():
        for name in files:
            new_file(out / name, "--out", force)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
    console.print(f"wrote {len(files) - 1} schemas and asyncapi.json to {out}")


# The administrator's commands, each in its own module.
from bureau.commands import alerts as _alerts  # noqa: E402
from bureau.commands import complaints as _complaints  # noqa: E402
from bureau.commands import demo as _demo  # noqa: E402
from bureau.commands import exporting as _exporting  # noqa: E402
from bureau.commands import importing as _importing  # noqa: E402
from bureau.commands import migrate as _migrate  # noqa: E402
from bureau.commands import quota as _quota  # noqa: E402

app.command("import")(_importing.import_table)
app.command("export")(_exporting.export_list)
app.add_typer(_quota.app, name="quota")
app.add_typer(_alerts.app, name="alert")
app.add_typer(_complaints.app, name="complaint")
app.command("migrate")(_migrate.migrate)
app.command("demo")(_demo.demo)

ops.register(app)

if __name__ == "__main__":
    app()
