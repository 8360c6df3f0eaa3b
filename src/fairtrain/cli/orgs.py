"""`fairtrain` commands: organisations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import JsonOpt, app, emit, registry
from fairtrain.services import registry as registry_service  # lazy: `clear` never loads the database layer

orgs_app = typer.Typer(help="Organisations (CMOs) acting for their members.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")


@orgs_app.command("list")
def orgs_list(as_json: JsonOpt = False) -> None:
    rows = registry().list_orgs()
    t = Table("id", "name", "country", "email")
    for o in rows:
        t.add_row(str(o["id"]), o["name"], o["country"] or "", o["email"] or "")
    emit(rows, as_json, t)


@orgs_app.command("add")
def orgs_add(
    name: str,
    country: Annotated[str | None, typer.Option(help="ISO 3166 alpha-2")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an organisation (a CMO)."""
    oid = registry().add_org(name, country=country, email=email)
    ref = registry_service.org_ref(oid)
    emit({"id": oid, "ref": ref, "name": name}, as_json, f"organisation [bold]{ref}[/] {name}")
