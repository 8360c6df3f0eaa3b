"""`fairtrain` commands: licences and invoices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import (
    JsonOpt,
    app,
    emit,
    fail,
    licensing,
    parse_categories,
    parse_when,
    party_key,
    read_json_file,
)
from fairtrain.core.money import Money

licences_app = typer.Typer(help="Licences before use: request, accept, decline, show.", no_args_is_help=True)
app.add_typer(licences_app, name="licences")


@licences_app.command("request")
def licences_request(
    quote: Annotated[Path, typer.Argument(metavar="QUOTE", help="A clearance's licence-quote.json")],
    licensee: Annotated[str | None, typer.Option()] = None,
    category: Annotated[
        list[str] | None, typer.Option(help="Categories to licence (default: the quote's purpose)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Licence end date")] = None,
    model_version: Annotated[list[str] | None, typer.Option(help="Model versions covered (default any)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask every party in a quote for a licence (one request per party)."""
    from fairtrain.core import jsontext

    try:
        data = jsontext.loads(quote.read_bytes(), what=str(quote))
    except OSError as e:
        fail(f"{quote}: cannot read ({e.strerror or e})")
    except jsontext.JsonRefused as e:
        fail(str(e))
    if not isinstance(data, dict):
        fail(f"{quote}: expected an object (a clearance's licence quote)")
    ids = licensing().request(
        data,
        licensee=licensee,
        categories=parse_categories(category) or None,
        valid_until=parse_when(until, "--until"),
        model_versions=tuple(model_version or ()),
    )
    emit({"licences": ids}, as_json, f"requested licences {', '.join(map(str, ids))}")


@licences_app.command("declare-use")
def licences_declare_use(
    usage: Annotated[
        Path,
        typer.Argument(
            metavar="USAGE",
            help="A clearance's licence-quote.json (reservation mode, over the training set) or a usage report",
        ),
    ],
    licensee: Annotated[str | None, typer.Option()] = None,
    category: Annotated[list[str] | None, typer.Option(help="Categories used (default: the report's purpose)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare use that already happened ("pay later"): retroactive licence requests priced by each
    organisation's retroactive tariff, answered with `licences accept` like any other."""
    data = read_json_file(usage)
    if not isinstance(data, dict):
        fail(f"{usage}: expected a JSON object")
    out = licensing().declare_past_use(data, licensee=licensee, categories=parse_categories(category) or None)
    lines = [
        f"retroactive licence {x['licence']} asked of {x['grantor']}: {len(x['works'])} works, "
        f"{Money.from_dict(x['price'])} (surcharge {x['surcharge_bp'] / 100}%)"
        for x in out["licences"]
    ]
    lines += [f"not covered: work {u['work_id']} ({u['reason']})" for u in out["uncovered"]]
    emit(out, as_json, "\n".join(lines))


@licences_app.command("accept")
def licences_accept(
    licence: int,
    acting_as: Annotated[str, typer.Option("--as", help="The grantor answering: holder:ID or org:ID")],
    key: Annotated[str | None, typer.Option(help="Grantor's signing key name (default: holder-ID / org-ID)")] = None,
    collective: Annotated[bool, typer.Option(help="An organisation's collective licence on its own terms")] = False,
    price: Annotated[str | None, typer.Option(help="Collective terms: flat fee or minimum, major units")] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    revenue_share: Annotated[str | None, typer.Option(help="Collective terms: revenue share in percent")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grant a requested licence: signed by the grantor, works covered, invoice issued."""
    r = licensing().grant_as(  # who may answer is said before a key is asked for
        licence,
        party=acting_as,
        key=lambda: party_key(acting_as, key),
        collective=collective,
        price=price,
        currency=currency,
        revenue_share_percent=revenue_share,
    )
    emit(
        r,
        as_json,
        f"licence {licence} granted by {acting_as}; invoice {r['invoice']} for {r['grant']['price']['display']}",
    )


@licences_app.command("decline")
def licences_decline(
    licence: int,
    acting_as: Annotated[str, typer.Option("--as")],
    note: Annotated[str, typer.Option()] = "",
    as_json: JsonOpt = False,
) -> None:
    r = licensing().decline(licence, party=acting_as, note=note)
    emit(r, as_json, f"licence {licence} declined")


@licences_app.command("show")
def licences_show(licence: int, as_json: JsonOpt = False) -> None:
    lic = licensing().get(licence)
    emit(lic, as_json, json.dumps(lic, ensure_ascii=False, indent=2))


@licences_app.command("list")
def licences_list(
    licensee: Annotated[str | None, typer.Option()] = None,
    grantor: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    rows = licensing().list(licensee=licensee, grantor=grantor)
    t = Table("id", "licensee", "grantor", "status", "works", "price")
    for r in rows:
        t.add_row(
            str(r["id"]),
            r["licensee"],
            r["grantor"],
            r["status"],
            str(len(r["request"]["works"])),
            r["price"]["display"],
        )
    emit(rows, as_json, t)


@app.command()
def invoices(licensee: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Invoices and what has been paid on them."""
    rows = licensing().invoices(licensee=licensee)
    t = Table("id", "licence", "licensee", "grantor", "amount", "paid", "status")
    for r in rows:
        t.add_row(
            str(r["id"]),
            str(r["licence"]),
            r["licensee"],
            r["grantor"],
            r["amount"]["display"],
            r["paid"]["display"],
            r["status"],
        )
    emit(rows, as_json, t)
