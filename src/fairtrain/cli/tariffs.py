"""`fairtrain` commands: organisations' tariffs (licence and retroactive)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fairtrain.cli._common import JsonOpt, app, emit, fail, read_json_file, registry

tariffs_app = typer.Typer(
    help="Organisations' tariffs: the prices of their licence terms and of past use.", no_args_is_help=True
)
app.add_typer(tariffs_app, name="tariffs")

RetroOpt = Annotated[bool, typer.Option(help="The retroactive tariff (surcharge for use declared after training)")]


@tariffs_app.command("publish")
def tariffs_publish(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The tariff (JSON; see README)")],
    org: Annotated[str, typer.Option(help="The organisation (id or name)")],
    retroactive: RetroOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish an organisation's tariff; its licence terms without their own price take it from now on."""
    doc = read_json_file(file)
    reg = registry()
    t = reg.publish_tariff(reg.find_org(org)["id"], doc, retroactive=retroactive)
    emit(t, as_json, f"tariff {t['id']} ({t['kind']}) of {t['org']} published")


@tariffs_app.command("show")
def tariffs_show(
    org: Annotated[str, typer.Option(help="The organisation (id or name)")],
    retroactive: RetroOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """The organisation's tariff in use."""
    reg = registry()
    o = reg.find_org(org)
    t = reg.tariff(o["id"], retroactive=retroactive)
    if t is None:
        fail(f"{o['name']} has published no {'retroactive' if retroactive else 'licence'} tariff")
    emit(t, as_json, json.dumps(t["tariff"], ensure_ascii=False, indent=2))
