"""`fairtrain` commands: disputes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import JsonOpt, app, emit, registry

disputes_app = typer.Typer(help="Competing claims on the same work.", no_args_is_help=True)
app.add_typer(disputes_app, name="disputes")


@disputes_app.command("list")
def disputes_list(
    all_: Annotated[bool, typer.Option("--all", help="Include resolved disputes")] = False, as_json: JsonOpt = False
) -> None:
    rows = registry().disputes(status=None if all_ else "open")
    t = Table("id", "work", "claim", "key", "value", "status", "resolution")
    for d in rows:
        t.add_row(
            str(d["id"]), str(d["work"]), str(d["claim"]), d["key"], d["value"], d["status"], d["resolution"] or ""
        )
    emit(rows, as_json, t)


@disputes_app.command("resolve")
def disputes_resolve(
    dispute: int,
    keep: Annotated[str, typer.Option(help="existing | claim | both")],
    note: Annotated[str, typer.Option()] = "",
    as_json: JsonOpt = False,
) -> None:
    r = registry().resolve_dispute(dispute, keep=keep, note=note)
    emit(r, as_json, f"dispute {dispute} resolved: {r['resolution']}")
