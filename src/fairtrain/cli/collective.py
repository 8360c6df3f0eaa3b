"""`fairtrain licences templates …`: an organisation's collective licence templates (publish, list,
withdraw) and a licence requested from one and granted (services.ledger.collective)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import JsonOpt, emit, parse_when, party_key, read_json_file, registry
from fairtrain.cli.licences import licences_app

templates_app = typer.Typer(
    help="Collective licence templates: an organisation's terms for its mandated repertoire.", no_args_is_help=True
)
licences_app.add_typer(templates_app, name="templates")


def _table(rows: list[dict]) -> Table:
    t = Table("id", "organisation", "name", "categories", "term", "price", "status")
    for r in rows:
        p = r["price"]
        price = "tariff" if p["model"] == "tariff" else f"{p['model']} {p['amount']['display']}"
        if p.get("share_bp"):
            price += f" + {p['share_bp'] / 100:g}%"
        t.add_row(
            str(r["id"]),
            r["org_name"],
            f"{r['name']['ko']} / {r['name']['en']}",
            ", ".join(r["categories"]),
            f"{r['term_months']} months",
            price,
            r["status"],
        )
    return t


@templates_app.command("list")
def templates_list(
    org: Annotated[str | None, typer.Option(help="One organisation's (id or name)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Withdrawn ones too")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Published templates (every organisation's, or one's)."""
    from fairtrain.services.ledger import collective

    reg = registry()
    org_id = reg.find_org(org)["id"] if org else None
    rows = collective.templates(reg, org_id, published_only=not all_)
    emit(rows, as_json, _table(rows))


@templates_app.command("publish")
def templates_publish(
    document: Annotated[Path, typer.Argument(metavar="TEMPLATE.json", help="The template (see README)")],
    org: Annotated[str, typer.Option(help="The publishing organisation (id or name)")],
    as_json: JsonOpt = False,
) -> None:
    """Publish a template as the organisation (the operator acts for it)."""
    from fairtrain.services.ledger import collective

    reg = registry()
    o = reg.find_org(org)
    t = collective.publish(reg, o["id"], read_json_file(document), party=f"org:{o['id']}")
    emit(t, as_json, f"licence template {t['id']} published by {t['org_name']}")


@templates_app.command("withdraw")
def templates_withdraw(template: int, as_json: JsonOpt = False) -> None:
    """Withdraw a template: it takes no new requests; licences granted from it stand."""
    from fairtrain.services.ledger import collective

    reg = registry()
    t = collective.template(reg, template)
    t = collective.withdraw(reg, template, party=t["org"])
    emit(t, as_json, f"licence template {template} withdrawn")


@templates_app.command("request")
def templates_request(
    template: int,
    licensee: Annotated[str, typer.Option(help="The developer asking")],
    purpose: Annotated[str, typer.Option(help="commercial or research (one of the template's)")] = "commercial",
    valid_from: Annotated[
        str | None, typer.Option("--from", help="Start (a past date: retroactive use, if the template allows)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Request a collective licence from a published template for the organisation's repertoire."""
    from fairtrain.services.ledger import collective

    start: datetime | None = parse_when(valid_from, "--from")
    q = collective.request(registry(), template, licensee=licensee, purpose=purpose, valid_from=start)
    emit(
        q,
        as_json,
        f"licence {q['id']} requested of {q['organisation']['name']} ({q['organisation']['ref']}): "
        f"{len(q['works'])} works now, {q['price']['display']}; the grant decides the works again",
    )


@templates_app.command("accept")
def templates_accept(
    licence: int,
    key: Annotated[str | None, typer.Option(help="The organisation's signing key name (default: org-ID)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grant a licence requested from a template, as its organisation."""
    from fairtrain.services.ledger import collective

    reg = registry()
    q = collective.quote(reg, licence)
    party = q["organisation"]["ref"]
    r = collective.accept(reg, licence, party=party, key=party_key(party, key))
    emit(
        r,
        as_json,
        f"licence {licence} granted by {q['organisation']['name']}: {len(r['works'])} works; "
        f"invoice {r['invoice']['id']} for {r['invoice']['amount']['display']}",
    )
