"""`fairtrain` commands: declarations and decisions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import JsonOpt, OrgOpt, app, emit, fail, parse_when, registry
from fairtrain.core.vocab import Category, Level, PriceModel, Purpose, Value, declared_value, parse_offer
from fairtrain.services import registry as registry_service  # lazy: `clear` never loads the database layer


@app.command()
def declare(
    category: Annotated[
        list[str], typer.Option(help="CATEGORY=VALUE, e.g. train-genai=licence (repeatable); VALUE 'inherit' withdraws")
    ],
    work: Annotated[
        str | None,
        typer.Option(
            help="Declare for one work: id, work_ref (with --org where two organisations use it) or ISWC/ISRC/ISBN"
        ),
    ] = None,
    holder: Annotated[str | None, typer.Option(help="Declare for a holder's whole catalogue")] = None,
    org: Annotated[str | None, typer.Option(help="Declare for an organisation's whole repertoire")] = None,
    acting_as: Annotated[
        str | None, typer.Option("--as", help="Declaring party for --work: holder:ID or org:ID")
    ] = None,
    price: Annotated[str | None, typer.Option(help="Offer price in major units, e.g. 1000 or 12.50")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code, e.g. KRW")] = None,
    price_model: Annotated[PriceModel, typer.Option()] = PriceModel.PER_WORK,
    revenue_share: Annotated[
        str | None, typer.Option(help="Revenue share in percent, for revenue-share offers")
    ] = None,
    offer_purpose: Annotated[
        list[Purpose] | None, typer.Option(help="Purposes the offer covers (default both)")
    ] = None,
    model_version: Annotated[
        list[str] | None, typer.Option(help="Model versions the offer covers (default any)")
    ] = None,
    purpose: Annotated[Purpose | None, typer.Option(help="Declare only for this purpose (default any)")] = None,
    valid_from: Annotated[str | None, typer.Option("--from")] = None,
    valid_until: Annotated[str | None, typer.Option("--until")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare allow, deny or licence per usage category, for a work, a catalogue or a repertoire."""
    reg = registry()
    work_org = None
    if work is not None and org is not None:  # --org narrows the work's work_ref
        work_org, org = org, None
    if sum(x is not None for x in (work, holder, org)) != 1:
        fail("give exactly one of --work, --holder, --org")
    values: dict[Category, Value | None] = {}
    for spec in category:
        cat, sep, val = spec.partition("=")
        if not sep:
            fail(f"--category {spec!r}: expected CATEGORY=VALUE, e.g. train-ai=deny")
        try:
            values[Category.parse(cat)] = declared_value(val)
        except ValueError as e:
            fail(f"--category {spec!r}: {e}")
    offer = None
    if price is not None or currency is not None:
        if price is None or currency is None:
            fail("--price and --currency go together")
        try:
            bp = 0
            if revenue_share is not None:
                from fairtrain.core.numbers import parse_basis_points

                bp = parse_basis_points(revenue_share)
            offer = parse_offer(
                price,
                currency,
                price_model.value,
                revenue_share_bp=bp,
                purposes=offer_purpose,
                model_versions=model_version or (),
            )
        except ValueError as e:
            fail(f"offer: {e}")
    if work is not None:
        level, target = Level.WORK, reg.resolve_work(work, org=work_org)
        party = acting_as or _sole_holder(reg, target)
    elif holder is not None:
        h = reg.find_holder(holder)
        level, target, party = Level.CATALOGUE, h["id"], acting_as or h["ref"]
    else:
        o = reg.find_org(org)
        level, target, party = Level.REPERTOIRE, o["id"], acting_as or o["ref"]
    registry_service.parse_party(party)
    from fairtrain.services.registry import portfolio

    ids = portfolio.declare(
        reg,
        level=level,
        target_id=target,
        party=party,
        values=values,
        offer=offer,
        purpose=purpose,
        valid_from=parse_when(valid_from, "--from"),
        valid_until=parse_when(valid_until, "--until"),
    )
    summary = ", ".join(f"{c.value}={v.value if v else 'inherit'}" for c, v in values.items())
    emit(
        {
            "declarations": ids,
            "level": level.value,
            "target": target,
            "party": party,
            "values": {c.value: v.value if v else None for c, v in values.items()},
        },
        as_json,
        f"declared {summary} at {level.value} level by {party} (declarations {', '.join(map(str, ids))})",
    )


def _sole_holder(reg: registry_service.Registry, work: int) -> str:
    holders = sorted(reg.facts(work).holders)
    if len(holders) != 1:
        fail(f"work {work} has {len(holders)} holders: say who declares with --as holder:ID or --as org:ID")
    return holders[0]


@app.command()
def decide(
    work: Annotated[str, typer.Argument(help="Work id, the organisation's work_ref, or an ISWC/ISRC/ISBN")],
    category: Annotated[str, typer.Option(help="Usage category")],
    licensee: Annotated[str | None, typer.Option(help="Who wants to use it (grants to them count)")] = None,
    at: Annotated[str | None, typer.Option(help="Decide as of this date or time (default now)")] = None,
    purpose: Annotated[Purpose, typer.Option()] = Purpose.COMMERCIAL,
    model_version: Annotated[str | None, typer.Option()] = None,
    org: OrgOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """May WORK be used for CATEGORY? Prints the value, the offer where a licence is needed, and why."""
    try:
        cat = Category.parse(category)
    except ValueError as e:
        fail(str(e))
    reg = registry()
    work = reg.resolve_work(work, org=org)
    d = reg.decide(
        work, cat, licensee=licensee, at=parse_when(at, "--at"), purpose=purpose, model_version=model_version
    )
    data = {"work": work, "licensee": licensee, "purpose": purpose.value, **d.to_dict()}
    colour = {"allow": "green", "licence": "yellow", "deny": "red"}.get(d.value.value, "white")
    t = Table(
        "counted",
        "level",
        "category",
        "value",
        "by",
        "source",
        "note",
        title=f"work {work}: {cat.value} → [bold {colour}]{d.value.value}[/]",
    )
    for r in d.reasons:
        p = r.statement.provenance
        t.add_row(
            "yes" if r.counted else "no",
            r.statement.level.value,
            r.statement.category.value,
            r.statement.value.value,
            p.party or "",
            p.source,
            r.note,
        )
    for o in d.offers:
        t.caption = (t.caption or "") + f"offer: {o.price_model.value} {o.price} "
    emit(data, as_json, t)
