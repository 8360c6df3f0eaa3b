"""`fairtrain` commands: payments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fairtrain.cli._common import JsonOpt, app, emit, err, licensing
from fairtrain.core.money import Money

payments_app = typer.Typer(
    help="Payments against invoices (manual or imported settlement records).", no_args_is_help=True
)
app.add_typer(payments_app, name="payments")


@payments_app.command("record")
def payments_record(
    invoice: int,
    amount: Annotated[str, typer.Option()],
    currency: Annotated[str, typer.Option()],
    reference: Annotated[str, typer.Option(help="Settlement reference (unique)")],
    as_json: JsonOpt = False,
) -> None:
    """Confirm a payment by hand (there is no payment processor: this is logged)."""
    r = licensing().record_payment(invoice, Money.parse(amount, currency), reference=reference)
    emit(r, as_json, f"payment on invoice {invoice}: " + ("already recorded" if r["duplicate"] else r["status"]))


@payments_app.command("import")
def payments_import(csv_file: Annotated[Path, typer.Argument(metavar="CSV")], as_json: JsonOpt = False) -> None:
    """Import settlement records: invoice,amount,currency,reference,received_at."""
    r = licensing().import_payments(csv_file)
    emit(r, as_json, f"{r['recorded']} recorded, {r['duplicates']} already recorded, {len(r['errors'])} errors")
    for e in r["errors"]:
        err.print(f"[red]{csv_file}:{e['line']}[/] {e['reason']}", highlight=False)
    if r["errors"]:
        raise typer.Exit(1)
