"""`fairtrain` commands: holders."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import JsonOpt, app, emit, registry
from fairtrain.services import registry as registry_service  # lazy: `clear` never loads the database layer

holders_app = typer.Typer(help="Rights holders: creators, publishers, labels.", no_args_is_help=True)
app.add_typer(holders_app, name="holders")


@holders_app.command("add")
def holders_add(name: str, email: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Register a rights holder."""
    hid = registry().add_holder(name, email=email)
    ref = registry_service.holder_ref(hid)
    emit({"id": hid, "ref": ref, "name": name}, as_json, f"holder [bold]{ref}[/] {name}")


@holders_app.command("list")
def holders_list(
    name: Annotated[str | None, typer.Option(help="Part of the name")] = None, as_json: JsonOpt = False
) -> None:
    rows = registry().list_holders(name=name)
    t = Table("id", "name", "email")
    for h in rows:
        t.add_row(str(h["id"]), h["name"], h["email"] or "")
    emit(rows, as_json, t)
