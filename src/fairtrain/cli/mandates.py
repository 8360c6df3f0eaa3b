"""`fairtrain` commands: mandates."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import (
    JsonOpt,
    app,
    emit,
    parse_categories,
    parse_when,
    registry,
)
from fairtrain.core.vocab import Category

mandates_app = typer.Typer(help="Members' mandates to organisations.", no_args_is_help=True)
app.add_typer(mandates_app, name="mandates")

@mandates_app.command("add")
def mandates_add(
    holder: Annotated[str, typer.Option(help="Holder id or name")],
    org: Annotated[str, typer.Option(help="Organisation id or name")],
    category: Annotated[list[str] | None, typer.Option(help="Categories (repeat or comma-separate); default all")] = None,
    valid_from: Annotated[str | None, typer.Option("--from")] = None,
    valid_until: Annotated[str | None, typer.Option("--until")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that a member mandates an organisation to act for them."""
    reg = registry()
    h, o = reg.find_holder(holder), reg.find_org(org)
    cats = parse_categories(category) or list(Category)
    mid = reg.add_mandate(h["id"], o["id"], cats, valid_from=parse_when(valid_from, "--from"),
                          valid_until=parse_when(valid_until, "--until"))
    emit({"id": mid, "holder": h["ref"], "org": o["ref"], "categories": [c.value for c in cats]}, as_json,
         f"mandate {mid}: {h['name']} → {o['name']} for {', '.join(c.value for c in cats)}")


@mandates_app.command("list")
def mandates_list(org: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    reg = registry()
    rows = reg.mandates(org_id=reg.find_org(org)["id"] if org else None)
    t = Table("id", "holder", "org", "categories", "from", "until")
    for m in rows:
        t.add_row(str(m["id"]), m["holder"], m["org"], ",".join(m["categories"]), m["valid_from"], m["valid_until"] or "")
    emit(rows, as_json, t)
